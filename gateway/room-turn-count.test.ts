/**
 * A room turn whose CLI connection goes away after the reply, while the gateway reads the turn
 * count from the history (found by the fault soak: a CLI killed at that moment gave 500 internal,
 * the JSON-RPC error "Pending response rejected since connection got disposed" unclassified). It
 * must be a documented, retryable answer: 503 turn_interrupted, which tells the client to read the
 * room's history before resending. Real CLI; the history read is made to fail as the SDK fails it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayFor } from "../testing/gateway.js";
import { startOfflineCli, type OfflineCli } from "../testing/local.js";
import type { Gateway } from "./server.js";

const TOKEN = "r".repeat(32);
const AUTH = { authorization: "Bearer alice-token-0123456789" };
let cli: OfflineCli;
let gw: Gateway;

beforeAll(async () => {
  cli = await startOfflineCli(TOKEN);
  gw = await gatewayFor(cli, { topology: "collaborative" });
}, 120_000);
afterAll(async () => {
  await gw?.drainAndStop();
  await cli?.stop();
});

const post = (prompt: string) => gw.app.inject({ method: "POST", url: "/v1/rooms/lobby/messages", headers: AUTH, payload: { prompt } });

describe("a room turn whose history cannot be read after the reply", () => {
  it("answers 503 turn_interrupted with Retry-After, not 500, and the room goes on", async () => {
    expect((await post("one")).json<{ turn: number }>().turn).toBe(1);
    const attached = (gw.sessions as unknown as { attached: Map<string, { session: { getEvents: () => Promise<unknown> } }> }).attached.get("r-lobby")!;
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
