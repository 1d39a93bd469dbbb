/**
 * A turn whose CLI connection is disposed under it while the CLI itself is back up at once (found by
 * the fault soak: a CLI SIGKILLed and restarted within the ping's reach answered 502 cli_error, and
 * a connection loss mid-turn 502 turn_interrupted). The prompt may or may not be in the history, so
 * the answer is the documented 503 turn_interrupted with Retry-After. Real CLI; the send is made to
 * fail as the SDK fails it.
 */
import { describe, expect, it } from "vitest";
import { gatewaySuite } from "../testing/gateway.js";

const AUTH = { authorization: "Bearer alice-token-0123456789" };
const suite = gatewaySuite("d".repeat(32), { topology: "collaborative" });

type Patchable = { attached: { get(id: string): { session: { send: (...a: unknown[]) => Promise<unknown> } } | undefined } };

describe("a turn whose connection is disposed while the CLI answers pings", () => {
  for (const [what, failure] of [
    ["an Error", new Error("Connection is disposed.")],
    ["a JSON-RPC rejection object", { code: -32097, message: "Pending response rejected since connection got disposed" }],
  ] as const) {
    it(`answers 503 turn_interrupted with Retry-After (${what}), and the session goes on`, async () => {
      const id = (await suite.gw.app.inject({ method: "POST", url: "/v1/sessions", headers: AUTH, payload: {} })).json<{ sessionId: string }>().sessionId;
      const send = (prompt: string) => suite.gw.app.inject({ method: "POST", url: `/v1/sessions/${id}/messages`, headers: AUTH, payload: { prompt } });
      expect((await send("one")).statusCode).toBe(200);
      const attached = (suite.gw.sessions as unknown as Patchable).attached.get(id)!;
      attached.session.send = () => Promise.reject(failure);
      const r = await send("two");
      expect(r.statusCode, r.body).toBe(503);
      expect(r.json<{ error: { code: string } }>().error.code).toBe("turn_interrupted");
      expect(Number(r.headers["retry-after"])).toBeGreaterThanOrEqual(1);
      const next = await send("three");
      expect(next.statusCode, next.body).toBe(200);
      expect(next.json<{ content: string }>().content).toContain("turn=2 prompt=three");
    }, 60_000);
  }
});
