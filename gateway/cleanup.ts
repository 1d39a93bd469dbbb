/**
 * TTL cleanup: deletes sessions whose last activity is older than the TTL, from the CLI's disk and
 * from the registry. The gateway runs it on a timer; `gateway.js cleanup` runs one pass (CronJob).
 */
import type { Logger } from "pino";
import type { BackendPool } from "./pool.js";
import type { Backend } from "./backends.js";
import type { LockGrant, SessionRecord, Store } from "./store.js";
import { roomLockKey, sessionLockKey } from "./turn-lock.js";

export interface CleanupResult {
  scanned: number;
  deleted: string[];
  failed: { sessionId: string; reason: string }[];
}

/** Ephemeral chats live for one request; a record older than this is an orphan of a crash. */
const ORPHAN_CHAT_MS = 15 * 60_000;
/** Held only while one record is deleted. */
const DELETE_LOCK_TTL_MS = 30_000;

/** The turn lock of a record: held by every turn in flight on it, on any replica (chats take none). */
function turnLock(rec: SessionRecord): string | undefined {
  if (rec.kind === "session") return sessionLockKey(rec.sessionId);
  if (rec.kind === "room") return roomLockKey(rec.owner.replace(/^room:/, ""));
  return undefined;
}

export function isExpired(rec: SessionRecord, ttlSeconds: number, now: number): boolean {
  if (rec.kind === "chat") return now - rec.lastActiveAt > ORPHAN_CHAT_MS;
  return ttlSeconds > 0 && now - rec.lastActiveAt > ttlSeconds * 1000;
}

export async function runCleanup(opts: {
  store: Store;
  pool: BackendPool;
  ttlSeconds: number;
  log: Logger;
  now?: number;
  /** Skip sessions busy on this replica (a turn in flight counts as activity). */
  isBusy?: (id: string) => boolean;
  /** Deletes one session from its CLI (none: `backend` undefined) and the registry (SessionManager.destroy, which counts it). */
  destroy: (id: string, backend: Backend | undefined) => Promise<void>;
}): Promise<CleanupResult> {
  const now = opts.now ?? Date.now();
  const all = await opts.store.allSessions();
  const result: CleanupResult = { scanned: all.length, deleted: [], failed: [] };
  for (const rec of all) {
    if (!isExpired(rec, opts.ttlSeconds, now) || opts.isBusy?.(rec.sessionId)) continue;
    // A turn in flight anywhere holds the turn lock (its last activity is only written when it
    // ends); holding the lock also keeps a new turn from starting while the session is deleted.
    const key = turnLock(rec);
    let grant: LockGrant | null = null;
    if (key) {
      grant = await opts.store.acquireLock(key, "ttl-cleanup", DELETE_LOCK_TTL_MS, 0);
      if (!grant) continue;
    }
    try {
      // Re-read: another replica may have used it since the scan.
      const fresh = await opts.store.getSession(rec.sessionId);
      if (!fresh || !isExpired(fresh, opts.ttlSeconds, Date.now())) continue;
      // A culled per-user CLI is not running: start it again (same home) so the state really goes.
      const backend =
        (rec.serverId ? opts.pool.byId(rec.serverId) : opts.pool.all()[0]) ??
        (opts.pool.mode === "per-user" && rec.kind !== "room" ? await opts.pool.forSession(rec, rec.owner) : undefined);
      // Already gone from disk is fine; anything else is reported (the record stays) and retried next pass.
      await opts.destroy(rec.sessionId, backend);
      result.deleted.push(rec.sessionId);
    } catch (err) {
      result.failed.push({ sessionId: rec.sessionId, reason: (err as Error).message });
    } finally {
      if (grant) await opts.store.releaseLock(grant).catch(() => undefined);
    }
  }
  if (result.deleted.length || result.failed.length) {
    opts.log.info({ scanned: result.scanned, deleted: result.deleted.length, failed: result.failed.length }, "ttl cleanup pass");
  }
  return result;
}
