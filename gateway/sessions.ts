/**
 * Sessions attached to CLI servers through this replica: create, resume on demand, one turn at a
 * time per session, detach when idle or evicted, delete. In-memory only: the CLI keeps the state on
 * disk, the store keeps ownership, so a detached session resumes transparently.
 */
import type { CopilotClient, CopilotSession, SessionConfig } from "@github/copilot-sdk";
import type { Logger } from "pino";
import type { GatewayConfig } from "../topology/gateway-config.js";
import { isConnectionError, type Backend } from "./backends.js";
import { ApiError, unavailable } from "./errors.js";
import type { Metrics } from "./metrics.js";

interface Attached {
  id: string;
  backend: Backend;
  generation: number;
  /** The connection the session was opened on (the backend may have reconnected since). */
  client: CopilotClient;
  session: CopilotSession;
  lastActive: number;
  inflight: number;
  persistent: boolean;
  /** POST …/abort reached this replica while the turn was being set up: do not send its prompt. */
  abortRequested?: boolean;
}

export interface TurnResult {
  content: string;
  serverId: string;
  /** With `countTurns`: user messages in the session's history after this turn, read from the CLI. */
  turns?: number;
}

export type DetachReason = "idle" | "eviction" | "drain" | "moved" | "deleted" | "backend-lost" | "cull" | "cli-closed";

/** The CLI closed a session this replica had attached (its own --session-idle-timeout); the prompt was not taken. */
class ClosedByCli extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The session's connection was dead but the server answers again: safe to reopen and resend once. */
class StaleConnectionError extends Error {}
/** The connection died while a turn was running: the prompt may have been written. */
class TurnConnectionLost extends Error {}
/** The CLI reported an `abort` of this prompt's turn (POST …/abort, from any replica). */
class TurnAborted extends Error {}

export const turnAborted = (written = true) =>
  new ApiError(409, "turn_aborted", written
    ? "the turn was stopped by an abort request; the prompt is in the history with status aborted"
    : "the turn was stopped by an abort request before its prompt was written");

/**
 * Like the SDK's sendAndWait, but only events after this prompt's own `user.message` count. When
 * several gateway replicas have one session open on a CLI (rooms), the events of the previous
 * holder's turn can still be in flight to this connection; sendAndWait would take that turn's
 * `session.idle` for its own and return without a reply.
 */
