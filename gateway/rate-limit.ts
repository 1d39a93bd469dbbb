/**
 * Per-user rate limiting with @fastify/rate-limit: a one-minute fixed window per authenticated
 * user (the token's subject), answered with 429, Retry-After and the API's error shape.
 * With the Redis store the counters live in Redis, so the limit holds across replicas; with the
 * memory store each replica counts alone. Unauthenticated routes (health, readiness, metrics) and
 * requests that fail authentication are not counted: the limit is per user, not per address.
 * If Redis is unreachable the limiter lets requests through (fail open) rather than failing them.
 */
import rateLimit from "@fastify/rate-limit";
import type { FastifyInstance, preHandlerAsyncHookHandler } from "fastify";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { tooManyRequests } from "./errors.js";

export const RATE_LIMIT_WINDOW_MS = 60_000;
const REDIS_PREFIX = "csk:rate:";

export interface RateLimitOptions {
  /** Requests per user per minute; 0 = off. */
  perMinute: number;
  /** Shared counters across replicas (the gateway's Redis store); absent = per replica. */
  redisUrl?: string;
  log: Logger;
}

/** Adds the limiter as an onRequest hook; call it after the hook that authenticates. */
export function installRateLimit(app: FastifyInstance, opts: RateLimitOptions): void {
  if (opts.perMinute <= 0) return;
  let redis: Redis | undefined;
  if (opts.redisUrl) {
    // No offline queue: while Redis is down a request is let through at once instead of waiting;
    // commandTimeout does the same while Redis is paused (its socket open, no answer).
    redis = new Redis(opts.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000, commandTimeout: 1_000 });
    let lastWarn = 0;
    redis.on("error", (err: Error) => {
      if (Date.now() - lastWarn < 10_000) return;
      lastWarn = Date.now();
      opts.log.warn({ err: err.message }, "rate limit counters unreachable: requests are not limited meanwhile");
    });
    // Start counting from the first request: wait (briefly) for the connection before listening.
    app.addHook("onReady", async () => {
      if (redis!.status === "ready") return;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          redis!.off("ready", done);
          resolve();
        };
        const timer = setTimeout(done, 2_000);
        redis!.once("ready", done);
      });
    });
    app.addHook("onClose", async () => {
      redis!.disconnect();
    });
  }
  void app.register(rateLimit, {
    global: false,
    max: opts.perMinute,
    timeWindow: RATE_LIMIT_WINDOW_MS,
    keyGenerator: (req) => req.principal!.user,
    ...(redis ? { redis, nameSpace: REDIS_PREFIX } : {}),
    skipOnError: true,
    errorResponseBuilder: (_req, ctx) => tooManyRequests(ctx.ttl / 1000),
  });
  // The plugin's per-route hooks would only reach routes declared after it has loaded; one
  // app-wide hook, created on first use, covers every route.
  let limit: preHandlerAsyncHookHandler | undefined;
  app.addHook("onRequest", async function (req, reply) {
    if (!req.principal) return;
    limit ??= app.rateLimit();
    await limit.call(this, req, reply);
  });
  opts.log.info({ perMinute: opts.perMinute, shared: Boolean(redis) }, "per-user rate limit on");
}
