/** The same contract, run against the in-process store and a real redis-server. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestRedis, type TestRedis } from "../testing/redis.js";
import { RedisStore } from "./redis-store.js";
import { MemoryLocks, MemoryStore } from "./memory-store.js";
import type { Store } from "./store.js";

let redis: TestRedis;
const stores: Store[] = [];

beforeAll(async () => {
  redis = await startTestRedis("test-password");
});
afterAll(async () => {
  for (const s of stores) await s.close();
  await redis?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rec = (id: string, owner: string) => ({ sessionId: id, owner, kind: "session" as const, persistent: true, createdAt: 1, lastActiveAt: 1 });

describe.each([
  ["memory", () => new MemoryStore()],
  ["redis", () => new RedisStore(redis.url)],
] as const)("%s store", (_name, make) => {
  const store = () => {
    const s = make();
    stores.push(s);
    return s;
  };
  const uniq = () => Math.random().toString(36).slice(2);

  it("keeps ownership records and lists them per owner", async () => {
    const s = store();
    const a = `a-${uniq()}`;
    expect(await s.createSession(rec(`s1-${a}`, a))).toBe(true);
    expect(await s.createSession(rec(`s1-${a}`, "mallory"))).toBe(false);
    await s.createSession(rec(`s2-${a}`, a));
    await s.updateSession(`s1-${a}`, { lastActiveAt: 5 });
    expect((await s.getSession(`s1-${a}`))?.lastActiveAt).toBe(5);
    expect((await s.getSession(`s1-${a}`))?.owner).toBe(a);
    expect((await s.listSessions(a)).map((r) => r.sessionId).sort()).toEqual([`s1-${a}`, `s2-${a}`]);
    expect(await s.deleteSession(`s1-${a}`)).toBe(true);
    expect(await s.getSession(`s1-${a}`)).toBeUndefined();
    expect(await s.listSessions(a)).toHaveLength(1);
  });

  it("moves a record's state by compare-and-set only", async () => {
    const s = store();
    const id = `s-${uniq()}`;
    expect(await s.setSessionState(id, undefined, "deleting"), "no record").toBe(false);
    await s.createSession({ ...rec(id, "alice"), state: "creating" });
    expect(await s.setSessionState(id, undefined, "deleting"), "not live").toBe(false);
    expect(await s.setSessionState(id, "creating", undefined)).toBe(true);
    expect((await s.getSession(id))?.state).toBeUndefined();
    expect(await s.setSessionState(id, "creating", "deleting"), "already live").toBe(false);
    expect(await s.setSessionState(id, undefined, "deleting")).toBe(true);
    expect(await s.getSession(id)).toMatchObject({ state: "deleting", owner: "alice" });
  });

  it("grants locks in arrival order with growing fencing tokens", async () => {
    const s = store();
    const key = `room-${uniq()}`;
    const first = await s.acquireLock(key, "h0", 5_000, 1_000);
    expect(first).not.toBeNull();
    const order: string[] = [];
    const waiters = ["h1", "h2", "h3", "h4"].map(async (h, i) => {
      await sleep(i * 20); // arrive in a known order
      const g = await s.acquireLock(key, h, 5_000, 5_000);
      order.push(h);
      await sleep(5);
      await s.releaseLock(g!);
      return g!.fence;
    });
    await sleep(120);
    await s.releaseLock(first!);
    const fences = await Promise.all(waiters);
    expect(order).toEqual(["h1", "h2", "h3", "h4"]);
    expect(fences).toEqual([first!.fence + 1, first!.fence + 2, first!.fence + 3, first!.fence + 4]);
  });

  it("releases by owner only, times out waiters, and expires unrenewed locks", async () => {
    const s = store();
    const key = `room-${uniq()}`;
    const g = (await s.acquireLock(key, "a", 400, 100))!;
    expect(await s.releaseLock({ ...g, holder: "b" })).toBe(false);
    expect(await s.releaseLock({ ...g, fence: g.fence + 1 })).toBe(false);
    expect(await s.acquireLock(key, "b", 400, 50)).toBeNull();
    expect(await s.validateLock(g, 0)).toBe(true);
    expect(await s.renewLock(g, 400)).toBe(true);
    await sleep(550);
    expect(await s.validateLock(g, 0)).toBe(false);
    expect(await s.renewLock(g, 400)).toBe(false);
    const next = (await s.acquireLock(key, "b", 400, 500))!;
    expect(next.fence).toBeGreaterThan(g.fence);
    // The stale holder is fenced off: its token is no longer current.
    expect(await s.validateLock(g, 0)).toBe(false);
    expect(await s.validateLock(next, 100)).toBe(true);
    expect(await s.validateLock(next, 10_000)).toBe(false);
  });

  it("names a lock's holder while it holds, and nobody after release or expiry", async () => {
    const s = store();
    const key = `session-${uniq()}`;
    expect(await s.lockHolder(key)).toBeUndefined();
    const g = (await s.acquireLock(key, "gw-1:req|x", 300, 100))!;
    expect(await s.lockHolder(key)).toBe("gw-1:req|x");
    await s.releaseLock(g);
    expect(await s.lockHolder(key)).toBeUndefined();
    await s.acquireLock(key, "gw-2", 200, 100);
    await sleep(300);
    expect(await s.lockHolder(key)).toBeUndefined();
  });

  it("keeps values with a TTL: set-if-absent once, overwrite, delete, expire", async () => {
    const s = store();
    const key = `idem-${uniq()}`;
    expect(await s.kvGet(key)).toBeUndefined();
    expect(await s.kvSetIfAbsent(key, "first", 300)).toBe(true);
    expect(await s.kvSetIfAbsent(key, "second", 300)).toBe(false);
    expect(await s.kvGet(key)).toBe("first");
    await s.kvSet(key, "answer", 300);
    expect(await s.kvGet(key)).toBe("answer");
    await s.kvDelete(key);
    expect(await s.kvSetIfAbsent(key, "again", 200)).toBe(true);
    await sleep(300);
    expect(await s.kvGet(key)).toBeUndefined();
    expect(await s.kvSetIfAbsent(key, "after expiry", 200)).toBe(true);
  });

  it("leases a session to one server at a time", async () => {
    const s = store();
    const id = `s-${uniq()}`;
    expect(await s.claimLease(id, "cli-0", 300)).toBe("cli-0");
    expect(await s.claimLease(id, "cli-1", 300)).toBe("cli-0");
    expect(await s.claimLease(id, "cli-1", 300, "cli-0")).toBe("cli-1");
    expect(await s.renewLease(id, "cli-0", 300)).toBe(false);
    expect(await s.renewLease(id, "cli-1", 300)).toBe(true);
    await s.releaseLease(id, "cli-0");
    expect(await s.getLease(id)).toBe("cli-1");
    await sleep(400);
    expect(await s.getLease(id)).toBeUndefined();
    expect(await s.claimLease(id, "cli-2", 300)).toBe("cli-2");
  });
});

describe("memory locks", () => {
  it("keep no state for a key nobody holds or waits for, and fencing tokens still rise for each key", async () => {
    const locks = new MemoryLocks();
    const fences: number[] = [];
    for (let i = 0; i < 1_000; i++) {
      const g = (await locks.acquire(`session-${i % 10}`, `h${i}`, 30_000, 0))!;
      fences.push(g.fence);
      expect(locks.release(g)).toBe(true);
    }
    expect(fences.every((f, i) => i === 0 || f > fences[i - 1]!)).toBe(true);
    // Held, waited for (then timed out), expired: each leaves nothing once it is over.
    const held = (await locks.acquire("room", "a", 150, 0))!;
    expect(await locks.acquire("room", "b", 150, 30)).toBeNull();
    expect(locks.size).toBe(1);
    await sleep(250);
    expect(locks.holder("room")).toBeUndefined();
    expect(locks.size).toBe(0);
    const next = (await locks.acquire("room", "c", 150, 0))!;
    expect(next.fence).toBeGreaterThan(held.fence);
    // A waiter granted on release takes the TTL it asked for, not the releaser's.
    const waiting = locks.acquire("room", "d", 5_000, 1_000);
    expect(locks.release(next)).toBe(true);
    const d = (await waiting)!;
    await sleep(250);
    expect(locks.validate(d, 4_000)).toBe(true);
    expect(locks.release(d)).toBe(true);
    expect(locks.size).toBe(0);
  });
});

describe("redis locks across replicas", () => {
  it("serialize holders of two store instances and skip a dead replica's queued waiter", async () => {
    const a = new RedisStore(redis.url);
    const b = new RedisStore(redis.url);
    stores.push(a, b);
    const key = `room-x-${Math.random()}`;
    const g = (await a.acquireLock(key, "a", 5_000, 100))!;
    const waitB = b.acquireLock(key, "b", 5_000, 5_000);
    await sleep(50);
    expect(await a.releaseLock(g)).toBe(true);
    const gb = (await waitB)!;
    expect(gb.holder).toBe("b");
    expect(gb.fence).toBe(g.fence + 1);
    expect(await a.validateLock(g, 0)).toBe(false);
  });
});
