/**
 * A detached session must not stay in memory: the SDK keeps every CopilotSession in its client's
 * session map after disconnect() (only deleteSession and stop remove it; copilot-sdk PR #1130), so a
 * gateway tracking 10,000 sessions held 10,000 dead session objects (~2.5 KB each). The gateway
 * removes them as it detaches. The first test shows the SDK's own behaviour (the negative control:
 * it fails once the SDK fixes this, and the workaround can go). Real CLI.
 */
import { CopilotClient, RuntimeConnection, type CopilotSession } from "@github/copilot-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayFor } from "../testing/gateway.js";
import { startOfflineCli, type OfflineCli } from "../testing/local.js";
import type { Gateway } from "./server.js";

const TOKEN = "d".repeat(32);
const AUTH = { authorization: "Bearer alice-token-0123456789" };
let cli: OfflineCli;
let gw: Gateway;
const sdkSessions = (c: CopilotClient) => (c as unknown as { sessions: Map<string, CopilotSession> }).sessions;

beforeAll(async () => {
  cli = await startOfflineCli(TOKEN);
  gw = await gatewayFor(cli, { lifecycle: { maxSessionsPerServer: 3 } });
}, 120_000);
afterAll(async () => {
  await gw?.drainAndStop();
  await cli?.stop();
});

describe("SDK session objects of detached sessions", () => {
  it("stay in the SDK client's map after disconnect (the SDK's behaviour the gateway works around)", async () => {
    const client = new CopilotClient({ connection: RuntimeConnection.forUri(cli.cli.address, { connectionToken: TOKEN }) });
    await client.start();
    try {
      const s = await client.createSession({ onPermissionRequest: () => ({ kind: "denied-no-approval-rule-and-could-not-request-from-user" as const }) });
      await s.disconnect();
      expect(sdkSessions(client).has(s.sessionId)).toBe(true);
      await client.deleteSession(s.sessionId);
    } finally {
      await client.forceStop();
    }
  }, 60_000);

  it("are dropped by the gateway: its client holds only the attached sessions", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await gw.app.inject({ method: "POST", url: "/v1/sessions", headers: AUTH, payload: { persistent: true } });
      expect(r.statusCode, r.body).toBe(201);
      ids.push(r.json<{ sessionId: string }>().sessionId);
    }
    const client = await gw.pool.all()[0]!.getClient();
    const held = [...sdkSessions(client).keys()].filter((id) => ids.includes(id));
    // Past maxSessionsPerServer (3) the least recently used sessions were detached.
    expect(held.length).toBeGreaterThan(0);
    expect(held.length).toBeLessThanOrEqual(3);
    // A detached session still works: it is resumed on its next turn.
    const r = await gw.app.inject({ method: "POST", url: `/v1/sessions/${ids[0]}/messages`, headers: AUTH, payload: { prompt: "hi" } });
    expect(r.statusCode, r.body).toBe(200);
    for (const id of ids) expect((await gw.app.inject({ method: "DELETE", url: `/v1/sessions/${id}`, headers: AUTH })).statusCode).toBe(204);
    expect([...sdkSessions(client).keys()].filter((id) => ids.includes(id))).toEqual([]);
  }, 120_000);
});
