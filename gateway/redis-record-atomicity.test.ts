/**
 * The Redis store's record writes stay whole when callers share its one connection and Redis
 * pauses (found by the fault soak: records left without a CLI session, outside the index that the
 * reconciler reads). A WATCH on a shared connection is dropped by any other caller's EXEC, so an
 * update raced with a delete wrote the deleted record back; a create's record landed after its
 * timeout without its index entries; an undo's two-step delete lost its second step. Real Redis.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestRedis, type TestRedis } from "../testing/redis.js";
import { RedisStore } from "./redis-store.js";
import type { SessionRecord } from "./store.js";

/** redis-store.ts's layout (conformance/leftovers.ts reads the same keys). */
const REDIS_KEYS = { session: "csk:session:", all: "csk:sessions" };
let redis: TestRedis;
let raw: Redis;
const stores: RedisStore[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rec = (id: string): SessionRecord => ({ sessionId: id, owner: "alice", kind: "session", persistent: true, createdAt: 1, lastActiveAt: 1 });
/** A store whose connection is up (a command sent while it connects waits in ioredis, not in Redis). */
const store = async (opts = {}) => {
  const s = new RedisStore(redis.url, opts);
  stores.push(s);
  await s.ping();
  return s;
};

beforeAll(async () => {
  redis = await startTestRedis("test-password");
  raw = new Redis(redis.url);
});
afterAll(async () => {
  process.kill(redis.pid, "SIGCONT");
  for (const s of stores) await s.close();
  raw?.disconnect();
  await redis?.stop();
});

/** Record keys that the index of all sessions (what the reconciler and TTL cleanup read) does not list. */
async function unindexed(): Promise<string[]> {
  const keys = await raw.keys(`${REDIS_KEYS.session}*`);
  const all = new Set(await raw.smembers(REDIS_KEYS.all));
  return keys.map((k) => k.slice(REDIS_KEYS.session.length)).filter((id) => !all.has(id));
}

/** Pauses Redis (SIGSTOP) while `during` runs, then resumes it and lets the queued commands run. */
async function paused(during: () => Promise<void>): Promise<void> {
  process.kill(redis.pid, "SIGSTOP");
  try {
    await during();
  } finally {
    process.kill(redis.pid, "SIGCONT");
  }
  await raw.ping();
  await sleep(200);
}

describe("Redis session records under a shared connection and a paused Redis", () => {
  it("a delete raced with an update or a state change stays deleted", async () => {
    const s = await store();
    const ids = Array.from({ length: 40 }, (_, i) => `s-race-${i}-${Math.random().toString(36).slice(2)}`);
    for (const id of ids) await s.createSession({ ...rec(id), state: "creating" });
    await Promise.all(
      ids.map((id, i) => Promise.all([i % 2 ? s.updateSession(id, { state: "deleting" }) : s.setSessionState(id, "creating", "deleting"), s.deleteSession(id)])),
    );
    const left = (await Promise.all(ids.map((id) => s.getSession(id)))).filter(Boolean);
    expect(left.map((r) => r!.sessionId), "records written back after their delete").toEqual([]);
    expect(await unindexed()).toEqual([]);
  });

  it("a create whose answer timed out lands with its index entries", async () => {
    const s = await store({ commandTimeout: 300 });
    const id = `s-late-${Math.random().toString(36).slice(2)}`;
    await paused(async () => {
      await expect(s.createSession({ ...rec(id), state: "creating" })).rejects.toThrow(/timed out/);
    });
    expect(await raw.exists(`${REDIS_KEYS.session}${id}`), "the late write landed").toBe(1);
    expect((await s.allSessions()).map((r) => r.sessionId), "the reconciler sees it").toContain(id);
    expect(await unindexed()).toEqual([]);
    await s.deleteSession(id);
  });

  it("an undo sent while Redis is paused removes the record that lands before it", async () => {
    const s = await store({ commandTimeout: 300 });
    const id = `s-undo-${Math.random().toString(36).slice(2)}`;
    await paused(async () => {
      await expect(s.createSession({ ...rec(id), state: "creating" })).rejects.toThrow(/timed out/);
      await expect(s.deleteSession(id)).rejects.toThrow(/timed out/);
    });
    expect(await raw.exists(`${REDIS_KEYS.session}${id}`), "the record after the undo").toBe(0);
    expect(await raw.sismember(REDIS_KEYS.all, id)).toBe(0);
    expect(await raw.sismember("csk:owner:alice", id)).toBe(0);
  });
});
