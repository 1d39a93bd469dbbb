/**
 * Creating a session so that no step cut short leaves anything nobody can find: the record is
 * written first (state `creating`), then the CLI session and its lease, then the record is made
 * live. A failure undoes what may have happened; a replica killed, or a CLI lost, in between leaves
 * the record, from which the reconciler finishes (the CLI lists a never-used session nowhere, so
 * without the record it could never be found: the fault soak's never-used orphans).
 */
import type { Logger } from "pino";
import type { Backend } from "./backends.js";
import { unavailable } from "./errors.js";
import type { BackendPool } from "./pool.js";
import { openOptionsOf, type SessionManager } from "./sessions.js";
import type { SessionRecord, Store } from "./store.js";

export interface RecordedCreateDeps {
  store: Store;
  pool: Pick<BackendPool, "claimNew">;
  sessions: Pick<SessionManager, "create" | "destroy">;
  log: Logger;
}

/** Creates `rec`'s CLI session on `backend`, recorded first; throws after undoing on any failure. */
export async function createRecorded(d: RecordedCreateDeps, rec: SessionRecord, backend: Backend): Promise<void> {
  const id = rec.sessionId;
  const written = await d.store.createSession({ ...rec, state: "creating" }).catch((err: Error) => {
    // A write reported failed may still land (a paused Redis runs it on resume): the delete, sent
    // after it on the same connection, lands after it. Not awaited: the store may be stalled.
    void d.store.deleteSession(id).catch(() => undefined);
    throw err;
  });
  // Taken: the record is another request's (a room's), not this create's to undo.
  if (!written) throw unavailable("server_unavailable", `session ${id} is being created by another request; retry`, 1);
  try {
    await d.sessions.create(backend, id, openOptionsOf(rec));
    await d.pool.claimNew?.(id, backend);
    // False: the reconciler took this create for a dead one (it ran past the orphan grace).
    if (!(await d.store.setSessionState(id, "creating", undefined))) throw unavailable("server_unavailable", `the create of session ${id} took too long and was undone; retry`, 1);
  } catch (err) {
    await undoCreate(d, id, backend);
    throw err;
  }
}

/**
 * The CLI may hold the session (a create whose answer was lost did write it): mark the record
 * `deleting` (sent first, so it lands after any write of the create that lands late), remove the
 * CLI state, then the record. A CLI that cannot be reached keeps the record for the reconciler.
 */
async function undoCreate(d: RecordedCreateDeps, id: string, backend: Backend): Promise<void> {
  void d.store.updateSession(id, { state: "deleting" }).catch(() => undefined);
  await d.sessions.destroy(id, backend, "undo").catch((e: Error) => d.log.warn({ sessionId: id, err: e.message }, "undo of a session create could not remove its CLI state: the reconciler finishes it"));
  // The lease a create claims (shared-storage): the renewal loop would otherwise keep a late-landing claim alive.
  void d.store.releaseLease(id, backend.id).catch(() => undefined);
}
