/**
 * The admin listener: /healthz, /readyz and /metrics on a port of their own (default 9090), for
 * probes and scrapers. Readiness names servers and failure reasons and metrics describe everyone's
 * traffic, so neither is served on the public port that a Service, ingress or load balancer exposes.
 */
import { randomUUID } from "node:crypto";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { Metrics } from "./metrics.js";
import type { BackendPool } from "./pool.js";
import type { Store } from "./store.js";
import { checkWritableShared } from "./write-probe.js";

export interface AdminDeps {
  pool: BackendPool;
  store: Store;
  metrics: Metrics;
  log: Logger;
  replica: string;
  isDraining: () => boolean;
  /** Test switch: readiness pings only, without the write probe. */
  unsafeNoWriteProbe?: boolean;
  /** Test switch: every replica runs the write probe itself, not once per interval across replicas. */
  unsafeUnsharedWriteProbe?: boolean;
}

export function buildAdminApp(deps: AdminDeps): FastifyInstance {
  const app = Fastify({ loggerInstance: deps.log as FastifyBaseLogger, disableRequestLogging: true, return503OnClosing: false });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: { code: "route_not_found", message: `no route ${req.method} ${req.url.split("?")[0]} on the admin port` } });
  });
  app.get("/healthz", async () => ({ status: "ok" }));
  installAdminRoutes(app, deps);
  return app;
}

/** /readyz and /metrics; on the public app only under the `admin-on-public` test switch (its negative control). */
export function installAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { pool, store, metrics, replica } = deps;

  // /readyz: every CLI server must answer (the default). /readyz?backends=any: at least one must, so
  // an orchestrator does not take every gateway out of service when one of N CLI pods restarts.
  app.get<{ Querystring: { backends?: string } }>("/readyz", async (req, reply) => {
    if (deps.isDraining()) return reply.code(503).send({ status: "draining" });
    // The store ping runs beside the server checks, not after them: with the store stalled, the shared
    // write probe waits out the store's deadline too, and one after the other would take twice the bound.
    const storePing = store.ping().then(
      () => ({ kind: store.kind, ok: true }),
      (err: Error) => ({ kind: store.kind, ok: false, reason: err.message }),
    );
    const checks = await Promise.all(
      pool.all().map(async (b) => {
        try {
          await b.ping(1_500);
          metrics.backendUp.set({ server: b.id }, 1);
          pool.markHealth?.(b.id, true);
        } catch (err) {
          metrics.backendUp.set({ server: b.id }, 0);
          pool.markHealth?.(b.id, false);
          return { server: b.id, ok: false, reason: (err as Error).message };
        }
        try {
          if (!deps.unsafeNoWriteProbe) await checkWritableShared(b, `probe-${replica}-${b.id}-${randomUUID().slice(0, 8)}`, { store, metrics, unshared: deps.unsafeUnsharedWriteProbe });
          return { server: b.id, ok: true };
        } catch (err) {
          return { server: b.id, ok: false, reason: (err as Error).message };
        }
      }),
    );
    const storeCheck = await storePing;
    const backendsOk = req.query.backends === "any" ? checks.length === 0 || checks.some((c) => c.ok) : checks.every((c) => c.ok);
    const ok = backendsOk && storeCheck.ok;
    return reply.code(ok ? 200 : 503).send({ status: ok ? "ready" : "unready", servers: checks, store: storeCheck });
  });

  app.get("/metrics", async (_req, reply) => {
    reply.header("content-type", metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
