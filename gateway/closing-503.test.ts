/**
 * A request that reaches a replica while it closes (the last step of a drain) gets the documented
 * 503 draining, JSON with a code and Retry-After. Found by the fault soak: Fastify's own closing
 * answer was `{"error":"Service Unavailable",...}` with no code and no Retry-After.
 */
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseGatewayConfig } from "../topology/gateway-config.js";
import { createGateway, type Gateway } from "./server.js";

let gw: Gateway;

beforeAll(async () => {
  const cfg = parseGatewayConfig({
    topology: "shared",
    // No CLI is needed: the request under test never reaches one.
    backends: { kind: "static", servers: [{ id: "cli-0", address: "127.0.0.1:9", tokenEnv: "CLI_TOKEN_CLI_0" }] },
    auth: { kind: "static" },
    logLevel: "silent",
  });
  gw = await createGateway(cfg, { env: { GATEWAY_STATIC_TOKENS: '{"alice":"alice-token-0123456789"}', CLI_TOKEN_CLI_0: "c".repeat(32) }, log: pino({ level: "silent" }) });
});
afterAll(async () => {
  await gw?.drainAndStop();
});

describe("a request during close", () => {
  it("is answered 503 draining with a code and Retry-After", async () => {
    // The drain (SIGTERM) sets the draining flag at once; the server closes once turns are done.
    const drained = gw.drainAndStop();
    const closing = gw.app.close();
    const r = await gw.app.inject({ method: "GET", url: "/v1/sessions", headers: { authorization: "Bearer alice-token-0123456789" } });
    await closing;
    await drained;
    expect(r.statusCode).toBe(503);
    expect(r.json<{ error: { code: string } }>().error.code, r.body).toBe("draining");
    expect(Number(r.headers["retry-after"])).toBeGreaterThanOrEqual(1);
  });
});
