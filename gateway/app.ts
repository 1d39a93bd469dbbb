/**
 * The session gateway's HTTP API v1 (Fastify): auth, errors, per-user ownership, session records,
 * liveness and drain (readiness and metrics: admin.ts, on their own port); turns are in turn-routes.ts, history/abort/models in client-routes.ts.
 * Errors are always `{"error":{"code","message"}}`.
 */
import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { GatewayConfig } from "../topology/gateway-config.js";
import type { Authenticator, Principal } from "./auth.js";
import type { Backend } from "./backends.js";
import { installClientRoutes } from "./client-routes.js";
import { installTurnRoutes } from "./turn-routes.js";
import { createBody, parse } from "./api-schemas.js";
import { ApiError, clientErrorHandler, frameworkError, notFound, rawErrorResponse, unauthorized, unavailable, validateId } from "./errors.js";
import { Idempotency } from "./idempotency.js";
import type { Metrics } from "./metrics.js";
import type { BackendPool } from "./pool.js";
import { installRateLimit } from "./rate-limit.js";
import { applyServerLimits, fastifyLimits } from "./http-limits.js";
import { createRecorded } from "./recorded-create.js";
import type { SessionManager } from "./sessions.js";
import type { SessionRecord, Store } from "./store.js";
import { sessionLockKey, withTurnLock, type TurnLockOptions } from "./turn-lock.js";
import { UserQuotas } from "./user-quotas.js";

export interface GatewayDeps {
  cfg: GatewayConfig;
  store: Store;
  pool: BackendPool;
  sessions: SessionManager;
  metrics: Metrics;
  auth: Authenticator;
  log: Logger;
  turnLock: TurnLockOptions;
  /** Test switch: skip the ownership check (shows that the isolation tests catch its absence). */
  unsafeSkipOwnershipCheck?: boolean;
  /** Redis URL for rate-limit counters shared by the replicas; absent = each replica counts alone. */
  rateLimitRedisUrl?: string;
  /** Test switch: no rate limit even when configured (shows that the noisy-neighbour test catches it). */
  unsafeNoRateLimit?: boolean;
  /** Test-only: Node's default timeouts and no connection cap, so conformance can prove it catches tricklers. */
  unsafeNoHttpLimits?: boolean;
  /** Test-only: a stream whose client left is not counted (the old behaviour), for its negative control. */
  unsafeUncountedStreams?: boolean;
  /** Test switch: the Idempotency-Key header is ignored (its negative control). */
  unsafeNoIdempotency?: boolean;
  /** Test switch: no per-user turn cap (shows that the noisy-neighbour test catches its absence). */
  unsafeNoTurnQuota?: boolean;
}

declare module "fastify" {
  interface FastifyRequest {
    principal?: Principal;
  }
}

const iso = (ms: number) => new Date(ms).toISOString();
function view(rec: SessionRecord, attached: boolean) {
  return {
    sessionId: rec.sessionId,
    createdAt: iso(rec.createdAt),
    lastActiveAt: iso(rec.lastActiveAt),
    persistent: rec.persistent,
    ...(rec.model ? { model: rec.model } : {}),
    attached,
  };
}


