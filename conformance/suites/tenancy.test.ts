/**
 * The cross-tenant matrix, for every topology: three users, each with a session (and, where rooms
 * are served, a room only they belong to). For every ordered pair, every verb on every resource of
 * the other user is tried. Each attempt must be denied without leaking existence: a session answers
 * 404 byte for byte like one that does not exist, a room 403 exactly like a room never used, and a
 * list never shows the other's session. Afterwards every owner's history is intact.
 */
import { afterAll, beforeAll, describe, expect } from "vitest";
import { mintToken } from "../../topology/tokens.js";
import { api, conformance, createSession, recordFigure, send, target, turnOf, user, type ApiResponse } from "../harness.js";

interface Tenant {
  name: string;
  user: string;
  sessionId: string;
  room: string;
  /** A token whose rooms claim names only this tenant's room. */
  roomToken?: string;
}

const tally = { attempts: 0, denials: 0 };
let tenants: Tenant[] = [];
const pairs = () => tenants.flatMap((a) => tenants.filter((o) => o !== a).map((o) => [a, o] as const));
const suffix = Math.random().toString(36).slice(2, 8);

beforeAll(async () => {
  tenants = await Promise.all(
    ["ann", "ben", "cat"].map(async (name) => {
      const u = user(`tenant-${name}`);
      const sessionId = await createSession(u);
      const first = await send(u, sessionId, `${name}'s first message`);
      expect(first.status).toBe(200);
      return { name, user: u, sessionId, room: `room-${name}-${suffix}` };
    }),
  );
}, 120_000);

afterAll(() => {
  if (tally.attempts === 0) return;
  recordFigure("cross-tenant attempts", tally.attempts, "requests", "every verb on every resource of another user, each ordered pair of 3 users");
  recordFigure("cross-tenant denials", tally.denials, "requests", "404 identical to a missing session, 403 identical to an unused room, absent from lists");
});

/** What an answer shows a caller: status, body, and whether a CLI server was touched. */
const shown = (r: ApiResponse) => ({ status: r.status, body: r.text, server: r.headers.get("x-copilot-server") });

function count(denied: boolean, what: string, got: unknown, like: unknown): void {
  tally.attempts++;
  if (denied) tally.denials++;
  expect(got, `${what}: must be denied exactly like a resource that does not exist`).toEqual(like);
}

type SessionVerb = { verb: string; call: (u: string, id: string) => Promise<ApiResponse> };
const SESSION_VERBS: SessionVerb[] = [
  { verb: "GET", call: (u, id) => api("GET", `/v1/sessions/${id}`, { user: u }) },
  { verb: "POST message", call: (u, id) => api("POST", `/v1/sessions/${id}/messages`, { user: u, json: { prompt: "whose session is this?" } }) },
  {
    verb: "POST message (SSE)",
    call: (u, id) => api("POST", `/v1/sessions/${id}/messages`, { user: u, json: { prompt: "stream me their history" }, headers: { accept: "text/event-stream" } }),
  },
  // Last: were it allowed, it would remove the session the other verbs probe.
  { verb: "DELETE", call: (u, id) => api("DELETE", `/v1/sessions/${id}`, { user: u }) },
];

describe("cross-tenant matrix", () => {
  conformance(["session-isolation"], "every verb on another user's session is 404 like a missing one, and lists show only your own", async () => {
    const missing = `s-missing-${suffix}`;
    const before = tally.attempts;
    for (const [attacker, owner] of pairs()) {
      for (const { verb, call } of SESSION_VERBS) {
        const theirs = shown(await call(attacker.user, owner.sessionId));
        const none = shown(await call(attacker.user, missing));
        expect(none.status, `${verb} on a missing session`).toBe(404);
        count(theirs.status === 404 && theirs.body === none.body && theirs.server === null, `${attacker.name} ${verb} ${owner.name}'s session`, theirs, none);
      }
      const list = await api<{ sessions: { sessionId: string }[] }>("GET", "/v1/sessions", { user: attacker.user });
      expect(list.status).toBe(200);
      const ids = list.body.sessions.map((s) => s.sessionId);
      count(!ids.includes(owner.sessionId), `${attacker.name} lists sessions`, ids.includes(owner.sessionId), false);
    }
    expect(tally.attempts - before, "3 users: 6 ordered pairs, 4 verbs and the list each").toBe(6 * (SESSION_VERBS.length + 1));
    // Allowed by design: each owner still has exactly its session, with only its own turn in it.
    for (const t of tenants) {
      const list = await api<{ sessions: { sessionId: string }[] }>("GET", "/v1/sessions", { user: t.user });
      expect(list.body.sessions.map((s) => s.sessionId)).toEqual([t.sessionId]);
      const next = await send(t.user, t.sessionId, `${t.name} again`);
      expect(next.status).toBe(200);
      expect(turnOf(next.body.content), `${t.name}'s history`).toEqual({ turn: 2, prompt: `${t.name} again` });
    }
  });

  conformance(["session-isolation", "rooms"], "rooms: posting without membership is 403 like an unused room, and a room's session is nobody's to open", async () => {
    const auth = target().auth;
    for (const t of tenants) {
      t.roomToken = await mintToken(auth, t.user, { rooms: [t.room] });
      const r = await api<{ turn: number }>("POST", `/v1/rooms/${t.room}/messages`, { token: t.roomToken, json: { prompt: `${t.name} opens the room` } });
      expect(r.status, `${t.name} posts to their own room: allowed by design`).toBe(200);
      expect(r.body.turn).toBe(1);
    }
    const unused = `room-never-used-${suffix}`;
    const before = tally.attempts;
    for (const [attacker, owner] of pairs()) {
      const post = (room: string) => api("POST", `/v1/rooms/${room}/messages`, { token: attacker.roomToken!, json: { prompt: "let me in" } });
      const theirs = shown(await post(owner.room));
      const none = shown(await post(unused));
      expect(none.status, "a room without membership").toBe(403);
      // The message names the room asked for; with that masked, both answers must be identical.
      const masked = { ...theirs, body: theirs.body.replaceAll(owner.room, unused) };
      count(theirs.status === 403 && masked.body === none.body && theirs.server === null, `${attacker.name} posts to ${owner.name}'s room`, masked, none);
      // A room's conversation is a session in the store, but not one the session API hands out.
      for (const { verb, call } of SESSION_VERBS) {
        const viaSessions = shown(await call(attacker.user, `r-${owner.room}`));
        const missing = shown(await call(attacker.user, `r-${unused}`));
        count(viaSessions.status === 404 && viaSessions.body === missing.body && viaSessions.server === null, `${attacker.name} ${verb} ${owner.name}'s room session`, viaSessions, missing);
      }
    }
    expect(tally.attempts - before, "6 ordered pairs, a post and 4 session verbs each").toBe(6 * (1 + SESSION_VERBS.length));
    for (const t of tenants) {
      const r = await api<{ turn: number }>("POST", `/v1/rooms/${t.room}/messages`, { token: t.roomToken!, json: { prompt: `${t.name} is back` } });
      expect(r.status).toBe(200);
      expect(r.body.turn, `${t.name}'s room holds only its member's turns`).toBe(2);
    }
  });

});
