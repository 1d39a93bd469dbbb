/**
 * Scaling: turns per second through the gateway with 1 and with 2 CLI servers at a fixed
 * concurrency. shared-storage routes each new session to the least-loaded server, so the
 * sessions split evenly; every worker holds one persistent session and sends turns back to back.
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
  /** Sessions per server id, from x-copilot-server. */
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
    const workers = await Promise.all(
      Array.from({ length: concurrency }, async (_, i) => {
        const gw = await GatewayClient.forUser(target, `bench-scale-${i}`);
        const created = await gw.request<{ sessionId: string }>("POST", "/v1/sessions", { persistent: true }, 201);
        const server = created.server ?? "?";
        spread[server] = (spread[server] ?? 0) + 1;
        return { gw, id: created.body.sessionId, turn: 0 };
      }),
    );
    const run = async (untilMs: number, into?: number[]) => {
      await Promise.all(
        workers.map(async (w) => {
          while (performance.now() < untilMs) {
            w.turn++;
            const t0 = performance.now();
            const content = await w.gw.send(w.id, `w-${w.turn}`);
            if (parseMarker(content)?.turn !== w.turn) throw new Error(`scaling bench: lost history: ${content}`);
            if (into && performance.now() <= untilMs) into.push(performance.now() - t0);
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
