/**
 * Composition root of one gateway replica: config → store, backends, sessions, HTTP app, timers,
 * and the SIGTERM drain.
 */
import { pino, type Logger } from "pino";
import { GATEWAY_SECRET_ENV, type GatewayConfig } from "../topology/gateway-config.js";
import { TOPOLOGIES } from "../topology/topologies.js";
import { buildAdminApp, installAdminRoutes } from "./admin.js";
import { buildApp } from "./app.js";
import { createAuthenticator, type Env, requireEnv } from "./auth-config.js";
import { runCleanup } from "./cleanup.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { StaticPool, type BackendPool } from "./pool.js";
import { reconcileOrphans } from "./reconcile.js";
import { RedisStore } from "./redis-store.js";
import { moduloHash, rendezvous } from "./routing.js";
import { SessionManager } from "./sessions.js";
import type { PodSpawner } from "./kube-spawner.js";
import { SpawnPool } from "./spawn-pool.js";
import { MemoryStore } from "./memory-store.js";
import type { Store } from "./store.js";
import { guardStore } from "./store-guard.js";
import { createUserTokens } from "./user-tokens.js";

export type { Env } from "./auth-config.js";

export interface GatewayOptions {
  env?: Env;
  log?: Logger;
  /** Test switches that turn a protection off, so tests can show they catch its absence. */
  unsafe?: UnsafeSwitches;
}

export const UNSAFE_SWITCHES = ["skip-ownership-check", "no-turn-lock", "no-fencing", "no-lease", "modulo-hash", "no-spawn-singleflight", "no-drain", "no-rate-limit", "no-write-probe", "no-turn-watch", "no-token-lifetime", "no-http-limits", "uncounted-streams", "keyless-server-ids", "shared-user-servers", "no-store-deadline", "no-idempotency", "no-turn-quota", "admin-on-public", "first-user-token", "unshared-write-probe"] as const;
export type UnsafeSwitches = Partial<Record<(typeof UNSAFE_SWITCHES)[number], boolean>>;

/** Log paths that may hold a secret: redacted even if a future log line carries them. */
export const LOG_REDACT = ["gitHubToken", "*.gitHubToken", "token", "*.token", "authorization", "*.authorization", "*.headers.authorization"];

/** The gateway's logger: JSON to stdout (or `destination`), secrets redacted. */
export function gatewayLogger(cfg: Pick<GatewayConfig, "logLevel" | "replicaId">, destination?: NodeJS.WritableStream): Logger {
  const opts = { level: cfg.logLevel, base: { replica: cfg.replicaId }, redact: { paths: LOG_REDACT, censor: "[redacted]" } };
  return destination ? pino(opts, destination) : pino(opts);
}

