import { describe, expect, it } from "vitest";
import { renderStreaming, streamingTarget } from "./report-streaming.js";
import type { Summary } from "./stats.js";
import type { StreamingResult } from "./streaming.js";

const s = (p50: number): Summary => ({ n: 40, p50, p90: p50, p99: p50, mean: p50, min: p50, max: p50 });
const result = (over: Partial<StreamingResult>): StreamingResult => ({
  concurrency: 1000,
  modelDelayMs: 90_000,
  loadServers: 4,
  openAtOnce: 1000,
  probes: [{ phase: "open", pairs: 40, gatewayFirstDeltaMs: s(62), directFirstDeltaMs: s(60), differenceMs: s(2) }],
  gatewayFirstDeltaMs: s(90_500),
  addedP50Ms: 2,
  lostStreams: 0,
  gatewayRssMiB: { before: 120, peak: 180 },
  gatewayCpuMsPerTurn: 6,
  ...over,
});

describe("streaming target", () => {
  it("is met at 2 ms added with none lost and every stream open at once", () => {
    expect(streamingTarget(result({})).met).toBe(true);
    expect(streamingTarget(result({ addedP50Ms: 2.01 })).met).toBe(false);
    expect(streamingTarget(result({ lostStreams: 1 })).met).toBe(false);
    // Streams that were never all open at the same moment do not show the gateway at that scale.
    expect(streamingTarget(result({ openAtOnce: 999 })).met).toBe(false);
    expect(streamingTarget(undefined).met).toBeUndefined();
  });

  it("renders the probe phases that have pairs, and the older beside-the-load shape", () => {
    const md = renderStreaming(result({}), "then").join("\n");
    expect(md).toContain("| open: per pair, gateway − direct | 40 | 2 ms |");
    expect(md).not.toContain("idle:");
    const old = renderStreaming(result({ probes: undefined, openAtOnce: undefined, directFirstDeltaMs: s(10070.5) }), "then").join("\n");
    expect(old).toContain("| direct SDK | 40 | 10070.5 ms |");
  });
});
