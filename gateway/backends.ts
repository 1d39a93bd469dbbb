/**
 * A CLI server as the gateway sees it: an address, a connection token and one SDK client,
 * connected lazily and dropped after a connection failure so the next call reconnects.
 */
import { CopilotClient, RuntimeConnection, type CopilotSession } from "@github/copilot-sdk";

export interface BackendInfo {
  id: string;
  address: string;
  /** isolated: the only user this server serves. */
  user?: string;
  pid?: number;
}

/**
 * Drops a detached session from the SDK client's session map: the SDK keeps it there after
 * disconnect() (copilot-sdk PR #1130), ~2.5 KB per session the gateway ever detached. Only this very
 * object: the session may already be attached again under the same id.
 */
export function forgetSdkSession(client: CopilotClient, session: CopilotSession): void {
  const sessions = (client as unknown as { sessions?: Map<string, CopilotSession> }).sessions;
  if (sessions?.get(session.sessionId) === session) sessions.delete(session.sessionId);
}

/**
 * Turns off Nagle's algorithm on the client's TCP connection. The SDK leaves it on, so a small
 * write (a prompt, a ping) that follows one not yet acknowledged waits for the CLI's delayed ACK:
 * measured on this machine, 40 ms more to the first delta and to the end of every turn. The SDK
 * exposes no socket option, so this reaches its private socket; false when there is none (an SDK
 * that renamed it: gateway/tcp-nodelay.test.ts fails then).
 */
export function disableNagle(client: CopilotClient): boolean {
  const socket = (client as unknown as { socket?: { setNoDelay?: (on: boolean) => unknown } | null }).socket;
  if (!socket?.setNoDelay) return false;
  socket.setNoDelay(true);
  return true;
}

/** Errors that mean the connection itself is gone (the CLI restarted or died), not the request. */
export function isConnectionError(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /connection is (closed|disposed)|ECONNRESET|ECONNREFUSED|EPIPE|socket hang up|not connected|write after end/i.test(message);
}

/** How the SDK fails a call whose connection it disposed (an Error, or a JSON-RPC rejection object). */
export const DISPOSED = /connection is disposed|connection got disposed/i;

export interface BackendOptions {
  /** A connect the server accepts but never answers (wedged, caught mid-restart) fails after this. */
  connectTimeoutMs?: number;
  /**
   * A connection whose pings have gone unanswered this long is treated as dead: it is dropped, and
   * every turn on it ends. A ping answered late only marks the server slow: a CLI holding 250 streams
   * answered 2.5 s late in a GC pause, and dropping it then ended every one of its turns.
   */
  silenceLimitMs?: number;
}

/** One ping a second on a connection, however many turns watch it. */
interface ConnectionWatch {
  listeners: Set<(message: string) => void>;
  timer: NodeJS.Timeout;
  waiting: boolean;
}

export class Backend {
  private client: CopilotClient | undefined;
  private connecting: Promise<CopilotClient> | undefined;
  /** When the oldest ping still unanswered on the current connection was sent. */
  private askedAt: number | undefined;
  private readonly watches = new Map<CopilotClient, ConnectionWatch>();
  private readonly connectTimeoutMs: number;
  readonly silenceLimitMs: number;
  /** Bumped whenever the client is dropped, so stale sessions can be recognised. */
  generation = 0;
  lastError: string | undefined;

  constructor(
    readonly info: BackendInfo,
    private readonly connectionToken: string,
    opts: BackendOptions = {},
  ) {
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.silenceLimitMs = opts.silenceLimitMs ?? 10_000;
  }

  get id(): string {
    return this.info.id;
  }

