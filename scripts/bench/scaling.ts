/**
 * Scaling with equal CPU budgets: turns per second through one gateway with 1, 2 and 3 CLI servers,
 * each server in its own cgroup with the same CPU quota (`cliCpuCores`), for sticky (users pinned
 * by rendezvous hashing; names chosen so every server gets the same number) and shared-storage
 * (each session leased to the least-loaded server on its first turn). Every worker holds one
 * persistent session and sends turns back to back; `sessionsPerServer` workers per server keep each
 * budget saturated, which the cgroups' throttling counters show. Both topologies use the memory
 * store (one gateway replica).
 */
import { rendezvous } from "../../gateway/routing.js";
import { parseMarker } from "../load/checks.js";
import { cpuSecondsOf, GatewayClient, sleep, withPlatform } from "./harness.js";
import { machineCpu } from "./machine-cpu.js";
import { pinnedUsers } from "./pinned-users.js";
import { summarize, type Summary } from "./stats.js";

export type ScalingTopology = "sticky" | "shared-storage";

export interface ThroughputPoint {
  servers: number;
  concurrency: number;
  seconds: number;
  turns: number;
  turnsPerSecond: number;
  turnMs: Summary;
  /** Turns answered per server id in the measured window, from x-copilot-server. */
  spread: Record<string, number>;
  /** Cores busy during the window: the kit's processes, and the whole machine (everyone's work). */
  coresUsed?: { gateway: number; cliServers: number; benchAndMockModel: number; machine?: number };
  /** Per server: share of the CFS periods with work in which it used its whole quota. */
  throttledShare?: number[];
  gatewayCpuMsPerTurn?: number;
}

export interface ScalingSeries {
  topology: ScalingTopology;
  points: ThroughputPoint[];
}

export interface ScalingResult {
  /** CPU budget of every CLI server (cgroup quota); absent in the 2026-11-22 run (no budget). */
  cliCpuCores?: number;
  sessionsPerServer?: number;
  series?: ScalingSeries[];
  /** The 2026-11-22 shape: shared-storage, 1 and 2 servers, no budget. */
  points?: ThroughputPoint[];
  ratio?: number;
}

export interface ScalingOptions {
  cliCpuCores?: number;
  serverCounts?: number[];
  topologies?: ScalingTopology[];
  sessionsPerServer?: number;
  seconds?: number;
}

async function throughput(topology: ScalingTopology, servers: number, o: Required<ScalingOptions>): Promise<ThroughputPoint> {
  const concurrency = o.sessionsPerServer * servers;
  return withPlatform({ topology, servers, cliCpuCores: o.cliCpuCores, maxSessionsPerServer: concurrency + 10 }, async (platform, target) => {
    const gatewayPid = target.gateways![0]!.pid;
    const ids = target.servers.map((s) => s.id);
    const cliPids = target.servers.map((s) => s.pid!);
    const cpu = () => ({
      gateway: cpuSecondsOf(gatewayPid),
      cliServers: cliPids.reduce((n, pid) => n + cpuSecondsOf(pid), 0),
      benchAndMockModel: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
      machine: machineCpu().busySeconds,
      throttling: ids.map((id) => platform.cpuBudget!.throttling(id)),
    });
    // sticky: names pinned evenly; shared-storage: any names (the lease picks the server).
    const names =
      topology === "sticky"
        ? Object.values(pinnedUsers("bench-scale", ids, Object.fromEntries(ids.map((id) => [id, o.sessionsPerServer])), rendezvous)).flat()
        : Array.from({ length: concurrency }, (_, i) => `bench-scale-${i}`);
    const spread: Record<string, number> = {};
    // One at a time: least-loaded routing counts attached sessions, so concurrent creates would all
    // see the same loads and pile onto one server.
    const workers: { gw: GatewayClient; id: string; turn: number }[] = [];
    for (const name of names) {
      const gw = await GatewayClient.forUser(target, name);
      workers.push({ gw, id: await gw.createSession(), turn: 0 });
    }
    const run = async (untilMs: number, into?: number[]) => {
      await Promise.all(
        workers.map(async (w) => {
          while (performance.now() < untilMs) {
            w.turn++;
            const t0 = performance.now();
            const r = await w.gw.request<{ content: string }>("POST", `/v1/sessions/${w.id}/messages`, { prompt: `w-${w.turn}` });
            if (parseMarker(r.body.content)?.turn !== w.turn) throw new Error(`scaling bench: lost history: ${r.body.content}`);
            if (into && performance.now() <= untilMs) {
              into.push(performance.now() - t0);
              spread[r.server ?? "?"] = (spread[r.server ?? "?"] ?? 0) + 1;
            }
          }
        }),
      );
    };
    await run(performance.now() + 4_000); // warm-up: attach, lease claims, JIT, caches
    await sleep(200);
    const samples: number[] = [];
    const before = cpu();
    const t0 = performance.now();
    await run(t0 + o.seconds * 1000, samples);
    const elapsed = (performance.now() - t0) / 1000;
    const after = cpu();
    const rate = (k: "gateway" | "cliServers" | "benchAndMockModel" | "machine") => (after[k] - before[k]) / elapsed;
    return {
      servers,
      concurrency,
      seconds: o.seconds,
      turns: samples.length,
      turnsPerSecond: samples.length / o.seconds,
      turnMs: summarize(samples),
      spread,
      coresUsed: { gateway: rate("gateway"), cliServers: rate("cliServers"), benchAndMockModel: rate("benchAndMockModel"), machine: rate("machine") },
      throttledShare: after.throttling.map((t, i) => (t.throttled - before.throttling[i]!.throttled) / Math.max(1, t.periods - before.throttling[i]!.periods)),
      gatewayCpuMsPerTurn: ((after.gateway - before.gateway) * 1000) / samples.length,
    };
  });
}

export async function measureScaling(opts: ScalingOptions = {}): Promise<ScalingResult> {
  const o: Required<ScalingOptions> = {
    cliCpuCores: opts.cliCpuCores ?? 0.5,
    serverCounts: opts.serverCounts ?? [1, 2, 3],
    topologies: opts.topologies ?? ["sticky", "shared-storage"],
    sessionsPerServer: opts.sessionsPerServer ?? 8,
    seconds: opts.seconds ?? 20,
  };
  const series: ScalingSeries[] = o.topologies.map((topology) => ({ topology, points: [] }));
  // Topologies alternate at each server count, so drift on a shared machine hits both alike.
  for (const n of o.serverCounts) {
    for (const s of series) {
      console.log(`  scaling ${s.topology}, ${n} server(s) at ${o.cliCpuCores} core each…`);
      s.points.push(await throughput(s.topology, n, o));
    }
  }
  return { cliCpuCores: o.cliCpuCores, sessionsPerServer: o.sessionsPerServer, series };
}
