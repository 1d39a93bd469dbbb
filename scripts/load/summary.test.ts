import { describe, expect, it } from "vitest";
import { buildSummary, junitXml, tagged, textSummary, type K6SummaryData } from "./summary.js";

// Shape of k6 1.8's handleSummary argument (trimmed from a real run).
const data: K6SummaryData = {
  state: { testRunDurationMs: 12_345.6 },
  root_group: {
    name: "",
    checks: [{ name: "turn number rises by one per message", passes: 9, fails: 1 }],
    groups: [{ name: "g", checks: [{ name: "inner", passes: 1, fails: 0 }], groups: [] }],
  },
  metrics: {
    history_ok: { type: "rate", values: { rate: 0.9, passes: 9, fails: 1 }, thresholds: { "rate==1": { ok: false } } },
    "room_posts_ok{room:a}": { type: "counter", values: { count: 4, rate: 1 }, thresholds: { "count>0": { ok: true } } },
    "room_turn_sum{room:a}": { type: "counter", values: { count: 10, rate: 1 }, thresholds: { "count>=0": { ok: true } } },
    turn_ms: { type: "trend", values: { med: 100, "p(95)": 200, "p(99)": 250, max: 300 } },
  },
};
const meta = { scenario: "chat-ramp", profile: "smoke", runId: "r<1>", topology: "shared" };

describe("load summary", () => {
  it("lists thresholds except those that only expose a sub-metric, and all checks", () => {
    const s = buildSummary(data, meta);
    expect(s.ok).toBe(false);
    expect(s.durationMs).toBe(12_346);
    expect(s.thresholds).toEqual([
      { metric: "history_ok", expr: "rate==1", ok: false },
      { metric: "room_posts_ok{room:a}", expr: "count>0", ok: true },
    ]);
    expect(s.checks.map((c) => c.name)).toEqual(["turn number rises by one per message", "g::inner"]);
  });

  it("a failed invariant fails the summary even when thresholds pass", () => {
    const clean = { ...data, metrics: { turn_ms: data.metrics.turn_ms! } };
    expect(buildSummary(clean, meta).ok).toBe(true);
    expect(buildSummary(clean, meta, [{ name: "i", ok: false, detail: "d" }]).ok).toBe(false);
  });

  it("reads tagged sub-metrics by tag value", () => {
    expect(tagged(data, "room_turn_sum", "room")).toEqual({ a: { count: 10, rate: 1 } });
  });

  it("writes escaped JUnit with one failure per breached threshold or invariant", () => {
    const xml = junitXml(buildSummary(data, meta, [{ name: "room <a>", ok: false, detail: `sum "11"` }]));
    expect(xml).toContain(`failures="2"`);
    expect(xml).toContain(`<property name="runId" value="r&lt;1&gt;"/>`);
    expect(xml).toContain(`<testcase classname="load.chat-ramp.smoke.invariants" name="invariant room &lt;a&gt;"><failure message="sum &quot;11&quot;"/>`);
    expect(xml).toContain(`passes=9 fails=1`);
    expect(xml).not.toContain("count&gt;=0");
  });

  it("prints a short report", () => {
    const text = textSummary(buildSummary(data, meta, [], { hitImbalance: 1.25 }), ["turn_ms"]);
    expect(text).toMatch(/^FAIL load chat-ramp \(smoke\)/);
    expect(text).toContain("✗ history_ok rate==1");
    expect(text).toContain("turn_ms: p50=100 p95=200 p99=250 max=300");
    expect(text).toContain("hitImbalance: 1.25");
  });
});
