// Shared k6 helpers of the load scenarios: the load config (scripts/load/config.ts builds it),
// gateway API calls, and handleSummary writing summary.json + junit.xml.
// Files in this folder stay flat: the LoadTest component mounts them as one ConfigMap.
import { check } from "k6";
import http from "k6/http";
import exec from "k6/execution";
import { SharedArray } from "k6/data";
import { Counter } from "k6/metrics";
import { buildSummary, junitXml, textSummary } from "./summary.ts";

const CONFIG_PATH = __ENV.LOAD_CONFIG;
if (!CONFIG_PATH) {
  throw new Error("LOAD_CONFIG is not set: run `npm run load -- --target <file> --scenario <name>`, or point LOAD_CONFIG at a load config JSON file");
}

// Parsed once and shared by all VUs: the user list can hold thousands of tokens.
export const users = new SharedArray("users", () => JSON.parse(open(CONFIG_PATH)).users);
const meta = new SharedArray("meta", () => {
  const c = JSON.parse(open(CONFIG_PATH));
  delete c.users;
  return [c];
});
/** The load config without its users: scenario, profile, runId, gatewayUrls, rooms, servers, params. */
export const config = meta[0];
export const params = config.params;
/** Several k6 runners (k6 operator parallelism > 1): each sees only its share of the samples. */
export const distributed = __ENV.LOAD_DISTRIBUTED === "1";

/**
 * Options every scenario starts from. `runner` tags each sample with the pod (LoadTest sets
 * LOAD_RUNNER): runners remote-writing to one Prometheus must not write into the same series.
 */
export const baseOptions = {
  summaryTrendStats: ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "count"],
  ...(__ENV.LOAD_RUNNER ? { tags: { runner: __ENV.LOAD_RUNNER } } : {}),
};
/** Generous: a turn through a busy CLI can take long; thresholds judge latency, not this. */
const TIMEOUT = "180s";

export const seconds = (s) => `${s}s`;
/** The constant-vus executor of the room, spread and soak scenarios, from their params. */
export const constantVus = (p) => ({ executor: "constant-vus", vus: p.vus, duration: seconds(p.durationS), gracefulStop: seconds(p.gracefulStopS) });

/**
 * Thresholds for each value of a tag. k6 only reports a tagged sub-metric that a threshold names,
 * so per-room/server/window figures need one even when (like `count>=0`) it cannot fail.
 */
export function perTag(tag, values, thresholdsByMetric) {
  const out = {};
  for (const v of values) for (const [metric, t] of Object.entries(thresholdsByMetric)) out[`${metric}{${tag}:${v}}`] = t;
  return out;
}
export const vuIndex = () => exec.vu.idInTest - 1;
/** The user this VU acts as (VU ids are unique across distributed runners too). */
export const vuUser = () => users[vuIndex() % users.length];
/** The gateway this VU talks to; `offset` rotates across replicas (session resume on another gateway). */
export const gateway = (offset = 0) => config.gatewayUrls[(vuIndex() + offset) % config.gatewayUrls.length];

export function json(res) {
  try {
    return res.json();
  } catch {
    return undefined;
  }
}

function params_(user, name, expected, hasBody = true) {
  const headers = { Authorization: `Bearer ${user.token}` };
  // A JSON content type with an empty body is a 400 (Fastify), so bodyless calls send none.
  if (hasBody) headers["Content-Type"] = "application/json";
  const p = {
    headers,
    tags: { name },
    timeout: TIMEOUT,
  };
  if (expected) p.responseCallback = http.expectedStatuses(...expected);
  return p;
}

/** Gateway API v1 calls; `name` tags keep URLs with ids out of the metric series. */
export const api = {
  createSession: (base, user, body = {}) =>
    http.post(`${base}/v1/sessions`, JSON.stringify({ persistent: true, ...body }), params_(user, "POST /v1/sessions")),
  send: (base, user, id, prompt) =>
    http.post(`${base}/v1/sessions/${id}/messages`, JSON.stringify({ prompt }), params_(user, "POST /v1/sessions/:id/messages")),
  deleteSession: (base, user, id) => http.del(`${base}/v1/sessions/${id}`, null, params_(user, "DELETE /v1/sessions/:id", undefined, false)),
  chat: (base, user, prompt) => http.post(`${base}/v1/chat`, JSON.stringify({ prompt }), params_(user, "POST /v1/chat")),
  // 423 (lock wait timed out) is an expected answer under contention; its rate has its own threshold.
  postRoom: (base, user, room, prompt) =>
    http.post(`${base}/v1/rooms/${room}/messages`, JSON.stringify({ prompt }), params_(user, "POST /v1/rooms/:room/messages", [200, 423])),
};

/**
 * Sum of one Prometheus series over every gateway's /metrics (on its admin listener, never the
 * public port), or undefined when the load config lists no admin URL or one does not answer.
 */
export function gatewayCounter(series) {
  const admins = config.adminUrls || [];
  if (admins.length === 0) return undefined;
  let total = 0;
  for (const base of admins) {
    const res = http.get(`${base}/metrics`, { tags: { name: "GET /metrics" }, responseCallback: http.expectedStatuses(200, 404) });
    if (res.status !== 200) return undefined;
    const line = String(res.body)
      .split("\n")
      .find((l) => l.startsWith(series + " "));
    total += line ? Number(line.slice(series.length + 1)) : 0;
  }
  return total;
}

// Failures as a counter too: counters add up across distributed runners, rates do not.
const contentFailures = new Counter("content_check_failures");

/** Records a content check's verdict: its Rate (for the threshold), a named k6 check, a warning. */
export function record(rate, name, verdict, context) {
  rate.add(verdict.ok);
  if (!verdict.ok) contentFailures.add(1, { check: name });
  check(verdict, { [name]: (v) => v.ok });
  if (!verdict.ok) console.warn(`${config.scenario}: ${context}: ${verdict.reason}`);
  return verdict.ok;
}

/** A named status check; a failure is logged with the gateway's error code so a red run says why. */
export function answered(res, status, name, context) {
  const ok = check(res, { [name]: (r) => r.status === status });
  if (!ok) {
    const err = json(res)?.error;
    console.warn(`${config.scenario}: ${context}: ${name} failed: HTTP ${res.status}${err ? ` ${err.code}: ${err.message}` : res.error ? ` ${res.error}` : ""}`);
  }
  return ok;
}

/** Seconds to wait from a Retry-After header, bounded. */
export function retryAfter(res, fallback = 1) {
  const v = Number(res.headers["Retry-After"]);
  return Number.isFinite(v) && v > 0 ? Math.min(v, 30) : fallback;
}

/**
 * handleSummary for a scenario. `extra(data)` returns { invariants, report } computed from the
 * end-of-test data. Invariants need every sample, so a distributed run reports them as skipped.
 */
export function summaryHandler(extra = () => ({}), trends = []) {
  return (data) => {
    const { invariants = [], report = {} } = extra(data);
    const kept = distributed ? [] : invariants;
    if (distributed && invariants.length > 0) report.invariantsSkipped = "distributed run: aggregate on the merged Prometheus series";
    const summary = buildSummary(data, { scenario: config.scenario, profile: config.profile, runId: config.runId, topology: config.topology }, kept, report);
    const dir = __ENV.LOAD_REPORT_DIR || "reports/load";
    return {
      [`${dir}/summary.json`]: JSON.stringify(summary, null, 2),
      [`${dir}/junit.xml`]: junitXml(summary),
      stdout: textSummary(summary, trends),
    };
  };
}
