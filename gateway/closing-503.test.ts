/**
 * A request that reaches a replica while it closes (the last step of a drain) gets the documented
 * 503 draining, JSON with a code and Retry-After. Found by the fault soak: Fastify's own closing
 * answer was `{"error":"Service Unavailable",...}` with no code and no Retry-After.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayWithoutCli } from "../testing/gateway.js";
import type { Gateway } from "./server.js";

let gw: Gateway;

beforeAll(async () => {
  // No CLI is needed: the request under test never reaches one.
  gw = await gatewayWithoutCli();
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
