/**
 * The store behind ownership, locks and session leases: the contract every implementation keeps.
 * Two implementations: in-process (memory-store.ts; the default for a single replica) and Redis
 * (redis-store.ts) for several replicas; store-guard.ts bounds and maps the failures of either.
 */

export interface SessionRecord {
  sessionId: string;
  /** The user who owns it; rooms are owned by no user (`room:<name>`); "chat" = an ephemeral /v1/chat session. */
  owner: string;
  kind: "session" | "room" | "chat";
  persistent: boolean;
  model?: string;
  createdAt: number;
  lastActiveAt: number;
  /** The CLI server whose state holds the session (fixed for per-user and sticky routing). */
  serverId?: string;
  /** Rooms: turns acknowledged so far (written under the room lock). */
  turns?: number;
  /**
   * An unfinished create or delete (absent: a live session). A create writes its record `creating`
   * before the CLI call and clears it after, a delete marks it `deleting` before the CLI call: a
   * replica killed, or a CLI lost, in between leaves a record the reconciler finishes from (the CLI
   * lists a never-used session nowhere, so only the record can name it). Such a record is not the
   * client's: the API answers 404 for it.
   */
  state?: SessionState;
}

export type SessionState = "creating" | "deleting";

/** A granted lock. `fence` grows with every acquisition of the key, across replicas. */
export interface LockGrant {
  key: string;
  holder: string;
  fence: number;
}

export interface Store {
  readonly kind: "memory" | "redis";
  /** Readiness: resolves while the store answers. */
  ping(): Promise<void>;
  /** Adds a record; false when the id is taken. */
  createSession(rec: SessionRecord): Promise<boolean>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  updateSession(id: string, patch: Partial<Omit<SessionRecord, "sessionId" | "owner" | "kind">>): Promise<void>;
  listSessions(owner: string): Promise<SessionRecord[]>;
  allSessions(): Promise<SessionRecord[]>;
  deleteSession(id: string): Promise<boolean>;
  /** Compare-and-set of `state` (undefined: a live session); false when the record is missing or in another state. */
  setSessionState(id: string, from: SessionState | undefined, to: SessionState | undefined): Promise<boolean>;

  /**
   * Waits in a fair FIFO queue for the lock, at most `waitMs`; null when the wait runs out.
   * The lock expires after `ttlMs` unless renewed.
   */
  acquireLock(key: string, holder: string, ttlMs: number, waitMs: number): Promise<LockGrant | null>;
  /** Extends the lock if `grant` still holds it. */
  renewLock(grant: LockGrant, ttlMs: number): Promise<boolean>;
  /** Atomic compare-and-delete: only the holder releases. */
  releaseLock(grant: LockGrant): Promise<boolean>;
  /** True while `grant` is the current holder with at least `minRemainingMs` left: the fencing check. */
  validateLock(grant: LockGrant, minRemainingMs: number): Promise<boolean>;
  /** Who holds the lock now, if anyone (abort asks whether a turn runs on some replica). */
  lockHolder(key: string): Promise<string | undefined>;

  /** Small values with a TTL (idempotency keys): set only when absent (false when taken), read, overwrite, drop. */
  kvSetIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  kvGet(key: string): Promise<string | undefined>;
  kvSet(key: string, value: string, ttlMs: number): Promise<void>;
  kvDelete(key: string): Promise<void>;

  /** Session lease (shared-storage): the server that has the session open, if any. */
  getLease(sessionId: string): Promise<string | undefined>;
  /**
   * Takes the lease for `serverId` when it is free, already ours, or held by `replaceServerId`
   * (a server known to be dead). Returns the server that holds the lease afterwards.
   */
  claimLease(sessionId: string, serverId: string, ttlMs: number, replaceServerId?: string): Promise<string>;
  /** Extends the lease while `serverId` still holds it. */
  renewLease(sessionId: string, serverId: string, ttlMs: number): Promise<boolean>;
  releaseLease(sessionId: string, serverId: string): Promise<void>;
  close(): Promise<void>;
}
