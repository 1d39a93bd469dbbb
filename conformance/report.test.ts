import { describe, expect, it } from "vitest";
import { parseTarget } from "../topology/index.js";
import type { Task } from "@vitest/runner";
import type { Feature } from "../topology/index.js";
import { buildReport, markdownSummary, type TestResult } from "./report.js";
import { collect } from "./run.js";

const target = parseTarget({
  version: 1,
  topology: "shared",
  platform: "local",
  gatewayUrls: ["http://127.0.0.1:1"],
  auth: { kind: "jwt-hs256", secret: "x".repeat(32) },
  features: ["sessions", "streaming"],
  settings: { idleTimeoutSeconds: 0, sessionTtlSeconds: 0, lockTtlSeconds: 10, lockWaitSeconds: 30, maxSessionsPerServer: 10, cliIdleTimeoutSeconds: 0 },
  servers: [],
});
const t = (name: string, features: Feature[], state: TestResult["state"]): TestResult => ({ name, file: "f", features, state, durationMs: 1 });

describe("conformance report", () => {
  it("reads the features a test declares from its task meta, never from its name", () => {
    const task = (name: string, features?: Feature[]) => ({ type: "test", name, meta: features ? { features } : {}, result: { state: "pass" } }) as unknown as Task;
    const out: TestResult[] = [];
    collect([task("does things", ["sessions", "process-control"]), task("looks tagged [drain]")], "f", out);
    expect(out.map((r) => r.features)).toEqual([["sessions", "process-control"], []]);
  });

  it("groups results by feature and profile, and lists skipped and failed tests", () => {
    const r = buildReport(target, [t("a", ["sessions"], "passed"), t("b", ["streaming"], "failed"), t("c", ["drain"], "skipped")], [{ name: "x", value: 1, unit: "s" }], ["shared"]);
    expect(r.summary).toEqual({ passed: 1, failed: 1, skipped: 1 });
    expect(r.features.sessions?.result).toBe("success");
    expect(r.features.streaming?.failedTests).toEqual(["b"]);
    const shared = r.profiles[0]!;
    expect(shared.core.failed).toBe(1);
    expect(shared.core.result).toBe("failure");
    expect(shared.extended.skippedTests).toEqual(["c"]);
    expect(r.implementation.cliVersion).toBe("1.0.102");
    expect(JSON.stringify(r)).not.toContain("x".repeat(32));
    expect(markdownSummary(r)).toContain("1 passed, 1 failed, 1 skipped");
    expect(markdownSummary(r)).toContain("- c [drain]");
  });
});