export async function createStore(cfg: GatewayConfig, env: Env, commandTimeoutMs: number | undefined = cfg.storeTimeoutSeconds * 1000): Promise<Store> {
  if (cfg.store === "redis") {
    // commandTimeout: ioredis itself fails a command that gets no answer (a paused Redis keeps its socket open).
    const store = new RedisStore(requireEnv(env, GATEWAY_SECRET_ENV.redisUrl, "store is redis"), commandTimeoutMs ? { commandTimeout: commandTimeoutMs } : {});
    try {
      await store.ready();
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }
  return new MemoryStore(cfg.storeFile);
}

/**
 * The Kubernetes client behind the Pod spawner is most of the bundle's code (~14 MB of sources):
 * loaded only by a gateway that spawns Pods, so every other gateway's heap stays without it.
 */
export async function loadPodSpawner(cfg: GatewayConfig): Promise<typeof PodSpawner | undefined> {
  return cfg.backends.kind === "kubernetes" ? (await import("./kube-spawner.js")).PodSpawner : undefined;
}

export function createPool(
  cfg: GatewayConfig,
  env: Env,
  loadOf: (id: string) => number,
  deps?: { store: Store; metrics: Metrics; unsafe?: UnsafeSwitches; log?: Logger; sessions?: SessionManager; podSpawner?: typeof PodSpawner },
): BackendPool {
  if (cfg.backends.kind === "static") {
    const replicaIndex = Number(/(\d+)$/.exec(cfg.replicaId ?? "")?.[1] ?? 0);
    const leases =
      deps && TOPOLOGIES[cfg.topology].sharedState
        ? { store: deps.store, metrics: deps.metrics, ttlMs: cfg.lifecycle.leaseTtlSeconds * 1000, disabled: deps.unsafe?.["no-lease"], replicaIndex }
        : undefined;
    return new StaticPool(
      cfg,
      (name) => requireEnv(env, name, "connection token of a CLI server"),
      loadOf,
      deps?.unsafe?.["modulo-hash"] ? moduloHash : rendezvous,
      leases,
    );
  }
  if (!deps?.log || !deps.sessions) {
    throw new Error("backends.kind spawn/kubernetes: the per-user CLIs belong to the serving gateway (`gateway.js serve`), whose own TTL loop cleans their sessions");
  }
  const why = "per-user backends (kind spawn or kubernetes): per-user server ids are keyed hashes of user ids; keep it stable, the ids name the users' homes";
  const idKey = deps.unsafe?.["keyless-server-ids"] ? undefined : requireEnv(env, GATEWAY_SECRET_ENV.serverIdKey, why);
  if (idKey !== undefined && idKey.length < 32) throw new Error(`${GATEWAY_SECRET_ENV.serverIdKey} must have at least 32 characters`);
  if (cfg.backends.kind === "kubernetes" && !deps.podSpawner) throw new Error("backends.kind kubernetes: load the Pod spawner first (loadPodSpawner)");
  const spawner = cfg.backends.kind === "kubernetes" ? new deps.podSpawner!(cfg.backends, { log: deps.log, idleMs: cfg.lifecycle.cliIdleTimeoutSeconds * 1000 }) : undefined;
  return new SpawnPool(cfg, { log: deps.log, metrics: deps.metrics, sessions: deps.sessions, env, singleFlight: !deps.unsafe?.["no-spawn-singleflight"], shareOneServer: deps.unsafe?.["shared-user-servers"], idKey, spawner });
}

export async function createGateway(cfg: GatewayConfig, opts: GatewayOptions = {}) {
  const env = opts.env ?? process.env;
  const log = opts.log ?? gatewayLogger(cfg);
  const metrics = createMetrics();
  const unsafe = opts.unsafe ?? {};
  const auth = createAuthenticator(cfg, env, unsafe);
  // 0 = no deadline (the unsafe switch): the old behaviour, waiting as long as the store does.
  const storeTimeoutMs = unsafe["no-store-deadline"] ? 0 : cfg.storeTimeoutSeconds * 1000;
  const store = guardStore(await createStore(cfg, env, storeTimeoutMs), (err) => log.warn({ err: err.message }, "store call failed"), storeTimeoutMs || undefined);
  const sessions = new SessionManager(cfg, metrics, log, store, env[GATEWAY_SECRET_ENV.providerApiKey]);
  sessions.turnWatch = !unsafe["no-turn-watch"];
  const userTokens = createUserTokens(cfg.identity, env, { firstUserTokenForAll: unsafe["first-user-token"] });
  sessions.githubTokenFor = (owner) => userTokens.tokenFor(owner);
  const pool = createPool(cfg, env, (id) => sessions.loadOn(id), { store, metrics, unsafe, log, sessions, podSpawner: await loadPodSpawner(cfg) });
  if (pool instanceof SpawnPool) await pool.startBackground();
  sessions.onBackendHealth = (id, ok) => pool.markHealth?.(id, ok);
  const { app, startDrain, isDraining, routes } = buildApp({
    cfg,
    store,
    pool,
    sessions,
    metrics,
    auth,
    log,
    unsafeSkipOwnershipCheck: unsafe["skip-ownership-check"],
    rateLimitRedisUrl: cfg.store === "redis" ? env[GATEWAY_SECRET_ENV.redisUrl] : undefined,
    unsafeNoRateLimit: unsafe["no-rate-limit"],
    unsafeNoHttpLimits: unsafe["no-http-limits"],
    unsafeUncountedStreams: unsafe["uncounted-streams"],
    unsafeNoIdempotency: unsafe["no-idempotency"],
    unsafeNoTurnQuota: unsafe["no-turn-quota"],
    turnLock: {
      store,
      metrics,
      ttlMs: cfg.lifecycle.lockTtlSeconds * 1000,
      waitMs: cfg.lifecycle.lockWaitSeconds * 1000,
      disabled: unsafe["no-turn-lock"],
      noFencing: unsafe["no-fencing"],
    },
  });

  const adminDeps = { pool, store, metrics, log, replica: cfg.replicaId ?? "gw", isDraining, unsafeNoWriteProbe: unsafe["no-write-probe"], unsafeUnsharedWriteProbe: unsafe["unshared-write-probe"] };
  const admin = buildAdminApp(adminDeps);
  // The old layout, for the negative control of the admin-port tests: readiness and metrics public too.
  if (unsafe["admin-on-public"]) installAdminRoutes(app, adminDeps);

  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, fn: () => Promise<unknown>) => {
    let running = false;
    const t = setInterval(() => {
      if (running) return;
      running = true;
      fn()
        .catch((err) => log.warn({ err: (err as Error).message }, "background task failed"))
        .finally(() => {
          running = false;
        });
    }, ms);
    t.unref();
    timers.push(t);
  };

  const lc = cfg.lifecycle;
  if (pool instanceof StaticPool && pool.mode !== "single") every(1_000, () => pool.refreshHealth());
  if (pool instanceof StaticPool && TOPOLOGIES[cfg.topology].sharedState) {
    // Leases live while a session is attached here; one another server took over is detached.
    // Sessions attached here whose record was missing at the last tick (a create writes it just after attaching).
    let unrecorded = new Set<string>();
    every(Math.max(500, (lc.leaseTtlSeconds * 1000) / 3), async () => {
      const missing = new Set<string>();
      for (const { id, backendId } of sessions.attachedSessions()) {
        // Deleted through another replica (or undone): detach here and let the lease go, else this
        // loop would keep a lease alive for a session nobody can reach.
        if (!(await store.getSession(id))) {
          missing.add(id);
          if (unrecorded.has(id)) {
            await sessions.detach(id, "deleted");
            await store.releaseLease(id, backendId);
          }
          continue;
        }
        if (!(await pool.renewLease(id, backendId))) await sessions.detach(id, "moved");
      }
      unrecorded = missing;
    });
  }
  if (lc.idleTimeoutSeconds > 0) {
    every(Math.min(5_000, (lc.idleTimeoutSeconds * 1000) / 4), async () => {
      for (const id of await sessions.sweepIdle()) {
        const rec = await store.getSession(id);
        const backend = rec?.serverId ? pool.byId(rec.serverId) : undefined;
        // A failed CLI delete keeps the record: TTL cleanup retries it.
        await sessions.destroy(id, backend, "idle-ephemeral").catch((err: Error) => log.warn({ sessionId: id, err: err.message }, "idle delete failed; TTL cleanup will retry it"));
      }
    });
  }
  const cleanupPass = () =>
    runCleanup({
      store,
      pool,
      ttlSeconds: lc.sessionTtlSeconds,
      log,
      isBusy: (id) => sessions.isBusy(id),
      destroy: (id, backend) => sessions.destroy(id, backend, "ttl"),
    });
  if (lc.sessionTtlSeconds > 0) every(lc.cleanupIntervalSeconds * 1000, cleanupPass);
  const reconcilePass = (now?: number) =>
    reconcileOrphans({
      now,
      store,
      pool,
      graceMs: lc.orphanGraceSeconds * 1000,
      log,
      destroy: (id, backend) => sessions.destroy(id, backend, "orphan"),
      finish: (id, backend) => sessions.destroy(id, backend, "unfinished"),
    });
  if (lc.orphanGraceSeconds > 0) every(Math.max(1_000, (lc.orphanGraceSeconds * 1000) / 2), () => reconcilePass());

  let stopping: Promise<void> | undefined;
  /** Drain: readiness 503, new requests 503, in-flight turns finish (bounded by the grace period). */
  function drainAndStop(): Promise<void> {
    stopping ??= (async () => {
      metrics.drains.inc();
      metrics.draining.set(1);
      startDrain();
      log.info({ inflight: sessions.inflight }, "draining");
      const clean = await sessions.drain(unsafe["no-drain"] ? 0 : lc.drainGraceSeconds * 1000);
      for (const t of timers) clearInterval(t);
      // Turns still running past the grace are cut off, so the exit stays bounded.
      if (!clean) app.server.closeAllConnections();
      await app.close();
      await admin.close();
      await pool.close();
      await store.close();
      log.info({ clean }, "stopped");
    })();
    return stopping;
  }

  return {
    app,
    /** Every route the app registered (method, Fastify path), for the OpenAPI test. */
    routes,
    cfg,
    store,
    pool,
    sessions,
    metrics,
    log,
    isDraining,
    cleanupPass,
    reconcilePass,
    /** The admin listener (/healthz, /readyz, /metrics); `listen` starts it beside the public one. */
    admin,
    /** Public and admin listeners; answers both URLs. */
    async listen(): Promise<{ url: string; adminUrl: string }> {
      const adminUrl = await admin.listen({ host: cfg.admin.host ?? cfg.host, port: cfg.admin.port });
      try {
        return { url: await app.listen({ host: cfg.host, port: cfg.port }), adminUrl };
      } catch (err) {
        await admin.close();
        throw err;
      }
    },
    drainAndStop,
  };
}
export type Gateway = Awaited<ReturnType<typeof createGateway>>;
