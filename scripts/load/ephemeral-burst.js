// ephemeral-burst: an arrival-rate executor on POST /v1/chat. Each call is a fresh session, so
// every reply must be turn 1 and echo its own prompt (no leftover or foreign history).
import exec from "k6/execution";
import { Rate } from "k6/metrics";
import { answered, api, baseOptions, gateway, json, params as p, record, seconds, summaryHandler, users } from "./k6-lib.js";
import { checkEphemeral } from "./checks.ts";

const contentOk = new Rate("chat_content_ok");

export const options = {
  ...baseOptions,
  scenarios: {
    burst: {
      executor: "ramping-arrival-rate",
      startRate: p.startRate,
      timeUnit: "1s",
      preAllocatedVUs: p.preAllocatedVUs,
      maxVUs: p.maxVUs,
      stages: p.stages.map((s) => ({ duration: seconds(s.durationS), target: s.target })),
      gracefulStop: seconds(p.gracefulStopS),
    },
  },
  thresholds: {
    chat_content_ok: ["rate==1"],
    "http_req_duration{name:POST /v1/chat}": [`p(95)<${p.p95Ms}`],
    http_req_failed: ["rate<0.01"],
    // Arrivals k6 could not start: the gateway was too slow for the offered rate.
    dropped_iterations: [`count<=${p.maxDropped}`],
  },
};

export default function () {
  const n = exec.scenario.iterationInTest;
  const user = users[n % users.length];
  const prompt = `${user.id}-c${n}`;
  const res = api.chat(gateway(n), user, prompt);
  if (!answered(res, 200, "chat answered 200", user.id)) return;
  record(contentOk, "ephemeral reply is turn 1 of its own prompt", checkEphemeral(prompt, json(res)?.content), user.id);
}

export const handleSummary = summaryHandler(undefined, ["http_req_duration{name:POST /v1/chat}"]);
