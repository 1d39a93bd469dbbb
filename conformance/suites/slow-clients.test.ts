/** Slow clients cannot hold the gateway: tricklers and idle connections are cut off in seconds. */
import { describe, expect } from "vitest";
import { conformance, target } from "../harness.js";
import { gatewayHost } from "../raw-http.js";
import { trickle } from "../slow-client.js";

// Node checks the header deadline about once a second; the rest is a loaded machine's slack.
const SLACK_MS = 5_000;

describe("slow clients", () => {
  conformance(["bad-input"], "an unauthenticated client trickling its headers is cut off within the header timeout", async () => {
    const limitMs = (target().settings.headersTimeoutSeconds ?? 10) * 1000;
    const t = trickle(`GET /v1/sessions HTTP/1.1\r\nHost: ${gatewayHost()}\r\nX-Slow: `, { drip: "a", everyMs: 500, giveUpMs: limitMs + SLACK_MS });
    const r = await t;
    expect(r.closedAfterMs, `still connected after ${limitMs + SLACK_MS} ms of trickled headers`).toBeDefined();
    expect(r.closedAfterMs!).toBeGreaterThanOrEqual(limitMs - 1_000);
    // Node answers 408 before closing: the client learns why.
    expect(r.received).toMatch(/^HTTP\/1\.1 408/);
  }, 60_000);

  conformance(["bad-input"], "an idle kept-alive connection is closed after the keep-alive timeout", async () => {
    const limitMs = (target().settings.keepAliveTimeoutSeconds ?? 10) * 1000;
    const r = await trickle(`GET /healthz HTTP/1.1\r\nHost: ${gatewayHost()}\r\n\r\n`, { giveUpMs: limitMs + SLACK_MS });
    expect(r.received, "the request itself was answered").toMatch(/^HTTP\/1\.1 200/);
    expect(r.closedAfterMs, `idle connection still open after ${limitMs + SLACK_MS} ms`).toBeDefined();
  }, 60_000);
});
