/**
 * Prints the one closing line CI reads, `N passed, N failed`, from the JSON results that `npm test`
 * writes: vitest unit results, the conformance self-test, the fault soak's CI profile
 * (reports/soak/soak.json: one run, passed only with 0 violations), and, when present, the files
 * named on the command line (k6 smoke runs, the cluster run). A required stage whose results file
 * is missing (npm test stopped before it) counts as one failure.
 */
import { existsSync, readFileSync } from "node:fs";

interface Stage {
  name: string;
  file: string;
  read: (json: unknown) => { passed: number; failed: number };
}

const STAGES: Stage[] = [
  {
    name: "unit",
    file: "reports/unit.json",
    read: (j) => {
      const r = j as { numPassedTests: number; numFailedTests: number };
      return { passed: r.numPassedTests, failed: r.numFailedTests };
    },
  },
  {
    name: "conformance",
    file: "reports/conformance/self-test.json",
    // Conformance tests count one by one; a negative control counts as one test that must fail.
    read: (j) => {
      let passed = 0;
      let failed = 0;
      for (const r of (j as { runs: { ok: boolean; passed: number; failed: number; mustFail?: string }[] }).runs) {
        if (r.mustFail) {
          if (r.ok) passed++;
          else failed++;
        } else {
          passed += r.passed;
          failed += r.failed + (r.ok ? 0 : r.failed === 0 ? 1 : 0);
        }
      }
      return { passed, failed };
    },
  },
  {
    name: "soak",
    file: "reports/soak/soak.json",
    read: (j) => j as { passed: number; failed: number },
  },
];

const optional = process.argv.slice(2);
let passed = 0;
let failed = 0;
for (const stage of STAGES) {
  if (!existsSync(stage.file)) {
    console.error(`[ci-summary] ${stage.name}: no results (${stage.file}); counted as 1 failed`);
    failed++;
    continue;
  }
  const r = stage.read(JSON.parse(readFileSync(stage.file, "utf8")));
  console.error(`[ci-summary] ${stage.name}: ${r.passed} passed, ${r.failed} failed`);
  passed += r.passed;
  failed += r.failed;
}
for (const file of optional) {
  if (!existsSync(file) || STAGES.some((s) => s.file === file)) continue;
  const r = JSON.parse(readFileSync(file, "utf8")) as { passed: number; failed: number };
  console.error(`[ci-summary] ${file}: ${r.passed} passed, ${r.failed} failed`);
  passed += r.passed;
  failed += r.failed;
}
console.log(`${passed} passed, ${failed} failed`);