  async getClient(): Promise<CopilotClient> {
    if (this.client) return this.client;
    this.connecting ??= (async () => {
      const client = new CopilotClient({
        connection: RuntimeConnection.forUri(this.info.address, { connectionToken: this.connectionToken }),
      });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`CLI server ${this.id} did not answer within ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
      });
      try {
        await Promise.race([client.start(), timeout]);
      } catch (err) {
        await client.forceStop().catch(() => undefined);
        throw err;
      } finally {
        clearTimeout(timer);
      }
      disableNagle(client);
      this.client = client;
      this.askedAt = undefined;
      return client;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /**
   * Runs fn with the client; when the connection turns out to be dead, reconnects once and retries.
   * Only for calls that are safe to repeat (create, resume, delete, list): never for a prompt.
   */
  async call<T>(fn: (client: CopilotClient) => Promise<T>): Promise<T> {
    const client = await this.getClient();
    try {
      return await fn(client);
    } catch (err) {
      if (!isConnectionError(err)) throw err;
      if (this.client === client) this.drop();
      return fn(await this.getClient());
    }
  }

  /** A ping on `client` that records how long the current connection has left pings unanswered. */
  private ask(client: CopilotClient, tag: string): Promise<unknown> {
    if (client === this.client) this.askedAt ??= Date.now();
    return client.ping(tag).then(() => {
      if (client === this.client) this.askedAt = undefined;
    });
  }

  /** How long the current connection has left a ping unanswered; 0 when none is waiting. */
  silentMs(): number {
    return this.askedAt === undefined ? 0 : Date.now() - this.askedAt;
  }

  /** Why `client` counts as dead for silence: it is the current connection, silent past the limit. */
  private silenceOf(client: CopilotClient | undefined): string | undefined {
    const silent = this.silentMs();
    if (client !== this.client || silent < this.silenceLimitMs) return undefined;
    return `CLI server ${this.id} answered nothing for ${Math.round(silent / 1000)} s`;
  }

  /**
   * Protocol-level health check: a JSON-RPC ping over the real connection. A failed connection is
   * dropped; a ping that times out only fails the check (the server is slow: route elsewhere) unless
   * the connection has answered nothing for the silence limit, and then it is dropped as dead.
   */
  async ping(timeoutMs = 2_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error(`ping timed out after ${timeoutMs} ms`));
      }, timeoutMs);
    });
    const reply = this.getClient().then((c) => this.ask(c, "readyz"));
    reply.catch(() => undefined);
    try {
      await Promise.race([reply, timeout]);
      this.lastError = undefined;
    } catch (err) {
      let failure = err as Error;
      const silence = timedOut ? this.silenceOf(this.client) : undefined;
      if (!timedOut || silence) this.drop();
      if (silence) failure = new Error(silence);
      this.lastError = failure.message;
      throw failure;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Calls `onLost` when the connection `client` fails or leaves pings unanswered for the silence
   * limit (the SDK delivers no events once its connection is gone, so a turn would wait for its
   * timeout). One ping a second per connection, however many turns watch it. Returns the unwatch.
   */
  watch(client: CopilotClient, onLost: (message: string) => void): () => void {
    const watch = this.watches.get(client) ?? this.startWatch(client);
    watch.listeners.add(onLost);
    return () => {
      watch.listeners.delete(onLost);
      if (watch.listeners.size === 0 && this.watches.get(client) === watch) {
        clearInterval(watch.timer);
        this.watches.delete(client);
      }
    };
  }

  private startWatch(client: CopilotClient): ConnectionWatch {
    const w: ConnectionWatch = { listeners: new Set(), waiting: false, timer: setInterval(() => this.watchTick(client, w), 1_000) };
    this.watches.set(client, w);
    return w;
  }

  private watchTick(client: CopilotClient, w: ConnectionWatch): void {
    const lost = (message: string) => {
      for (const l of [...w.listeners]) l(message);
    };
    if (w.waiting) {
      const silence = this.silenceOf(client);
      if (silence) lost(silence);
      return;
    }
    w.waiting = true;
    this.ask(client, "turn-watch").then(
      () => (w.waiting = false),
      (err: unknown) => {
        w.waiting = false;
        const message = (err as { message?: string }).message ?? String(err);
        if (isConnectionError(err) || DISPOSED.test(message)) lost(message);
      },
    );
  }

  private writeCheck: { at: number; error?: string } | undefined;

  /**
   * Can the server still write session state? A ping answers even with a full or read-only disk, so
   * readiness also creates and deletes a throwaway session, at most once per `everyMs` (write-probe.ts
   * shares it across replicas). Resolves true when it ran the probe, false when it reused the last result.
   */
  async checkWritable(probeId: string, everyMs = 5_000): Promise<boolean> {
    const last = this.writeCheck;
    if (last && Date.now() - last.at < everyMs) {
      if (last.error) throw new Error(last.error);
      return false;
    }
    try {
      await this.call(async (c) => {
        const session = await c.createSession({ sessionId: probeId, onPermissionRequest: () => ({ kind: "denied-no-approval-rule-and-could-not-request-from-user" as const }) });
        await session.disconnect().catch(() => undefined);
        await c.deleteSession(probeId);
      });
      this.writeCheck = { at: Date.now() };
      return true;
    } catch (err) {
      const error = `cannot write session state: ${(err as Error).message}`;
      this.writeCheck = { at: Date.now(), error };
      throw new Error(error);
    }
  }

  /**
   * Forgets the client after a failure; sessions opened through it are invalid from now on. With
   * `client`, only if that is still the current connection (a failure seen on an older one must not
   * drop the connection opened since).
   */
  drop(client?: CopilotClient): void {
    if (client && client !== this.client) return;
    const c = this.client;
    this.client = undefined;
    this.askedAt = undefined;
    this.generation++;
    if (c) void c.forceStop().catch(() => undefined);
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.stop().catch(() => undefined);
  }
}
