/** The per-user limiter on a bare Fastify app: keyed by the authenticated user, shared through Redis, failing open. */
import Fastify, { type FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../testing/local.js";
import { startTestRedis, type TestRedis } from "../testing/redis.js";
import { ApiError } from "./errors.js";
import { installRateLimit } from "./rate-limit.js";

let redis: TestRedis;
const apps: FastifyInstance[] = [];
const log = pino({ level: "silent" });

beforeAll(async () => {
  redis = await startTestRedis("rate-test-password");
});
afterAll(async () => {
  for (const a of apps) await a.close();
  await redis?.stop();
});

/** An app shaped like the gateway's: authentication first (the user from a header here), then the limiter. */
async function app(perMinute: number, redisUrl?: string): Promise<FastifyInstance> {
  const a = Fastify();
  a.addHook("onRequest", async (req) => {
    if (!req.url.startsWith("/v1/")) return;
    const u = req.headers["x-test-user"];
    if (typeof u !== "string") throw new ApiError(401, "unauthorized", "no user");
    req.principal = { user: u, rooms: "*" };
  });
  installRateLimit(a, { perMinute, redisUrl, log });
  a.setErrorHandler((err, _req, reply) => {
    if (err instanceof ApiError) return reply.code(err.status).headers(err.headers).send({ error: { code: err.code, message: err.message } });
    return reply.code(500).send({ error: { code: "internal", message: String(err) } });
  });
  a.get("/v1/x", async () => ({ ok: true }));
  a.get("/healthz", async () => ({ ok: true }));
  apps.push(a);
  await a.ready();
  return a;
}

const hit = (a: FastifyInstance, user?: string, url = "/v1/x") => a.inject({ url, headers: user ? { "x-test-user": user } : {} });
const uniq = () => `u-${Math.random().toString(36).slice(2)}`;

describe("installRateLimit", () => {
  it("refuses a user past the limit with 429, Retry-After and the API's error shape; other users and probes are not counted", async () => {
    const a = await app(3);
    const noisy = uniq();
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await hit(a, noisy)).statusCode);
    expect(codes).toEqual([200, 200, 200, 429, 429]);
    const r = await hit(a, noisy);
    expect(r.json()).toEqual({ error: { code: "rate_limited", message: "too many requests" } });
    expect(Number(r.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(Number(r.headers["retry-after"])).toBeLessThanOrEqual(60);
    expect((await hit(a, uniq())).statusCode).toBe(200);
    for (let i = 0; i < 5; i++) expect((await hit(a, undefined, "/healthz")).statusCode).toBe(200);
    // Failed authentication is answered before the limiter and does not spend anyone's budget.
    expect((await hit(a)).statusCode).toBe(401);
  });

  it("is off at 0", async () => {
    const a = await app(0);
    const u = uniq();
    for (let i = 0; i < 20; i++) expect((await hit(a, u)).statusCode).toBe(200);
  });

  it("with Redis, two replicas share one budget per user", async () => {
    const [a, b] = [await app(4, redis.url), await app(4, redis.url)];
    const u = uniq();
    const codes = [];
    for (let i = 0; i < 6; i++) codes.push((await hit(i % 2 ? b : a, u)).statusCode);
    expect(codes).toEqual([200, 200, 200, 200, 429, 429]);
  });

  it("fails open when Redis is unreachable", async () => {
    const a = await app(1, `redis://:x@127.0.0.1:${await freePort()}`);
    const u = uniq();
    for (let i = 0; i < 3; i++) expect((await hit(a, u)).statusCode).toBe(200);
  });
});
