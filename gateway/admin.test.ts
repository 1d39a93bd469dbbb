/**
 * The admin listener: a gateway listening for real on two loopback ports serves /readyz and
 * /metrics on the admin port only, and the public port answers 404 for them. The negative control
 * (`admin-on-public`, the old layout) shows the test catches them on the public port.
 */
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { parseGatewayConfig } from "../topology/gateway-config.js";
import { createGateway, type Gateway, type UnsafeSwitches } from "./server.js";

const running: Gateway[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((g) => g.drainAndStop()));
});

async function start(unsafe: UnsafeSwitches = {}) {
  // The CLI address answers nothing: readiness is 503, which is still an answer from the admin port.
  const cfg = parseGatewayConfig({
    topology: "shared",
    host: "127.0.0.1",
    port: 0,
    admin: { port: 0 },
    backends: { kind: "static", servers: [{ id: "cli-0", address: "127.0.0.1:9", tokenEnv: "CLI_TOKEN_CLI_0" }] },
    auth: { kind: "static" },
    lifecycle: { drainGraceSeconds: 1 },
    logLevel: "silent",
  });
  const gw = await createGateway(cfg, { env: { GATEWAY_STATIC_TOKENS: '{"alice":"alice-token-0123456789"}', CLI_TOKEN_CLI_0: "t".repeat(32) }, log: pino({ level: "silent" }), unsafe });
  running.push(gw);
  return { gw, ...(await gw.listen()) };
}

const get = async (url: string) => {
  const r = await fetch(url);
  return { status: r.status, text: await r.text() };
};

describe("admin listener", () => {
  it("serves /readyz and /metrics on the admin port; the public port answers 404 for both and keeps /healthz", async () => {
    const { url, adminUrl } = await start();
    expect(new URL(adminUrl).port).not.toBe(new URL(url).port);
    const metrics = await get(`${adminUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(/^# HELP copilot_gateway_/m);
    const ready = await get(`${adminUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.text)).toMatchObject({ status: "unready", servers: [{ server: "cli-0", ok: false }] });
    expect((await get(`${adminUrl}/healthz`)).status).toBe(200);

    for (const path of ["/metrics", "/readyz", "/readyz?backends=any"]) {
      const r = await get(`${url}${path}`);
      expect(r.status, path).toBe(404);
      expect(JSON.parse(r.text).error.code, path).toBe("route_not_found");
      expect(r.text).not.toMatch(/copilot_gateway_|cli-0/);
    }
    expect((await get(`${url}/healthz`)).status).toBe(200);
    // The admin port serves nothing else: no API on it.
    expect((await get(`${adminUrl}/v1/sessions`)).status).toBe(404);
  });

  it("negative control: with admin-on-public, the public port serves metrics, which the check above refuses", async () => {
    const { url } = await start({ "admin-on-public": true });
    expect((await get(`${url}/metrics`)).status).toBe(200);
  });

  it("refuses an admin port equal to the public port, naming the key", () => {
    expect(() => parseGatewayConfig({ topology: "shared", port: 8080, admin: { port: 8080 }, backends: { kind: "static", servers: [{ id: "a", address: "h:1", tokenEnv: "T" }] } })).toThrow(
      /admin\.port: the admin listener needs a port of its own/,
    );
  });
});
