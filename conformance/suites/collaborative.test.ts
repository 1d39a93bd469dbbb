/** collaborative: shared rooms serialized by a fair, fenced lock. */
import { describe, expect } from "vitest";
import { mintToken } from "../../topology/tokens.js";
import { adminUrlOf, api, conformance, recordFigure, sleep, target, turnOf, user, waitFor } from "../harness.js";
import { expectNothingLeft } from "../leftovers.js";

type RoomReply = { content: string; turn: number; room: string };
const uniqueRoom = (name: string) => `${name}-${Math.random().toString(36).slice(2, 8)}`;

function post(u: string, room: string, prompt: string, gateway = 0, timeoutMs = 60_000) {
  return api<RoomReply>("POST", `/v1/rooms/${room}/messages`, { user: u, json: { prompt }, gateway, timeoutMs });
}

/** Every reply answers its own prompt, carries the CLI's turn number, and the turns are exactly 1..N. */
function expectLinear(replies: { prompt: string; status: number; body: RoomReply }[]) {
  for (const r of replies) {
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const marker = turnOf(r.body.content);
    expect(marker.prompt, "each poster gets the reply to its own prompt").toBe(r.prompt);
    expect(r.body.turn, "the turn field is the history's own count").toBe(marker.turn);
  }
  const turns = replies.map((r) => r.body.turn).sort((a, b) => a - b);
  expect(turns, "turn numbers are exactly 1..N: the history is linear").toEqual(replies.map((_, i) => i + 1));
}

async function contend(room: string, posters: number, gateways: number) {
  const t = target();
  return Promise.all(
    Array.from({ length: posters }, async (_, i) => {
      const prompt = `poster ${i} says hi`;
      const r = await post(user(`poster${i}`), room, prompt, i % gateways);
      return { prompt, status: r.status, body: r.body, server: r.headers.get("x-copilot-server") ?? "", gateway: t.gatewayUrls[i % gateways] };
    }),
  );
}

