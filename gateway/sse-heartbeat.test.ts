/**
 * SSE heartbeats: a streamed turn whose model is slow gets `: heartbeat` comment lines on the
 * configured interval (a real CLI against the mock model), and none when the interval is 0.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayFor } from "../testing/gateway.js";
import { startOfflineCli, type OfflineCli } from "../testing/local.js";
import type { Gateway } from "./server.js";

const TOKEN = "t".repeat(32);
const HEADERS = { authorization: "Bearer alice-token-0123456789", accept: "text/event-stream" };
let offline: OfflineCli;
const gateways: Gateway[] = [];

async function gateway(sseHeartbeatSeconds: number): Promise<Gateway> {
  const gw = await gatewayFor(offline, { http: { sseHeartbeatSeconds } });
  gateways.push(gw);
  return gw;
}

beforeAll(async () => {
  offline = await startOfflineCli(TOKEN);
}, 120_000);
afterAll(async () => {
  for (const gw of gateways) await gw.drainAndStop();
  await offline?.stop();
});

const heartbeats = (body: string) => body.split("\n").filter((l) => l === ": heartbeat").length;

describe("SSE heartbeats", () => {
  it("a slow streamed turn carries comment heartbeats on the interval; interval 0 sends none", async () => {
    const on = await gateway(0.5);
    const r = await on.app.inject({ method: "POST", url: "/v1/chat", headers: HEADERS, payload: { prompt: "[sleep:2500] slow" } });
    expect(r.body).toContain("event: done");
    expect(heartbeats(r.body)).toBeGreaterThanOrEqual(2);

    const off = await gateway(0);
    const quiet = await off.app.inject({ method: "POST", url: "/v1/chat", headers: HEADERS, payload: { prompt: "[sleep:2500] slow" } });
    expect(quiet.body).toContain("event: done");
    expect(heartbeats(quiet.body)).toBe(0);
  }, 60_000);
});
