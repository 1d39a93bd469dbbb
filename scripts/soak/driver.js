// The soak's k6 load driver: sessions (create, turns through both replicas, some deleted), room
// posts and ephemeral chats, side by side, while scripts/soak/run.ts injects faults. It judges
// nothing itself: every request is logged as one JSON line (console.log, which run.ts sends to a
// file with --console-output and --log-format raw), and the checker compares that log with the
// histories the CLI holds afterwards. Faults make errors expected, so no threshold fails the run.
import { sleep } from "k6";
import http from "k6/http";
import exec from "k6/execution";
import { parseMarker } from "../load/checks.ts";

const config = JSON.parse(open(__ENV.SOAK_CONFIG));
const seconds = (s) => `${s}s`;
const vus = (n) => ({ executor: "constant-vus", vus: n, duration: seconds(config.loadS), gracefulStop: seconds(config.gracefulStopS) });

export const options = {
  scenarios: {
    sessions: { ...vus(config.vus.sessions), exec: "sessions" },
    rooms: { ...vus(config.vus.rooms), exec: "rooms" },
    chats: { ...vus(config.vus.chats), exec: "chats" },
  },
  // Errors are the point of a fault soak: the checker decides, not k6's failure rate.
  thresholds: {},
  summaryTrendStats: ["med", "p(95)", "max", "count"],
};

/** One user per VU (VU ids are 1-based and unique across scenarios). */
const user = () => config.users[(exec.vu.idInTest - 1) % config.users.length];
const gateway = (n) => config.gatewayUrls[n % config.gatewayUrls.length];

function call(method, url, body, name) {
  const headers = { Authorization: `Bearer ${user().token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // Every status is an answer to record; none counts as a k6 failure.
  return http.request(method, url, body === undefined ? null : JSON.stringify(body), {
    headers,
    tags: { name },
    timeout: seconds(config.requestTimeoutS),
    responseCallback: http.expectedStatuses({ min: 100, max: 599 }),
  });
}

function body(res) {
  try {
    return res.json();
  } catch {
    return undefined;
  }
}

/** Logs one request for the checker, and returns its JSON body. */
function record(op, res, fields) {
  const b = body(res);
  const marker = res.status === 200 ? parseMarker(b?.content) : undefined;
  // When it ended, how long it took and which replica answered: what a failure's diagnosis needs.
  const line = { op, status: res.status, ...fields, at: new Date().toISOString(), ms: Math.round(res.timings.duration), gw: String(res.request?.url ?? "").split("/")[2] };
  if (b?.error?.code) line.code = b.error.code;
  if (res.status >= 400) line.message = String(b?.error?.message ?? res.body).slice(0, 240);
  if (res.status === 0) line.error = String(res.error);
  if (marker) {
    line.replyPrompt = marker.prompt;
    line.turn = op === "room" ? b.turn : marker.turn;
    if (op === "room") line.markerTurn = marker.turn;
  }
  console.log(JSON.stringify(line));
  return b;
}

/** Back off after a refusal: Retry-After when given (bounded), else a moment. */
function pause(res) {
  const ra = Number(res.headers["Retry-After"]);
  sleep(res.status === 200 || res.status === 201 || res.status === 204 ? config.thinkMs / 1000 : Number.isFinite(ra) && ra > 0 ? Math.min(ra, 3) : 0.5);
}

export function sessions() {
  const it = exec.vu.iterationInScenario;
  const tag = `${config.runId}-v${exec.vu.idInTest}-s${it}`;
  const created = call("POST", `${gateway(it)}/v1/sessions`, { persistent: true }, "POST /v1/sessions");
  const id = body(created)?.sessionId;
  record("create", created, typeof id === "string" ? { id } : {});
  pause(created);
  if (created.status !== 201 || typeof id !== "string") return;
  for (let m = 1; m <= config.turnsPerSession; m++) {
    const prompt = `${tag}-m${m}`;
    const res = call("POST", `${gateway(it + m)}/v1/sessions/${id}/messages`, { prompt }, "POST /v1/sessions/:id/messages");
    record("send", res, { id, prompt });
    pause(res);
  }
  if (it % config.deleteEvery !== 0) return;
  // A delete that failed is retried, as a client would: the checker expects it gone (204) or already gone (404).
  for (let attempt = 0; attempt < config.deleteAttempts; attempt++) {
    const res = call("DELETE", `${gateway(it + attempt)}/v1/sessions/${id}`, undefined, "DELETE /v1/sessions/:id");
    record("delete", res, { id });
    if (res.status === 204 || res.status === 404) return;
    pause(res);
  }
}

export function rooms() {
  const it = exec.vu.iterationInScenario;
  const room = config.rooms[(exec.vu.idInTest + it) % config.rooms.length];
  const prompt = `${config.runId}-v${exec.vu.idInTest}-p${it}`;
  const res = call("POST", `${gateway(exec.vu.idInTest + it)}/v1/rooms/${room}/messages`, { prompt }, "POST /v1/rooms/:room/messages");
  record("room", res, { id: room, prompt });
  pause(res);
}

export function chats() {
  const it = exec.vu.iterationInScenario;
  const prompt = `${config.runId}-v${exec.vu.idInTest}-c${it}`;
  const res = call("POST", `${gateway(it)}/v1/chat`, { prompt }, "POST /v1/chat");
  record("chat", res, { prompt });
  pause(res);
}
