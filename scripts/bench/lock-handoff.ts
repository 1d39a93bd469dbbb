/**
 * Lock handoff: the gap between one holder's turn ending and the next waiter's turn starting, with
 * 8 and 32 posters contending for one room lock through the gateway's own turn lock
 * (gateway/turn-lock.ts). A turn "starts" after its fencing check, right where the gateway writes
 * the prompt, and "ends" after the closing fencing check; the gap therefore holds release, wake-up,
 * acquisition and the fencing check. Memory store: one replica. Redis store: posters split over two
 * store instances (two replicas' connections) against a real redis-server.
 * With a baseline checkout (`--lock-baseline <dir>`: the kit at an older commit, node_modules
 * linked), its RedisStore runs interleaved with this one (ABBA rounds, same Redis, same load).
 */
import { join, resolve } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { pathToFileURL } from "node:url";
import { Redis } from "ioredis";
import { createMetrics } from "../../gateway/metrics.js";
import { RedisStore } from "../../gateway/redis-store.js";
import { MemoryStore } from "../../gateway/memory-store.js";
import type { Store } from "../../gateway/store.js";
import { withTurnLock } from "../../gateway/turn-lock.js";
import { freePort } from "../../local/ports.js";
import { startRedis } from "../../local/redis-process.js";
import { sleep } from "./harness.js";
import { summarize, type Summary } from "./stats.js";

export interface HandoffPoint {
  posters: number;
  handoffs: number;
  /** 1-minute load average when this point started. */
  loadAverage: number;
  memoryMs: Summary;
  redisMs: Summary;
  /** The baseline checkout's Redis store, interleaved with this one. */
  baselineRedisMs?: Summary;
  /**
   * Redis commands the clients sent per turn (MONITOR, commands run inside scripts not counted):
   * a count of round trips that machine load cannot blur.
   */
  redisCommandsPerTurn?: number;
  baselineCommandsPerTurn?: number;
}

/** The top-level fields are the first point (8 posters), as results before the points had them. */
export interface HandoffResult {
  posters: number;
  handoffs: number;
  memoryMs: Summary;
  redisMs: Summary;
  points?: HandoffPoint[];
  /** What the baseline was (its git commit), when one ran. */
  baseline?: string;
}

export async function handoffs(stores: Store[], posters: number, turnsEach: number, holdMs: number): Promise<number[]> {
  const metrics = createMetrics();
  const turns: { start: number; end: number }[] = [];
  const key = `room:bench-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  await Promise.all(
    Array.from({ length: posters }, async (_, i) => {
      const store = stores[i % stores.length]!;
      for (let t = 0; t < turnsEach; t++) {
        await withTurnLock({ store, metrics, ttlMs: 30_000, waitMs: 60_000 }, key, `poster-${i}`, "bench room", async (fence) => {
          await fence.beforeWrite();
          const start = performance.now();
          await sleep(holdMs); // the turn itself
          await fence.afterTurn();
          turns.push({ start, end: performance.now() });
        });
      }
    }),
  );
  turns.sort((a, b) => a.start - b.start);
  const gaps: number[] = [];
  for (let i = 1; i < turns.length; i++) {
    if (turns[i]!.start < turns[i - 1]!.end) throw new Error("lock handoff bench: two turns overlapped; the lock did not exclude");
    gaps.push(turns[i]!.start - turns[i - 1]!.end);
  }
  return gaps;
}

type StoreCtor = new (url: string) => Store;
const COUNTED_TURNS = 4;

/** Counts the commands clients send to Redis while it runs (scripts' inner commands excluded). */
async function countingCommands(url: string): Promise<{ take(): number; stop(): void }> {
  // monitor() opens a connection of its own: both are closed, or the first one retries forever once Redis stops.
  const client = new Redis(url);
  const monitor = await client.monitor();
  let n = 0;
  monitor.on("monitor", (_time: string, args: string[], source: string) => {
    if (source !== "lua" && args[0]?.toLowerCase() !== "monitor") n++;
  });
  return {
    take: () => n,
    stop: () => {
      monitor.disconnect();
      client.disconnect();
    },
  };
}

async function loadBaseline(dir: string): Promise<StoreCtor> {
  const mod = (await import(pathToFileURL(join(resolve(dir), "gateway/redis-store.ts")).href)) as { RedisStore: StoreCtor };
  return mod.RedisStore;
}

export async function measureLockHandoff(opts: { posters?: number[]; turnsEach?: number; holdMs?: number; baselineDir?: string; baselineName?: string } = {}): Promise<HandoffResult> {
  const { posters = [8, 32], turnsEach = 100, holdMs = 5 } = opts;
  const Baseline = opts.baselineDir ? await loadBaseline(opts.baselineDir) : undefined;
  const dir = mkdtempSync(join(tmpdir(), "csk-bench-redis-"));
  const redis = await startRedis({ port: await freePort(), dir, logFile: join(dir, "redis.log"), password: "bench-password-not-secret" });
  const current = [new RedisStore(redis.url), new RedisStore(redis.url)];
  const baseline = Baseline ? [new Baseline(redis.url), new Baseline(redis.url)] : undefined;
  try {
    await Promise.all(current.map((s) => s.ready()));
    // A short warm-up so connection setup and script loading are not counted.
    await handoffs(current, 2, 2, 1);
    if (baseline) await handoffs(baseline, 2, 2, 1);
    const points: HandoffPoint[] = [];
    for (const n of posters) {
      const loadAverage = loadavg()[0]!;
      const memoryMs = summarize(await handoffs([new MemoryStore()], n, turnsEach, holdMs));
      let redisGaps: number[] = [];
      let baseGaps: number[] = [];
      if (baseline) {
        // ABBA: each store gets half the turns twice, so drift in the machine's load hits both.
        const half = Math.ceil(turnsEach / 2);
        redisGaps = redisGaps.concat(await handoffs(current, n, half, holdMs));
        baseGaps = baseGaps.concat(await handoffs(baseline, n, half, holdMs));
        baseGaps = baseGaps.concat(await handoffs(baseline, n, half, holdMs));
        redisGaps = redisGaps.concat(await handoffs(current, n, half, holdMs));
      } else {
        redisGaps = await handoffs(current, n, turnsEach, holdMs);
      }
      const redisMs = summarize(redisGaps);
      // Commands counted in a pass of their own: MONITOR slows Redis, so not while timing.
      const counted = async (stores: Store[]) => {
        const monitor = await countingCommands(redis.url);
        await handoffs(stores, n, COUNTED_TURNS, holdMs);
        await sleep(200); // MONITOR delivers the last commands
        monitor.stop();
        return monitor.take() / (n * COUNTED_TURNS);
      };
      points.push({
        posters: n,
        handoffs: redisMs.n,
        loadAverage,
        memoryMs,
        redisMs,
        redisCommandsPerTurn: await counted(current),
        ...(baseline ? { baselineRedisMs: summarize(baseGaps), baselineCommandsPerTurn: await counted(baseline) } : {}),
      });
    }
    const first = points[0]!;
    return { posters: first.posters, handoffs: first.handoffs, memoryMs: first.memoryMs, redisMs: first.redisMs, points, ...(opts.baselineName ? { baseline: opts.baselineName } : {}) };
  } finally {
    await Promise.all([...current, ...(baseline ?? [])].map((s) => s.close()));
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
