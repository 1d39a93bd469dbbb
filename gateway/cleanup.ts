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

/** What deleting one record takes: the store, the pool that finds its CLI, SessionManager.destroy (which counts it). */
export interface DeleteDeps {
  store: Store;
  pool: BackendPool;
  /** Deletes one session from its CLI (none: `backend` undefined) and the registry. */
  destroy: (id: string, backend: Backend | undefined) => Promise<void>;
}

/**
 * Deletes `rec` if `due` still holds for it, re-read under its turn lock: a turn in flight anywhere
 * holds that lock (its last activity is only written when it ends), and holding it keeps a new turn
 * from starting meanwhile. A busy record (lock taken) is left for the next pass: false.
 */
export async function deleteIfDue(d: DeleteDeps, rec: SessionRecord, holder: string, due: (fresh: SessionRecord) => boolean | Promise<boolean>): Promise<boolean> {
  const key = turnLock(rec);
  let grant: LockGrant | null = null;
  if (key) {
    grant = await d.store.acquireLock(key, holder, DELETE_LOCK_TTL_MS, 0);
    if (!grant) return false;
  }
  try {
    const fresh = await d.store.getSession(rec.sessionId);
    if (!fresh || !(await due(fresh))) return false;
    // A culled per-user CLI is not running: start it again (same home) so the state really goes.
    const backend =
      (rec.serverId ? d.pool.byId(rec.serverId) : d.pool.all()[0]) ??
      (d.pool.mode === "per-user" && rec.kind !== "room" ? await d.pool.forSession(rec, rec.owner) : undefined);
    // Already gone from disk is fine; anything else throws (the record stays) and is retried next pass.
    await d.destroy(rec.sessionId, backend);
    return true;
  } finally {
    if (grant) await d.store.releaseLock(grant).catch(() => undefined);
  }
}

export async function runCleanup(opts: DeleteDeps & {
  ttlSeconds: number;
  log: Logger;
  now?: number;
  /** Skip sessions busy on this replica (a turn in flight counts as activity). */
  isBusy?: (id: string) => boolean;
}): Promise<CleanupResult> {
  const now = opts.now ?? Date.now();
  const all = await opts.store.allSessions();
  const result: CleanupResult = { scanned: all.length, deleted: [], failed: [] };
  for (const rec of all) {
    if (!isExpired(rec, opts.ttlSeconds, now) || opts.isBusy?.(rec.sessionId)) continue;
    try {
      // Re-read: another replica may have used it since the scan.
      if (await deleteIfDue(opts, rec, "ttl-cleanup", (fresh) => isExpired(fresh, opts.ttlSeconds, Date.now()))) result.deleted.push(rec.sessionId);
    } catch (err) {
      result.failed.push({ sessionId: rec.sessionId, reason: (err as Error).message });
    }
  }
  if (result.deleted.length || result.failed.length) {
    opts.log.info({ scanned: result.scanned, deleted: result.deleted.length, failed: result.failed.length }, "ttl cleanup pass");
  }
  return result;
}
