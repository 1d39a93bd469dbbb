/**
 * `npm run conformance -- --target <file> [--report <dir>] [--profile <topology>] [--filter <text>] [--features a,b]`
 * Runs the conformance suites against a target descriptor and writes report.json, junit.xml and
 * summary.md. Exits 1 when a test failed (or the target does not match the profile).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { File, Task } from "@vitest/runner";
import { startVitest } from "vitest/node";
import { FEATURES, isTopologyName, readTargetFile, type Feature, type TopologyName } from "../topology/index.js";
import { FEATURES_ENV, REPORT_DIR_ENV, TARGET_ENV } from "./env.js";
import { buildReport, markdownSummary, type ConformanceReport, type Figure, type TestResult } from "./report.js";

const ROOT = resolve(new URL("..", import.meta.url).pathname);

/** Flattens vitest's task tree into report rows; features come from each task's declared meta. */
export function collect(tasks: Task[], file: string, out: TestResult[]): void {
  for (const t of tasks) {
    if (t.type === "suite") {
      collect(t.tasks, file, out);
      continue;
    }
    const state = t.result?.state === "pass" ? "passed" : t.result?.state === "fail" ? "failed" : "skipped";
    const parents: string[] = [];
    for (let s = t.suite; s && s.type === "suite" && s.name; s = s.suite) parents.unshift(s.name);
    out.push({
      name: [...parents, t.name].join(" > "),
      file,
      features: t.meta.features ?? [],
      state,
      durationMs: Math.round(t.result?.duration ?? 0),
      error: t.result?.errors?.map((e) => e.message).join("\n"),
      ...(t.result?.retryCount ? { retries: t.result.retryCount } : {}),
    });
  }
}

export async function runConformance(opts: {
  targetFile: string;
  reportDir: string;
  profile?: TopologyName;
  filter?: string;
  /** Only tests that declare one of these features (the others are reported as skipped). */
  features?: readonly Feature[];
  quiet?: boolean;
  /** Retries of a failed test (fault tests race real processes); tests that needed one are reported as flaky. */
  retry?: number;
}): Promise<ConformanceReport> {
  const targetFile = resolve(opts.targetFile);
  const target = readTargetFile(targetFile);
  if (opts.profile && opts.profile !== target.topology) {
    throw new Error(`--profile ${opts.profile} does not match the target's topology ${target.topology}`);
  }
  const reportDir = resolve(opts.reportDir);
  mkdirSync(reportDir, { recursive: true });
  rmSync(join(reportDir, "figures.jsonl"), { force: true });
  process.env[TARGET_ENV] = targetFile;
  process.env[REPORT_DIR_ENV] = reportDir;
  process.env[FEATURES_ENV] = opts.features?.join(",") ?? "";

  const vitest = await startVitest(
    "test",
    opts.filter ? opts.filter.split(",") : [],
    {
      root: ROOT,
      config: join(ROOT, "conformance/vitest.config.ts"),
      run: true,
      watch: false,
      retry: opts.retry ?? 0,
      reporters: [opts.quiet ? "dot" : "default", ["junit", { outputFile: join(reportDir, "junit.xml"), suiteName: `conformance ${target.name ?? target.topology}` }]],
    },
    {},
  );
  if (!vitest) throw new Error("vitest did not start");
  const files = vitest.state.getFiles() as File[];
  await vitest.close();

  const tests: TestResult[] = [];
  for (const f of files) collect(f.tasks, relative(ROOT, f.filepath), tests);
  const figuresFile = join(reportDir, "figures.jsonl");
  const figures: Figure[] = existsSync(figuresFile)
    ? readFileSync(figuresFile, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Figure)
    : [];
  const report = buildReport(target, tests, figures, [opts.profile ?? target.topology]);
  writeFileSync(join(reportDir, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(reportDir, "summary.md"), markdownSummary(report));
  return report;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: "string", default: ".local/target.json" },
      report: { type: "string" },
      profile: { type: "string" },
      filter: { type: "string" },
      features: { type: "string" },
      retry: { type: "string", default: "0" },
    },
  });
  const retry = Number(values.retry);
  if (!Number.isInteger(retry) || retry < 0) throw new Error(`--retry must be a whole number >= 0 (got ${values.retry})`);
  if (values.profile && !isTopologyName(values.profile)) throw new Error(`--profile must be a topology name (got ${values.profile})`);
  const features = values.features?.split(",").filter(Boolean);
  const unknown = features?.filter((f) => !(FEATURES as readonly string[]).includes(f));
  if (unknown?.length) throw new Error(`--features: unknown feature ${unknown.join(", ")} (known: ${FEATURES.join(", ")})`);
  const reportDir = values.report ?? join("reports", "conformance", readTargetFile(values.target!).name ?? "target");
  const report = await runConformance({ targetFile: values.target!, reportDir, profile: values.profile as TopologyName | undefined, filter: values.filter, features: features as Feature[] | undefined, retry });
  const s = report.summary;
  console.log(`\nconformance ${report.target.name}: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped — report in ${reportDir}`);
  process.exit(s.failed > 0 || s.passed === 0 ? 1 : 0);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(`conformance: ${(err as Error).message}`);
    process.exit(2);
  });
}
