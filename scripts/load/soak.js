// soak: long sessions over time. Each VU holds one persistent session (rolled over after
// turnsPerSession), checks that turn numbers keep rising, and buckets turn latency into windows;
// the least-squares slope of the window medians is the latency drift (copilot-cli #2755).
import { sleep } from "k6";
import exec from "k6/execution";
import { Rate, Trend } from "k6/metrics";
import { answered, api, baseOptions, constantVus, gateway, json, params as p, perTag, record, summaryHandler, vuUser } from "./k6-lib.js";
import { checkTurn, slope } from "./checks.ts";
import { tagged } from "./summary.ts";

const historyOk = new Rate("history_ok");
const turnMs = new Trend("soak_turn_ms", true);
const windows = Array.from({ length: Math.ceil((p.durationS + p.gracefulStopS) / p.windowS) }, (_, w) => w);

export const options = {
  ...baseOptions,
  scenarios: {
    soak: constantVus(p),
  },
  thresholds: {
    history_ok: ["rate==1"],
    soak_turn_ms: [`p(95)<${p.p95Ms}`],
    http_req_failed: ["rate<0.01"],
    ...perTag("window", windows, { soak_turn_ms: ["med>=0"] }),
  },
};

let session;
let turn = 0;
let sessionNo = 0;

export default function () {
  const user = vuUser();
  if (session === undefined || turn >= p.turnsPerSession) {
    if (session !== undefined) api.deleteSession(gateway(), user, session);
    const created = api.createSession(gateway(), user);
    session = json(created)?.sessionId;
    turn = 0;
    sessionNo++;
    if (!answered(created, 201, "session created (201)", user.id) || typeof session !== "string") {
      session = undefined;
      sleep(1);
      return;
    }
  }
  turn++;
  const prompt = `${user.id}-s${sessionNo}-m${turn}`;
  const res = api.send(gateway(), user, session, prompt);
  const window = Math.floor(exec.instance.currentTestRunDuration / 1000 / p.windowS);
  turnMs.add(res.timings.duration, { window: String(window) });
  if (!answered(res, 200, "message answered 200", `${user.id} session ${session}`)) {
    session = undefined; // numbering is unknown after a failed turn: start a new session
    return;
  }
  record(historyOk, "turn number rises by one per message", checkTurn(turn, prompt, json(res)?.content), `${user.id} session ${session}`);
  sleep(p.thinkMs / 1000);
}

export function driftReport(data) {
  const points = [];
  for (const [w, v] of Object.entries(tagged(data, "soak_turn_ms", "window"))) {
    // A window with a handful of turns (ramp edges) would swing the fit.
    if ((v.count ?? 0) >= 3) points.push({ x: ((Number(w) + 0.5) * p.windowS) / 60, y: v.med });
  }
  points.sort((a, b) => a.x - b.x);
  const driftMsPerMin = slope(points);
  const report = { driftMsPerMin, windowMedians: points.map((pt) => Math.round(pt.y)) };
  const invariants = [];
  if (p.maxDriftMsPerMin !== undefined) {
    invariants.push({
      name: `p50 latency drift <= ${p.maxDriftMsPerMin} ms/min`,
      ok: driftMsPerMin <= p.maxDriftMsPerMin,
      detail: `slope ${driftMsPerMin.toFixed(2)} ms/min over ${points.length} windows of ${p.windowS} s`,
    });
  }
  return { invariants, report };
}

export const handleSummary = summaryHandler(driftReport, ["soak_turn_ms"]);
