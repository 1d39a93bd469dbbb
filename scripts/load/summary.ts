/**
 * Turns k6's end-of-test data (the handleSummary argument) into the kit's JSON summary, JUnit XML
 * and a short text report. Pure functions: k6 imports this file, unit tests feed it fabricated data.
 */

export interface K6Metric {
  type: "counter" | "gauge" | "rate" | "trend";
  contains?: string;
  values: Record<string, number>;
  thresholds?: Record<string, { ok: boolean }>;
}
export interface K6Group {
  name: string;
  checks: { name: string; passes: number; fails: number }[];
  groups: K6Group[];
}
export interface K6SummaryData {
  metrics: Record<string, K6Metric>;
  root_group: K6Group;
  state: { testRunDurationMs: number };
}

/** A property of the whole run that no single k6 threshold can express (checked after the run). */
export interface Invariant {
  name: string;
  ok: boolean;
  detail: string;
}

export interface RunMeta {
  scenario: string;
  profile: string;
  runId: string;
  topology: string;
}

export interface LoadSummary extends RunMeta {
  version: 1;
  ok: boolean;
  durationMs: number;
  thresholds: { metric: string; expr: string; ok: boolean }[];
  checks: { name: string; passes: number; fails: number }[];
  invariants: Invariant[];
  /** Scenario figures: per-server counts, imbalance, drift slope... */
  report: Record<string, unknown>;
  metrics: Record<string, Record<string, number>>;
}

function allChecks(group: K6Group, prefix = ""): LoadSummary["checks"] {
  const here = group.checks.map((c) => ({ name: prefix + c.name, passes: c.passes, fails: c.fails }));
  return here.concat(...group.groups.map((g) => allChecks(g, `${prefix}${g.name}::`)));
}

/** Values of `metric{tag:value}` sub-metrics, keyed by value. Only sub-metrics named in thresholds exist. */
export function tagged(data: K6SummaryData, metric: string, tag: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  const prefix = `${metric}{${tag}:`;
  for (const [name, m] of Object.entries(data.metrics)) {
    if (name.startsWith(prefix) && name.endsWith("}")) out[name.slice(prefix.length, -1)] = m.values;
  }
  return out;
}

/**
 * k6 only reports a tagged sub-metric that a threshold names, so scenarios add thresholds like
 * `count>=0` that cannot fail. They are not results and stay out of the summary.
 */
export const isExposureOnly = (expr: string) => /^(count|max|min|med|avg|p\(\d+(\.\d+)?\))\s*>=\s*0$/.test(expr);

export function buildSummary(
  data: K6SummaryData,
  meta: RunMeta,
  invariants: Invariant[] = [],
  report: Record<string, unknown> = {},
): LoadSummary {
  const thresholds: LoadSummary["thresholds"] = [];
  const metrics: LoadSummary["metrics"] = {};
  for (const name of Object.keys(data.metrics).sort()) {
    const m = data.metrics[name]!;
    metrics[name] = m.values;
    for (const [expr, t] of Object.entries(m.thresholds ?? {})) {
      if (!isExposureOnly(expr)) thresholds.push({ metric: name, expr, ok: t.ok });
    }
  }
  return {
    version: 1,
    ...meta,
    ok: thresholds.every((t) => t.ok) && invariants.every((i) => i.ok),
    durationMs: Math.round(data.state.testRunDurationMs),
    thresholds,
    checks: allChecks(data.root_group),
    invariants,
    report,
    metrics,
  };
}

const xml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");

/** JUnit: thresholds and invariants decide pass/fail; checks are listed with their counts. */
export function junitXml(s: LoadSummary): string {
  const suite = `load.${s.scenario}.${s.profile}`;
  const cases: string[] = [];
  for (const t of s.thresholds) {
    const name = xml(`threshold ${t.metric}: ${t.expr}`);
    cases.push(
      t.ok
        ? `    <testcase classname="${suite}.thresholds" name="${name}"/>`
        : `    <testcase classname="${suite}.thresholds" name="${name}"><failure message="threshold breached">${xml(JSON.stringify(s.metrics[t.metric] ?? {}))}</failure></testcase>`,
    );
  }
  for (const i of s.invariants) {
    const name = xml(`invariant ${i.name}`);
    cases.push(
      i.ok
        ? `    <testcase classname="${suite}.invariants" name="${name}"><system-out>${xml(i.detail)}</system-out></testcase>`
        : `    <testcase classname="${suite}.invariants" name="${name}"><failure message="${xml(i.detail)}"/></testcase>`,
    );
  }
  for (const c of s.checks) {
    cases.push(`    <testcase classname="${suite}.checks" name="${xml(`check ${c.name}`)}"><system-out>passes=${c.passes} fails=${c.fails}</system-out></testcase>`);
  }
  const failures = s.thresholds.filter((t) => !t.ok).length + s.invariants.filter((i) => !i.ok).length;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="copilot-scale-kit load" tests="${cases.length}" failures="${failures}" time="${(s.durationMs / 1000).toFixed(3)}">`,
    `  <testsuite name="${xml(suite)}" tests="${cases.length}" failures="${failures}" time="${(s.durationMs / 1000).toFixed(3)}">`,
    `    <properties><property name="runId" value="${xml(s.runId)}"/><property name="topology" value="${xml(s.topology)}"/></properties>`,
    ...cases,
    `  </testsuite>`,
    `</testsuites>`,
    ``,
  ].join("\n");
}

const fmt = (v: number | undefined) => (v === undefined ? "-" : Number.isInteger(v) ? String(v) : v.toFixed(2));

/** A compact console report (handleSummary replaces k6's own). */
export function textSummary(s: LoadSummary, trends: readonly string[] = []): string {
  const lines = [`${s.ok ? "PASS" : "FAIL"} load ${s.scenario} (${s.profile}) run ${s.runId} on ${s.topology} in ${(s.durationMs / 1000).toFixed(1)} s`];
  for (const t of s.thresholds) lines.push(`  ${t.ok ? "✓" : "✗"} ${t.metric} ${t.expr}`);
  for (const i of s.invariants) lines.push(`  ${i.ok ? "✓" : "✗"} ${i.name}: ${i.detail}`);
  for (const c of s.checks) lines.push(`  ${c.fails === 0 ? "✓" : "✗"} check "${c.name}" ${c.passes}/${c.passes + c.fails}`);
  for (const name of trends) {
    const v = s.metrics[name];
    if (v) lines.push(`  ${name}: p50=${fmt(v.med)} p95=${fmt(v["p(95)"])} p99=${fmt(v["p(99)"])} max=${fmt(v.max)}`);
  }
  for (const [k, v] of Object.entries(s.report)) lines.push(`  ${k}: ${typeof v === "number" ? fmt(v) : JSON.stringify(v)}`);
  return lines.join("\n") + "\n";
}
