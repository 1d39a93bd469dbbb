/**
 * The API a chat client is built on: history (and what it says after a CLI killed mid-turn),
 * abort (on the replica that runs the turn and on another), models, Idempotency-Key (a retry after
 * success and while in flight writes the prompt once), for sessions and rooms, and the OpenAPI
 * document's routes.
 */
import { describe, expect } from "vitest";
import { expectNothingLeft } from "../leftovers.js";
import { api, claims, conformance, createSession, recordFigure, send, sleep, target, turnOf, user, waitFor } from "../harness.js";

type Msg = { id: string; role: "user" | "assistant"; content: string; status?: string };
type Page = { messages: Msg[]; nextCursor: string | null };

/** A session's history (`id`), or a room's (`rooms/<room>`), every page. */
async function history(u: string, id: string, gateway?: number): Promise<Msg[]> {
  const out: Msg[] = [];
  let after: string | null = "";
  const base = id.startsWith("rooms/") ? `/v1/${id}` : `/v1/sessions/${id}`;
  while (after !== null) {
    const r: Awaited<ReturnType<typeof api<Page>>> = await api<Page>("GET", `${base}/messages?limit=2${after ? `&after=${encodeURIComponent(after)}` : ""}`, { user: u, gateway });
    if (r.status !== 200) throw new Error(`history: ${r.status} ${r.text}`);
    out.push(...r.body.messages);
    after = r.body.nextCursor;
  }
  return out;
}
const userMessages = (msgs: Msg[], prompt: string) => msgs.filter((m) => m.role === "user" && m.content === prompt);
/** The other replica when there are two, else the same one. */
const other = () => (target().gatewayUrls.length > 1 ? 1 : 0);

