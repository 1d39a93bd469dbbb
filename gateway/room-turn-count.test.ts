/**
 * A room turn whose CLI connection goes away after the reply, while the gateway reads the turn
 * count from the history (found by the fault soak: a CLI killed at that moment gave 500 internal,
 * the JSON-RPC error "Pending response rejected since connection got disposed" unclassified). It
 * must be a documented, retryable answer: 503 turn_interrupted, which tells the client to read the
 * room's history before resending. Real CLI; the history read is made to fail as the SDK fails it.
 */
import { describe, expect, it } from "vitest";
import { gatewaySuite } from "../testing/gateway.js";

const AUTH = { authorization: "Bearer alice-token-0123456789" };
const suite = gatewaySuite("r".repeat(32), { topology: "collaborative" });

const post = (prompt: string) => suite.gw.app.inject({ method: "POST", url: "/v1/rooms/lobby/messages", headers: AUTH, payload: { prompt } });

describe("a room turn whose history cannot be read after the reply", () => {
  it("answers 503 turn_interrupted with Retry-After, not 500, and the room goes on", async () => {
    expect((await post("one")).json<{ turn: number }>().turn).toBe(1);
    const attached = (suite.gw.sessions as unknown as { attached: { get(id: string): { session: { getEvents: () => Promise<unknown> } } | undefined } }).attached.get("r-lobby")!;
    const getEvents = attached.session.getEvents.bind(attached.session);
    // What the SDK rejects with when the CLI's connection is disposed mid-call: an object, not an Error.
    attached.session.getEvents = () => Promise.reject({ code: -32097, message: "Pending response rejected since connection got disposed" });
    const r = await post("two");
    attached.session.getEvents = getEvents;
    expect(r.statusCode, r.body).toBe(503);
    expect(r.json<{ error: { code: string } }>().error.code).toBe("turn_interrupted");
    expect(Number(r.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    // The prompt was written and answered: the next post is turn 3.
    const next = await post("three");
    expect(next.statusCode, next.body).toBe(200);
    expect(next.json<{ turn: number }>().turn).toBe(3);
  }, 60_000);
});
