/**
 * The conformance report, after the Kubernetes Gateway API conformance reports: implementation,
 * target, per-profile core/extended results, per-feature results, figures. Written as JSON, JUnit
 * XML (vitest's junit reporter) and a Markdown summary.
 */
import { readFileSync } from "node:fs";
import { FEATURES, PROFILES, type Feature, type TargetDescriptor, type TopologyName } from "../topology/index.js";

export type TestState = "passed" | "failed" | "skipped";
export interface TestResult {
  name: string;
  file: string;
  features: Feature[];
  state: TestState;
  durationMs: number;
  error?: string;
  /** Failed attempts before the final result (only with --retry); a passed test with retries is flaky. */
  retries?: number;
}
export interface Figure {
  name: string;
  value: number;
  unit: string;
  note?: string;
}
interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}
export interface GroupResult extends Counts {
  result: "success" | "failure" | "partial" | "skipped";
  failedTests: string[];
  skippedTests: string[];
}

export interface ConformanceReport {
  apiVersion: "copilot-scale-kit.dev/v1";
  kind: "ConformanceReport";
  date: string;
  implementation: { project: string; version: string; cliVersion: string; sdkVersion: string };
  target: Pick<TargetDescriptor, "name" | "topology" | "platform" | "gatewayUrls" | "features" | "settings"> & { servers: number };
  profiles: { name: TopologyName; core: GroupResult; extended: GroupResult }[];
  features: Partial<Record<Feature, GroupResult>>;
  summary: Counts;
  figures: Figure[];
  tests: TestResult[];
}

function count(tests: TestResult[]): Counts {
  return {
    passed: tests.filter((t) => t.state === "passed").length,
    failed: tests.filter((t) => t.state === "failed").length,
    skipped: tests.filter((t) => t.state === "skipped").length,
  };
}

function group(tests: TestResult[]): GroupResult {
  const c = count(tests);
  const result = c.failed > 0 ? "failure" : c.passed === 0 ? "skipped" : c.skipped > 0 ? "partial" : "success";
  return {
    ...c,
    result,
    failedTests: tests.filter((t) => t.state === "failed").map((t) => t.name),
    skippedTests: tests.filter((t) => t.state === "skipped").map((t) => t.name),
  };
}

/** `pkg` is a path relative to the project root: "." for the kit itself, or "node_modules/<name>". */
function packageVersion(pkg: string): string {
  try {
    const url = new URL(`../${pkg}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** A test belongs to a profile group when all the features it declares are in that group. */
export function buildReport(target: TargetDescriptor, tests: TestResult[], figures: Figure[], profiles: TopologyName[]): ConformanceReport {
  const features: Partial<Record<Feature, GroupResult>> = {};
  for (const f of FEATURES) {
    const ts = tests.filter((t) => t.features.includes(f));
    if (ts.length) features[f] = group(ts);
  }
  const within = (set: readonly Feature[]) => tests.filter((t) => t.features.length > 0 && t.features.every((f) => set.includes(f)));
  return {
    apiVersion: "copilot-scale-kit.dev/v1",
    kind: "ConformanceReport",
    date: new Date().toISOString(),
    implementation: {
      project: "copilot-scale-kit",
      version: packageVersion("."),
      cliVersion: packageVersion("node_modules/@github/copilot"),
      sdkVersion: packageVersion("node_modules/@github/copilot-sdk"),
    },
    target: {
      name: target.name,
      topology: target.topology,
      platform: target.platform,
      gatewayUrls: target.gatewayUrls,
      features: target.features,
      settings: target.settings,
      servers: target.servers.length,
    },
    profiles: profiles.map((p) => {
      const prof = PROFILES[p];
      const core = within(prof.core);
      const coreNames = new Set(core.map((t) => t.name));
      const extended = within([...prof.core, ...prof.extended]).filter((t) => !coreNames.has(t.name));
      return { name: p, core: group(core), extended: group(extended) };
    }),
    features,
    summary: count(tests),
    figures,
    tests,
  };
}

export function markdownSummary(r: ConformanceReport): string {
  const lines = [
    `# Conformance report: ${r.target.name ?? r.target.topology}`,
    "",
    `- implementation: ${r.implementation.project} ${r.implementation.version} (CLI ${r.implementation.cliVersion}, SDK ${r.implementation.sdkVersion})`,
    `- target: topology \`${r.target.topology}\` on \`${r.target.platform}\`, ${r.target.servers} CLI server(s), ${r.target.gatewayUrls.length} gateway URL(s)`,
    `- date: ${r.date}`,
    `- result: **${r.summary.passed} passed, ${r.summary.failed} failed, ${r.summary.skipped} skipped**`,
    "",
    "| profile | core | extended |",
    "| --- | --- | --- |",
    ...r.profiles.map(
      (p) =>
        `| ${p.name} | ${p.core.result} (${p.core.passed}/${p.core.passed + p.core.failed + p.core.skipped}) | ${p.extended.result} (${p.extended.passed}/${p.extended.passed + p.extended.failed + p.extended.skipped}) |`,
    ),
    "",
    "| feature | result | passed | failed | skipped |",
    "| --- | --- | --- | --- | --- |",
    ...Object.entries(r.features).map(([f, g]) => `| ${f} | ${g!.result} | ${g!.passed} | ${g!.failed} | ${g!.skipped} |`),
  ];
  if (r.figures.length) {
    lines.push("", "| measured figure | value |", "| --- | --- |", ...r.figures.map((f) => `| ${f.name} | ${f.value.toFixed(3).replace(/\.?0+$/, "")} ${f.unit} |`));
  }
  const failed = r.tests.filter((t) => t.state === "failed");
  if (failed.length) lines.push("", "## Failed", ...failed.map((t) => `- ${t.name} [${t.features.join(", ")}]: ${(t.error ?? "").split("\n")[0]}`));
  const flaky = r.tests.filter((t) => t.state === "passed" && (t.retries ?? 0) > 0);
  if (flaky.length) lines.push("", "## Passed only on a retry (flaky)", ...flaky.map((t) => `- ${t.name} (${t.retries} retr${t.retries === 1 ? "y" : "ies"})`));
  const skipped = r.tests.filter((t) => t.state === "skipped");
  if (skipped.length) lines.push("", "## Skipped (features not claimed by the target)", ...skipped.map((t) => `- ${t.name} [${t.features.join(", ")}]`));
  return `${lines.join("\n")}\n`;
}
