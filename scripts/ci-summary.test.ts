/** CI's closing line counts the soak's CI profile as a required stage: a missing report fails. */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const SCRIPT = resolve(import.meta.dirname, "ci-summary.ts");
const TSX = resolve(import.meta.dirname, "../node_modules/.bin/tsx");
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Runs the summary in a folder holding these report files; returns its closing line. */
function summary(files: Record<string, unknown>, args: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), "ci-summary-"));
  dirs.push(dir);
  for (const [f, json] of Object.entries(files)) {
    mkdirSync(join(dir, f, ".."), { recursive: true });
    writeFileSync(join(dir, f), JSON.stringify(json));
  }
  return execFileSync(TSX, [SCRIPT, ...args], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
}

const unitAndConformance = { "reports/unit.json": { numPassedTests: 5, numFailedTests: 0 }, "reports/conformance/self-test.json": { runs: [{ ok: true, passed: 2, failed: 0 }] } };

describe("ci-summary", () => {
  it("counts a missing soak report as a failure", () => {
    expect(summary(unitAndConformance, ["reports/soak/soak.json"])).toBe("7 passed, 1 failed");
  });
  it("adds the soak's run once, also when CI names its file", () => {
    const files = { ...unitAndConformance, "reports/soak/soak.json": { passed: 0, failed: 1 } };
    expect(summary(files, ["reports/soak/soak.json"])).toBe("7 passed, 1 failed");
    expect(summary({ ...files, "reports/soak/soak.json": { passed: 1, failed: 0 } })).toBe("8 passed, 0 failed");
  });
});
