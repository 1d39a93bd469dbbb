/**
 * `npm run bench [-- --only overhead,lockHandoff,scaling,remap,memory,streaming] [--out docs/benchmarks] [--lock-baseline <checkout>] [--gateway-node-flags "<flags>"]
 *   [--stream-concurrency N] [--stream-servers N] [--stream-hold-ms MS] [--probe-pairs N] [--stream-open-rate N] [--cli-cpu CORES] [--scaling-servers 1,2,3] [--sessions-per-server N] [--scaling-seconds S]`
 * Runs the benchmarks on the local platform and writes <out>.json and <out>.md. With --only, the
 * other sections of an existing results file are kept (each section records when it was measured).
 * Hand-written notes below `<!-- notes -->` in <out>.md survive regeneration.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem, type } from "node:os";
import { parseArgs } from "node:util";
import { measureLockHandoff } from "./lock-handoff.js";
import { measureMemory } from "./memory.js";
import { measureOverhead } from "./overhead.js";
import { measureRemap } from "./remap.js";
import { checkTargets, renderMarkdown, SECTIONS, type BenchResults, type Machine, type Section } from "./report.js";
import { measureScaling, type ScalingOptions } from "./scaling.js";
import { measureStreaming, type StreamingOptions } from "./streaming.js";

/** Installed version of a package (their `exports` hide package.json from require). */
const versionOf = (pkg: string) =>
  (JSON.parse(readFileSync(new URL(`../../node_modules/${pkg}/package.json`, import.meta.url), "utf8")) as { version: string }).version;

export function machineFacts(): Machine {
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
    node: process.version,
    cliVersion: versionOf("@github/copilot"),
    sdkVersion: versionOf("@github/copilot-sdk"),
  };
}

/** Options from the command line that some sections take. */
interface BenchOptions {
  /** A checkout of the kit at an older commit whose lock store runs next to this one. */
  lockBaseline?: string;
  /** Node flags of the overhead section's gateway instead of the image's ("" = none). */
  gatewayNodeFlags?: readonly string[];
  streaming: StreamingOptions;
  scaling: ScalingOptions;
}

const commitOf = (dir: string) => execFileSync("git", ["-C", dir, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();

const MEASURE: Record<Section, (o: BenchOptions) => Promise<unknown>> = {
  overhead: (o) => measureOverhead(undefined, undefined, o.gatewayNodeFlags),
  lockHandoff: (o) => measureLockHandoff(o.lockBaseline ? { baselineDir: o.lockBaseline, baselineName: `commit ${commitOf(o.lockBaseline)}` } : {}),
  scaling: (o) => measureScaling(o.scaling),
  remap: async () => measureRemap(),
  memory: () => measureMemory(),
  streaming: (o) => measureStreaming(o.streaming),
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: "string" },
      out: { type: "string", default: "docs/benchmarks" },
      "lock-baseline": { type: "string" },
      "gateway-node-flags": { type: "string" },
      "stream-concurrency": { type: "string" },
      "stream-servers": { type: "string" },
      "stream-hold-ms": { type: "string" },
      "probe-pairs": { type: "string" },
      "stream-open-rate": { type: "string" },
      "cli-cpu": { type: "string" },
      "scaling-servers": { type: "string" },
      "sessions-per-server": { type: "string" },
      "scaling-seconds": { type: "string" },
    },
  });
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const scaling: ScalingOptions = {
    cliCpuCores: num(values["cli-cpu"]),
    serverCounts: values["scaling-servers"]?.split(",").map(Number),
    sessionsPerServer: num(values["sessions-per-server"]),
    seconds: num(values["scaling-seconds"]),
  };
  const streaming: StreamingOptions = {
    streams: num(values["stream-concurrency"]),
    loadServers: num(values["stream-servers"]),
    holdMs: num(values["stream-hold-ms"]),
    probePairs: num(values["probe-pairs"]),
    openPerSecond: num(values["stream-open-rate"]),
  };
  const only = values.only ? values.only.split(",").map((s) => s.trim()) : [...SECTIONS];
  for (const s of only) if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`unknown section "${s}": choose from ${SECTIONS.join(", ")}`);
  const jsonPath = `${values.out}.json`;
  const mdPath = `${values.out}.md`;
  const previous = existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, "utf8")) as BenchResults) : undefined;
  const results: BenchResults = { ...previous, version: 1, command: "npm run bench", machine: machineFacts() };
  for (const section of only as Section[]) {
    const started = Date.now();
    const loadAverage = loadavg()[0];
    console.log(`bench ${section}…`);
    const result = await MEASURE[section]({ lockBaseline: values["lock-baseline"], gatewayNodeFlags: values["gateway-node-flags"]?.split(" ").filter(Boolean), streaming, scaling });
    (results as unknown as Record<string, unknown>)[section] = { measuredAt: new Date(started).toISOString(), loadAverage, result };
    console.log(`bench ${section} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  const notes = existsSync(mdPath) ? (readFileSync(mdPath, "utf8").split("<!-- notes -->")[1] ?? "") : "";
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(mdPath, renderMarkdown(results, notes));
  for (const t of checkTargets(results)) console.log(`${t.met === undefined ? "PENDING" : t.met ? "MET" : "MISSED"} ${t.name} ${t.target}: ${t.measured}`);
  console.log(`wrote ${jsonPath} and ${mdPath}`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`bench: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
