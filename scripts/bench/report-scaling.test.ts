import { describe, expect, it } from "vitest";
import { efficiency, renderScaling, scalingTargets } from "./report-scaling.js";
import type { ThroughputPoint } from "./scaling.js";

const pt = (servers: number, turnsPerSecond: number): ThroughputPoint => ({
  servers,
  concurrency: 8 * servers,
  seconds: 20,
  turns: turnsPerSecond * 20,
  turnsPerSecond,
  turnMs: { n: 1, p50: 1, p99: 1, mean: 1, min: 1, max: 1 },
  spread: {},
});

describe("scaling targets", () => {
  it("compare N servers with N times one server's throughput, at the 0.9 boundary", () => {
    const points = [pt(1, 10), pt(2, 18), pt(3, 26.9)];
    expect(efficiency(points, points[1]!)).toBeCloseTo(0.9);
    expect(efficiency(points, points[2]!)).toBeCloseTo(0.8967);
    const checks = scalingTargets({ cliCpuCores: 0.5, series: [{ topology: "sticky", points }, { topology: "shared-storage", points: [pt(1, 10), pt(2, 18)] }] });
    expect(checks.map((c) => [c.name, c.met])).toEqual([
      ["sticky: N servers at 0.5 core each over one", false],
      ["shared-storage: N servers at 0.5 core each over one", true],
    ]);
  });

  it("are not met without a point beyond one server, nor without one server to compare with", () => {
    expect(scalingTargets({ cliCpuCores: 0.5, series: [{ topology: "sticky", points: [pt(1, 10)] }] })[0]!.met).toBe(false);
    expect(scalingTargets({ cliCpuCores: 0.5, series: [{ topology: "sticky", points: [pt(2, 20)] }] })[0]!.met).toBe(false);
    expect(scalingTargets(undefined)[0]!.met).toBeUndefined();
  });

  it("still read and render the older 1-vs-2 result without budgets", () => {
    const legacy = { points: [pt(1, 32.7), pt(2, 36.3)], ratio: 1.112 };
    expect(scalingTargets(legacy)).toEqual([{ name: "2-server throughput over 1 server", target: ">= 1.6x", measured: "1.112x (no CPU budget)", met: false }]);
    expect(renderScaling(legacy, "then").join("\n")).toContain("| shared-storage | 2 | 36.3 | 0.555 |");
  });
});
