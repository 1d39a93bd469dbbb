/**
 * isolated with per-user servers (`backends.kind` spawn or kubernetes): one CLI server per user,
 * started on that user's first request (the Zero to JupyterHub spawner model) through a Spawner
 * (spawner.ts: a local process; kube-spawner.ts: a Pod). Idle servers are drained and stopped
 * (culled); the next request starts them again on the same state, so the user's sessions come back.
 * This file routes a request to its user's slot and bounds how many run; starting, restarting and
 * stopping are spawn-supervisor.ts, idle culling spawn-cull.ts, the registry file spawn-registry.ts.
 */
import { createHash, createHmac } from "node:crypto";
import type { Logger } from "pino";
import { TOPOLOGIES, type GatewayConfig, type RoutingMode } from "../topology/index.js";
import type { Backend } from "./backends.js";
import type { CliServerHandle, CliServerOptions } from "./cli-process.js";
import { ApiError, unavailable } from "./errors.js";
import type { Metrics } from "./metrics.js";
import type { BackendPool } from "./pool.js";
import type { SessionManager } from "./sessions.js";
import { cullIdleSlots } from "./spawn-cull.js";
import { ProcessSpawner, type Spawner } from "./spawner.js";
import { SpawnRegistry, type SpawnRegistryEntry } from "./spawn-registry.js";
import { SlotSupervisor, STOP_GRACE_MS, type Slot } from "./spawn-supervisor.js";
import type { SessionRecord } from "./store.js";

export interface SpawnPoolDeps {
  log: Logger;
  metrics: Metrics;
  sessions: Pick<SessionManager, "lastActivityOn" | "detachAllOn" | "forgetBackend">;
  /** Gateway environment: COPILOT_GITHUB_TOKEN is passed on to the spawned CLIs when set. */
  env?: Record<string, string | undefined>;
  /** Test switch: off = concurrent first requests each spawn a CLI (the race the pool prevents). */
  singleFlight?: boolean;
  /** Test switch (negative control): every user is served by one server, as if users shared a pod. */
  shareOneServer?: boolean;
  /** Key of the server ids (GATEWAY_SERVER_ID_KEY); undefined only for the keyless-server-ids control. */
  idKey: string | undefined;
  /** Where servers run; default: a local process per user (backends.kind spawn). */
  spawner?: Spawner;
  /** kind spawn: starts one CLI process; unit tests pass a fake. */
  start?: (opts: CliServerOptions) => Promise<CliServerHandle>;
  now?: () => number;
}

type PerUserBackends = Extract<GatewayConfig["backends"], { kind: "spawn" | "kubernetes" }>;

/**
 * Stable server id per user: also the home folder name, so no user id reaches paths, labels or
 * headers. Keyed (HMAC-SHA256): a plain hash of a known user id could be computed and looked up in
 * /readyz or /metrics to tell whether that user is active. No key = the plain hash (negative control only).
 */
export function spawnServerId(user: string, key: string | undefined): string {
  const digest = key === undefined ? createHash("sha256").update(user) : createHmac("sha256", key).update(user);
  return `user-${digest.digest("hex").slice(0, 16)}`;
}

export class SpawnPool implements BackendPool {
  readonly mode: RoutingMode;
  private readonly spec: PerUserBackends;
  private readonly slots = new Map<string, Slot>();
  private readonly spawner: Spawner;
  private readonly supervisor: SlotSupervisor;
  /** Local processes only: the file the platform mirrors into its target, and orphans of a crashed predecessor. */
  private readonly registry?: SpawnRegistry;
  private readonly now: () => number;
  private readonly singleFlight: boolean;
  private readonly idleMs: number;
  private cullTimer?: NodeJS.Timeout;
  private culling = false;
  private closed = false;

  constructor(
    cfg: GatewayConfig,
    private readonly deps: SpawnPoolDeps,
  ) {
    if (cfg.backends.kind === "static") throw new Error("SpawnPool needs backends.kind spawn or kubernetes");
    this.spec = cfg.backends;
    this.mode = TOPOLOGIES[cfg.topology].routing;
    if (this.mode !== "per-user") {
      throw new Error(`backends.kind ${cfg.backends.kind} starts one CLI per user, which only fits topology isolated (got topology ${cfg.topology})`);
    }
    if (cfg.backends.kind === "kubernetes" && !deps.spawner) throw new Error("backends.kind kubernetes needs the Pod spawner");
    this.spawner = deps.spawner ?? new ProcessSpawner(cfg.backends as Extract<PerUserBackends, { kind: "spawn" }>, deps.env, deps.start);
    if (cfg.backends.kind === "spawn" && cfg.backends.registryFile) this.registry = new SpawnRegistry(cfg.backends.registryFile, deps.log, STOP_GRACE_MS);
    this.now = deps.now ?? Date.now;
    this.singleFlight = deps.singleFlight ?? true;
    this.idleMs = cfg.lifecycle.cliIdleTimeoutSeconds * 1000;
    this.supervisor = new SlotSupervisor({
      spawner: this.spawner,
      log: deps.log,
      metrics: deps.metrics,
      sessions: deps.sessions,
      now: this.now,
      closed: () => this.closed,
      changed: () => this.writeRegistry(),
      silenceLimitMs: cfg.lifecycle.cliSilenceSeconds * 1000,
    });
  }

