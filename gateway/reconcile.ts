/**
 * Orphan reconciler: a CLI session that no record owns (a create whose record write and undo both
 * failed, a replica killed between the two) is removed once it is older than the grace period, so
 * that a create still between its CLI call and its record write is never taken for one.
 */
import type { Logger } from "pino";
import type { Backend } from "./backends.js";
import type { BackendPool } from "./pool.js";
import type { Store } from "./store.js";

/** Ids the gateway gives its sessions, chats and rooms; anything else on the CLI is not ours to remove. */
const GATEWAY_ID = /^(?:[sc]-[0-9a-f-]{36}|r-.+)$/;

export async function reconcileOrphans(opts: {
  store: Store;
  pool: Pick<BackendPool, "all">;
  graceMs: number;
  log: Logger;
  /** Detaches and deletes one session (SessionManager.destroy, which counts it). */
  destroy: (id: string, backend: Backend) => Promise<void>;
  onRemoved?: (id: string) => void;
  now?: number;
}): Promise<string[]> {
  const now = opts.now ?? Date.now();
  const owned = new Set((await opts.store.allSessions()).map((r) => r.sessionId));
  const removed: string[] = [];
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
