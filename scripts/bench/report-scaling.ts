/** The scaling section of the benchmark results: its targets and its Markdown (pure; report.ts assembles). */
import type { ScalingResult, ScalingSeries, ThroughputPoint } from "./scaling.js";
import { round } from "./stats.js";

interface Check {
  name: string;
  target: string;
  measured: string;
  met?: boolean;
}

/** Legacy results (1 vs 2 servers, shared-storage, no budget) read as one series. */
function seriesOf(s: ScalingResult): ScalingSeries[] {
  return s.series ?? [{ topology: "shared-storage", points: s.points ?? [] }];
}

/** Throughput at N servers over N times one server's (1.0 = linear). */
export function efficiency(points: readonly ThroughputPoint[], p: ThroughputPoint): number {
  const one = points.find((x) => x.servers === 1);
  return one ? p.turnsPerSecond / (p.servers * one.turnsPerSecond) : NaN;
}

export function scalingTargets(s: ScalingResult | undefined): Check[] {
  if (!s) return [{ name: "N servers with equal CPU budgets over one server", target: ">= 0.9 x N", measured: "pending" }];
  if (!s.series) {
    return [{ name: "2-server throughput over 1 server", target: ">= 1.6x", measured: `${round(s.ratio ?? NaN)}x (no CPU budget)`, met: (s.ratio ?? 0) >= 1.6 }];
  }
  return s.series.map((x) => {
    const more = x.points.filter((p) => p.servers > 1);
    return {
      name: `${x.topology}: N servers at ${s.cliCpuCores} core each over one`,
      target: ">= 0.9 x N",
      measured: more.map((p) => `${p.servers}: ${round(p.turnsPerSecond / (x.points.find((q) => q.servers === 1)?.turnsPerSecond ?? NaN))}x (${round(efficiency(x.points, p))} N)`).join(", "),
      met: more.length > 0 && more.every((p) => efficiency(x.points, p) >= 0.9),
    };
  });
}

const pct = (v: number) => `${Math.round(v * 100)}%`;

export function renderScaling(s: ScalingResult, when: string): string[] {
  const budget = s.cliCpuCores ? `each CLI server in its own cgroup with a CPU quota of ${s.cliCpuCores} core, ${s.sessionsPerServer} persistent sessions per server` : "no CPU budget";
  const rows = seriesOf(s).flatMap((x) =>
    x.points.map((p) => {
      const c = p.coresUsed;
      const cores = c ? `${round(c.cliServers)} / ${round(c.gateway)} / ${round(c.benchAndMockModel)}${c.machine === undefined ? "" : ` / ${round(c.machine)}`}` : "-";
      return `| ${x.topology} | ${p.servers} | ${round(p.turnsPerSecond)} | ${round(efficiency(x.points, p))} | ${round(p.turnMs.p50)} ms | ${round(p.turnMs.p99)} ms | ${Object.values(p.spread).join(" / ")} | ${p.throttledShare?.map(pct).join(" / ") ?? "-"} | ${cores} | ${p.gatewayCpuMsPerTurn === undefined ? "-" : round(p.gatewayCpuMsPerTurn)} |`;
    }),
  );
  return [
    "## Scaling",
    "",
    `Turns per second through one gateway replica (memory store), ${budget}, sending back to back; sticky pins users by rendezvous hashing (names chosen so every server gets the same number), shared-storage leases each session to the least-loaded server (${when}).`,
    "",
    "| topology | CLI servers | turns/s | over N x one server | turn p50 | turn p99 | turns per server | CLI periods throttled | cores busy: CLIs / gateway / bench+mock model / whole machine | gateway CPU ms per turn |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...rows,
    "",
  ];
}
