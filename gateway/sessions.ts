/**
 * The session manager: the one entry point for what the gateway does with a session on this
 * replica: create it, run one turn at a time on it, read or abort it, detach it when idle or
 * draining, and `destroy()` it, the one way a session is deleted. In-memory only: the CLI keeps the
 * state on disk, the store keeps ownership, so a detached session resumes transparently.
 * Attachment and capacity are in attachments.ts and capacity.ts, the turn protocol in turn-protocol.ts.
 */
import type { CopilotClient, CopilotSession } from "@github/copilot-sdk";
import type { Logger } from "pino";
import type { GatewayConfig } from "../topology/gateway-config.js";
import { Attachments, type Attached, type DetachReason } from "./attachments.js";
import { classifyBackendFailure } from "./backend-failure.js";
import type { Backend } from "./backends.js";
import { ApiError } from "./errors.js";
import type { Metrics } from "./metrics.js";
import type { OpenOptions } from "./session-config.js";
import { SessionQueue } from "./session-queue.js";
import type { Store } from "./store.js";
import { lastPromptUnanswered, runTurn, type TurnContext } from "./turn-protocol.js";

export type { DetachReason } from "./attachments.js";
export { openOptionsOf, type OpenOptions } from "./session-config.js";
export { turnAborted } from "./turn-protocol.js";

export interface TurnResult {
  content: string;
  serverId: string;
  /** With `countTurns`: user messages in the session's history after this turn, read from the CLI. */
  turns?: number;
}

/**
 * Why a session is destroyed (the sessions_deleted_total label). `undo`: a create that failed,
 * never seen by its client (not counted); `orphan`: a CLI session no record owns; `unfinished`: a
 * create or delete cut short, finished by the reconciler from its record (store.ts, `state`).
 */
export type DeleteReason = "api" | "ephemeral" | "idle-ephemeral" | "ttl" | "orphan" | "undo" | "unfinished";

/** The CLI did not remove the session's state; its record is kept so TTL cleanup retries. */
export class CliDeleteFailed extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Removes a session's state from a CLI; one already gone is fine (a retried delete, an undo). */
async function deleteCliSession(client: CopilotClient, id: string): Promise<void> {
  await client.deleteSession(id).catch((err: Error) => {
    if (!/not found|does not exist|no such/i.test(err.message)) throw err;
  });
}

export class SessionManager {
  private readonly attached: Attachments;
  /** Calls on one session (turns, create, destroy) never overlap on this replica. */
  private readonly queue = new SessionQueue();
  private inflightTotal = 0;
  /** Pings the connection while a turn runs, to report a CLI that died mid-turn (off only as a test switch). */
  turnWatch = true;
  /** Told about every ping result from failure classification, so routing can avoid dead servers. */
  onBackendHealth?: (backendId: string, ok: boolean) => void;

  constructor(
    private readonly cfg: GatewayConfig,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** Where session records live: `destroy()` removes them. */
    private readonly store: Pick<Store, "deleteSession">,
    providerApiKey?: string,
  ) {
    this.attached = new Attachments(cfg, metrics, log, providerApiKey);
  }

  /** Where each session's owner's GitHub token comes from (user-tokens.ts); by default none (the service identity). */
  set githubTokenFor(fn: (owner: string) => Promise<string | undefined>) {
    this.attached.githubTokenFor = fn;
  }

  get inflight(): number {
    return this.inflightTotal;
  }

  isAttached(id: string): boolean {
    return this.attached.get(id) !== undefined;
  }

  /** A turn on this session runs or waits here: TTL cleanup must leave it alone. */
  isBusy(id: string): boolean {
    return (this.attached.get(id)?.inflight ?? 0) > 0 || this.queue.has(id);
  }

  attachedSessions(): { id: string; backendId: string }[] {
    return this.attached.all().map((a) => ({ id: a.id, backendId: a.backend.id }));
  }

  /** Load for least-loaded routing: sessions attached plus sessions being opened on the backend. */
  loadOn(backendId: string): number {
    return this.attached.capacity.loadOn(backendId);
  }

  /** Last activity (ms) of the sessions attached to a backend; used to cull idle per-user servers. */
  lastActivityOn(backendId: string): { inflight: number; lastActive: number; count: number } {
    return this.attached.capacity.lastActivityOn(backendId);
  }

  /** Creates a session on the backend; a failed call is classified like a failed turn (503 dead, 502 alive). */
  async create(backend: Backend, id: string, opts: OpenOptions): Promise<void> {
    await this.queue.run(id, async () => {
      try {
        await this.attached.create(id, backend, opts);
      } catch (err) {
        if (err instanceof ApiError) throw err;
        throw await this.backendFailure(backend, (err as Error).message ?? String(err));
      }
    });
  }

  /**
   * One turn: open (resume) the session on the backend if needed, send the prompt, wait for the reply.
   * `beforeSend` runs right before the prompt is written (rooms check their fencing token there).
   */
  async turn(
    id: string,
    backend: Backend,
    prompt: string,
    opts: OpenOptions & {
      kind: string;
      onDelta?: (text: string) => void;
      beforeSend?: () => Promise<void>;
      countTurns?: boolean;
    },
  ): Promise<TurnResult> {
    return this.queue.run(id, async () => {
      const started = process.hrtime.bigint();
      let outcome = "error";
      this.inflightTotal++;
      this.metrics.inflightTurns.inc();
      try {
        const r = await runTurn(() => this.openForTurn(id, backend, opts), prompt, opts, this.turnContext());
        outcome = "ok";
        return { ...r, serverId: backend.id };
      } finally {
        this.inflightTotal--;
        this.metrics.inflightTurns.dec();
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        this.metrics.turnDuration.observe({ server: backend.id, kind: opts.kind, outcome }, seconds);
      }
    });
  }

