/**
 * The turn protocol on one attached session: write the prompt, wait for this prompt's own reply
 * (not a previous holder's), watch the connection while it runs, and turn every way a turn fails
 * into the gateway's answer (409 aborted, 503 interrupted, 504 timeout, reopen-and-resend).
 */
import type { CopilotClient, CopilotSession } from "@github/copilot-sdk";
import type { Logger } from "pino";
import { DISPOSED, type Backend } from "./backends.js";
import { ApiError, unavailable } from "./errors.js";

/** What a turn needs of an attached session. */
export interface TurnTarget {
  /** Turns running on it here; 0 ends an abort request. */
  inflight: number;
  lastActive: number;
  id: string;
  backend: Backend;
  /** The connection the session was opened on (the backend may have reconnected since). */
  client: CopilotClient;
  session: CopilotSession;
  /** POST …/abort reached this replica while the turn was being set up: do not send its prompt. */
  abortRequested?: boolean;
}

/** What the turn protocol asks of the session manager when a turn fails. */
export interface TurnContext {
  turnTimeoutSeconds: number;
  /** Pings the connection while a turn runs (off only as a test switch). */
  turnWatch: () => boolean;
  log: Logger;
  detach(id: string, reason: "backend-lost" | "cli-closed"): Promise<void>;
  backendFailure(backend: Backend, message: string): Promise<ApiError>;
}

/**
 * One turn on a session `open` attaches (or finds attached): send the prompt and wait for the
 * reply; when the prompt was not taken, reopen once and resend; with `countTurns`, read the turn's
 * place in the history. The session counts as busy (inflight) meanwhile.
 */
export async function runTurn(
  open: () => Promise<TurnTarget>,
  prompt: string,
  opts: { onDelta?: (text: string) => void; beforeSend?: () => Promise<void>; countTurns?: boolean },
  ctx: TurnContext,
): Promise<{ content: string; turns?: number }> {
  let attached: TurnTarget | undefined;
  try {
    attached = await open();
    attached.inflight++;
    let content: string;
    try {
      content = await sendTurn(attached, prompt, opts, ctx);
    } catch (err) {
      if (!notTaken(err)) throw err;
      // The prompt was not taken: reopen once (the state is on disk) and resend.
      attached.inflight--;
      attached = undefined;
      attached = await open();
      attached.inflight++;
      const backendId = attached.backend.id;
      content = await sendTurn(attached, prompt, opts, ctx).catch((e: unknown) => {
        throw notTaken(e) ? new ApiError(502, "cli_error", `CLI server ${backendId} failed the request again after a reopen: ${e.message}`) : e;
      });
    }
    if (!opts.countTurns) return { content };
    try {
      return { content, turns: userTurns(await attached.session.getEvents()) };
    } catch (err) {
      // Answered, but the connection went before its place in the history could be read.
      const message = (err as { message?: string }).message ?? String(err);
      ctx.log.warn({ server: attached.backend.id, sessionId: attached.id, err: message }, "turn answered but its count could not be read");
      await ctx.detach(attached.id, "backend-lost");
      throw unavailable("turn_interrupted", `CLI server ${attached.backend.id} answered the turn but its place in the history could not be read (${message}); read the history before resending`, 1);
    }
  } finally {
    if (attached) {
      attached.inflight--;
      attached.lastActive = Date.now();
      if (attached.inflight === 0) attached.abortRequested = false;
    }
  }
}

/** The CLI closed a session this replica had attached (its own --session-idle-timeout); the prompt was not taken. */
class ClosedByCli extends Error {}
/** The session's connection was dead but the server answers again: safe to reopen and resend once. */
class StaleConnectionError extends Error {}
/** The connection died while a turn was running: the prompt may have been written. */
class TurnConnectionLost extends Error {}
/** The CLI reported an `abort` of this prompt's turn (POST …/abort, from any replica). */
class TurnAborted extends Error {}

/** The prompt was not taken: the session may be reopened (its state is on disk) and the prompt resent once. */
const notTaken = (err: unknown): err is Error => err instanceof ClosedByCli || err instanceof StaleConnectionError;

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

/** Sends one prompt on an attached session and returns the reply; failures are classified (see the file comment). */
async function sendTurn(
  a: TurnTarget,
  prompt: string,
  opts: { onDelta?: (text: string) => void; beforeSend?: () => Promise<void> },
  ctx: TurnContext,
): Promise<string> {
  const unsubscribe = opts.onDelta
    ? a.session.on((event) => {
        if (event.type === "assistant.message_delta" && !event.agentId) opts.onDelta!(event.data.deltaContent);
      })
    : undefined;
  const timeoutMs = ctx.turnTimeoutSeconds * 1000;
  // The SDK stops delivering events when its connection closes, so a turn whose CLI died (or stopped
  // answering for the silence limit) would wait for its timeout; the connection watch turns that
  // into a prompt, clear error.
  let unwatch: (() => void) | undefined;
  const lost = new Promise<never>((_, reject) => {
    if (!ctx.turnWatch()) return;
    unwatch = a.backend.watch(a.client, (message) => reject(new TurnConnectionLost(message)));
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
      ctx.log.warn({ server: a.backend.id, err: message }, "connection lost mid-turn");
      a.backend.drop(a.client);
      await ctx.detach(a.id, "backend-lost");
      const failure = await ctx.backendFailure(a.backend, message);
      throw new ApiError(503, "turn_interrupted",
        `the connection to CLI server ${a.backend.id} was lost during the turn; the prompt may or may not be in the history, check before resending`,
        { "retry-after": failure.headers["retry-after"] ?? "1" });
    }
    if (/^Connection is closed/i.test(message)) {
      // Written on a connection that was already closed: the prompt never left this process.
      a.backend.drop(a.client);
      await ctx.detach(a.id, "backend-lost");
      // A server that answers again restarted under us: reopen and resend; a dead one is 503.
      const failure = await ctx.backendFailure(a.backend, message);
      if (failure.status === 503) throw failure;
      throw new StaleConnectionError(message);
    }
    if (/session not found/i.test(message)) {
      await ctx.detach(a.id, "cli-closed");
      throw new ClosedByCli(message);
    }
    if (/timeout|timed out/i.test(message)) {
      await a.session.abort().catch(() => undefined);
      throw new ApiError(504, "turn_timeout", `the turn did not finish within ${ctx.turnTimeoutSeconds} s`);
    }
    // The connection or the CLI is gone: forget the session here and report the server as unavailable.
    ctx.log.warn({ server: a.backend.id, err: message }, "turn failed");
    await ctx.detach(a.id, "backend-lost");
    throw await ctx.backendFailure(a.backend, message);
  } finally {
    unwatch?.();
    unsubscribe?.();
  }
}

type History = Awaited<ReturnType<CopilotSession["getEvents"]>>;

/** User messages in a session's history: a room turn's place in it. */
export const userTurns = (events: History): number => events.filter((e) => e.type === "user.message").length;

/**
 * After a connection was lost mid-turn: is `prompt` the last user message of the history, still
 * unanswered? Then it was written, and resending it would write it twice.
 */
export function lastPromptUnanswered(events: History, prompt: string): boolean {
  let lastUser = -1;
  events.forEach((e, i) => {
    if (e.type === "user.message") lastUser = i;
  });
  if (lastUser < 0) return false;
  const event = events[lastUser]!;
  const answered = events.slice(lastUser + 1).some((e) => e.type === "assistant.message");
  return !answered && event.type === "user.message" && event.data.content === prompt;
}
