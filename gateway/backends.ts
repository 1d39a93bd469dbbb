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

/** Errors that mean the connection itself is gone (the CLI restarted or died), not the request. */
export function isConnectionError(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /connection is (closed|disposed)|ECONNRESET|ECONNREFUSED|EPIPE|socket hang up|not connected|write after end/i.test(message);
}

export class Backend {
  private client: CopilotClient | undefined;
  private connecting: Promise<CopilotClient> | undefined;
  /** Bumped whenever the client is dropped, so stale sessions can be recognised. */
  generation = 0;
  lastError: string | undefined;

  constructor(
    readonly info: BackendInfo,
    private readonly connectionToken: string,
    /** A connect the server accepts but never answers (wedged, caught mid-restart) fails after this. */
    private readonly connectTimeoutMs = 10_000,
  ) {}

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
      this.client = client;
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

  /** Protocol-level health check: a JSON-RPC ping over the real connection. */
  async ping(timeoutMs = 2_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`ping timed out after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.getClient().then((c) => c.ping("readyz")), timeout]);
      this.lastError = undefined;
    } catch (err) {
      this.lastError = (err as Error).message;
      this.drop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
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

  /** Forgets the client after a failure; sessions opened through it are invalid from now on. */
  drop(): void {
    const c = this.client;
    this.client = undefined;
    this.generation++;
    if (c) void c.forceStop().catch(() => undefined);
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (c) await c.stop().catch(() => undefined);
  }
}
