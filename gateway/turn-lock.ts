/**
 * One turn at a time per session or room, across replicas: a fair lock from the store, renewed by a
 * watchdog while the turn runs, released by owner only. Every acquisition carries a fencing token;
 * `validate()` refuses a holder whose token is no longer current right before it writes to the CLI.
 * (The CLI cannot check tokens itself, so a window of one round trip remains between the check and
 * the write; the watchdog keeps the lease far from expiry while the holder is alive.)
 */
import { ApiError, locked } from "./errors.js";
import type { Metrics } from "./metrics.js";
import type { LockGrant, Store } from "./store.js";

/** The lock key a turn takes: one per session, one per room (TTL cleanup takes the same one). */
export const sessionLockKey = (sessionId: string) => `session:${sessionId}`;
export const roomLockKey = (room: string) => `room:${room}`;

export interface TurnLockOptions {
  store: Store;
  metrics: Metrics;
  ttlMs: number;
  waitMs: number;
  /** Test switches: no lock at all, or a lock without the fencing check. */
  disabled?: boolean;
  noFencing?: boolean;
}

export class LockLostError extends ApiError {
  constructor(fence: number, when: "before" | "after") {
    super(
      409,
      "lock_lost",
      when === "before"
        ? `the lock for this turn was taken over (fencing token ${fence} is stale); the prompt was not written`
        : `the lock for this turn expired while it ran (fencing token ${fence} is stale); the reply is withheld because another turn may have interleaved`,
    );
  }
}

/** Fencing checks handed to the turn: before the prompt is written, and before the reply is returned. */
export interface Fence {
  beforeWrite(): Promise<void>;
  afterTurn(): Promise<void>;
}

const NO_FENCE: Fence = { beforeWrite: async () => undefined, afterTurn: async () => undefined };

export async function withTurnLock<T>(opts: TurnLockOptions, key: string, holder: string, what: string, fn: (fence: Fence) => Promise<T>): Promise<T> {
  if (opts.disabled) return fn(NO_FENCE);
  const started = performance.now();
  const grant = await opts.store.acquireLock(key, holder, opts.ttlMs, opts.waitMs);
  const waited = (performance.now() - started) / 1000;
  if (!grant) {
    opts.metrics.lockWait.observe({ outcome: "timeout" }, waited);
    throw locked(`${what} is busy: waited ${Math.round(opts.waitMs / 1000)} s for its turn lock`, Math.max(1, opts.ttlMs / 1000 / 2));
  }
  opts.metrics.lockWait.observe({ outcome: "acquired" }, waited);
  let lost = false;
  const watchdog = setInterval(() => {
    opts.store.renewLock(grant, opts.ttlMs).then(
      (ok) => {
        if (!ok) lost = true;
      },
      () => undefined,
    );
  }, Math.max(50, opts.ttlMs / 3));
  const check = async (when: "before" | "after") => {
    if (opts.noFencing) return;
    // Before a write keep a margin: it must not start on a lock about to expire.
    const margin = when === "before" ? Math.min(1_000, opts.ttlMs / 4) : 0;
    if (lost || !(await opts.store.validateLock(grant, margin))) throw new LockLostError(grant.fence, when);
  };
  try {
    return await fn({ beforeWrite: () => check("before"), afterTurn: () => check("after") });
  } finally {
    clearInterval(watchdog);
    await releaseQuietly(opts.store, grant);
  }
}

async function releaseQuietly(store: Store, grant: LockGrant): Promise<void> {
  await store.releaseLock(grant).catch(() => undefined);
}