describe("client API", () => {
  conformance(["history", "session-isolation"], "history: every prompt and reply in order, answered, paged by cursor, owner only", async () => {
    const u = user("history");
    const id = await createSession(u);
    for (const p of ["first", "second", "third"]) expect((await send(u, id, p)).status).toBe(200);
    const msgs = await history(u, id);
    expect(msgs.map((m) => (m.role === "user" ? `${m.content}:${m.status}` : turnOf(m.content).turn))).toEqual(["first:answered", 1, "second:answered", 2, "third:answered", 3]);
    expect(new Set(msgs.map((m) => m.id)).size).toBe(6);
    const stranger = await api("GET", `/v1/sessions/${id}/messages`, { user: user("history-stranger") });
    expect(stranger.status).toBe(404);
    const bad = await api<{ error: { code: string } }>("GET", `/v1/sessions/${id}/messages?after=not-a-message`, { user: u });
    expect([bad.status, bad.body.error.code]).toEqual([400, "invalid_cursor"]);
  });

  conformance(["history", "persistence", "process-control"], "history after a CLI killed mid-turn says whether the prompt was written; resending only when it was not writes it once", async () => {
    const u = user("killed");
    const id = await createSession(u);
    const before = await send(u, id, "acknowledged");
    expect(before.status).toBe(200);
    const server = target(true).servers.find((s) => s.id === before.headers.get("x-copilot-server"))!;
    const prompt = "interrupted by a kill [sleep:5000]";
    const inflight = api<{ content?: string; error?: { code: string } }>("POST", `/v1/sessions/${id}/messages`, { user: u, json: { prompt }, timeoutMs: 60_000 });
    await sleep(1_000);
    process.kill(server.pid!, "SIGKILL");
    const r = await inflight;
    expect(r.status === 200 || ["turn_interrupted", "server_unavailable"].includes(r.body.error?.code ?? ""), `${r.status} ${r.text}`).toBe(true);
    // The CLI is restarted by the platform: the history is readable again once it is back.
    const after = await waitFor("history readable after the kill", async () => history(u, id).catch(() => undefined), 60_000, 500);
    expect(userMessages(after, "acknowledged").map((m) => m.status)).toEqual(["answered"]);
    const written = userMessages(after, prompt);
    expect(written.length, "written at most once").toBeLessThanOrEqual(1);
    if (r.status === 200) expect(written.map((m) => m.status)).toEqual(["answered"]);
    else if (written.length) expect(written[0]!.status, "written but never answered").toBe("unanswered");
    recordFigure("mid-turn CLI kill: the interrupted prompt was in the history", written.length, "count", `request answered ${r.status}`);
    // What turn_interrupted tells a client to do: resend only what the history does not hold.
    if (r.status !== 200 && written.length === 0) expect((await send(u, id, prompt)).status).toBe(200);
    expect(userMessages(await history(u, id), prompt).length, "the prompt is in the history once").toBe(1);
    await expectNothingLeft(() => target(true));
  }, 120_000, (t) => t.topology === "shared" || t.topology === "shared-storage");

  /** A session of `u`, or (rooms) a fresh room: the path prefix of its routes and its history id. */
  async function conversation(u: string, kind: "session" | "room"): Promise<{ base: string; historyId: string }> {
    if (kind === "room") {
      const room = `${u}-room`;
      return { base: `/v1/rooms/${room}`, historyId: `rooms/${room}` };
    }
    const id = await createSession(u);
    return { base: `/v1/sessions/${id}`, historyId: id };
  }

  for (const kind of ["session", "room"] as const) {
    conformance(["abort", "history", ...(kind === "room" ? (["rooms"] as const) : [])], `abort (${kind}) stops the turn in flight (on the replica running it and on another); 409 when none runs`, async () => {
      const u = user(`abort-${kind}`);
      const { base, historyId } = await conversation(u, kind);
      if (kind === "room") expect((await api("POST", `${base}/messages`, { user: u, json: { prompt: "open the room" } })).status).toBe(200);
      const none = await api<{ error: { code: string } }>("POST", `${base}/abort`, { user: u });
      expect([none.status, none.body.error?.code]).toEqual([409, "no_turn_in_flight"]);
      for (const [name, gateway] of [["same replica", 0], ["other replica", other()]] as const) {
        const prompt = `stop me (${name}) [sleep:30000]`;
        const turn = api<{ error?: { code: string } }>("POST", `${base}/messages`, { user: u, json: { prompt }, gateway: 0, timeoutMs: 60_000 });
        await sleep(1_000);
        const t0 = Date.now();
        // In a room any member may stop the turn: another member asks.
        const r = await api("POST", `${base}/abort`, { user: kind === "room" ? user("abort-room-member") : u, gateway });
        expect(r.status, r.text).toBe(200);
        const stopped = await turn;
        expect([stopped.status, stopped.body.error?.code], `${name}: the turn's own answer`).toEqual([409, "turn_aborted"]);
        recordFigure(`abort (${kind}, ${name}): time until the turn answered`, Date.now() - t0, "ms");
        expect(userMessages(await history(u, historyId), prompt).map((m) => m.status)).toEqual(["aborted"]);
      }
      const after = await api<{ content: string }>("POST", `${base}/messages`, { user: u, json: { prompt: "after the aborts" } });
      expect(turnOf(after.body.content).prompt).toBe("after the aborts");
      await expectNothingLeft(() => target(true));
    }, 90_000);
  }

  conformance(["models"], "models: an authenticated list with at least one model; 401 without a token", async () => {
    const r = await api<{ models: { id: string; name: string }[]; source: string }>("GET", "/v1/models", { user: user("models") });
    expect(r.status, r.text).toBe(200);
    expect(r.body.models.length).toBeGreaterThanOrEqual(1);
    for (const m of r.body.models) expect(typeof m.id).toBe("string");
    expect((await api("GET", "/v1/models")).status).toBe(401);
  });

  for (const kind of ["session", "room"] as const) {
    conformance(["idempotency", "history", ...(kind === "room" ? (["rooms"] as const) : [])], `Idempotency-Key (${kind}): a retry while in flight (on another replica if any) and after success returns the first answer; history shows the prompt once`, async () => {
      const u = user(`idem-${kind}`);
      const { base, historyId } = await conversation(u, kind);
      const prompt = "exactly once [sleep:2000]";
      const headers = { "idempotency-key": `key-${Math.random().toString(36).slice(2)}` };
      const post = (gateway: number) => api<{ content: string }>("POST", `${base}/messages`, { user: u, json: { prompt }, headers, gateway, timeoutMs: 60_000 });
      const first = post(0);
      await sleep(700);
      const whileInFlight = await post(other());
      const afterSuccess = await post(0);
      const replies = [await first, whileInFlight, afterSuccess];
      const count = userMessages(await history(u, historyId), prompt).length;
      recordFigure(`Idempotency-Key (${kind}): the prompt in the history after 3 posts with one key`, count, "count");
      expect(count, "the prompt is written once").toBe(1);
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(new Set(replies.map((r) => r.body.content)).size).toBe(1);
      expect(replies.map((r) => r.headers.get("idempotent-replayed"))).toEqual([null, "true", "true"]);
      const reused = await api<{ error: { code: string } }>("POST", `${base}/messages`, { user: u, json: { prompt: "something else" }, headers });
      expect([reused.status, reused.body.error?.code]).toEqual([422, "idempotency_key_reused"]);
    }, 90_000);
  }

  conformance(["openapi"], "/openapi.json: every documented route answers its method, never route_not_found, with a documented status", async () => {
    const doc = (await api<{ openapi: string; paths: Record<string, Record<string, { responses: Record<string, unknown> }>>; "x-error-codes": Record<string, { status: number }> }>("GET", "/openapi.json")).body;
    expect(doc.openapi).toMatch(/^3\./);
    const u = user("openapi");
    const id = await createSession(u);
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      if (path.startsWith("/v1/rooms/") && !claims("rooms")) continue;
      for (const [method, op] of Object.entries(ops)) {
        const url = path.replace("{id}", id).replace("{room}", `openapi-${Math.random().toString(36).slice(2, 8)}`);
        const r = await api<{ error?: { code: string } }>(method.toUpperCase(), url, { user: u, json: method === "get" || method === "delete" ? undefined : path === "/v1/sessions" ? {} : { prompt: "hi" } });
        const what = `${method.toUpperCase()} ${path} -> ${r.status} ${r.text.slice(0, 200)}`;
        expect(r.body.error?.code, what).not.toBe("route_not_found");
        expect(Object.keys(op.responses), what).toContain(String(r.status));
        if (r.body.error) expect(doc["x-error-codes"][r.body.error.code]?.status, what).toBe(r.status);
        checked++;
      }
    }
    // /readyz and /metrics are on the admin port, outside the public document.
    expect(checked).toBeGreaterThanOrEqual(11);
  }, 90_000);
});
