/**
 * CI: the smoke profile of every load scenario against the local platform, each on a topology that
 * serves it (`npm run test:load`). Starts each topology, runs its scenarios, stops it (also on
 * failure or Ctrl-C), writes reports/load/ci-smoke.json (`{passed, failed, runs}`, read by
 * scripts/ci-summary.ts) and exits 1 when any scenario failed or could not run.
 *
 * Two gateway replicas on a redis store where replicas matter: chat-ramp sends each turn to the
 * other replica, and with a 1 s idle timeout every session is also detached and resumed mid-way,
 * so its history check covers resumes; room posts arrive through both replicas, so only the shared
 * room lock keeps each room's turns linear (a single replica serialises them in-process anyway).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { readTargetFile, type TopologyName } from "../../topology/index.js";
import { runScenario, type LoadArgs, type ScenarioResult } from "./run.js";
import { LOAD_SCRIPTS_DIR, SCENARIO_NAMES, type ScenarioName } from "./scenarios.js";

const ROOT = resolve(LOAD_SCRIPTS_DIR, "../..");

export interface SmokePlan {
  topology: TopologyName;
  /** Extra `npm run local -- up` flags. */
  flags: string[];
  scenarios: ScenarioName[];
}

export const PLAN: readonly SmokePlan[] = [
  { topology: "shared", flags: ["--gateways", "2", "--store", "redis", "--idle-timeout", "1"], scenarios: ["chat-ramp", "ephemeral-burst", "soak"] },
  { topology: "collaborative", flags: ["--gateways", "2", "--store", "redis"], scenarios: ["room-contention"] },
  { topology: "sticky", flags: ["--servers", "3"], scenarios: ["sticky-spread"] },
];

interface Run {
  scenario: ScenarioName;
  topology: TopologyName;
  outcome: ScenarioResult["outcome"];
  reason: string;
}

function localCli(args: string[]): { ok: boolean; output: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "local/cli.ts"), ...args], { cwd: ROOT, encoding: "utf8" });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
}

async function main(): Promise<number> {
  const missing = SCENARIO_NAMES.filter((s) => !PLAN.some((p) => p.scenarios.includes(s)));
  if (missing.length) throw new Error(`ci-smoke: no topology planned for ${missing.join(", ")}`);
  const install = spawnSync("bash", [join(ROOT, "scripts/install-k6.sh")], { stdio: "inherit" });
  if (install.status !== 0) throw new Error("ci-smoke: scripts/install-k6.sh failed");

  const runDir = resolve(ROOT, process.env.LOAD_CI_DIR ?? ".local/load-ci");
  const reportRoot = process.env.LOAD_CI_REPORT ?? "reports/load";
  mkdirSync(runDir, { recursive: true });
  const resultsFile = resolve(ROOT, reportRoot, "ci-smoke.json");
  rmSync(resultsFile, { force: true });

  const runs: Run[] = [];
  let current: string | undefined;
  const stop = () => {
    if (current) localCli(["down", "--target-file", current]);
    current = undefined;
  };
  const onSignal = () => {
    stop();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  for (const plan of PLAN) {
    const target = join(runDir, `${plan.topology}.json`);
    console.log(`== load smoke: ${plan.scenarios.join(", ")} on local ${plan.topology} ${plan.flags.join(" ")}`);
    const up = localCli(["up", "--topology", plan.topology, ...plan.flags, "--target-file", target, "--run-dir", join(runDir, `run-${plan.topology}`), "--detach"]);
    console.log(up.output);
    if (!up.ok) {
      for (const scenario of plan.scenarios) runs.push({ scenario, topology: plan.topology, outcome: "fail", reason: `local ${plan.topology} did not start` });
      continue;
    }
    current = target;
    try {
      const args: LoadArgs = { target, scenarios: plan.scenarios, profile: "smoke", reportRoot, strict: true };
      const descriptor = readTargetFile(target);
      for (const scenario of plan.scenarios) {
        const r = await runScenario(descriptor, scenario, args).catch((err: Error) => ({ outcome: "fail" as const, reason: err.message }));
        runs.push({ scenario, topology: plan.topology, outcome: r.outcome, reason: r.reason });
      }
    } finally {
      stop();
    }
  }

  const failed = runs.filter((r) => r.outcome !== "pass");
  mkdirSync(resolve(ROOT, reportRoot), { recursive: true });
  writeFileSync(resultsFile, `${JSON.stringify({ passed: runs.length - failed.length, failed: failed.length, runs }, null, 2)}\n`);
  for (const r of runs) console.log(`${r.outcome.toUpperCase()} ${r.scenario} on ${r.topology}${r.reason ? `: ${r.reason}` : ""}`);
  console.log(failed.length ? `load smoke FAILED: ${failed.length} of ${runs.length} scenarios` : `load smoke passed: ${runs.length} scenarios`);
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(err.message);
    process.exit(2);
  },
);
