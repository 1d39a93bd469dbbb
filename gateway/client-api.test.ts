/**
 * The client API against a real CLI (offline, mock model) and two gateway replicas sharing a real
 * Redis: history with statuses and cursors, abort on the same and on the other replica, models,
 * and Idempotency-Key (a retry after success and while in flight writes the prompt once; off
 * with the test switch, the same retries write it again), for sessions and for rooms.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayFor } from "../testing/gateway.js";
import { startOfflineCli, type OfflineCli } from "../testing/local.js";
import { startTestRedis, type TestRedis } from "../testing/redis.js";
import type { Gateway, UnsafeSwitches } from "./server.js";

const TOKEN = "t".repeat(32);
const TOKENS = { alice: "alice-token-0123456789", bob: "bob-token-0123456789ab" };
let redis: TestRedis;
let offline: OfflineCli;
const gateways: Gateway[] = [];

async function gateway(unsafe: UnsafeSwitches = {}, idempotencyWaitSeconds = 20): Promise<Gateway> {
  // collaborative: the shared topology's session routes, and rooms.
  const gw = await gatewayFor(offline, { topology: "collaborative", store: "redis", lifecycle: { lockWaitSeconds: 20 }, http: { idempotencyWaitSeconds } }, { env: { GATEWAY_REDIS_URL: redis.url }, unsafe });
  gateways.push(gw);
  return gw;
}

beforeAll(async () => {
  redis = await startTestRedis();
  offline = await startOfflineCli(TOKEN);
}, 120_000);
afterAll(async () => {
  for (const gw of gateways) await gw.drainAndStop();
  await offline?.stop();
  await redis?.stop();
});

type Msg = { id: string; role: string; content: string; status?: string };
const as = (user: keyof typeof TOKENS, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${TOKENS[user]}`, ...extra });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function newSession(gw: Gateway, user: keyof typeof TOKENS = "alice"): Promise<string> {
  const r = await gw.app.inject({ method: "POST", url: "/v1/sessions", headers: as(user), payload: {} });
  expect(r.statusCode, r.body).toBe(201);
  return r.json<{ sessionId: string }>().sessionId;
}
const send = (gw: Gateway, id: string, prompt: string, headers: Record<string, string> = {}) =>
  gw.app.inject({ method: "POST", url: `/v1/sessions/${id}/messages`, headers: as("alice", headers), payload: { prompt } });
const postRoom = (gw: Gateway, room: string, prompt: string, user: keyof typeof TOKENS = "alice", headers: Record<string, string> = {}) =>
  gw.app.inject({ method: "POST", url: `/v1/rooms/${room}/messages`, headers: as(user, headers), payload: { prompt } });
async function history(gw: Gateway, id: string, query = "", kind: "sessions" | "rooms" = "sessions"): Promise<{ messages: Msg[]; nextCursor: string | null }> {
  const r = await gw.app.inject({ method: "GET", url: `/v1/${kind}/${id}/messages${query}`, headers: as("alice") });
  expect(r.statusCode, r.body).toBe(200);
  return r.json();
}
const times = (msgs: Msg[], prompt: string) => msgs.filter((m) => m.role === "user" && m.content === prompt).length;

describe("client API", () => {
  it("history: user and assistant messages with statuses, paged by cursor, owner-checked", async () => {
    const gw = await gateway();
    const id = await newSession(gw);
    for (const p of ["one", "two"]) expect((await send(gw, id, p)).statusCode).toBe(200);
    const all = await history(gw, id);
    expect(all.messages.map((m) => [m.role, m.role === "user" ? m.content : m.content.split("\n")[1], m.status])).toEqual([
      ["user", "one", "answered"],
      ["assistant", "turn=1 prompt=one", undefined],
      ["user", "two", "answered"],
      ["assistant", "turn=2 prompt=two", undefined],
    ]);
    expect(all.nextCursor).toBeNull();
    const pages: Msg[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const page = await history(gw, id, `?limit=3${cursor ? `&after=${cursor}` : ""}`);
      pages.push(...page.messages);
      cursor = page.nextCursor;
    }
    expect(pages.map((m) => m.id)).toEqual(all.messages.map((m) => m.id));
    expect((await gw.app.inject({ method: "GET", url: `/v1/sessions/${id}/messages?after=nope`, headers: as("alice") })).json()).toMatchObject({ error: { code: "invalid_cursor" } });
    expect((await gw.app.inject({ method: "GET", url: `/v1/sessions/${id}/messages?limit=0`, headers: as("alice") })).json()).toMatchObject({ error: { code: "invalid_query" } });
    const stranger = await gw.app.inject({ method: "GET", url: `/v1/sessions/${id}/messages`, headers: as("bob") });
    expect(stranger.statusCode).toBe(404);
  }, 60_000);

  it("abort: stops the turn in flight on this replica and on another; 409 when none runs", async () => {
    const [a, b] = [await gateway(), await gateway()];
    const id = await newSession(a);
    const none = await a.app.inject({ method: "POST", url: `/v1/sessions/${id}/abort`, headers: as("alice") });
    expect(none.statusCode).toBe(409);
    expect(none.json()).toMatchObject({ error: { code: "no_turn_in_flight" } });
    for (const [runner, aborter, prompt] of [[a, a, "same replica [sleep:20000]"], [a, b, "other replica [sleep:20000]"]] as const) {
      const turn = send(runner, id, prompt);
      await sleep(1_000);
      const t0 = Date.now();
      const r = await aborter.app.inject({ method: "POST", url: `/v1/sessions/${id}/abort`, headers: as("alice") });
      expect(r.statusCode, r.body).toBe(200);
      const stopped = await turn;
      expect(stopped.statusCode, stopped.body).toBe(409);
      expect(stopped.json()).toMatchObject({ error: { code: "turn_aborted" } });
      expect(Date.now() - t0, "stopped long before the model's 20 s").toBeLessThan(10_000);
      expect((await history(aborter, id)).messages.find((m) => m.content === prompt)?.status).toBe("aborted");
    }
    expect(JSON.parse((await send(a, id, "after aborts")).body).content).toContain("prompt=after aborts");
    const stranger = await b.app.inject({ method: "POST", url: `/v1/sessions/${id}/abort`, headers: as("bob") });
    expect(stranger.statusCode).toBe(404);
  }, 90_000);

  it("models: the configured BYOK model when the offline CLI lists none, authenticated", async () => {
    const gw = await gateway();
    const r = await gw.app.inject({ method: "GET", url: "/v1/models", headers: as("alice") });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toEqual({ models: [{ id: "mock-model", name: "mock-model" }], source: "provider-config" });
    expect((await gw.app.inject({ method: "GET", url: "/v1/models" })).statusCode).toBe(401);
  }, 30_000);

  /** A retry after success, and one on the other replica while the first runs; returns the prompt's count in the history. */
  async function retries(unsafe: UnsafeSwitches, target: "session" | "room" = "session"): Promise<{ count: number; replies: { status: number; content?: string; replayed?: string }[] }> {
    const [a, b] = [await gateway(unsafe), await gateway(unsafe)];
    const room = `idem-${Math.random().toString(36).slice(2)}`;
    const id = target === "session" ? await newSession(a) : undefined;
    const key = { "idempotency-key": `k-${Math.random()}` };
    const prompt = "write me once [sleep:1500]";
    const post = (gw: Gateway) => (id ? send(gw, id, prompt, key) : postRoom(gw, room, prompt, "alice", key));
    const first = post(a);
    await sleep(500);
    const whileInFlight = await post(b);
    const afterSuccess = await post(b);
    const replies = [await first, whileInFlight, afterSuccess].map((r) => ({
      status: r.statusCode,
      content: r.statusCode === 200 ? r.json<{ content: string }>().content : undefined,
      replayed: r.headers["idempotent-replayed"] as string | undefined,
    }));
    return { count: times((await history(a, id ?? room, "", id ? "sessions" : "rooms")).messages, prompt), replies };
  }

  for (const target of ["session", "room"] as const) {
    it(`Idempotency-Key (${target}): a retry while in flight (other replica) and after success gets the first answer; the prompt is written once`, async () => {
      const { count, replies } = await retries({}, target);
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(new Set(replies.map((r) => r.content)).size, "one answer, replayed").toBe(1);
      expect(replies.map((r) => r.replayed)).toEqual([undefined, "true", "true"]);
      expect(count).toBe(1);
    }, 60_000);

    it(`negative control (${target}): with idempotency off the same retries write the prompt three times`, async () => {
      const { count } = await retries({ "no-idempotency": true }, target);
      expect(count).toBe(3);
    }, 60_000);
  }

  it("room abort: any member stops the room's turn in flight, on this replica or another; 409 when none runs, 404 for a room never posted to", async () => {
    const [a, b] = [await gateway(), await gateway()];
    const room = `abort-${Math.random().toString(36).slice(2)}`;
    const abort = (gw: Gateway, user: keyof typeof TOKENS = "bob") => gw.app.inject({ method: "POST", url: `/v1/rooms/${room}/abort`, headers: as(user) });
    expect((await abort(a)).json()).toMatchObject({ error: { code: "not_found" } });
    expect((await postRoom(a, room, "hello room")).statusCode).toBe(200);
    expect((await abort(a)).json()).toMatchObject({ error: { code: "no_turn_in_flight" } });
    for (const [runner, aborter, prompt] of [[a, a, "room same replica [sleep:20000]"], [a, b, "room other replica [sleep:20000]"]] as const) {
      const turn = postRoom(runner, room, prompt);
      await sleep(1_000);
      const t0 = Date.now();
      const r = await abort(aborter);
      expect(r.statusCode, r.body).toBe(200);
      expect(r.json()).toEqual({ room, aborted: true });
      const stopped = await turn;
      expect(stopped.json()).toMatchObject({ error: { code: "turn_aborted" } });
      expect(Date.now() - t0, "stopped long before the model's 20 s").toBeLessThan(10_000);
      expect((await history(aborter, room, "", "rooms")).messages.find((m) => m.content === prompt)?.status).toBe("aborted");
    }
    expect((await postRoom(b, room, "after aborts")).json<{ turn: number }>().turn).toBe(4);
  }, 90_000);

  it("Idempotency-Key: another body with the same key is 422, a bad key 400, and a request refused before writing frees its key", async () => {
    const gw = await gateway();
    const id = await newSession(gw);
    const key = { "idempotency-key": `k-${Math.random()}` };
    expect((await send(gw, id, "first", key)).statusCode).toBe(200);
    const other = await send(gw, id, "second", key);
    expect(other.statusCode).toBe(422);
    expect(other.json()).toMatchObject({ error: { code: "idempotency_key_reused" } });
    const bad = await send(gw, id, "x", { "idempotency-key": "has space" });
    expect(bad.json()).toMatchObject({ error: { code: "invalid_idempotency_key" } });
    // Bob's session id is not Alice's: 404 before anything is written, and the key stays usable.
    const bobs = await newSession(gw, "bob");
    const k2 = { "idempotency-key": `k-${Math.random()}` };
    expect((await send(gw, bobs, "lost", k2)).statusCode).toBe(404);
    expect((await send(gw, id, "lost", k2)).statusCode).toBe(200);
    expect(times((await history(gw, id)).messages, "first")).toBe(1);
  }, 60_000);

  it("Idempotency-Key: past the wait a retry gets 409 idempotency_in_flight; a streamed retry and a chat retry replay the first answer", async () => {
    const gw = await gateway({}, 0);
    const id = await newSession(gw);
    const key = { "idempotency-key": `k-${Math.random()}` };
    const prompt = "slow once [sleep:2000]";
    const first = send(gw, id, prompt, key);
    await sleep(500);
    const early = await send(gw, id, prompt, key);
    expect(early.statusCode).toBe(409);
    expect(early.json()).toMatchObject({ error: { code: "idempotency_in_flight" } });
    expect(Number(early.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    const content = (await first).json<{ content: string }>().content;
    const streamed = await send(gw, id, prompt, { ...key, accept: "text/event-stream" });
    expect(streamed.headers["idempotent-replayed"]).toBe("true");
    expect(streamed.body).toContain("event: done");
    expect(streamed.body).toContain(JSON.stringify(content));
    expect(times((await history(gw, id)).messages, prompt)).toBe(1);

    const chatKey = { "idempotency-key": `chat-${Math.random()}` };
    const chat = () => gw.app.inject({ method: "POST", url: "/v1/chat", headers: as("alice", chatKey), payload: { prompt: "one-shot" } });
    const [c1, c2] = [await chat(), await chat()];
    expect([c1.statusCode, c2.statusCode]).toEqual([200, 200]);
    expect(c2.json()).toEqual(c1.json());
    expect([c1.headers["idempotent-replayed"], c2.headers["idempotent-replayed"]]).toEqual([undefined, "true"]);
  }, 60_000);
});
