/**
 * Connecting to a CLI server that accepts the connection but never answers (found by the fault
 * soak: a replica whose connect to a CLI caught mid-restart never settled, and every request that
 * needed the CLI waited 60 s and more until the CLI died again). The connect is bounded: it fails
 * with a clear error, and the next call tries afresh.
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Backend } from "./backends.js";

let silent: Server;
const sockets: Socket[] = [];
let port = 0;

beforeAll(async () => {
  // Accepts, reads, never writes: what a stopped or wedged CLI looks like to a new connection.
  silent = createServer((s) => {
    sockets.push(s);
    s.on("data", () => undefined);
  });
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  port = (silent.address() as { port: number }).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
});

describe("a backend connect", () => {
  it("fails within its bound when the server accepts but never answers, and is tried afresh next time", async () => {
    const b = new Backend({ id: "cli-0", address: `127.0.0.1:${port}` }, "t".repeat(32), { connectTimeoutMs: 1_000 });
    const t0 = Date.now();
    await expect(b.getClient()).rejects.toThrow(/did not answer within 1000 ms/);
    expect(Date.now() - t0).toBeLessThan(5_000);
    const t1 = Date.now();
    await expect(b.getClient()).rejects.toThrow(/did not answer/);
    expect(Date.now() - t1).toBeLessThan(5_000);
  }, 20_000);
});
