/**
 * Per-user quotas, so one user cannot fill a shared deployment: a cap on the sessions a user owns
 * (counted in the store, so across replicas) and on the turns a user has in flight on this replica
 * (waiting for a lock counts: a waiter holds a request and a place in the queue).
 */
import { ApiError } from "./errors.js";
import type { Store } from "./store.js";

export interface UserQuotaLimits {
  maxSessionsPerUser: number;
  maxTurnsInFlightPerUser: number;
}

export const sessionQuotaExceeded = (max: number) =>
  new ApiError(429, "session_quota_exceeded", `you own ${max} sessions, the most allowed; delete one first`, { "retry-after": "60" });
export const turnQuotaExceeded = (max: number) =>
  new ApiError(429, "turn_quota_exceeded", `you have ${max} turns in flight, the most allowed; wait for one to finish`, { "retry-after": "1" });

export class UserQuotas {
  private readonly inFlight = new Map<string, number>();

  constructor(
    private readonly limits: UserQuotaLimits,
    private readonly store: Pick<Store, "listSessions">,
  ) {}

  /** Throws 429 session_quota_exceeded when the user already owns the maximum of sessions. */
  async checkNewSession(user: string): Promise<void> {
    const owned = (await this.store.listSessions(user)).filter((r) => r.kind === "session").length;
    if (owned >= this.limits.maxSessionsPerUser) throw sessionQuotaExceeded(this.limits.maxSessionsPerUser);
  }

  /** Runs a turn in one of the user's slots, or throws 429 turn_quota_exceeded when none is free. */
  async withTurnSlot<T>(user: string, run: () => Promise<T>): Promise<T> {
    const n = this.inFlight.get(user) ?? 0;
    if (n >= this.limits.maxTurnsInFlightPerUser) throw turnQuotaExceeded(this.limits.maxTurnsInFlightPerUser);
    this.inFlight.set(user, n + 1);
    try {
      return await run();
    } finally {
      const left = (this.inFlight.get(user) ?? 1) - 1;
      if (left > 0) this.inFlight.set(user, left);
      else this.inFlight.delete(user);
    }
  }

  /** Users with a turn in flight (for tests: nothing is left behind). */
  busyUsers(): number {
    return this.inFlight.size;
  }
}
