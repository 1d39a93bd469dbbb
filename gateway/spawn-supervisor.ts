/**
 * Supervision of per-user CLI servers: start one for a user's slot (through the Spawner), notice
 * its exit, restart a crashed one after a backoff like an orchestrator's restart policy, and
 * drain-then-stop it. Which slot a request uses is the pool's (spawn-pool.ts); when an idle one is
 * stopped, the culler's (spawn-cull.ts).
 */
import { restartBackoffMs } from "../topology/restart-backoff.js";
import type { Logger } from "pino";
import { Backend } from "./backends.js";
import type { Metrics } from "./metrics.js";
import type { SessionManager } from "./sessions.js";
import type { ServerExit, SpawnedServer, Spawner } from "./spawner.js";

export interface Running {
  handle: SpawnedServer;
  backend: Backend;
  startedAt: number;
  /** Set when the pool stops it on purpose, so its exit is not taken for a crash. */
  stopping: boolean;
}

/** One user's server as the pool tracks it, across starts, crashes and culls. */
export interface Slot {
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
export const STOP_GRACE_MS = 5_000;

export interface SupervisorDeps {
  spawner: Spawner;
  log: Logger;
  metrics: Metrics;
  sessions: Pick<SessionManager, "detachAllOn" | "forgetBackend">;
  now: () => number;
  /** The pool is closing: nothing starts or restarts any more. */
  closed: () => boolean;
  /** The set of running servers changed (the pool rewrites its registry). */
  changed: () => void;
  /** lifecycle.cliSilenceSeconds in ms: a server silent this long is treated as gone. */
  silenceLimitMs: number;
}

export class SlotSupervisor {
  constructor(private readonly deps: SupervisorDeps) {}

  /** Starts the slot's server; `slot.starting` is set until it is up or failed. */
  begin(slot: Slot): Promise<void> {
    clearTimeout(slot.restartTimer);
    const reason = slot.dead ? "restart" : slot.everStarted ? "respawn" : "first";
    const p = this.spawn(slot, reason).finally(() => {
      if (slot.starting === p) slot.starting = undefined;
    });
    slot.starting = p;
    return p;
  }

  /** Drain, then stop: requests arriving meanwhile wait and start a fresh server on the same home. */
  stop(slot: Slot, cull: boolean): Promise<void> {
    slot.stopping ??= (async () => {
      const runs = [slot.running, ...slot.extra].filter((r): r is Running => r !== undefined);
      clearTimeout(slot.restartTimer);
      slot.running = undefined;
      slot.extra = [];
      slot.dead = false;
      for (const r of runs) r.stopping = true;
      this.deps.changed();
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

  private async spawn(slot: Slot, reason: string): Promise<void> {
    const t0 = performance.now();
    const tail: string[] = [];
    const onOutput = (line: string) => {
      tail.push(line);
      if (tail.length > 10) tail.shift();
    };
    const handle = await this.deps.spawner.start(slot.id, onOutput);
    if (this.deps.closed()) {
      await handle.stop(STOP_GRACE_MS);
      throw new Error("the gateway is shutting down");
    }
    const backend = new Backend({ id: slot.id, address: handle.address, user: slot.user, pid: handle.pid }, handle.connectionToken, { silenceLimitMs: this.deps.silenceLimitMs });
    const run: Running = { handle, backend, startedAt: this.deps.now(), stopping: false };
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
    this.deps.changed();
  }

  private onExit(slot: Slot, run: Running, exit: ServerExit, tail: string[]): void {
    if (run.stopping || this.deps.closed()) return;
    const { code } = exit;
    const extra = slot.extra.indexOf(run);
    if (extra >= 0) {
      slot.extra.splice(extra, 1);
      this.deps.changed();
      return;
    }
    if (slot.running !== run) return;
    if (exit.removed) {
      // Culled by another replica: its sessions here are detached; the next request starts it again.
      this.deps.log.info({ server: slot.id }, "per-user CLI removed by another gateway replica");
      run.stopping = true;
      void this.stop(slot, false);
      return;
    }
    this.deps.log.warn({ server: slot.id, code, output: tail.slice(-5) }, "per-user CLI exited unexpectedly");
    slot.dead = true;
    run.backend.drop();
    this.deps.sessions.forgetBackend(slot.id);
    slot.failures = this.deps.now() - run.startedAt > STABLE_MS ? 1 : slot.failures + 1;
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
      this.deps.changed();
      return;
    }
    const delay = restartBackoffMs(slot.failures, 500, 30_000);
    slot.restartTimer = setTimeout(() => {
      if (!slot.dead || slot.starting || this.deps.closed()) return;
      this.begin(slot).catch((err: Error) => {
        this.deps.log.warn({ server: slot.id, err: err.message }, "per-user CLI restart failed");
        if (!slot.dead || this.deps.closed()) return;
        slot.failures++;
        this.scheduleRestart(slot);
      });
    }, delay);
    slot.restartTimer.unref();
  }
}
