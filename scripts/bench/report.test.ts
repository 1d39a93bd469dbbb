import { describe, expect, it } from "vitest";
import { checkTargets, renderMarkdown, type BenchResults } from "./report.js";
import type { Summary } from "./stats.js";

const s = (p50: number, p99: number): Summary => ({ n: 60, p50, p99, mean: p50, min: p50, max: p99 });
const at = "2026-01-01T00:00:00.000Z";
const base: BenchResults = {
  version: 1,
  command: "npm run bench",
  machine: { cores: 2, cpuModel: "test cpu", memoryGiB: 8, os: "Linux", node: "v20.20.0", cliVersion: "1.0.102", sdkVersion: "1.0.14" },
};

describe("benchmark targets", () => {
  it("are pending until measured", () => {
    expect(checkTargets(base).map((t) => t.met)).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });

  it("judge each target at its boundary", () => {
    const r: BenchResults = {
      ...base,
      overhead: { measuredAt: at, result: { turns: 60, gatewayMs: s(105, 200), directMs: s(100, 190), p50Ratio: 1.05, p99Ratio: 1.05 } },
      lockHandoff: { measuredAt: at, result: { posters: 8, handoffs: 199, memoryMs: s(0.05, 0.2), redisMs: s(1.5, 5.01) } },
      scaling: { measuredAt: at, result: { points: [], ratio: 1.6 } },
    };
    expect(checkTargets(r).map((t) => [t.name, t.met])).toEqual([
      ["gateway p50 overhead ratio", true],
      ["lock handoff, 8 posters, redis store", false],
      ["gateway RSS tracking 10,000 sessions", undefined],
      ["streaming: first delta added by the gateway at p50, no stream lost", undefined],
      ["2-server throughput over 1 server", true],
    ]);
  });

  it("judge the lock handoff of every poster count on p50 and p99", () => {
    const pt = (posters: number, redisMs: Summary) => ({ posters, handoffs: 99, loadAverage: 1, memoryMs: s(0.05, 0.2), redisMs });
    const points = [pt(8, s(1.5, 5)), pt(32, s(1.51, 4))];
    const r: BenchResults = { ...base, lockHandoff: { measuredAt: at, result: { ...points[0]!, points } } };
    expect(checkTargets(r).filter((t) => t.name.startsWith("lock")).map((t) => [t.name, t.met])).toEqual([
      ["lock handoff, 8 posters, redis store", true],
      ["lock handoff, 32 posters, redis store", false],
    ]);
    expect(renderMarkdown(r)).toContain("| 32, redis (two replicas), 99 handoffs, load 1 | 1.51 ms | - | 4 ms | 4 ms |");
  });

  it("judge gateway memory only at 10,000 tracked sessions", () => {
    const mem = (sessions: number, rssMiB: number): BenchResults => ({
      ...base,
      memory: {
        measuredAt: at,
        result: {
          gateway: { sessions, baseSessions: 41, baseRssMiB: 60, rssMiB },
          cliPerIdleSession: { sessions: 40, baseRssMiB: 280, rssMiB: 440, perSessionMiB: 4 },
          cliPerIdleUser: { users: 3, rssMiB: 277, pssMiB: 165 },
        },
      },
    });
    const met = (r: BenchResults) => checkTargets(r).find((t) => t.name.startsWith("gateway RSS"))?.met;
    expect([met(mem(10_000, 100)), met(mem(10_000, 100.1)), met(mem(1_000, 50))]).toEqual([true, false, false]);
  });

  it("renders the gateway's memory with the image's Node flags beside V8's defaults", () => {
    const g = (rssMiB: number, nodeFlags: string[], gcMsPerSession: number) => ({ sessions: 10_000, baseSessions: 41, baseRssMiB: 60, rssMiB, nodeFlags, runtime: "bundle", cpuMsPerSession: 2, gcMsPerSession });
    const md = renderMarkdown({
      ...base,
      memory: {
        measuredAt: at,
        result: {
          gateway: g(90, ["--max-semi-space-size=1"], 0.25),
          gatewayV8Defaults: g(140, [], 0.125),
          cliPerIdleSession: { sessions: 40, baseRssMiB: 280, rssMiB: 440, perSessionMiB: 4 },
          cliPerIdleUser: { users: 3, rssMiB: 277, pssMiB: 165 },
        },
      },
    });
    expect(md).toContain("| gateway RSS tracking 10000 sessions (bundle; the image's Node flags: `--max-semi-space-size=1`) | 90 MiB (60 MiB at 41 sessions) |");
    expect(md).toContain("| gateway RSS tracking 10000 sessions (bundle; V8 defaults, same run: none) | 140 MiB (60 MiB at 41 sessions) |");
    expect(md).toContain("| … gateway CPU / GC time per session created | 2 ms / 0.25 ms |");
  });

  it("renders machine facts, the reproduce command, pending sections, and keeps the notes", () => {
    const md = renderMarkdown(
      { ...base, remap: { measuredAt: at, result: { users: 100, from: 4, to: 5, rendezvous: 0.21, modulo: 0.8, ideal: 0.2 } } },
      "\nWhy the targets were missed.\n",
    );
    expect(md).toContain("Reproduce: `npm run bench`");
    expect(md).toContain("Machine: 2 cores (test cpu), 8 GiB, Linux; Node v20.20.0; Copilot CLI 1.0.102, SDK 1.0.14.");
    expect(md).toContain("| rendezvous (the kit) | 0.21 |");
    expect(md).toContain("Not measured yet: overhead, lockHandoff, scaling, memory, streaming.");
    expect(md.split("<!-- notes -->")[1]).toBe("\nWhy the targets were missed.\n");
  });
});
