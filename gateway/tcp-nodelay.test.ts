/**
 * The gateway's connections to CLI servers run without Nagle's algorithm (the SDK leaves it on, and
 * a turn then waits ~40 ms for a delayed ACK; docs/benchmarks.md). The SDK offers no option, so
 * backends.ts reaches its private socket: this fails when an SDK upgrade moves it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOfflineCli, type OfflineCli } from "../testing/local.js";
import { Backend } from "./backends.js";

let cli: OfflineCli;
beforeAll(async () => {
  cli = await startOfflineCli("n".repeat(32));
}, 120_000);
afterAll(async () => {
  await cli?.stop();
});

/** Node records setNoDelay on the socket under its own symbol. */
function noDelayOf(socket: object): unknown {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === "kSetNoDelay");
  return key === undefined ? undefined : (socket as Record<symbol, unknown>)[key];
}

describe("a backend connection", () => {
  it("has TCP_NODELAY set on its socket, also after a reconnect", async () => {
    const b = new Backend({ id: "cli-0", address: cli.cli.address }, cli.connectionToken);
    try {
      for (let i = 0; i < 2; i++) {
        const client = await b.getClient();
        const socket = (client as unknown as { socket?: object | null }).socket;
        expect(socket, "the SDK's client has no private socket any more").toBeTruthy();
        expect(noDelayOf(socket!)).toBe(true);
        await b.ping(2_000);
        b.drop();
      }
    } finally {
      await b.close();
    }
  }, 60_000);
});
