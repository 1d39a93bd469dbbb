/**
 * isolated with per-user servers (`backends.kind` spawn or kubernetes): one CLI server per user,
 * started on that user's first request (the Zero to JupyterHub spawner model) through a Spawner
 * (spawner.ts: a local process; kube-spawner.ts: a Pod). Idle servers are drained and stopped
 * (culled); the next request starts them again on the same state, so the user's sessions come back.
 */
import { createHash, createHmac } from "node:crypto";
import type { Logger } from "pino";
import { TOPOLOGIES, type GatewayConfig, type RoutingMode } from "../topology/index.js";
import { Backend } from "./backends.js";
import type { CliServerHandle, CliServerOptions } from "./cli-process.js";
import { ApiError, unavailable } from "./errors.js";
import type { Metrics } from "./metrics.js";
import type { BackendPool } from "./pool.js";
import type { SessionManager } from "./sessions.js";
import { ProcessSpawner, type ServerExit, type SpawnedServer, type Spawner } from "./spawner.js";
import { SpawnRegistry, type SpawnRegistryEntry } from "./spawn-registry.js";
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

interface Running {
  handle: SpawnedServer;
  backend: Backend;
  startedAt: number;
  /** Set when the pool stops it on purpose, so its exit is not taken for a crash. */
  stopping: boolean;
}

interface Slot {
  id: string;
  user: string;
  /** The current process; stays set while a crashed one waits for its restart (readiness reports it). */
  running?: Running;
  dead: boolean;
  everStarted: boolean;
  starting?: Promise<void>;
  stopping?: Promise<void>;
  lastUsed: number;
  /** Crashes and failed starts in a row; reset once a server stays up. */
  failures: number;
  restartTimer?: NodeJS.Timeout;
  /** Only with single-flight off: servers that lost the race and still run. */
  extra: Running[];
}

