/**
 * `Idempotency-Key` for turns: the first request with a key (per user and session) runs; a retry
 * with the same key gets the first answer and never writes the prompt again, on any replica,
 * because the key's state (in flight, then the answer) lives in the store with a TTL. A retry
 * while the first runs waits for it (bounded), then 409 idempotency_in_flight; the same key with a
 * different body is 422. A first request that failed before its prompt was written frees the key.
 */
import { createHash } from "node:crypto";
import { ApiError } from "./errors.js";
import type { Store } from "./store.js";

export interface IdempotencyOptions {
  store: Store;
  /** How long an answer is kept. */
  ttlMs: number;
  /** How long a retry waits for the first request to finish. */
  waitMs: number;
  /** How long an in-flight mark outlives a replica that died mid-turn (longer than any turn). */
  inFlightTtlMs: number;
  /** Test switch: the header is ignored (its negative control). */
  disabled?: boolean;
}

/** What a turn answered: its JSON body, or its error. */
export type Answer = { ok: true; body: Record<string, unknown>; server?: string } | { ok: false; status: number; code: string; message: string; headers: Record<string, string> };

type Entry = { state: "in-flight"; fingerprint: string } | { state: "done"; fingerprint: string; answer: Answer };

export const keyReused = () =>
  new ApiError(422, "idempotency_key_reused", "this Idempotency-Key was used with a different request body; use a new key for a new request");
const inFlight = (retryAfterSeconds: number) =>
  new ApiError(409, "idempotency_in_flight", "the first request with this Idempotency-Key is still running; retry later to get its answer", {
    "retry-after": String(Math.max(1, Math.ceil(retryAfterSeconds))),
  });

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function answerOf(err: unknown): Answer | undefined {
  return err instanceof ApiError ? { ok: false, status: err.status, code: err.code, message: err.message, headers: err.headers } : undefined;
}

export function errorOf(a: Extract<Answer, { ok: false }>): ApiError {
  return new ApiError(a.status, a.code, a.message, a.headers);
}

export class Idempotency {
  constructor(private readonly opts: IdempotencyOptions) {}

  get enabled(): boolean {
    return !this.opts.disabled;
  }

  /**
   * `first` runs only for a new key; it calls `written()` right before the prompt goes to the CLI.
   * Returns the answer and whether it is a replay of an earlier request's.
   */
  async run(scope: { user: string; target: string; key: string }, request: unknown, first: (written: () => void) => Promise<Answer>): Promise<{ answer: Answer; replayed: boolean }> {
    const id = `idem:${sha256(JSON.stringify([scope.user, scope.target, scope.key]))}`;
    const fingerprint = sha256(JSON.stringify(request));
    const { store } = this.opts;
    const deadline = Date.now() + this.opts.waitMs;
    for (;;) {
      if (await store.kvSetIfAbsent(id, JSON.stringify({ state: "in-flight", fingerprint } satisfies Entry), this.opts.inFlightTtlMs)) break;
      const raw = await store.kvGet(id);
      if (raw === undefined) continue; // freed or expired between the two calls: claim again
      const entry = JSON.parse(raw) as Entry;
      if (entry.fingerprint !== fingerprint) throw keyReused();
      if (entry.state === "done") return { answer: entry.answer, replayed: true };
      const left = deadline - Date.now();
      if (left <= 0) throw inFlight(Math.min(5, this.opts.waitMs / 1000 || 1));
      await sleep(Math.min(100, left));
    }
    let wasWritten = false;
    let answer: Answer;
    try {
      answer = await first(() => {
        wasWritten = true;
      });
    } catch (err) {
      const a = answerOf(err);
      // Not an API error (a bug): free the key so a retry can run, and report the error as it is.
      if (!a || !wasWritten) await store.kvDelete(id).catch(() => undefined);
      if (a && wasWritten) await this.keep(id, fingerprint, a);
      throw err;
    }
    if (wasWritten || answer.ok) await this.keep(id, fingerprint, answer);
    else await store.kvDelete(id);
    return { answer, replayed: false };
  }

  private async keep(id: string, fingerprint: string, answer: Answer): Promise<void> {
    await this.opts.store.kvSet(id, JSON.stringify({ state: "done", fingerprint, answer } satisfies Entry), this.opts.ttlMs);
  }
}
