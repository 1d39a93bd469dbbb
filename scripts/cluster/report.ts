/** The Markdown form of reports/cluster/report.json. */
import type { ClusterReport } from "./run.js";

export function clusterReportMarkdown(r: ClusterReport): string {
  const rows = r.topologies.map((t) => {
    const c = t.conformance;
    const tm = t.timings;
    const iso = t.isolation;
    const isolation = iso
      ? `${iso.privilegedPodRefused ? "refused" : "**admitted**"} / ${Object.keys(iso.backendClient).map((s) => `${s.replace("copilot-", "")}: ${iso.unlabeled[s] ? "**open**" : "closed"}${iso.backendClient[s] ? "" : " (**control failed**)"}`).join(", ")} / ${iso.cliResolvesDns === undefined ? "per-user (below)" : iso.cliResolvesDns ? "yes" : "**no**"}`
      : "-";
    const suites = t.suitesSkipped ? "skipped (see below)" : `${c.passed} / ${c.failed} / ${c.skipped}`;
    const load = t.suitesSkipped ? "skipped" : `${t.load.scenario}: ${t.load.ok ? "ok" : "**failed**"}`;
    return `| ${t.name} | ${t.up ? "yes" : "**no**"} | ${suites} | ${load} | ${isolation} | ${t.leftovers.length ? `**${t.leftovers.length}**` : "0"} | ${tm.upSeconds ?? "-"} s | ${tm.podsReadySeconds ?? "-"} s | ${tm.destroySeconds ?? "-"} s |`;
  });
  const failures = r.topologies.filter((t) => t.error || t.conformance.failed || t.leftovers.length || (!t.load.ok && !t.suitesSkipped));
  const skipped = r.topologies.filter((t) => t.suitesSkipped);
  const ru = r.rollingUpdate;
  return [
    `# Cluster test report (${r.date})`,
    "",
    `One-node Kubernetes 1.34 on ${r.machine.cores} cores (\`npm run test:cluster\`): the real Pulumi engine, real pods; conformance and k6 reach each gateway pod and the CLI Services at their addresses on the pod bridge.`,
    "",
    "| topology | up (pods Ready) | conformance core passed / failed / skipped | k6 smoke | privileged pod / unlabeled pod to CLI, Redis / CLI DNS | leftovers after destroy | pulumi up | pods Ready after up | destroy |",
    "|---|---|---|---|---|---|---|---|---|",
    ...rows,
    "",
    ru
      ? `Rolling CLI image change under load (${ru.topology}, ${ru.sessions} sessions): ${ru.turnsAcknowledged} turns acknowledged, ${ru.lostTurns} lost, ${ru.requestsFailed} requests refused or interrupted (not acknowledged), longest time with no Ready CLI pod ${ru.maxGapSeconds.toFixed(1)} s, update took ${ru.updateSeconds} s${ru.error ? `; error: ${ru.error}` : ""}.`
      : "Rolling update: not run.",
    "",
    ...(r.exposure
      ? [
          `## Exposure (stack local-exposure, pulumi up ${r.exposure.upSeconds ?? "-"} s)`,
          "",
          ...r.exposure.checks.map((c) => `- ${c.ok ? "ok" : "**FAILED**"}: ${c.name} (${c.detail})`),
          ...(r.exposure.error ? ["```", r.exposure.error, "```"] : []),
          `- leftovers after destroy: ${r.exposure.leftovers.length ? r.exposure.leftovers.join(", ") : "none"}`,
          "",
        ]
      : ["Exposure: not run.", ""]),
    `Timings (s): ${Object.entries(r.timings).map(([k, v]) => `${k} ${v}`).join(", ")}.`,
    `Cluster leftovers after down: ${r.clusterLeftovers.length ? r.clusterLeftovers.join("; ") : "none"}.`,
    "",
    ...skipped.map((t) => `Skipped on ${t.name}: conformance and k6, because ${t.suitesSkipped}.`),
    "",
    ...r.topologies
      .filter((t) => t.perUser)
      .flatMap((t) => [
        `## ${t.name}: per-user Pods`,
        "",
        ...t.perUser!.checks.map((c) => `- ${c.ok ? "ok" : "**FAILED**"}: ${c.name} (${c.detail})`),
        "",
        `Figures: ${Object.entries(t.perUser!.figures).map(([k, v]) => `${k} ${v}`).join(", ")}.`,
        "",
      ]),
    ...failures.flatMap((t) => [`## ${t.name}`, "", ...(t.error ? ["```", t.error, "```"] : []), ...t.conformance.failedTests.map((n) => `- failed: ${n}`), ...t.leftovers.map((l) => `- left: ${l}`), ...(t.load.ok || t.suitesSkipped ? [] : [`- k6: ${t.load.detail}`]), ""]),
  ].join("\n");
}
