/**
 * A lock waiter that dies (its replica killed, or its clean-up lost to a stalled Redis) must not
 * stay in the lock's queue for good. Found by the fault soak: `csk:lockq:{session:…}` kept such an
 * entry after the load, since waiters are pruned only when someone next takes that lock. Real Redis.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestRedis, type TestRedis } from "../testing/redis.js";
import { RedisStore } from "./redis-store.js";

let redis: TestRedis;
let raw: Redis;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  redis = await startTestRedis("test-password");
  raw = new Redis(redis.url);
});
afterAll(async () => {
  raw?.disconnect();
  await redis?.stop();
});

describe("the Redis lock queue", () => {
  it("forgets a waiter that died while waiting, within seconds, though nobody takes the lock again", async () => {
    const holder = new RedisStore(redis.url);
    const doomed = new RedisStore(redis.url);
    const key = `session:s-${Math.random().toString(36).slice(2)}`;
    const grant = await holder.acquireLock(key, "gw-0:1", 60_000, 1_000);
    expect(grant).not.toBeNull();
    void doomed.acquireLock(key, "gw-1:2", 60_000, 60_000).catch(() => undefined);
    await sleep(300);
    expect(await raw.zcard(`csk:lockq:{${key}}`), "the waiter is queued").toBe(1);
    // The waiting replica dies: its connection goes, its clean-up never runs.
    const conns = doomed as unknown as { redis: Redis; locks: { blocker?: Redis } };
    conns.redis.disconnect();
    conns.locks.blocker?.disconnect();
    expect(await holder.releaseLock(grant!)).toBe(true);
    await sleep(8_000);
    expect(await raw.zcard(`csk:lockq:{${key}}`), "a dead waiter left in the queue").toBe(0);
    await holder.close();
  }, 30_000);
});
