import { describe, expect, it } from "vitest";
import { measureRemap } from "./remap.js";
import { percentile, round, summarize } from "./stats.js";

describe("bench statistics", () => {
  it("nearest-rank percentiles", () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 1..100, unsorted
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    expect(summarize([1, 2, 3, 10])).toMatchObject({ n: 4, p50: 2, p90: 10, p99: 10, mean: 4, min: 1, max: 10 });
    expect(round(1.23456)).toBe(1.235);
    expect(round(123.456)).toBe(123.5);
  });
});

describe("remap fraction 4 -> 5 servers", () => {
  it("rendezvous moves about the new server's share; modulo moves most users", () => {
    const r = measureRemap(5_000);
    expect(r.ideal).toBe(0.2);
    expect(Math.abs(r.rendezvous - 0.2)).toBeLessThan(0.03);
    expect(r.modulo).toBeGreaterThan(0.6);
  });
});
