/**
 * The sessions this replica has open on CLI connections: open one (resume it, or create it) within
 * the server's capacity, look it up, and detach it (the CLI frees its memory, the state stays on
 * disk). Ordering, turns and deletion are the session manager's (sessions.ts).
 */
import type { CopilotClient, CopilotSession } from "@github/copilot-sdk";
import type { Logger } from "pino";
import type { GatewayConfig } from "../topology/gateway-config.js";
import { forgetSdkSession, type Backend } from "./backends.js";
import { Capacity, type Occupant } from "./capacity.js";
import type { Metrics } from "./metrics.js";
import { sessionConfigFor, type OpenOptions } from "./session-config.js";
import type { TurnTarget } from "./turn-protocol.js";

export interface Attached extends Occupant, TurnTarget {
  generation: number;
  persistent: boolean;
}

export type DetachReason = "idle" | "eviction" | "drain" | "moved" | "deleted" | "backend-lost" | "cull" | "cli-closed";

/** How the CLI refuses to resume a session that has no events on disk. */
const NO_EVENTS = /Failed to load session events: Session not found/;

export class Attachments {
  private readonly map = new Map<string, Attached>();
  readonly capacity: Capacity;
  /** The GitHub token a session of this owner opens with (user-tokens.ts); undefined = the CLI's own identity. */
  githubTokenFor: (owner: string) => Promise<string | undefined> = async () => undefined;

  constructor(
    private readonly cfg: GatewayConfig,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly providerApiKey?: string,
  ) {
    this.capacity = new Capacity(this.map, () => cfg.lifecycle.maxSessionsPerServer, async (id) => {
      metrics.evictions.inc();
      await this.detach(id, "eviction");
    });
  }

  get(id: string): Attached | undefined {
    return this.map.get(id);
  }

  all(): Attached[] {
    return [...this.map.values()];
  }

  /** The session attached through the backend's current connection, if it is. */
  current(id: string, backend: Backend): Attached | undefined {
    const a = this.map.get(id);
    return a && a.backend === backend && a.generation === backend.generation ? a : undefined;
  }

  /** Creates a session on the backend and attaches it; a failed call is the caller's to classify. */
  async create(id: string, backend: Backend, opts: OpenOptions): Promise<void> {
    const config = await this.config(id, opts);
    await this.capacity.reserve(backend);
    try {
      const opened = await backend.call(async (client) => ({ client, session: await client.createSession(config) }));
      this.track(id, backend, opened, opts.persistent);
    } finally {
      this.capacity.release(backend);
    }
  }

  /** The session attached on `backend`: as it is, or resumed there (detached from where it was). */
  async open(id: string, backend: Backend, opts: OpenOptions): Promise<Attached> {
    const current = this.map.get(id);
    if (current && current.backend === backend && current.generation === backend.generation) return current;
    if (current) await this.detach(id, current.backend === backend ? "backend-lost" : "moved");
    const config = await this.config(id, opts);
    await this.capacity.reserve(backend);
    try {
      const opened = await backend.call(async (client) => {
        try {
          return { client, session: await client.resumeSession(id, config) };
        } catch (err) {
          // The CLI writes a session's events with its first turn: one created but never used
          // before the CLI restarted has none to load. It had no history to lose, so open it afresh.
          if (!NO_EVENTS.test((err as Error).message ?? "")) throw err;
          this.log.warn({ sessionId: id, server: backend.id }, "reopened a session the CLI holds no events for (never used before a restart)");
          return { client, session: await client.createSession(config) };
        }
      });
      return this.track(id, backend, opened, opts.persistent);
    } finally {
      this.capacity.release(backend);
    }
  }

  /** Frees the CLI's memory for a session; its state stays on disk. */
  async detach(id: string, reason: DetachReason): Promise<void> {
    const a = this.map.get(id);
    if (!a) return;
    this.map.delete(id);
    this.metrics.activeSessions.set({ server: a.backend.id }, this.capacity.attachedOn(a.backend.id));
    this.metrics.detaches.inc({ reason });
    if (a.generation === a.backend.generation) await a.session.disconnect().catch(() => undefined);
    forgetSdkSession(a.client, a.session);
  }

  /** Detaches every session attached to a backend (before a per-user CLI is culled). */
  async detachAllOn(backendId: string, reason: DetachReason): Promise<void> {
    for (const a of this.all()) if (a.backend.id === backendId) await this.detach(a.id, reason);
  }

  /** Forgets sessions of a backend whose client was dropped. */
  forgetBackend(backendId: string): void {
    for (const a of this.all()) {
      if (a.backend.id === backendId) {
        this.map.delete(a.id);
        this.metrics.detaches.inc({ reason: "backend-lost" });
      }
    }
    this.metrics.activeSessions.set({ server: backendId }, 0);
  }

  /** Every create and resume carries the owner's own GitHub token (looked up before a slot is taken). */
  private async config(id: string, opts: OpenOptions) {
    return sessionConfigFor(this.cfg, id, opts.model, this.providerApiKey, await this.githubTokenFor(opts.owner));
  }

  private track(id: string, backend: Backend, opened: { client: CopilotClient; session: CopilotSession }, persistent: boolean): Attached {
    const { client, session } = opened;
    const a: Attached = { id, backend, generation: backend.generation, client, session, lastActive: Date.now(), inflight: 0, persistent };
    this.map.set(id, a);
    this.metrics.activeSessions.set({ server: backend.id }, this.capacity.attachedOn(backend.id));
    return a;
  }
}
