/**
 * Orphan reconciler. A create or delete cut short (a replica killed, a CLI lost between its steps)
 * leaves its record in a state (store.ts): a delete's is finished at once, a create's once it is
 * older than the grace period (so that a create still in progress is never taken for one), the
 * CLI state first, then the record. And a CLI session that no record owns at all (state from
 * before records were written first, a record lost) is removed once older than the grace; the CLI
 * lists only sessions that have had a turn, which is why creates write their record first.
 */
import type { Logger } from "pino";
import type { Backend } from "./backends.js";
import { deleteIfDue } from "./cleanup.js";
import type { BackendPool } from "./pool.js";
import type { Store } from "./store.js";

/** Ids the gateway gives its sessions, chats and rooms; anything else on the CLI is not ours to remove. */
const GATEWAY_ID = /^(?:[sc]-[0-9a-f-]{36}|r-.+)$/;

export async function reconcileOrphans(opts: {
  store: Store;
  pool: BackendPool;
  graceMs: number;
  log: Logger;
  /** Detaches and deletes one session (SessionManager.destroy, which counts it). */
  destroy: (id: string, backend: Backend) => Promise<void>;
  /** Finishes an unfinished create or delete: its CLI state (none: `backend` undefined), then its record. */
  finish: (id: string, backend: Backend | undefined) => Promise<void>;
  onRemoved?: (id: string) => void;
  now?: number;
}): Promise<string[]> {
  const now = opts.now ?? Date.now();
  const records = await opts.store.allSessions();
  const removed: string[] = [];
  for (const rec of records.filter((r) => r.state)) {
    const id = rec.sessionId;
    const finished = await deleteIfDue({ ...opts, destroy: opts.finish }, rec, "reconciler", async (fresh) => {
      if (fresh.state === "deleting") return true;
      // A create past the grace is dead; the compare-and-set makes its own commit fail if it still runs.
      return fresh.state === "creating" && now - fresh.createdAt >= opts.graceMs && (await opts.store.setSessionState(id, "creating", "deleting"));
    }).catch((err: Error) => {
      opts.log.warn({ sessionId: id, state: rec.state, err: err.message }, "could not finish an unfinished create or delete; next pass retries");
      return false;
    });
    if (!finished) continue;
    removed.push(id);
    opts.onRemoved?.(id);
    opts.log.warn({ sessionId: id, state: rec.state, server: rec.serverId }, "finished a create or delete that was cut short");
  }
  const owned = new Set(records.map((r) => r.sessionId));
  for (const backend of opts.pool.all()) {
    // The CLI lists sessions that have had a turn; one never used holds no conversation to leak.
    const listed = await (await backend.getClient()).listSessions();
    for (const s of listed) {
      if (!GATEWAY_ID.test(s.sessionId) || owned.has(s.sessionId)) continue;
      if (now - new Date(s.modifiedTime).getTime() < opts.graceMs) continue;
      if (await opts.store.getSession(s.sessionId)) continue; // recorded since the scan
      await opts.destroy(s.sessionId, backend);
      removed.push(s.sessionId);
      opts.onRemoved?.(s.sessionId);
      opts.log.warn({ sessionId: s.sessionId, server: backend.id, modifiedAt: s.modifiedTime }, "removed an orphan CLI session that no record owns");
    }
  }
  return removed;
}
