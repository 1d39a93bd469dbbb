/**
 * Scaling: turns per second through the gateway with 1 and with 2 CLI servers at a fixed
 * concurrency. shared-storage leases each session to the least-loaded server on its first turn, so
 * the sessions split evenly; every worker holds one persistent session and sends turns back to
 * back. The warm-up covers the first turns (lease claims and the resumes they cause).
 */
import { parseMarker } from "../load/checks.js";
import { cpuSecondsOf, GatewayClient, sleep, withPlatform } from "./harness.js";
import { summarize, type Summary } from "./stats.js";

export interface ThroughputPoint {
  servers: number;
  concurrency: number;
  seconds: number;
  turns: number;
  turnsPerSecond: number;
  turnMs: Summary;
  /** Turns answered per server id in the measured window, from x-copilot-server. */
  spread: Record<string, number>;
  /** Cores busy during the window, per process: where the CPU went (the machine has `cores`). */
  coresUsed?: { gateway: number; cliServers: number; benchAndMockModel: number };
}

export interface ScalingResult {
  points: ThroughputPoint[];
  /** turns/s with 2 servers over turns/s with 1. */
  ratio: number;
}

async function throughput(servers: number, concurrency: number, seconds: number): Promise<ThroughputPoint> {
  return withPlatform({ topology: "shared-storage", servers }, async (_p, target) => {
    const gatewayPid = target.gateways![0]!.pid;
    const cliPids = target.servers.map((s) => s.pid!);
    const cpu = () => ({
      gateway: cpuSecondsOf(gatewayPid),
      cliServers: cliPids.reduce((n, pid) => n + cpuSecondsOf(pid), 0),
      benchAndMockModel: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    });
    const spread: Record<string, number> = {};
    // One at a time: least-loaded routing counts attached sessions, so concurrent creates would all
    // see the same loads and pile onto one server.
    const workers: { gw: GatewayClient; id: string; turn: number }[] = [];
    for (let i = 0; i < concurrency; i++) {
      const gw = await GatewayClient.forUser(target, `bench-scale-${i}`);
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
    await run(performance.now() + 3_000); // warm-up: attach, JIT, caches
    await sleep(200);
    const samples: number[] = [];
    const before = cpu();
    const t0 = performance.now();
    await run(t0 + seconds * 1000, samples);
    const elapsed = (performance.now() - t0) / 1000;
    const after = cpu();
    const coresUsed = {
      gateway: (after.gateway - before.gateway) / elapsed,
      cliServers: (after.cliServers - before.cliServers) / elapsed,
      benchAndMockModel: (after.benchAndMockModel - before.benchAndMockModel) / elapsed,
    };
    return { servers, concurrency, seconds, turns: samples.length, turnsPerSecond: samples.length / seconds, turnMs: summarize(samples), spread, coresUsed };
  });
}

export async function measureScaling(concurrency = 16, seconds = 20): Promise<ScalingResult> {
  const one = await throughput(1, concurrency, seconds);
  const two = await throughput(2, concurrency, seconds);
  return { points: [one, two], ratio: two.turnsPerSecond / one.turnsPerSecond };
}
