import { describe, expect, it } from "vitest";
import { parseProcStat } from "./machine-cpu.js";

describe("parseProcStat", () => {
  it("counts everything but idle and iowait as busy, from the aggregate line only", () => {
    const text = "cpu  100 20 30 800 50 1 2 3 0 0\ncpu0 50 10 15 400 25 1 1 2 0 0\nintr 123\n";
    expect(parseProcStat(text)).toEqual({ busySeconds: 1.56, totalSeconds: 10.06 });
  });

  it("refuses text without the aggregate line", () => {
    expect(() => parseProcStat("cpu0 1 2 3 4 5 6 7 8\n")).toThrow(/aggregate/);
  });
});
