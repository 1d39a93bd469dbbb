import { connect, type Socket } from "node:net";
import Fastify from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { parseGatewayConfig } from "../topology/gateway-config.js";
import { applyServerLimits, connectionTimeoutMs, fastifyLimits } from "./http-limits.js";

const cfg = (http: Record<string, unknown>) =>
  parseGatewayConfig({ topology: "shared", backends: { kind: "static", servers: [{ id: "cli-0", address: "127.0.0.1:1", tokenEnv: "CLI_TOKEN_CLI_0" }] }, http: { headersTimeoutSeconds: 1, requestTimeoutSeconds: 1.5, keepAliveTimeoutSeconds: 1, ...http } });

const sockets: Socket[] = [];
const apps: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const a of apps.splice(0)) await a.close();
});

async function serve(c: ReturnType<typeof cfg>, limits = true): Promise<number> {
  const app = Fastify(limits ? fastifyLimits(c) : {});
  if (limits) applyServerLimits(app.server, c.http);
  app.post("/echo", async (req) => ({ got: req.body }));
  app.get("/", async () => "ok");
  apps.push(app);
  await app.listen({ host: "127.0.0.1", port: 0 });
  return (app.server.address() as { port: number }).port;
}

/** Opens a socket, writes `first`, then a byte every 200 ms; resolves with ms until the server closed it, or undefined. */
function trickle(port: number, first: string, giveUpMs: number, drip = true): Promise<{ closedAfterMs?: number; received: string }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    sockets.push(s);
    let received = "";
    const dripping = drip ? setInterval(() => s.writable && s.write("a"), 200) : undefined;
    const done = (ms?: number) => {
      clearInterval(dripping);
      clearTimeout(giveUp);
      resolve({ closedAfterMs: ms, received });
    };
    const giveUp = setTimeout(() => done(undefined), giveUpMs);
    s.on("data", (d) => (received += String(d)));
    s.on("error", () => undefined);
    s.on("close", () => done(Date.now() - started));
    s.write(first);
  });
}

describe("http limits", () => {
  it("cuts off a client trickling its body after the request timeout, with a 408", async () => {
    const port = await serve(cfg({}));
    const r = await trickle(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n", 8_000);
    expect(r.closedAfterMs).toBeDefined();
    expect(r.received).toMatch(/^HTTP\/1\.1 408/);
  });

  it("negative control: with Node's defaults the same trickler is still connected", async () => {
    const port = await serve(cfg({}), false);
    const r = await trickle(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n", 4_000);
    expect(r.closedAfterMs).toBeUndefined();
  });

  it("closes connections beyond the cap at once and serves the ones within it", async () => {
    const port = await serve(cfg({ maxConnections: 3, keepAliveTimeoutSeconds: 30 }));
    const open = await Promise.all(Array.from({ length: 3 }, () => trickle(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 300, false)));
    for (const o of open) expect(o.received).toMatch(/^HTTP\/1\.1 200/);
    const extra = await trickle(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 5_000);
    expect(extra.closedAfterMs).toBeDefined();
    expect(extra.received).toBe("");
  });

  it("keeps a quiet socket open longer than the longest turn unless told otherwise", () => {
    expect(connectionTimeoutMs(cfg({}))).toBe((600 + 60) * 1000);
    expect(connectionTimeoutMs(cfg({ connectionTimeoutSeconds: 90 }))).toBe(90_000);
  });
});
