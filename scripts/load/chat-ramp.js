// chat-ramp: ramping users, each holding multi-turn persistent sessions. Every reply must carry
// turn N for the session's Nth message (the mock model counts the history it is sent), so a lost
// or mixed history fails the run. Resumes are part of what is checked: with several gateway URLs
// each turn goes to the next replica, and when the target detaches idle sessions quickly
// (settings.idleTimeoutSeconds <= resumePauseMaxS) every session pauses past that timeout once.
import { check, sleep } from "k6";
import exec from "k6/execution";
import { Counter, Rate, Trend } from "k6/metrics";
import { answered, api, baseOptions, config, gateway, gatewayCounter, json, params as p, record, seconds, summaryHandler, vuUser } from "./k6-lib.js";
import { checkTurn } from "./checks.ts";

const historyOk = new Rate("history_ok");
const turnMs = new Trend("turn_ms", true);
const idleDetaches = new Counter("gateway_idle_detaches");

const idle = config.settings.idleTimeoutSeconds;
// Past the timeout plus the gateway's sweep period (a quarter of the timeout, at most 5 s).
const pauseS = idle > 0 && idle <= p.resumePauseMaxS ? idle + Math.min(5, idle / 4) + 1 : 0;
const DETACHES = 'copilot_gateway_session_detaches_total{reason="idle"}';

export const options = {
  ...baseOptions,
  scenarios: {
    chat_ramp: {
      executor: "ramping-vus",
      startVUs: 0,
      stages: p.stages.map((s) => ({ duration: seconds(s.durationS), target: s.target })),
      gracefulRampDown: seconds(p.gracefulStopS),
      gracefulStop: seconds(p.gracefulStopS),
    },
  },
  thresholds: {
    // Every answered message must continue its session's history: no tolerance, and no point
    // in running on once it broke.
    history_ok: [{ threshold: "rate==1", abortOnFail: true, delayAbortEval: "2s" }],
    turn_ms: [`p(95)<${p.p95Ms}`],
    http_req_failed: ["rate<0.01"],
    checks: ["rate>0.99"],
  },
};

export default function () {
  const user = vuUser();
  const created = api.createSession(gateway(), user);
  const id = json(created)?.sessionId;
  if (!answered(created, 201, "session created (201)", user.id) || typeof id !== "string") {
    sleep(1);
    return;
  }
  for (let turn = 1; turn <= p.turnsPerSession; turn++) {
    const prompt = `${user.id}-s${exec.vu.iterationInScenario}-m${turn}`;
    const res = api.send(gateway(turn), user, id, prompt);
    turnMs.add(res.timings.duration);
    // A failed turn leaves the expected numbering unknown: end this session, http_req_failed counts it.
    if (!answered(res, 200, "message answered 200", `${user.id} session ${id}`)) break;
    record(historyOk, "turn number rises by one per message", checkTurn(turn, prompt, json(res)?.content), `${user.id} session ${id}`);
    sleep(turn === Math.ceil(p.turnsPerSession / 2) && pauseS > 0 ? pauseS : p.thinkMs / 1000);
  }
  check(api.deleteSession(gateway(), user, id), { "session deleted (204)": (r) => r.status === 204 });
}

// Idle detaches the gateways counted during the run: proof that resumes were exercised.
export function setup() {
  return { detaches: gatewayCounter(DETACHES) };
}
export function teardown(data) {
  const after = gatewayCounter(DETACHES);
  if (after !== undefined && data.detaches !== undefined) idleDetaches.add(after - data.detaches);
}

export function resumeReport(data) {
  const detached = data.metrics.gateway_idle_detaches?.values.count;
  const report = { resumePauseS: pauseS, idleDetaches: detached ?? "unknown (gateway /metrics not reachable)" };
  const invariants = [];
  if (pauseS > 0 && detached !== undefined) {
    invariants.push({
      name: "sessions were detached and resumed mid-conversation",
      ok: detached > 0,
      detail: `${detached} idle detaches during the run (pause ${pauseS} s past a ${idle} s idle timeout)`,
    });
  }
  return { invariants, report };
}

export const handleSummary = summaryHandler(resumeReport, ["turn_ms"]);
