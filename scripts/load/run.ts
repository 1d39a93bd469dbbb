/**
 * `npm run load -- --target <file> --scenario <name|a,b|all> [--profile smoke|full] [--report <dir>]`
 *
 * Reads the target descriptor, skips scenarios the target cannot serve (with the reason), mints a
 * token per distinct user, runs the pinned k6 on scripts/load/<scenario>.js and judges the result:
 * k6 exit 99 = thresholds breached; the run-wide invariants in summary.json must hold too.
 * The load config (it holds tokens) lives in a private temp folder that is removed afterwards.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { readTargetFile, type TargetDescriptor } from "../../topology/index.js";
import { buildLoadConfig, LOAD_CONFIG_ENV, REPORT_DIR_ENV } from "./config.js";
import {
  isProfileName,
  isScenarioName,
  LOAD_SCRIPTS_DIR,
  PROFILE_NAMES,
  SCENARIO_NAMES,
  SCENARIOS,
  unsupportedReason,
  type ProfileName,
  type ScenarioName,
} from "./scenarios.js";
import type { LoadSummary } from "./summary.js";

const ROOT = resolve(LOAD_SCRIPTS_DIR, "../..");
/** k6 exit code when a threshold failed. */
export const K6_THRESHOLDS_FAILED = 99;

export interface LoadArgs {
  target: string;
  scenarios: ScenarioName[];
  profile: ProfileName;
  reportRoot: string;
  k6?: string;
  gatewayUrls?: string[];
  /** A scenario the target cannot serve fails the run instead of being skipped. */
  strict: boolean;
}

const USAGE =
  "usage: npm run load -- --target <target.json> --scenario <" +
  SCENARIO_NAMES.join("|") +
  "|all|a,b> [--profile smoke|full] [--report <dir>] [--k6 <path>] [--gateway-url <url>]... [--strict]";

export function parseLoadArgs(argv: string[]): LoadArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: "string" },
      scenario: { type: "string" },
      profile: { type: "string", default: "smoke" },
      report: { type: "string", default: "reports/load" },
      k6: { type: "string" },
      "gateway-url": { type: "string", multiple: true },
      strict: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (!values.target) throw new Error(`--target is required\n${USAGE}`);
  if (!values.scenario) throw new Error(`--scenario is required\n${USAGE}`);
  const names = values.scenario === "all" ? [...SCENARIO_NAMES] : values.scenario.split(",").map((s) => s.trim());
  for (const n of names) {
    if (!isScenarioName(n)) throw new Error(`unknown scenario "${n}": choose from ${SCENARIO_NAMES.join(", ")} or all`);
  }
  if (!isProfileName(values.profile!)) throw new Error(`unknown profile "${values.profile}": choose from ${PROFILE_NAMES.join(", ")}`);
  return {
    target: values.target,
    scenarios: names as ScenarioName[],
    profile: values.profile,
    reportRoot: values.report!,
    k6: values.k6,
    gatewayUrls: values["gateway-url"],
    strict: values.strict!,
  };
}

/** --k6, then $K6_BIN, then the pinned build in .ci/bin, then k6 on PATH. */
export function findK6(explicit?: string): string {
  const candidates = [explicit, process.env.K6_BIN, join(ROOT, ".ci/bin/k6")].filter((c): c is string => !!c);
  for (const c of candidates) if (existsSync(c)) return c;
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(join(dir, "k6"))) return join(dir, "k6");
  }
  throw new Error("k6 not found: run scripts/install-k6.sh (builds the pinned k6 into .ci/bin), or pass --k6 <path>");
}

export interface ScenarioResult {
  scenario: ScenarioName;
  outcome: "pass" | "fail" | "skip";
  reason: string;
  reportDir: string;
  k6Exit?: number;
}