  /** Opens the session for a turn; a failure to resume is classified like a failed turn. */
  private async openForTurn(id: string, backend: Backend, opts: OpenOptions): Promise<Attached> {
    try {
      return await this.attached.open(id, backend, opts);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw await this.backendFailure(backend, (err as Error).message ?? String(err));
    }
  }

  private turnContext(): TurnContext {
    return {
      turnTimeoutSeconds: this.cfg.lifecycle.turnTimeoutSeconds,
      turnWatch: () => this.turnWatch,
      log: this.log,
      detach: (id, reason) => this.detach(id, reason),
      backendFailure: (backend, message) => this.backendFailure(backend, message),
    };
  }

  /**
   * After a connection was lost mid-turn: is `prompt` the last user message of the session's
   * history, still unanswered? Then it was written, and resending it would write it twice.
   */
  async promptPending(id: string, backend: Backend, prompt: string, opts: OpenOptions): Promise<boolean> {
    return this.queue.run(id, async () => {
      const a = await this.attached.open(id, backend, opts);
      return lastPromptUnanswered(await a.session.getEvents(), prompt);
    });
  }

  /** Aborts the turn this replica runs on the session; false when it runs none. */
  async abortLocal(id: string): Promise<boolean> {
    const a = this.attached.get(id);
    if (!a || a.inflight === 0) return false;
    a.abortRequested = true;
    await a.session.abort().catch(async (err: Error) => {
      throw await this.backendFailure(a.backend, err.message ?? String(err));
    });
    return true;
  }

  /**
   * Runs `fn` on the session opened on `backend`: the attached one as is (a read or an abort must
   * not queue behind the turn it is about), else resumed here. Failures are classified like turns.
   */
  async withSession<T>(id: string, backend: Backend, opts: OpenOptions, fn: (s: CopilotSession) => Promise<T>): Promise<T> {
    const a = this.attached.current(id, backend);
    const reopened = () => this.queue.run(id, async () => fn((await this.attached.open(id, backend, opts)).session));
    try {
      if (a) return await fn(a.session);
      return await reopened();
    } catch (err) {
      if (err instanceof ApiError) throw err;
      const message = (err as Error).message ?? String(err);
      // Closed by the CLI under us: reopen once, the state is on disk.
      if (/session not found/i.test(message)) {
        await this.detach(id, "cli-closed");
        return reopened();
      }
      throw await this.backendFailure(backend, message);
    }
  }

  /** A failed call classified by asking the server (backend-failure.ts); routing hears the ping's result. */
  backendFailure(backend: Backend, message: string): Promise<ApiError> {
    return classifyBackendFailure(backend, message, this.onBackendHealth);
  }

  /** Frees the CLI's memory for a session; its state stays on disk. */
  detach(id: string, reason: DetachReason): Promise<void> {
    return this.attached.detach(id, reason);
  }

  /**
   * The one way a session is deleted, whatever asks (DELETE, end of a chat, idle sweep, TTL cleanup,
   * orphan reconciler, undo of a create): detach it here, remove its state from the CLI (`backend`
   * undefined: no CLI holds it), then its record, then count it. A failed CLI delete throws
   * CliDeleteFailed and keeps the record, so TTL cleanup or the reconciler retries: no CLI session
   * without a record. An undo removes the record without waiting (the store may be stalled; the
   * delete, sent after a write reported failed on the same connection, lands after it if that
   * write lands late). An orphan has no record.
   */
  async destroy(id: string, backend: Backend | undefined, reason: DeleteReason): Promise<void> {
    const fromCli = this.queue.run(id, async () => {
      await this.detach(id, "deleted");
      if (!backend) return;
      try {
        await deleteCliSession(await backend.getClient(), id);
      } catch (err) {
        throw new CliDeleteFailed((err as Error).message ?? String(err));
      }
    });
    if (reason === "undo") {
      // A failed CLI delete throws: the record (marked `deleting`) stays for the reconciler.
      await fromCli;
      void this.store.deleteSession(id).catch(() => undefined);
      return;
    }
    await fromCli;
    if (reason !== "orphan") await this.store.deleteSession(id);
    this.metrics.sessionsDeleted.inc({ reason });
  }

  /** Sessions idle past the timeout: persistent ones are detached, the others returned for `destroy()`. */
  async sweepIdle(now = Date.now()): Promise<string[]> {
    const idleMs = this.cfg.lifecycle.idleTimeoutSeconds * 1000;
    if (idleMs <= 0) return [];
    const expiredEphemeral: string[] = [];
    for (const a of this.attached.all()) {
      if (a.inflight > 0 || now - a.lastActive < idleMs || this.queue.has(a.id)) continue;
      if (a.persistent) await this.detach(a.id, "idle");
      else expiredEphemeral.push(a.id);
    }
    return expiredEphemeral;
  }

  /** Waits for turns in flight to finish (bounded), then detaches everything. */
  async drain(graceMs: number): Promise<boolean> {
    const deadline = Date.now() + graceMs;
    while (this.inflightTotal > 0 && Date.now() < deadline) await sleep(50);
    const clean = this.inflightTotal === 0;
    for (const a of this.attached.all()) await this.detach(a.id, "drain");
    return clean;
  }

  /** Detaches every session attached to a backend (before a per-user CLI is culled). */
  detachAllOn(backendId: string, reason: DetachReason): Promise<void> {
    return this.attached.detachAllOn(backendId, reason);
  }

  /** Forgets sessions of a backend whose client was dropped. */
  forgetBackend(backendId: string): void {
    this.attached.forgetBackend(backendId);
  }
}
