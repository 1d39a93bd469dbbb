/**
 * SSE heartbeats: a streamed turn whose model is slow gets `: heartbeat` comment lines on the
 * configured interval (a real CLI against the mock model), and none when the interval is 0.
 */
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOfflineCli, type OfflineCli } from "../testing/local.js";
import { parseGatewayConfig } from "../topology/gateway-config.js";
import type { CliServerHandle } from "./cli-process.js";
import { createGateway, type Gateway } from "./server.js";

const TOKEN = "t".repeat(32);
const HEADERS = { authorization: "Bearer alice-token-0123456789", accept: "text/event-stream" };
let cli: CliServerHandle;
let offline: OfflineCli;
const gateways: Gateway[] = [];

async function gateway(sseHeartbeatSeconds: number): Promise<Gateway> {
  const cfg = parseGatewayConfig({
    topology: "shared",
    backends: { kind: "static", servers: [{ id: "cli-0", address: cli.address, tokenEnv: "CLI_TOKEN_CLI_0" }] },
    auth: { kind: "static" },
    model: { name: "mock-model", providerBaseUrl: offline.modelUrl, providerType: "openai" },
    http: { sseHeartbeatSeconds },
    logLevel: "silent",
  });
  const gw = await createGateway(cfg, { env: { GATEWAY_STATIC_TOKENS: '{"alice":"alice-token-0123456789"}', CLI_TOKEN_CLI_0: TOKEN }, log: pino({ level: "silent" }) });
  gateways.push(gw);
  return gw;
}

beforeAll(async () => {
  offline = await startOfflineCli(TOKEN);
  cli = offline.cli;
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