describe("rooms", () => {
  conformance(["rooms", "room-lock"], "8 concurrent posters on one room each get their own reply, turns exactly 1..8", async () => {
    const replies = await contend(uniqueRoom("room"), 8, 1);
    expectLinear(replies);
    expect(new Set(replies.map((r) => r.server)).size).toBe(1);
  });

  conformance(["rooms", "room-lock", "multi-gateway"], "the same holds with posters spread across gateway replicas", async () => {
    const gateways = Math.min(2, target().gatewayUrls.length);
    const replies = await contend(uniqueRoom("room-multi"), 10, gateways);
    expectLinear(replies);
  });

  conformance(["rooms"], "only members may post: the rooms claim decides", async () => {
    const room = uniqueRoom("members");
    const outsider = user("outsider");
    const member = user("member");
    const onlyOther = await mintToken(target().auth, outsider, { rooms: ["some-other-room"] });
    const noClaim = await mintToken(target().auth, outsider, {});
    const memberToken = await mintToken(target().auth, member, { rooms: [room] });
    for (const token of [onlyOther, noClaim]) {
      const r = await api("POST", `/v1/rooms/${room}/messages`, { token, json: { prompt: "let me in" } });
      expect(r.status).toBe(403);
      expect((r.body as { error: { code: string } }).error.code).toBe("forbidden");
    }
    const ok = await api<RoomReply>("POST", `/v1/rooms/${room}/messages`, { token: memberToken, json: { prompt: "hello room" } });
    expect(ok.status).toBe(200);
    expect(ok.body.turn).toBe(1);
  });

  conformance(["rooms", "room-lock"], "a poster who waits past the lock wait gets 423 with Retry-After, and nothing is written", async () => {
    const room = uniqueRoom("busy");
    const waitS = target().settings.lockWaitSeconds;
    const long = post(user("holder"), room, `hold the room [sleep:${Math.ceil((waitS + 2) * 1000)}]`, 0, 120_000);
    await sleep(500);
    const t0 = Date.now();
    const r = await post(user("impatient"), room, "me next");
    const waited = (Date.now() - t0) / 1000;
    expect(r.status).toBe(423);
    expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((r.body as unknown as { error: { code: string } }).error.code).toBe("room_busy");
    expect(waited).toBeGreaterThanOrEqual(waitS * 0.9);
    expect((await long).status).toBe(200);
    const next = await post(user("impatient"), room, "now me");
    expect(next.body.turn).toBe(2);
  });

  conformance(["room-lock", "multi-gateway", "process-control"], "a replica killed while holding the lock blocks others no longer than the lock TTL plus a margin", async () => {
    const t = target(true);
    const room = uniqueRoom("killed");
    const ttl = t.settings.lockTtlSeconds;
    const victim = t.gateways![0]!;
    const held = post(user("doomed"), room, "[sleep:1000] doomed turn", 0).catch(() => undefined);
    await sleep(400);
    process.kill(victim.pid, "SIGKILL");
    const t0 = Date.now();
    const r = await post(user("survivor"), room, "after the crash", 1, 120_000);
    const blocked = (Date.now() - t0) / 1000;
    await held;
    recordFigure("room blocked after lock holder SIGKILL", blocked, "s", `lock TTL ${ttl} s`);
    expect(r.status).toBe(200);
    expect(blocked).toBeLessThanOrEqual(ttl + 5);
    // The doomed prompt reached the CLI before the kill, so the survivor's turn comes after it.
    expect(r.body.turn).toBe(turnOf(r.body.content).turn);
    await waitFor("killed replica restarted", async () => target(true).gateways!.find((g) => g.url === victim.url)!.pid !== victim.pid && (await fetch(`${adminUrlOf(victim.url)}/readyz`)).ok, 60_000, 200);
    await expectNothingLeft(() => target(true));
  });

  conformance(["room-lock", "multi-gateway", "process-control"], "a replica paused past the lock TTL and resumed is fenced off: the history does not fork", async () => {
    const t = target(true);
    const room = uniqueRoom("paused");
    const ttl = t.settings.lockTtlSeconds;
    const paused = t.gateways![0]!;
    const stale = post(user("sleeper"), room, "[sleep:300] the stale holder's prompt", 0, 120_000);
    await sleep(150);
    process.kill(paused.pid, "SIGSTOP");
    let resumed = false;
    try {
      await sleep((ttl + 1) * 1000);
      const others: { prompt: string; status: number; body: RoomReply }[] = [];
      for (let i = 0; i < 3; i++) {
        const prompt = `while paused ${i}`;
        const r = await post(user(`awake${i}`), room, prompt, 1);
        others.push({ prompt, status: r.status, body: r.body });
      }
      process.kill(paused.pid, "SIGCONT");
      resumed = true;
      const late = await stale;
      // The paused holder lost its lock: it must not answer as if its turn were still current.
      expect(late.status, JSON.stringify(late.body)).toBe(409);
      const lateError = (late.body as unknown as { error: { code: string; message: string } }).error;
      expect(lateError.code).toBe("lock_lost");
      // Paused before its write, the stale prompt was refused; paused after it, only its reply is withheld.
      const staleWritten = !lateError.message.includes("not written");
      for (const o of others) {
        expect(o.status).toBe(200);
        expect(turnOf(o.body.content).prompt).toBe(o.prompt);
        expect(o.body.turn).toBe(turnOf(o.body.content).turn);
      }
      const turns = others.map((o) => o.body.turn);
      expect(new Set(turns).size).toBe(turns.length);
      const final = await post(user("awake-final"), room, "final", 1);
      // Linear history: 3 turns (plus the stale prompt if it was written) came before this one.
      const expected = 4 + (staleWritten ? 1 : 0);
      expect(final.body.turn).toBe(expected);
      expect(turnOf(final.body.content).turn).toBe(expected);
      expect(Math.min(...turns)).toBe(staleWritten ? 2 : 1);
      recordFigure("forked room histories after SIGSTOP past the TTL", 0, "count");
    } finally {
      if (!resumed) process.kill(paused.pid, "SIGCONT");
    }
    await expectNothingLeft(() => target(true));
  }, 120_000);
});

describe("delete during a turn", () => {
  conformance(["sessions", "room-lock", "multi-gateway"], "a DELETE on one replica while a turn runs on another waits for the turn; nothing hangs and the lock is free after", async () => {
    const t = target();
    const u = user("deleter");
    const created = await api<{ sessionId: string }>("POST", "/v1/sessions", { user: u, json: {} });
    expect(created.status).toBe(201);
    const id = created.body.sessionId;
    const t0 = Date.now();
    const turn = api<{ content: string }>("POST", `/v1/sessions/${id}/messages`, { user: u, json: { prompt: "[sleep:1500] the long turn" }, gateway: 0, timeoutMs: 60_000 });
    await sleep(400);
    const del = await api("DELETE", `/v1/sessions/${id}`, { user: u, gateway: 1 % t.gatewayUrls.length, timeoutMs: 60_000 });
    const turned = await turn;
    const turnMs = Date.now() - t0;
    // The turn was not cut from under it: it answered in full, in turn-time, not after a timeout.
    expect(turned.status, turned.text).toBe(200);
    expect(turnOf(turned.body.content).prompt).toBe("[sleep:1500] the long turn");
    expect(turnMs).toBeLessThan(20_000);
    // The delete waited for it (204), or gave up clearly past the lock wait (423 session busy).
    expect([204, 423], del.text).toContain(del.status);
    if (del.status === 423) expect((await api("DELETE", `/v1/sessions/${id}`, { user: u })).status).toBe(204);
    expect((await api("GET", `/v1/sessions/${id}`, { user: u })).status).toBe(404);
    recordFigure("turn duration with a concurrent delete on another replica", turnMs, "ms");
    await expectNothingLeft(() => target(true));
  }, 90_000);
});