/** A crashed server is restarted after a backoff; after this many failures in a row it is dropped until the user's next request. */
const MAX_RESTARTS = 3;
const STABLE_MS = 60_000;
const STOP_GRACE_MS = 5_000;

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
      const starting = this.singleFlight && slot.starting ? slot.starting : this.begin(slot);
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

  private begin(slot: Slot): Promise<void> {
    clearTimeout(slot.restartTimer);
    const reason = slot.dead ? "restart" : slot.everStarted ? "respawn" : "first";
    const p = this.spawn(slot, reason).finally(() => {
      if (slot.starting === p) slot.starting = undefined;
    });
    slot.starting = p;
    return p;
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

  private async spawn(slot: Slot, reason: string): Promise<void> {
    const t0 = performance.now();
    const tail: string[] = [];
    const onOutput = (line: string) => {
      tail.push(line);
      if (tail.length > 10) tail.shift();
    };
    const handle = await this.spawner.start(slot.id, onOutput);
    if (this.closed) {
      await handle.stop(STOP_GRACE_MS);
      throw new Error("the gateway is shutting down");
    }
    const backend = new Backend({ id: slot.id, address: handle.address, user: slot.user, pid: handle.pid }, handle.connectionToken);
    const run: Running = { handle, backend, startedAt: this.now(), stopping: false };
    // Only reachable with single-flight off: the earlier racer keeps running beside the new one.
    if (slot.running && !slot.dead) slot.extra.push(slot.running);
    slot.running = run;
    slot.dead = false;
    slot.everStarted = true;
    const seconds = (performance.now() - t0) / 1000;
    this.deps.metrics.cliSpawns.inc({ reason });
    this.deps.metrics.cliSpawnDuration.observe(seconds);
    this.deps.log.info({ server: slot.id, pid: handle.pid, reason, ms: Math.round(seconds * 1000) }, "per-user CLI started");
    void handle.exited.then((exit) => this.onExit(slot, run, exit, tail));
    this.writeRegistry();
  }

  private onExit(slot: Slot, run: Running, exit: ServerExit, tail: string[]): void {
    if (run.stopping || this.closed) return;
    const { code } = exit;
    const extra = slot.extra.indexOf(run);
    if (extra >= 0) {
      slot.extra.splice(extra, 1);
      this.writeRegistry();
      return;
    }
    if (slot.running !== run) return;
    if (exit.removed) {
      // Culled by another replica: its sessions here are detached; the next request starts it again.
      this.deps.log.info({ server: slot.id }, "per-user CLI removed by another gateway replica");
      run.stopping = true;
      void this.stopSlot(slot, false);
      return;
    }
    this.deps.log.warn({ server: slot.id, code, output: tail.slice(-5) }, "per-user CLI exited unexpectedly");
    slot.dead = true;
    run.backend.drop();
    this.deps.sessions.forgetBackend(slot.id);
    slot.failures = this.now() - run.startedAt > STABLE_MS ? 1 : slot.failures + 1;
    this.scheduleRestart(slot);
  }

  /** Like an orchestrator's restart policy, with backoff; a request in the meantime restarts at once. */
  private scheduleRestart(slot: Slot): void {
    if (slot.failures > MAX_RESTARTS) {
      // Stop reporting it: one user's broken server must not keep the whole replica unready.
      this.deps.log.error({ server: slot.id, failures: slot.failures }, "per-user CLI keeps failing; it starts again on the user's next request");
      slot.running = undefined;
      slot.dead = false;
      slot.failures = 0;
      this.writeRegistry();
      return;
    }
    const delay = Math.min(30_000, 500 * 2 ** (slot.failures - 1));
    slot.restartTimer = setTimeout(() => {
      if (!slot.dead || slot.starting || this.closed) return;
      this.begin(slot).catch((err: Error) => {
        this.deps.log.warn({ server: slot.id, err: err.message }, "per-user CLI restart failed");
        if (!slot.dead || this.closed) return;
        slot.failures++;
        this.scheduleRestart(slot);
      });
    }, delay);
    slot.restartTimer.unref();
  }

  /** Culls every server with no turn in flight and no request for the idle timeout. Public for tests. */
  async cullIdle(): Promise<number> {
    if (this.culling || this.closed || this.idleMs <= 0) return 0;
    this.culling = true;
    // Stopped together: a Pod takes seconds to go, and twenty of them in turn would take minutes.
    const stops: Promise<void>[] = [];
    try {
      for (const slot of [...this.slots.values()]) {
        const run = slot.running;
        if (!run || slot.dead || slot.starting || slot.stopping) continue;
        const activity = this.deps.sessions.lastActivityOn(slot.id);
        const last = Math.max(slot.lastUsed, activity.lastActive, run.startedAt);
        if (activity.inflight > 0 || this.now() - last < this.idleMs) {
          // Tell the other replicas, which cull by the same rule: the real last use, or now while a turn runs.
          this.spawner.touch?.(slot.id, activity.inflight > 0 ? this.now() : last);
          continue;
        }
        if (this.spawner.usedElsewhereWithin) {
          if (await this.spawner.usedElsewhereWithin(slot.id, this.idleMs)) continue;
          // A request may have come in while we asked.
          if (slot.running !== run || slot.starting || slot.stopping || this.now() - slot.lastUsed < this.idleMs) continue;
          if (this.deps.sessions.lastActivityOn(slot.id).inflight > 0) continue;
        }
        stops.push(this.stopSlot(slot, true));
      }
      await Promise.all(stops);
    } finally {
      this.culling = false;
    }
    return stops.length;
  }

  /** Drain, then stop: requests arriving meanwhile wait and start a fresh server on the same home. */
  private stopSlot(slot: Slot, cull: boolean): Promise<void> {
    slot.stopping ??= (async () => {
      const runs = [slot.running, ...slot.extra].filter((r): r is Running => r !== undefined);
      clearTimeout(slot.restartTimer);
      slot.running = undefined;
      slot.extra = [];
      slot.dead = false;
      for (const r of runs) r.stopping = true;
      this.writeRegistry();
      await this.deps.sessions.detachAllOn(slot.id, cull ? "cull" : "drain");
      await Promise.all(
        runs.map(async (r) => {
          await r.backend.close();
          await r.handle.stop(STOP_GRACE_MS);
        }),
      );
      if (cull) {
        this.deps.metrics.culls.inc();
        this.deps.log.info({ server: slot.id }, "idle per-user CLI culled");
      }
    })().finally(() => {
      slot.stopping = undefined;
    });
    return slot.stopping;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.cullTimer);
    for (const s of this.slots.values()) clearTimeout(s.restartTimer);
    // A spawn that finishes after close stops its own process (see spawn()).
    await Promise.allSettled([...this.slots.values()].map((s) => s.starting));
    await Promise.all([...this.slots.values()].map((s) => s.stopping ?? this.stopSlot(s, false)));
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