  /** Serving gateways only: stops CLIs a crashed predecessor left behind, publishes an empty registry, starts culling. */
  async startBackground(): Promise<void> {
    await this.registry?.reapOrphans();
    this.writeRegistry();
    await this.spawner.startBackground?.();
    if (this.idleMs > 0) {
      const every = Math.min(5_000, Math.max(250, this.idleMs / 4));
      this.cullTimer = setInterval(() => void this.cullIdle(), every);
      this.cullTimer.unref();
    }
  }

  all(): Backend[] {
    const out: Backend[] = [];
    for (const s of this.slots.values()) if (s.running) out.push(s.running.backend);
    return out;
  }

  byId(id: string): Backend | undefined {
    for (const s of this.slots.values()) if (s.id === id) return s.running?.backend;
    return undefined;
  }

  forNewSession(user: string): Promise<Backend> {
    return this.acquire(user);
  }

  /** A session lives in its owner's home, so it is served by the owner's CLI whatever the record says. */
  forSession(rec: SessionRecord, _user: string): Promise<Backend> {
    return this.acquire(rec.owner);
  }

  private slot(requester: string): Slot {
    const user = this.deps.shareOneServer ? "(everyone)" : requester;
    let s = this.slots.get(user);
    if (!s) {
      const id = spawnServerId(user, this.deps.idKey);
      s = { id, user, dead: false, everStarted: false, lastUsed: this.now(), failures: 0, extra: [] };
      this.slots.set(user, s);
    }
    return s;
  }

  /** The user's running server; starts it (once, however many requests wait) when there is none. */
  private async acquire(user: string): Promise<Backend> {
    const slot = this.slot(user);
    slot.lastUsed = this.now();
    this.spawner.touch?.(slot.id, slot.lastUsed);
    for (;;) {
      if (this.closed) throw unavailable("draining", "this gateway replica is shutting down; retry on another", 1);
      if (slot.stopping) {
        await slot.stopping;
        continue;
      }
      if (slot.running && !slot.dead) return slot.running.backend;
      if (!slot.starting) this.checkCapacity();
      const starting = this.singleFlight && slot.starting ? slot.starting : this.supervisor.begin(slot);
      try {
        await starting;
      } catch (err) {
        if (err instanceof ApiError) throw err;
        throw unavailable("cli_unavailable", `could not start this user's CLI server: ${(err as Error).message}`, 5);
      } finally {
        slot.lastUsed = this.now();
      }
    }
  }

  /** At most backends.maxServers run here; a new user beyond that waits for a cull (503 + Retry-After). */
  private checkCapacity(): void {
    let running = 0;
    for (const s of this.slots.values()) if (s.running || s.starting) running++;
    if (running >= this.spec.maxServers) {
      this.deps.metrics.spawnRefusals.inc();
      throw unavailable("server_capacity", `all ${this.spec.maxServers} per-user CLI servers are in use; retry when an idle one has been culled`, this.retryAfterSeconds());
    }
  }

  /** About when the next idle server can be culled. */
  private retryAfterSeconds(): number {
    return Math.max(5, Math.min(300, Math.ceil(this.idleMs / 1000 / 4) || 30));
  }

  /** Culls every server with no turn in flight and no request for the idle timeout. Public for tests. */
  async cullIdle(): Promise<number> {
    if (this.culling || this.closed || this.idleMs <= 0) return 0;
    this.culling = true;
    try {
      return await cullIdleSlots([...this.slots.values()], {
        sessions: this.deps.sessions,
        spawner: this.spawner,
        idleMs: this.idleMs,
        now: this.now,
        stop: (slot) => this.supervisor.stop(slot, true),
      });
    } finally {
      this.culling = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.cullTimer);
    for (const s of this.slots.values()) clearTimeout(s.restartTimer);
    // A spawn that finishes after close stops its own process (see spawn()).
    await Promise.allSettled([...this.slots.values()].map((s) => s.starting));
    await Promise.all([...this.slots.values()].map((s) => s.stopping ?? this.supervisor.stop(s, false)));
    this.writeRegistry();
    await this.spawner.close?.();
  }

  private entries(): SpawnRegistryEntry[] {
    const out: SpawnRegistryEntry[] = [];
    for (const s of this.slots.values()) {
      for (const r of [s.running, ...s.extra]) {
        if (r) out.push({ id: s.id, user: s.user, address: r.handle.address, connectionToken: r.handle.connectionToken, pid: r.handle.pid ?? 0, home: r.handle.home ?? "" });
      }
    }
    return out;
  }

  private writeRegistry(): void {
    this.registry?.write(this.entries());
  }
}