function junitSkipped(scenario: string, profile: string, reason: string): string {
  const esc = reason.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/"/g, "&quot;");
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites tests="1" skipped="1">\n  <testsuite name="load.${scenario}.${profile}" tests="1" skipped="1">\n    <testcase classname="load.${scenario}.${profile}" name="${scenario}"><skipped message="${esc}"/></testcase>\n  </testsuite>\n</testsuites>\n`;
}

function runK6(k6: string, script: string, env: Record<string, string>): Promise<number> {
  return new Promise((resolveExit, reject) => {
    const args = ["run", "--quiet", "--no-usage-report", "--address", "", script];
    const child = spawn(k6, args, { stdio: "inherit", env: { ...process.env, ...env }, cwd: ROOT });
    child.on("error", reject);
    child.on("exit", (code, signal) => resolveExit(code ?? (signal ? 128 : 1)));
  });
}

export async function runScenario(target: TargetDescriptor, name: ScenarioName, args: LoadArgs): Promise<ScenarioResult> {
  const scenario = SCENARIOS[name];
  const reportDir = resolve(ROOT, args.reportRoot, `${name}-${args.profile}`);
  mkdirSync(reportDir, { recursive: true });
  rmSync(join(reportDir, "summary.json"), { force: true });
  const skip = unsupportedReason(scenario, target);
  if (skip) {
    writeFileSync(join(reportDir, "junit.xml"), junitSkipped(name, args.profile, skip));
    return { scenario: name, outcome: args.strict ? "fail" : "skip", reason: skip, reportDir };
  }
  const config = await buildLoadConfig(target, name, args.profile, { gatewayUrls: args.gatewayUrls });
  if (config.usersRepeat) console.warn(`load ${name}: the target has fewer static tokens than the profile wants users; users repeat`);
  const secretDir = mkdtempSync(join(tmpdir(), "copilot-load-"));
  const configPath = join(secretDir, "config.json");
  writeFileSync(configPath, JSON.stringify(config), { mode: 0o600 });
  let k6Exit: number;
  try {
    console.log(`load ${name} (${args.profile}) run ${config.runId}: ${config.users.length} users against ${config.gatewayUrls.join(", ")}`);
    k6Exit = await runK6(findK6(args.k6), join(LOAD_SCRIPTS_DIR, scenario.file), { [LOAD_CONFIG_ENV]: configPath, [REPORT_DIR_ENV]: reportDir });
  } finally {
    rmSync(secretDir, { recursive: true, force: true });
  }
  return judge(name, reportDir, k6Exit);
}

/** Verdict from k6's exit code and the summary handleSummary wrote. */
export function judge(name: ScenarioName, reportDir: string, k6Exit: number): ScenarioResult {
  const base = { scenario: name, reportDir, k6Exit };
  const path = join(reportDir, "summary.json");
  if (!existsSync(path)) return { ...base, outcome: "fail", reason: `k6 exited ${k6Exit} without writing ${path}` };
  const summary = JSON.parse(readFileSync(path, "utf8")) as LoadSummary;
  const breached = summary.thresholds.filter((t) => !t.ok).map((t) => `${t.metric} ${t.expr}`);
  const broken = summary.invariants.filter((i) => !i.ok).map((i) => `${i.name}: ${i.detail}`);
  if (k6Exit === K6_THRESHOLDS_FAILED || breached.length > 0) {
    return { ...base, outcome: "fail", reason: `thresholds breached: ${breached.join("; ") || "(see k6 output)"}` };
  }
  if (k6Exit !== 0) return { ...base, outcome: "fail", reason: `k6 exited ${k6Exit}` };
  if (broken.length > 0) return { ...base, outcome: "fail", reason: `invariants broken: ${broken.join("; ")}` };
  return { ...base, outcome: "pass", reason: "" };
}

export async function main(argv: string[]): Promise<number> {
  const args = parseLoadArgs(argv);
  const target = readTargetFile(args.target);
  const results: ScenarioResult[] = [];
  for (const name of args.scenarios) results.push(await runScenario(target, name, args));
  for (const r of results) {
    const tag = r.outcome.toUpperCase();
    console.log(`${tag} ${r.scenario}${r.reason ? `: ${r.reason}` : ""} (report: ${r.reportDir})`);
  }
  if (results.every((r) => r.outcome === "skip")) console.log(`no scenario ran: target ${args.target} serves none of ${args.scenarios.join(", ")}`);
  const failed = results.filter((r) => r.outcome === "fail");
  if (failed.length === 0) return 0;
  return failed.some((r) => r.k6Exit === K6_THRESHOLDS_FAILED) ? K6_THRESHOLDS_FAILED : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      console.error(err.message);
      process.exit(2);
    },
  );
}
