// room-contention: many users posting to a few rooms. The room lock serialises posts, so each
// poster must see strictly rising turns whose JSON `turn` matches the reply, and across all posters
// the answered turns of a room must be exactly 1..N (checked after the run from per-room tallies).
// 423 (lock wait timed out) is allowed but its rate has a threshold.
import { sleep } from "k6";
import exec from "k6/execution";
import { Counter, Rate, Trend } from "k6/metrics";
import { answered, api, baseOptions, config, constantVus, gateway, json, params as p, perTag, record, retryAfter, summaryHandler, vuIndex, vuUser } from "./k6-lib.js";
import { checkRoomLinear, checkRoomReply } from "./checks.ts";
import { tagged } from "./summary.ts";

const replyOk = new Rate("room_reply_ok");
const locked = new Rate("room_locked");
const postMs = new Trend("room_post_ms", true);
const turnSeen = new Trend("room_turn");
const postsOk = new Counter("room_posts_ok");
const postsFailed = new Counter("room_posts_failed");
const turnSum = new Counter("room_turn_sum");
const turnSquares = new Counter("room_turn_sq");

export const options = {
  ...baseOptions,
  scenarios: {
    rooms: constantVus(p),
  },
  thresholds: {
    room_reply_ok: ["rate==1"],
    room_locked: [`rate<${p.max423Rate}`],
    room_post_ms: [`p(95)<${p.p95Ms}`],
    http_req_failed: ["rate<0.01"],
    // Every room must be served at all; the rest only keeps the per-room series for the tallies.
    ...perTag("room", config.rooms, {
      room_posts_ok: ["count>0"],
      room_posts_failed: ["count>=0"],
      room_turn: ["max>=0"],
      room_turn_sum: ["count>=0"],
      room_turn_sq: ["count>=0"],
    }),
  },
};

const lastSeen = {};

export default function () {
  const user = vuUser();
  const room = config.rooms[(vuIndex() + exec.vu.iterationInScenario) % config.rooms.length];
  const prompt = `${user.id}-p${exec.vu.iterationInScenario}`;
  const res = api.postRoom(gateway(), user, room, prompt);
  postMs.add(res.timings.duration);
  locked.add(res.status === 423);
  if (res.status === 423) {
    sleep(retryAfter(res));
    return;
  }
  if (!answered(res, 200, "room post answered 200", `${user.id} in ${room}`)) {
    postsFailed.add(1, { room });
    return;
  }
  const body = json(res) ?? {};
  record(replyOk, "room turn matches reply and rises", checkRoomReply(lastSeen[room] ?? 0, prompt, body), `${user.id} in ${room}`);
  const turn = typeof body.turn === "number" ? body.turn : 0;
  lastSeen[room] = Math.max(lastSeen[room] ?? 0, turn);
  postsOk.add(1, { room });
  turnSum.add(turn, { room });
  turnSquares.add(turn * turn, { room });
  turnSeen.add(turn, { room });
  sleep(p.thinkMs / 1000);
}

export function roomInvariants(data) {
  const ok = tagged(data, "room_posts_ok", "room");
  const failed = tagged(data, "room_posts_failed", "room");
  const max = tagged(data, "room_turn", "room");
  const sums = tagged(data, "room_turn_sum", "room");
  const squares = tagged(data, "room_turn_sq", "room");
  const report = { roomPosts: {} };
  const invariants = config.rooms.map((room) => {
    const tally = {
      ok: ok[room]?.count ?? 0,
      failed: failed[room]?.count ?? 0,
      maxTurn: max[room]?.max ?? 0,
      sumTurns: sums[room]?.count ?? 0,
      sumSquares: squares[room]?.count ?? 0,
    };
    report.roomPosts[room] = tally.ok;
    const v = checkRoomLinear(tally);
    return { name: `room ${room} turns are 1..N`, ok: v.ok, detail: v.ok ? `${tally.ok} posts, turns 1..${tally.ok}` : v.reason };
  });
  report.locked423Rate = data.metrics.room_locked?.values.rate ?? 0;
  return { invariants, report };
}

export const handleSummary = summaryHandler(roomInvariants, ["room_post_ms"]);
