/**
 * A session created but not used before its CLI restarts (found by the fault soak): the CLI writes
 * a session's events only with its first turn, so after a restart it cannot resume the session
 * ("Failed to load session events: Session not found") and every message answered 502 for good.
 * The gateway opens it afresh instead: it had no history to lose. Real CLI, restarted in place.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayFor } from "../testing/gateway.js";
import { MOCK_MODEL, startCliServer, startOfflineCli, type CliServerHandle, type OfflineCli } from "../testing/local.js";
import type { Gateway } from "./server.js";

const TOKEN = "u".repeat(32);
const AUTH = { authorization: "Bearer alice-token-0123456789" };
let offline: OfflineCli;
let restarted: CliServerHandle | undefined;
let gw: Gateway;

beforeAll(async () => {
  offline = await startOfflineCli(TOKEN);
  gw = await gatewayFor(offline);
}, 120_000);
afterAll(async () => {
  await gw?.drainAndStop();
  await restarted?.stop();
  await offline?.stop();
});

const send = (id: string, prompt: string) => gw.app.inject({ method: "POST", url: `/v1/sessions/${id}/messages`, headers: AUTH, payload: { prompt } });

describe("a session whose CLI restarted before its first turn", () => {
  it("answers its first message after the restart as turn 1, and its history goes on from there", async () => {
    const used = (await gw.app.inject({ method: "POST", url: "/v1/sessions", headers: AUTH, payload: {} })).json<{ sessionId: string }>().sessionId;
    expect((await send(used, "before")).statusCode).toBe(200);
    const unused = (await gw.app.inject({ method: "POST", url: "/v1/sessions", headers: AUTH, payload: {} })).json<{ sessionId: string }>().sessionId;

    // Restart the CLI in place: same home, same port, same token (what the supervisor does).
    const { home, port } = offline.cli;
    await offline.cli.stop();
    restarted = await startCliServer({ home, port, connectionToken: TOKEN, env: { COPILOT_OFFLINE: "true", COPILOT_PROVIDER_BASE_URL: offline.modelUrl, COPILOT_MODEL: MOCK_MODEL } });

    const first = await send(unused, "first");
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json<{ content: string }>().content).toContain("turn=1 prompt=first");
    expect((await send(unused, "second")).json<{ content: string }>().content).toContain("turn=2 prompt=second");
    // A used session keeps its history: it is resumed, never opened afresh.
    expect((await send(used, "after")).json<{ content: string }>().content).toContain("turn=2 prompt=after");
  }, 90_000);
});
