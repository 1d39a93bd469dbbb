/**
 * Failure classification when the connection itself failed but the server answers again by the
 * time it is asked (found by the fault soak: a CLI paused or restarting under a connect or a call).
 * The request never reached a live CLI, so it is the documented, retryable 503, not 502 cli_error;
 * a live server's own error stays 502. (A call written on an already closed connection is the turn
 * protocol's to reopen and resend, so it is not one of these.)
 */
import { describe, expect, it } from "vitest";
import { classifyBackendFailure } from "./backend-failure.js";
import type { Backend } from "./backends.js";

const answering = { id: "cli-0", ping: async () => undefined } as unknown as Backend;

describe("a failed call to a CLI server that answers again", () => {
  it.each([
    ["a connect that timed out", "CLI server cli-0 did not answer within 10000 ms"],
    ["a call whose connection the SDK disposed", "Pending response rejected since connection got disposed"],
    ["a refused connect", "Failed to connect to CLI server: connect ECONNREFUSED 127.0.0.1:34829"],
  ])("is 503 server_unavailable with Retry-After after %s", async (_, message) => {
    const err = await classifyBackendFailure(answering, message);
    expect(err.status).toBe(503);
    expect(err.code).toBe("server_unavailable");
    expect(Number(err.headers["retry-after"])).toBeGreaterThanOrEqual(1);
  });

  it("is 502 cli_error for the server's own error", async () => {
    const err = await classifyBackendFailure(answering, "Invalid model: nope");
    expect([err.status, err.code]).toEqual([502, "cli_error"]);
  });
});
