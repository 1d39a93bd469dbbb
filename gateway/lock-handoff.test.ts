/**
 * The Redis turn lock hands over in one step: a release makes the next waiter the holder and pushes
 * the grant onto its replica's inbox, so the waiter issues no command of its own to learn it holds
 * the lock. Also: FIFO and fencing across three replicas, a grant for a waiter that gave up or died
 * is passed on at once (or after a short lease), a dead holder's expiry is handed on, and many
 * waiters share one blocking connection per replica. Real Redis.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestRedis, type TestRedis } from "../testing/redis.js";
import { RedisStore } from "./redis-store.js";

let redis: TestRedis;
let raw: Redis;
const stores: RedisStore[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uniqKey = () => `room:h-${Math.random().toString(36).slice(2)}`;
/** The store's connections, to cut them as a dying replica loses them. */
const conns = (s: RedisStore) => s as unknown as { redis: Redis; locks: { replicaId: string; blocker?: Redis } };

function store(): RedisStore {
  const s = new RedisStore(redis.url);
  stores.push(s);
  return s;
}

beforeAll(async () => {
  redis = await startTestRedis("test-password");
  raw = new Redis(redis.url);
});
afterAll(async () => {
  for (const s of stores) await s.close().catch(() => undefined);
  raw?.disconnect();
  await redis?.stop();
});

/** Nothing left: no holder and no queued waiter on `key`. */
async function expectLockClear(key: string): Promise<void> {
  expect(await raw.exists(`csk:lock:{${key}}`), "the lock is still held").toBe(0);
  expect(await raw.zcard(`csk:lockq:{${key}}`), "waiters are still queued").toBe(0);
}

describe("the Redis lock handoff", () => {
  it("gives the lock to the next waiter without a command from the waiter (its command connection is cut)", async () => {
    const a = store();
    const b = store();
    const key = uniqKey();
    const ga = (await a.acquireLock(key, "a", 5_000, 100))!;
    const waitB = b.acquireLock(key, "b", 5_000, 5_000);
    await sleep(100);
    // From here on b can only listen: any command of its own (acquire retry, poll) would fail.
    conns(b).redis.disconnect();
    expect(await a.releaseLock(ga)).toBe(true);
    const gb = await waitB;
    expect(gb).toEqual({ key, holder: "b", fence: ga.fence + 1 });
    expect(await raw.get(`csk:lock:{${key}}`)).toBe(`b|${ga.fence + 1}`);
    expect(await a.validateLock(ga, 0)).toBe(false);
    await raw.del(`csk:lock:{${key}}`);
    await expectLockClear(key);
  });

  it("serves waiters of three replicas in arrival order with growing fencing tokens", async () => {
    const replicas = [store(), store(), store()];
    const key = uniqKey();
    const first = (await replicas[0]!.acquireLock(key, "h0", 5_000, 1_000))!;
    const order: string[] = [];
    const waiters = Array.from({ length: 9 }, async (_, i) => {
      await sleep(i * 15);
      const s = replicas[i % 3]!;
      const g = (await s.acquireLock(key, `w${i}`, 5_000, 10_000))!;
      order.push(g.holder);
      expect(await s.validateLock(g, 1_000)).toBe(true);
      await s.releaseLock(g);
      return g.fence;
    });
    await sleep(200);
    await replicas[0]!.releaseLock(first);
    const fences = await Promise.all(waiters);
    expect(order).toEqual(Array.from({ length: 9 }, (_, i) => `w${i}`));
    expect(fences).toEqual(Array.from({ length: 9 }, (_, i) => first.fence + 1 + i));
    await expectLockClear(key);
  });

  it("passes on at once a grant for a waiter that already gave up (its removal from the queue was lost)", async () => {
    const a = store();
    const b = store();
    const key = uniqKey();
    const ga = (await a.acquireLock(key, "a", 30_000, 100))!;
    // Start b's listener with a short wait, then plant a ghost waiter of b's live replica at the head.
    expect(await b.acquireLock(key, "b-short", 30_000, 50)).toBeNull();
    await raw.zadd(`csk:lockq:{${key}}`, 0, `${conns(b).locks.replicaId}:999999:30000:ghost`);
    const waitC = a.acquireLock(key, "c", 30_000, 5_000);
    await sleep(100);
    const released = performance.now();
    await a.releaseLock(ga);
    const gc = (await waitC)!;
    expect(gc.holder).toBe("c");
    expect(gc.fence).toBe(ga.fence + 2); // the ghost was granted (fence + 1) and gave it back
    // Well before the ghost's lease (3 s) would have run out.
    expect(performance.now() - released).toBeLessThan(2_000);
    await a.releaseLock(gc);
    await expectLockClear(key);
  });

  it("does not keep the lock for good with a waiter whose replica died after queueing", async () => {
    const a = store();
    const doomed = store();
    const c = store();
    const key = uniqKey();
    const ga = (await a.acquireLock(key, "a", 60_000, 100))!;
    void doomed.acquireLock(key, "doomed", 60_000, 60_000).catch(() => undefined);
    await sleep(100);
    const waitC = c.acquireLock(key, "c", 60_000, 15_000);
    await sleep(100);
    // The doomed replica loses both connections; its replica key still looks alive for a while.
    conns(doomed).redis.disconnect();
    conns(doomed).locks.blocker?.disconnect();
    await a.releaseLock(ga);
    const gc = (await waitC)!;
    expect(gc.holder).toBe("c");
    expect(gc.fence).toBe(ga.fence + 2);
    await c.releaseLock(gc);
    await expectLockClear(key);
  }, 20_000);

  it("hands on the lock of a holder that died once it expires", async () => {
    const a = store();
    const b = store();
    const key = uniqKey();
    const ga = (await a.acquireLock(key, "a", 400, 100))!; // never renewed nor released
    const gb = (await b.acquireLock(key, "b", 5_000, 3_000))!;
    expect(gb.holder).toBe("b");
    expect(gb.fence).toBe(ga.fence + 1);
    expect(await a.validateLock(ga, 0)).toBe(false);
    await b.releaseLock(gb);
    await expectLockClear(key);
  });

  it("answers a waiter at once when its store closes (no timer left to hold the process)", async () => {
    const a = store();
    const b = new RedisStore(redis.url);
    const key = uniqKey();
    const ga = (await a.acquireLock(key, "a", 5_000, 100))!;
    const waitB = b.acquireLock(key, "b", 5_000, 60_000);
    await sleep(100);
    const closed = performance.now();
    await b.close();
    expect(await waitB).toBeNull();
    expect(performance.now() - closed).toBeLessThan(2_000);
    await a.releaseLock(ga);
    await expectLockClear(key);
  });

  it("has many waiters of one replica share one blocking connection", async () => {
    const a = store();
    const b = store();
    const key = uniqKey();
    const clients = async () => String(await raw.call("CLIENT", "LIST")).trim().split("\n").length;
    const clientsBefore = await clients();
    const ga = (await a.acquireLock(key, "a", 5_000, 100))!;
    const waits = Array.from({ length: 50 }, (_, i) => b.acquireLock(key, `b${i}`, 5_000, 20_000));
    await sleep(300);
    const clientsDuring = await clients();
    // a: one command connection; b: a command connection and one blocking connection.
    expect(clientsDuring - clientsBefore).toBe(3);
    await a.releaseLock(ga);
    for (const w of waits) {
      const g = (await w)!;
      await b.releaseLock(g);
    }
    await expectLockClear(key);
  }, 30_000);
});
