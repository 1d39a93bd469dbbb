/** Slow clients cannot hold the gateway: tricklers and idle connections are cut off in seconds. */
import { describe, expect } from "vitest";
import { conformance, recordFigure, target } from "../harness.js";
import { gatewayHost } from "../raw-http.js";
import { trickle } from "../slow-client.js";

// Node checks the header deadline about once a second; the rest is a loaded machine's slack.
const SLACK_MS = 5_000;

describe("slow clients", () => {
  // One test, both clients at once: every topology run pays the wait once.
  conformance(["bad-input"], "a client trickling its headers gets 408 and is cut off within the header timeout; an idle kept-alive connection is closed", async () => {
    const headersMs = (target().settings.headersTimeoutSeconds ?? 10) * 1000;
    const keepAliveMs = (target().settings.keepAliveTimeoutSeconds ?? 10) * 1000;
    const [trickler, idle] = await Promise.all([
      trickle(`GET /v1/sessions HTTP/1.1\r\nHost: ${gatewayHost()}\r\nX-Slow: `, { drip: "a", everyMs: 500, giveUpMs: headersMs + SLACK_MS }),
      trickle(`GET /healthz HTTP/1.1\r\nHost: ${gatewayHost()}\r\n\r\n`, { giveUpMs: keepAliveMs + SLACK_MS }),
    ]);
    expect(trickler.closedAfterMs, `a header trickler still connected after ${headersMs + SLACK_MS} ms`).toBeDefined();
    expect(trickler.closedAfterMs!).toBeGreaterThanOrEqual(headersMs - 1_000);
    // Node answers 408 before closing: the client learns why.
    expect(trickler.received).toMatch(/^HTTP\/1\.1 408/);
    expect(idle.received, "the idle connection's request itself was answered").toMatch(/^HTTP\/1\.1 200/);
    expect(idle.closedAfterMs, `an idle connection still open after ${keepAliveMs + SLACK_MS} ms`).toBeDefined();
    recordFigure("header trickler cut off after", trickler.closedAfterMs!, "ms");
    recordFigure("idle kept-alive connection closed after", idle.closedAfterMs!, "ms");
  }, 60_000);
});
