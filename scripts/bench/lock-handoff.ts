/**
 * Lock handoff: the gap between one holder's turn ending and the next waiter's turn starting, with
 * 8 posters contending for one room lock through the gateway's own turn lock (gateway/turn-lock.ts).
 * A turn "starts" after its fencing check, right where the gateway writes the prompt, and "ends"
 * after the closing fencing check; the gap therefore holds release, wake-up and acquisition.
 * Memory store: one replica. Redis store: posters split over two store connections (two replicas)
 * against a real redis-server.
 */
import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createMetrics } from "../../gateway/metrics.js";
import { RedisStore } from "../../gateway/redis-store.js";
import { MemoryStore, type Store } from "../../gateway/store.js";
import { withTurnLock } from "../../gateway/turn-lock.js";
import { freePort } from "../../local/ports.js";
import { startRedis } from "../../local/redis-process.js";
import { sleep } from "./harness.js";
import { summarize, type Summary } from "./stats.js";

export interface HandoffResult {
  posters: number;
  handoffs: number;
  memoryMs: Summary;
  redisMs: Summary;
}

export async function handoffs(stores: Store[], posters: number, turnsEach: number, holdMs: number): Promise<number[]> {
  const metrics = createMetrics();
  const turns: { start: number; end: number }[] = [];
  const key = `room:bench-${Date.now()}`;
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

export async function measureLockHandoff(posters = 8, turnsEach = 25, holdMs = 5): Promise<HandoffResult> {
  const memoryMs = summarize(await handoffs([new MemoryStore()], posters, turnsEach, holdMs));
  const dir = mkdtempSync(join(tmpdir(), "csk-bench-redis-"));
  const redis = await startRedis({ port: await freePort(), dir, logFile: join(dir, "redis.log"), password: "bench-password-not-secret" });
  const stores = [new RedisStore(redis.url), new RedisStore(redis.url)];
  try {
    await Promise.all(stores.map((s) => s.ready()));
    // A short warm-up so connection setup and script loading are not counted.
    await handoffs(stores, 2, 2, 1);
    const redisMs = summarize(await handoffs(stores, posters, turnsEach, holdMs));
    return { posters, handoffs: redisMs.n, memoryMs, redisMs };
  } finally {
    await Promise.all(stores.map((s) => s.close()));
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