export async function sendAndAwaitOwnTurn(session: CopilotSession, prompt: string, timeoutMs: number): Promise<string | undefined> {
  let own = false;
  let last: string | undefined;
  let settle!: (r: { ok: true } | { ok: false; error: Error }) => void;
  const outcome = new Promise<{ ok: true } | { ok: false; error: Error }>((resolve) => (settle = resolve));
  const unsubscribe = session.on((event) => {
    if (event.type === "user.message") {
      if (event.data.content === prompt) own = true;
      return;
    }
    if (!own) return;
    if (event.type === "assistant.message" && !event.agentId) last = event.data.content;
    else if (event.type === "abort" && !event.agentId) settle({ ok: false, error: new TurnAborted(event.data.reason) });
    else if (event.type === "session.idle" && event.data.mode !== "autopilot") settle({ ok: true });
    else if (event.type === "session.error") settle({ ok: false, error: new Error(event.data.message) });
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await session.send({ prompt });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Timeout after ${timeoutMs}ms waiting for session.idle`)), timeoutMs);
    });
    const r = await Promise.race([outcome, timeout]);
    if (!r.ok) throw r.error;
    return last;
  } finally {
    clearTimeout(timer);
    unsubscribe();
  }
}

/** How the SDK fails a call whose connection it disposed (an Error, or a JSON-RPC rejection object). */
const DISPOSED = /connection is disposed|connection got disposed/i;
/** How the CLI refuses to resume a session that has no events on disk. */
const NO_EVENTS = /Failed to load session events: Session not found/;
/** How a CLI reports that it cannot write its state (errno names and their messages). */
const WRITE_FAILURE = /\b(EACCES|EPERM|EROFS|ENOSPC|EDQUOT)\b|Operation not permitted|Permission denied|Read-only file system|No space left/i;

/** Removes a session's state from a CLI; one already gone is fine (a retried delete, an undo). */
export async function deleteCliSession(client: CopilotClient, id: string): Promise<void> {
  await client.deleteSession(id).catch((err: Error) => {
    if (!/not found|does not exist|no such/i.test(err.message)) throw err;
  });
}

export class SessionManager {
  private readonly attached = new Map<string, Attached>();
  /** Per-session promise chain: turns on one session never overlap on this replica. */
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Sessions being opened per backend, so capacity checks count them. */
  private readonly opening = new Map<string, number>();
  private inflightTotal = 0;
  /** Pings the connection while a turn runs, to report a CLI that died mid-turn (off only as a test switch). */
  turnWatch = true;
  /** Told about every ping result from failure classification, so routing can avoid dead servers. */
  onBackendHealth?: (backendId: string, ok: boolean) => void;

  constructor(
    private readonly cfg: GatewayConfig,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly providerApiKey?: string,
  ) {}

  get inflight(): number {
    return this.inflightTotal;
  }

  isAttached(id: string): boolean {
    return this.attached.has(id);
  }

  /** A turn on this session runs or waits here: TTL cleanup must leave it alone. */
  isBusy(id: string): boolean {
    return (this.attached.get(id)?.inflight ?? 0) > 0 || this.chains.has(id);
  }

  attachedSessions(): { id: string; backendId: string }[] {
    return [...this.attached.values()].map((a) => ({ id: a.id, backendId: a.backend.id }));
  }

  /** Load for least-loaded routing: sessions attached plus sessions being opened on the backend. */
  loadOn(backendId: string): number {
    return this.attachedOn(backendId) + (this.opening.get(backendId) ?? 0);
  }

  attachedOn(backendId: string): number {
    let n = 0;
    for (const a of this.attached.values()) if (a.backend.id === backendId) n++;
    return n;
  }

  /** Last activity (ms) of the sessions attached to a backend; used to cull idle per-user servers. */
  lastActivityOn(backendId: string): { inflight: number; lastActive: number; count: number } {
    // Sessions being created or resumed count as work in flight too.
    let inflight = this.opening.get(backendId) ?? 0;
    let lastActive = 0;
    let count = 0;
    for (const a of this.attached.values()) {
      if (a.backend.id !== backendId) continue;
      count++;
      inflight += a.inflight;
      lastActive = Math.max(lastActive, a.lastActive);
    }
    return { inflight, lastActive, count };
  }

  private sessionConfig(id: string, model: string | undefined): SessionConfig {
    const m = this.cfg.model;
    const config: SessionConfig = {
      sessionId: id,
      streaming: true,
      onPermissionRequest: () =>
        this.cfg.toolPermissions === "approve"
          ? { kind: "approve-once" as const }
          : { kind: "denied-no-approval-rule-and-could-not-request-from-user" as const },
    } as SessionConfig;
    const name = model ?? m.name;
    if (name) config.model = name;
    if (m.providerBaseUrl) {
      config.provider = { type: m.providerType, baseUrl: m.providerBaseUrl, ...(this.providerApiKey ? { apiKey: this.providerApiKey } : {}) };
    }
    return config;
  }

  /** Runs fn after every earlier call for the same session id has settled. */
  private serialize<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.chains.set(id, tail);
    void tail.then(() => {
      if (this.chains.get(id) === tail) this.chains.delete(id);
    });
    return next;
  }

  /** Makes room on a backend: detach its least recently used idle session, or refuse with 503. */
  private async reserve(backend: Backend): Promise<void> {
    const max = this.cfg.lifecycle.maxSessionsPerServer;
    const used = () => this.attachedOn(backend.id) + (this.opening.get(backend.id) ?? 0);
    while (used() >= max) {
      let victim: Attached | undefined;
      for (const a of this.attached.values()) {
        if (a.backend.id !== backend.id || a.inflight > 0) continue;
        if (!victim || a.lastActive < victim.lastActive) victim = a;
      }
      if (!victim) {
        throw unavailable("server_full", `CLI server ${backend.id} has ${max} sessions with turns in flight; retry later`, 2);
      }
      this.metrics.evictions.inc();
      await this.detach(victim.id, "eviction");
    }
    this.opening.set(backend.id, (this.opening.get(backend.id) ?? 0) + 1);
  }

  private release(backend: Backend): void {
    const n = (this.opening.get(backend.id) ?? 1) - 1;
    if (n <= 0) this.opening.delete(backend.id);
    else this.opening.set(backend.id, n);
  }

  private track(id: string, backend: Backend, opened: { client: CopilotClient; session: CopilotSession }, persistent: boolean): Attached {
    const { client, session } = opened;
    const a: Attached = { id, backend, generation: backend.generation, client, session, lastActive: Date.now(), inflight: 0, persistent };
    this.attached.set(id, a);
    this.metrics.activeSessions.set({ server: backend.id }, this.attachedOn(backend.id));
    return a;
  }

  /** Creates a session on the backend; a failed call is classified like a failed turn (503 dead, 502 alive). */
  async create(backend: Backend, id: string, opts: { model?: string; persistent: boolean }): Promise<void> {
    await this.serialize(id, async () => {
      await this.reserve(backend);
      try {
        const opened = await backend.call(async (client) => ({ client, session: await client.createSession(this.sessionConfig(id, opts.model)) }));
        this.track(id, backend, opened, opts.persistent);
      } catch (err) {
        if (err instanceof ApiError) throw err;
        throw await this.backendFailure(backend, (err as Error).message ?? String(err));
      } finally {
        this.release(backend);
      }
    });
  }

  private async open(id: string, backend: Backend, model: string | undefined, persistent: boolean): Promise<Attached> {
    const current = this.attached.get(id);
    if (current && current.backend === backend && current.generation === backend.generation) return current;
    if (current) await this.detach(id, current.backend === backend ? "backend-lost" : "moved");
    await this.reserve(backend);
    try {
      const opened = await backend.call(async (client) => {
        try {
          return { client, session: await client.resumeSession(id, this.sessionConfig(id, model)) };
        } catch (err) {
          // The CLI writes a session's events with its first turn: one created but never used
          // before the CLI restarted has none to load. It had no history to lose, so open it afresh.
          if (!NO_EVENTS.test((err as Error).message ?? "")) throw err;
          this.log.warn({ sessionId: id, server: backend.id }, "reopened a session the CLI holds no events for (never used before a restart)");
          return { client, session: await client.createSession(this.sessionConfig(id, model)) };
        }
      });
      return this.track(id, backend, opened, persistent);
    } finally {
      this.release(backend);
    }
  }

  /**
   * One turn: open (resume) the session on the backend if needed, send the prompt, wait for the reply.
   * `beforeSend` runs right before the prompt is written (rooms check their fencing token there).
   */
  async turn(
    id: string,
    backend: Backend,
    prompt: string,
    opts: {
      model?: string;
      persistent: boolean;
      kind: string;
      onDelta?: (text: string) => void;
      beforeSend?: () => Promise<void>;
      countTurns?: boolean;
    },
  ): Promise<TurnResult> {
    return this.serialize(id, async () => {
      const started = process.hrtime.bigint();
      let outcome = "error";
      let attached: Attached | undefined;
      this.inflightTotal++;
      this.metrics.inflightTurns.inc();
      try {
        attached = await this.openForTurn(id, backend, opts);
        let content: string;
        try {
          content = await this.send(attached, prompt, opts);
        } catch (err) {
          if (!(err instanceof ClosedByCli || err instanceof StaleConnectionError)) throw err;
          // The prompt was not taken: reopen once (the state is on disk) and resend.
          attached.inflight--;
          attached = undefined;
          attached = await this.openForTurn(id, backend, opts);
          content = await this.send(attached, prompt, opts).catch((e: unknown) => {
            const again = e instanceof ClosedByCli || e instanceof StaleConnectionError;
            throw again ? new ApiError(502, "cli_error", `CLI server ${backend.id} failed the request again after a reopen: ${e.message}`) : e;
          });
        }
        outcome = "ok";
        let turns: number | undefined;
        if (opts.countTurns) {
          try {
            turns = (await attached.session.getEvents()).filter((e) => e.type === "user.message").length;
          } catch (err) {
            // Answered, but the connection went before its place in the history could be read.
            const message = (err as { message?: string }).message ?? String(err);
            this.log.warn({ server: backend.id, sessionId: id, err: message }, "turn answered but its count could not be read");
            await this.detach(id, "backend-lost");
            throw unavailable("turn_interrupted", `CLI server ${backend.id} answered the turn but its place in the history could not be read (${message}); read the history before resending`, 1);
          }
        }
        return { content, serverId: backend.id, turns };
      } finally {
        this.inflightTotal--;
        this.metrics.inflightTurns.dec();
        if (attached) {
          attached.inflight--;
          attached.lastActive = Date.now();
          if (attached.inflight === 0) attached.abortRequested = false;
        }
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        this.metrics.turnDuration.observe({ server: backend.id, kind: opts.kind, outcome }, seconds);
      }
    });
  }

  /** Opens the session for a turn and marks it busy; a failure to resume is classified like a failed turn. */
  private async openForTurn(id: string, backend: Backend, opts: { model?: string; persistent: boolean }): Promise<Attached> {
    let a: Attached;
    try {
      a = await this.open(id, backend, opts.model, opts.persistent);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      throw await this.backendFailure(backend, (err as Error).message ?? String(err));
    }
    a.inflight++;
    return a;
  }

  private async send(
    a: Attached,
    prompt: string,
    opts: { onDelta?: (text: string) => void; beforeSend?: () => Promise<void> },
  ): Promise<string> {
    const unsubscribe = opts.onDelta
      ? a.session.on((event) => {
          if (event.type === "assistant.message_delta" && !event.agentId) opts.onDelta!(event.data.deltaContent);
        })
      : undefined;
    const timeoutMs = this.cfg.lifecycle.turnTimeoutSeconds * 1000;
    // The SDK stops delivering events when its connection closes, so a turn whose CLI died would
    // wait for its timeout; a ping watch turns that into a prompt, clear error.
    let watch: NodeJS.Timeout | undefined;
    const lost = new Promise<never>((_, reject) => {
      if (!this.turnWatch) return;
      watch = setInterval(() => {
        a.client
          .ping("turn-watch")
          .catch((err: unknown) => {
            if (isConnectionError(err)) reject(new TurnConnectionLost((err as Error).message));
          });
      }, 1_000);
    });
    lost.catch(() => undefined);
    try {
      // An abort that came while the turn was being set up: the prompt is not sent at all.
      if (a.abortRequested) throw turnAborted(false);
      await opts.beforeSend?.();
      if (a.abortRequested) throw turnAborted(false);
      const content = await Promise.race([sendAndAwaitOwnTurn(a.session, prompt, timeoutMs), lost]);
      if (typeof content !== "string") throw new ApiError(502, "no_reply", "the CLI finished the turn without an assistant message");
      return content;
    } catch (err) {
      if (err instanceof ApiError) throw err;
      if (err instanceof TurnAborted) throw turnAborted();
      const message = (err as Error).message ?? String(err);
      // Lost mid-call (the turn watch saw it, or the SDK disposed the connection under the send):
      // the prompt may have been written. A retryable 503 even when the CLI is already back up.
      if (err instanceof TurnConnectionLost || DISPOSED.test(message)) {
        this.log.warn({ server: a.backend.id, err: message }, "connection lost mid-turn");
        a.backend.drop();
        await this.detach(a.id, "backend-lost");
        const failure = await this.backendFailure(a.backend, message);
        throw new ApiError(503, "turn_interrupted",
          `the connection to CLI server ${a.backend.id} was lost during the turn; the prompt may or may not be in the history, check before resending`,
          { "retry-after": failure.headers["retry-after"] ?? "1" });
      }
      if (/^Connection is closed/i.test(message)) {
        // Written on a connection that was already closed: the prompt never left this process.
        a.backend.drop();
        await this.detach(a.id, "backend-lost");
        // A server that answers again restarted under us: reopen and resend; a dead one is 503.
        const failure = await this.backendFailure(a.backend, message);
        if (failure.status === 503) throw failure;
        throw new StaleConnectionError(message);
      }
      if (/session not found/i.test(message)) {
        await this.detach(a.id, "cli-closed");
        throw new ClosedByCli(message);
      }
      if (/timeout|timed out/i.test(message)) {
        await a.session.abort().catch(() => undefined);
        throw new ApiError(504, "turn_timeout", `the turn did not finish within ${this.cfg.lifecycle.turnTimeoutSeconds} s`);
      }
      // The connection or the CLI is gone: forget the session here and report the server as unavailable.
      this.log.warn({ server: a.backend.id, err: message }, "turn failed");
      await this.detach(a.id, "backend-lost");
      throw await this.backendFailure(a.backend, message);
    } finally {
      clearInterval(watch);
      unsubscribe?.();
    }
  }

  /**
   * After a connection was lost mid-turn: is `prompt` the last user message of the session's
   * history, still unanswered? Then it was written, and resending it would write it twice.
   */
  async promptPending(id: string, backend: Backend, prompt: string, model: string | undefined, persistent: boolean): Promise<boolean> {
    return this.serialize(id, async () => {
      const a = await this.open(id, backend, model, persistent);
      const events = await a.session.getEvents();
      let lastUser = -1;
      events.forEach((e, i) => {
        if (e.type === "user.message") lastUser = i;
      });
      if (lastUser < 0) return false;
      const event = events[lastUser]!;
      const answered = events.slice(lastUser + 1).some((e) => e.type === "assistant.message");
      return !answered && event.type === "user.message" && event.data.content === prompt;
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
  async withSession<T>(id: string, backend: Backend, opts: { model?: string; persistent: boolean }, fn: (s: CopilotSession) => Promise<T>): Promise<T> {
    const a = this.attached.get(id);
    try {
      if (a && a.backend === backend && a.generation === backend.generation) return await fn(a.session);
      return await this.serialize(id, async () => fn((await this.open(id, backend, opts.model, opts.persistent)).session));
    } catch (err) {
      if (err instanceof ApiError) throw err;
      const message = (err as Error).message ?? String(err);
      // Closed by the CLI under us: reopen once, the state is on disk.
      if (/session not found/i.test(message)) {
        await this.detach(id, "cli-closed");
        return this.serialize(id, async () => fn((await this.open(id, backend, opts.model, opts.persistent)).session));
      }
      throw await this.backendFailure(backend, message);
    }
  }

  /**
   * Classifies a failed call: a dead server is 503 naming it; a live server that cannot write its
   * session state (its disk is read-only, full or not permitted) is 503 too, since a retry succeeds
   * once it can (readiness reports it); any other error of a live server is 502.
   */
  async backendFailure(backend: Backend, message: string): Promise<ApiError> {
    try {
      await backend.ping(1_500);
      this.onBackendHealth?.(backend.id, true);
      if (WRITE_FAILURE.test(message)) return unavailable("server_unavailable", `CLI server ${backend.id} cannot write session state: ${message}`, 5);
      return new ApiError(502, "cli_error", `CLI server ${backend.id} failed the request: ${message}`);
    } catch (err) {
      this.onBackendHealth?.(backend.id, false);
      return unavailable("server_unavailable", `CLI server ${backend.id} is unavailable: ${(err as Error).message}`, 2);
    }
  }

  /** Frees the CLI's memory for a session; its state stays on disk. */
  async detach(id: string, reason: DetachReason): Promise<void> {
    const a = this.attached.get(id);
    if (!a) return;
    this.attached.delete(id);
    this.metrics.activeSessions.set({ server: a.backend.id }, this.attachedOn(a.backend.id));
    this.metrics.detaches.inc({ reason });
    if (a.generation === a.backend.generation) await a.session.disconnect().catch(() => undefined);
  }

  /** Detaches and removes a session's state from the CLI. */
  async remove(id: string, backend: Backend): Promise<void> {
    await this.serialize(id, async () => {
      await this.detach(id, "deleted");
      await deleteCliSession(await backend.getClient(), id);
    });
  }

  /** Sessions idle past the timeout: persistent ones are detached, the others deleted (returned). */
  async sweepIdle(now = Date.now()): Promise<string[]> {
    const idleMs = this.cfg.lifecycle.idleTimeoutSeconds * 1000;
    if (idleMs <= 0) return [];
    const expiredEphemeral: string[] = [];
    for (const a of [...this.attached.values()]) {
      if (a.inflight > 0 || now - a.lastActive < idleMs || this.chains.has(a.id)) continue;
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
    for (const id of [...this.attached.keys()]) await this.detach(id, "drain");
    return clean;
  }

  /** Detaches every session attached to a backend (before a per-user CLI is culled). */
  async detachAllOn(backendId: string, reason: DetachReason): Promise<void> {
    for (const a of [...this.attached.values()]) if (a.backend.id === backendId) await this.detach(a.id, reason);
  }

  /** Forgets sessions of a backend whose client was dropped. */
  forgetBackend(backendId: string): void {
    for (const a of [...this.attached.values()]) {
      if (a.backend.id === backendId) {
        this.attached.delete(a.id);
        this.metrics.detaches.inc({ reason: "backend-lost" });
      }
    }
    this.metrics.activeSessions.set({ server: backendId }, 0);
  }
}
