import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Backend } from "./backends.js";
import { unitConfig } from "../testing/gateway.js";
import { runCleanup as runCleanupWith } from "./cleanup.js";
import { createMetrics } from "./metrics.js";
import type { BackendPool } from "./pool.js";
import { SessionManager } from "./sessions.js";
import { MemoryStore } from "./memory-store.js";
import type { SessionRecord } from "./store.js";
import { sessionLockKey } from "./turn-lock.js";

const log = pino({ level: "silent" });
const TTL = 60;
const old = Date.now() - (TTL + 5) * 1000;

/** A pool of one fake CLI server that records deletions; `fail` maps a session id to the error deleteSession throws. */
function fakePool(fail: Record<string, string> = {}) {
  const deleted: string[] = [];
  const backend = {
    id: "cli-0",
    getClient: async () => ({
      deleteSession: async (id: string) => {
        if (fail[id]) throw new Error(fail[id]);
        deleted.push(id);
      },
    }),
  } as unknown as Backend;
  const pool = { all: () => [backend], byId: (id: string) => (id === "cli-0" ? backend : undefined) } as unknown as BackendPool;
  return { pool, deleted };
}

/** The gateway's wiring: every deletion goes through SessionManager.destroy, counted under "ttl". */
function runCleanup(opts: Omit<Parameters<typeof runCleanupWith>[0], "destroy">, metrics = createMetrics()) {
  const sessions = new SessionManager(unitConfig(), metrics, log, opts.store);
  return runCleanupWith({ ...opts, destroy: (id, backend) => sessions.destroy(id, backend, "ttl") });
}

const ttlCount = async (metrics: ReturnType<typeof createMetrics>) =>
  (await metrics.sessionsDeleted.get()).values.find((v) => v.labels.reason === "ttl")?.value ?? 0;

function rec(sessionId: string, lastActiveAt: number, kind: SessionRecord["kind"] = "session"): SessionRecord {
  const owner = kind === "room" ? `room:${sessionId}` : "alice";
  return { sessionId, owner, kind, persistent: kind !== "chat", createdAt: lastActiveAt, lastActiveAt, serverId: "cli-0" };
}

async function storeWith(...recs: SessionRecord[]): Promise<MemoryStore> {
  const store = new MemoryStore();
  for (const r of recs) await store.createSession(r);
  return store;
}

describe("runCleanup (the gateway's TTL loop and `gateway.js cleanup`)", () => {
  it("deletes sessions and rooms past the TTL from the CLI and the registry, and keeps recent ones", async () => {
    const store = await storeWith(rec("s-old", old), rec("s-new", Date.now()), rec("lobby", old, "room"));
    const { pool, deleted } = fakePool();
    const r = await runCleanup({ store, pool, ttlSeconds: TTL, log });
    expect(r.deleted.sort()).toEqual(["lobby", "s-old"]);
    expect(deleted.sort()).toEqual(["lobby", "s-old"]);
    expect((await store.allSessions()).map((s) => s.sessionId)).toEqual(["s-new"]);
  });

  it("counts each deletion as it happens, not at the end of the pass (a 404 is never seen before its count)", async () => {
    const metrics = createMetrics();
    const countedBefore: number[] = [];
    const store2 = await storeWith(rec("s-c", old), rec("s-d", old));
    const { pool: pool2 } = fakePool();
    const realDelete = store2.deleteSession.bind(store2);
    store2.deleteSession = async (id: string) => {
      countedBefore.push(await ttlCount(metrics));
      return realDelete(id);
    };
    await runCleanup({ store: store2, pool: pool2, ttlSeconds: TTL, log }, metrics);
    // The second record is deleted after the first was counted; both are counted at the end.
    expect(countedBefore).toEqual([0, 1]);
    expect(await ttlCount(metrics)).toBe(2);
  });

  it("with TTL 0 keeps sessions but still removes chats orphaned by a crash", async () => {
    const store = await storeWith(rec("s-old", old), rec("c-orphan", Date.now() - 16 * 60_000, "chat"), rec("c-live", Date.now(), "chat"));
    const r = await runCleanup({ store, pool: fakePool().pool, ttlSeconds: 0, log });
    expect(r.deleted).toEqual(["c-orphan"]);
  });

  it("skips a session whose turn lock is held: a turn in flight on any replica is activity", async () => {
    const store = await storeWith(rec("s-busy", old));
    const grant = await store.acquireLock(sessionLockKey("s-busy"), "gw-1:req", 30_000, 0);
    expect(grant).not.toBeNull();
    const { pool } = fakePool();
    expect((await runCleanup({ store, pool, ttlSeconds: TTL, log })).deleted).toEqual([]);
    await store.releaseLock(grant!);
    expect((await runCleanup({ store, pool, ttlSeconds: TTL, log })).deleted).toEqual(["s-busy"]);
  });

  it("skips sessions busy on this replica and re-reads a record before deleting it", async () => {
    const store = await storeWith(rec("s-busy", old), rec("s-used", Date.now()));
    const { pool } = fakePool();
    // The scan thinks s-used expired (a pass started long ago); the re-read sees it was used since.
    const r = await runCleanup({ store, pool, ttlSeconds: TTL, log, now: Date.now() + TTL * 2000, isBusy: (id) => id === "s-busy" });
    expect(r.deleted).toEqual([]);
    expect(await store.allSessions()).toHaveLength(2);
  });

  it("treats state already gone from disk as deleted, and reports other CLI errors for the next pass", async () => {
    const store = await storeWith(rec("s-gone", old), rec("s-stuck", old));
    const { pool } = fakePool({ "s-gone": "Session not found: s-gone", "s-stuck": "EACCES: permission denied" });
    const r = await runCleanup({ store, pool, ttlSeconds: TTL, log });
    expect(r.deleted).toEqual(["s-gone"]);
    expect(r.failed).toEqual([{ sessionId: "s-stuck", reason: "EACCES: permission denied" }]);
    expect((await store.allSessions()).map((s) => s.sessionId)).toEqual(["s-stuck"]);
    // The failed pass released its lock: a turn can take it at once.
    expect(await store.acquireLock(sessionLockKey("s-stuck"), "gw-1:req", 30_000, 0)).not.toBeNull();
  });
});