export function buildApp(deps: GatewayDeps): { app: FastifyInstance; startDrain: () => void; isDraining: () => boolean; routes: { method: string; url: string }[] } {
  const { cfg, store, pool, sessions, metrics, auth, log, turnLock } = deps;
  const replica = cfg.replicaId ?? "gw";
  let draining = false;

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: cfg.http.bodyLimitBytes,
    ...(deps.unsafeNoHttpLimits ? {} : fastifyLimits(cfg)),
    disableRequestLogging: true,
    genReqId: () => randomUUID(),
    // A request during close is routed, so it gets the JSON 503 draining with Retry-After (Fastify's own has neither).
    return503OnClosing: false,
    // Long ids reach validateId (400) instead of failing the route match (404).
    routerOptions: { maxParamLength: 4_096 },
    clientErrorHandler,
    frameworkErrors: (err, _req, reply) => {
      const e = frameworkError(err);
      void (reply as FastifyReply).code(e.status).send({ error: { code: e.code, message: e.message } });
    },
  });
  if (!deps.unsafeNoHttpLimits) applyServerLimits(app.server, cfg.http);
  // Every route registered, so the OpenAPI test can hold the document against it.
  const routes: { method: string; url: string }[] = [];
  app.addHook("onRoute", (r) => {
    for (const method of [r.method].flat()) if (method !== "HEAD") routes.push({ method, url: r.url });
  });
  // CONNECT never reaches Fastify, and without a listener Node drops the socket without a word.
  app.server.on("connect", (_req, socket: Socket) => rawErrorResponse(socket, new ApiError(405, "method_not_allowed", "CONNECT is not supported")));

  app.addHook("onRequest", async (req) => {
    // The matched route decides, not req.url: an absolute-form target (`GET http://host/v1/…`) routes too.
    if (!req.routeOptions.url?.startsWith("/v1/")) return;
    if (draining) throw unavailable("draining", "this gateway replica is shutting down; retry on another", 1);
    req.principal = await auth.authenticate(req.headers.authorization);
  });
  const quotas = new UserQuotas(deps.unsafeNoTurnQuota ? { ...cfg.quotas, maxTurnsInFlightPerUser: Number.MAX_SAFE_INTEGER } : cfg.quotas, store);
  const idempotency = new Idempotency({
    store,
    ttlMs: cfg.http.idempotencyTtlSeconds * 1000,
    waitMs: cfg.http.idempotencyWaitSeconds * 1000,
    inFlightTtlMs: (cfg.lifecycle.turnTimeoutSeconds + cfg.lifecycle.lockWaitSeconds + 60) * 1000,
    disabled: deps.unsafeNoIdempotency,
  });
  installRateLimit(app, { perMinute: deps.unsafeNoRateLimit ? 0 : cfg.http.rateLimitPerMinute, redisUrl: deps.rateLimitRedisUrl, log });

  app.addHook("onResponse", async (req, reply) => {
    metrics.httpRequests.inc({ method: req.method, route: req.routeOptions.url ?? "unmatched", status: String(reply.statusCode) });
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: { code: "route_not_found", message: `no route ${req.method} ${req.url.split("?")[0]}` } });
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof ApiError) {
      void reply.code(err.status).headers(err.headers).send({ error: { code: err.code, message: err.message } });
      return;
    }
    const status = err.statusCode;
    if (status && status >= 400 && status < 500) {
      // Fastify's own client errors: bad JSON, body too large, unsupported media type.
      const code =
        status === 413 ? "body_too_large" : status === 415 ? "unsupported_media_type" : err.code === "FST_ERR_CTP_INVALID_JSON_BODY" || err instanceof SyntaxError ? "invalid_json" : "bad_request";
      void reply.code(status).send({ error: { code, message: err.message } });
      return;
    }
    req.log.error({ err: { message: err.message, code: err.code } }, "unhandled error");
    void reply.code(500).send({ error: { code: "internal", message: "internal error" } });
  });

  // Defence in depth: a handler reached without authentication answers 401, never a TypeError (500).
  const principal = (req: FastifyRequest): Principal => {
    if (!req.principal) throw unauthorized();
    return req.principal;
  };

  /** The caller's own session, or 404 exactly as for a session that does not exist. */
  async function ownSession(req: FastifyRequest, id: string): Promise<SessionRecord> {
    validateId(id, "session");
    const rec = await store.getSession(id);
    // A record with a state is a create or delete under way or cut short: not the client's (store.ts).
    if (!rec || rec.kind !== "session" || rec.state) throw notFound();
    if (!deps.unsafeSkipOwnershipCheck && rec.owner !== principal(req).user) throw notFound();
    return rec;
  }

  const served = (reply: FastifyReply, backend: Pick<Backend, "id">) => reply.header("x-copilot-server", backend.id);

  const recorded = { store, pool, sessions, log };

  app.get("/healthz", async () => ({ status: "ok" }));

  app.post("/v1/sessions", async (req, reply) => {
    const body = parse(createBody, req.body) ?? {};
    const user = principal(req).user;
    await quotas.checkNewSession(user);
    const backend = await pool.forNewSession(user);
    const id = `s-${randomUUID()}`;
    const now = Date.now();
    const rec: SessionRecord = {
      sessionId: id,
      owner: user,
      kind: "session",
      persistent: body.persistent ?? true,
      createdAt: now,
      lastActiveAt: now,
      serverId: backend.id,
      ...(body.model ? { model: body.model } : {}),
    };
    await createRecorded(recorded, rec, backend);
    served(reply, backend);
    return reply.code(201).send({ sessionId: id });
  });

  app.get("/v1/sessions", async (req) => {
    const rows = await store.listSessions(principal(req).user);
    return {
      sessions: rows
        .filter((r) => r.kind === "session" && !r.state)
        .sort((a, b) => a.createdAt - b.createdAt)
        .map((r) => view(r, sessions.isAttached(r.sessionId))),
    };
  });

  app.get<{ Params: { id: string } }>("/v1/sessions/:id", async (req) => {
    const rec = await ownSession(req, req.params.id);
    return view(rec, sessions.isAttached(rec.sessionId));
  });

  app.delete<{ Params: { id: string } }>("/v1/sessions/:id", async (req, reply) => {
    const rec = await ownSession(req, req.params.id);
    // A delete is a turn-level operation: it waits for a turn running on any replica (423 past the
    // lock wait) instead of pulling the session from under it, which left that turn hanging.
    return withTurnLock(turnLock, sessionLockKey(rec.sessionId), `${replica}:${req.id}`, "this session", async () => {
      const backend = await pool.forSession(rec, principal(req).user);
      // Marked `deleting` first: from here the session is gone for its owner, and a delete cut short
      // (a CLI that deletes part of the state and fails, a replica killed) is finished by the
      // reconciler, never resumed half-deleted as an empty session.
      const marked = await store.setSessionState(rec.sessionId, undefined, "deleting").catch((err: Error) => {
        // Reported failed but it may land late: the revert, sent after it on the same connection, lands after it.
        void store.setSessionState(rec.sessionId, "deleting", undefined).catch(() => undefined);
        throw err;
      });
      if (!marked) throw notFound();
      await sessions.destroy(rec.sessionId, backend, "api").catch((err: Error) => {
        log.warn({ sessionId: rec.sessionId, server: backend.id, err: err.message }, "delete cut short: the reconciler finishes it");
      });
      served(reply, backend);
      return reply.code(204).send();
    });
  });

  installClientRoutes(app, { cfg, store, pool, sessions, principal, ownSession });

  installTurnRoutes(app, { cfg, store, pool, sessions, metrics, log, turnLock, quotas, idempotency, principal, ownSession, served, replica, unsafeUncountedStreams: deps.unsafeUncountedStreams });

  return {
    app,
    routes,
    startDrain: () => {
      draining = true;
    },
    isDraining: () => draining,
  };
}
