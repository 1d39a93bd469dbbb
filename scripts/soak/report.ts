/**
 * The soak's report: report.json and summary.md in the run's folder under reports/soak/, and
 * reports/soak/soak.json (`{passed, failed, runs}`) that scripts/ci-summary.ts counts.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Injected } from "./faults.js";
import { countByKind, type SoakVerdict } from "./invariants.js";
import type { FaultKind, SoakProfile } from "./schedule.js";

export interface SoakReport {
  seed: number;
  profile: SoakProfile["name"];
  command: string;
  topology: string;
  started: string;
  durationS: number;
  k6Exit: number;
  faults: { injected: number; byKind: Partial<Record<FaultKind, number>>; skipped: number; minimum: number; list: Injected[] };
  figures: SoakVerdict["figures"];
  violations: { total: number; byKind: ReturnType<typeof countByKind>; first: SoakVerdict["violations"] };
  /** Reasons the run failed besides violations (too few faults, k6 failed). */
  problems: string[];
  ok: boolean;
}

export function faultsByKind(list: Injected[]): Partial<Record<FaultKind, number>> {
  const out: Partial<Record<FaultKind, number>> = {};
  for (const f of list) out[f.kind] = (out[f.kind] ?? 0) + 1;
  return out;
}

function markdown(r: SoakReport): string {
  const lines = [
    `# Fault soak: ${r.ok ? "PASS" : "FAIL"}`,
    "",
    `- command: \`${r.command}\``,
    `- seed ${r.seed}, profile ${r.profile}, topology ${r.topology}, started ${r.started}, ${r.durationS.toFixed(0)} s`,
    `- faults injected: **${r.faults.injected}** (minimum ${r.faults.minimum}; ${r.faults.skipped} skipped)`,
    `- acknowledged: ${r.figures.acknowledged.sessionTurns} session turns, ${r.figures.acknowledged.roomTurns} room turns, ${r.figures.acknowledged.chats} chats, ${r.figures.acknowledged.creates} creates, ${r.figures.acknowledged.deletes} deletes (${r.figures.requests} requests)`,
    `- histories checked: ${r.figures.sessionsChecked} sessions, ${r.figures.roomsChecked} rooms; prompts written but not acknowledged: ${r.figures.writtenNotAcknowledged}`,
    `- violations: **${r.violations.total}**`,
    ...r.problems.map((p) => `- problem: ${p}`),
    "",
    "| fault | injected |",
    "| --- | --- |",
    ...Object.entries(r.faults.byKind).map(([k, n]) => `| ${k} | ${n} |`),
    "",
    "| answer | count |",
    "| --- | --- |",
    ...Object.entries(r.figures.byStatus)
      .sort()
      .map(([k, n]) => `| ${k} | ${n} |`),
    "",
    "| violation | count |",
    "| --- | --- |",
    ...Object.entries(r.violations.byKind).map(([k, n]) => `| ${k} | ${n} |`),
    "",
    ...r.violations.first.slice(0, 50).map((v) => `- ${v.kind} ${v.subject}: ${v.detail}`),
  ];
  return `${lines.join("\n")}\n`;
}

/** Writes the run's files; returns the run folder. */
export function writeReport(root: string, r: SoakReport): string {
  const dir = join(root, `${r.profile}-seed${r.seed}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "report.json"), `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(join(dir, "summary.md"), markdown(r));
  const run = { name: `soak ${r.profile} seed ${r.seed}`, ok: r.ok, faults: r.faults.injected, violations: r.violations.total, report: join(dir, "report.json") };
  writeFileSync(join(root, "soak.json"), `${JSON.stringify({ passed: r.ok ? 1 : 0, failed: r.ok ? 0 : 1, runs: [run] }, null, 2)}\n`);
  return dir;
}
