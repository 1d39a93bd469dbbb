/** Core API conformance: every topology's gateway must pass these. */
import { describe, expect } from "vitest";
import { cliSessionIds, killAndAwaitRestart, stateOnDisk } from "../cli-access.js";
import { adminUrlOf, api, claims, conformance, createSession, recordFigure, send, sse, target, tokenFor, turnOf, user, waitFor } from "../harness.js";
import { expectNothingLeft } from "../leftovers.js";

const NOT_FOUND = { error: { code: "not_found", message: "session not found" } };

describe("sessions", () => {
  conformance(["sessions"], "create, message, get, list and delete a session", async () => {
    const alice = user("alice");
    const created = await api<{ sessionId: string }>("POST", "/v1/sessions", { user: alice, json: {} });
    expect(created.status).toBe(201);
    expect(created.headers.get("x-copilot-server")).toBeTruthy();
    const id = created.body.sessionId;

    const reply = await send(alice, id, "hello there");
    expect(reply.status).toBe(200);
    expect(reply.body.sessionId).toBe(id);
    expect(turnOf(reply.body.content)).toEqual({ turn: 1, prompt: "hello there" });
    // Fresh read: isolated spawns the server on this very request.
    expect(target(true).servers.map((s) => s.id)).toContain(reply.headers.get("x-copilot-server"));

    const meta = await api<{ sessionId: string; createdAt: string; lastActiveAt: string }>("GET", `/v1/sessions/${id}`, { user: alice });
    expect(meta.status).toBe(200);
    expect(meta.body.sessionId).toBe(id);
    expect(Date.parse(meta.body.lastActiveAt)).toBeGreaterThanOrEqual(Date.parse(meta.body.createdAt));

    const list = await api<{ sessions: { sessionId: string }[] }>("GET", "/v1/sessions", { user: alice });
    expect(list.body.sessions.map((s) => s.sessionId)).toContain(id);

    const del = await api("DELETE", `/v1/sessions/${id}`, { user: alice });
    expect(del.status).toBe(204);
    expect((await api("GET", `/v1/sessions/${id}`, { user: alice })).status).toBe(404);
    expect((await send(alice, id, "after delete")).status).toBe(404);
  });

  conformance(["sessions", "process-control"], "delete removes the session's state from the CLI", async () => {
    const alice = user("alice");
    const id = await createSession(alice);
    const reply = await send(alice, id, "persist me");
    const server = target(true).servers.find((s) => s.id === reply.headers.get("x-copilot-server"))!;
    expect((await cliSessionIds(server)).has(id)).toBe(true);
    expect(stateOnDisk(server, id)).toBe(true);
    expect((await api("DELETE", `/v1/sessions/${id}`, { user: alice })).status).toBe(204);
    expect((await cliSessionIds(server)).has(id)).toBe(false);
    expect(stateOnDisk(server, id)).toBe(false);
  });
});

describe("session isolation", () => {
  conformance(["session-isolation"], "another user's session answers 404 exactly like a missing one, on every verb", async () => {
    const alice = user("alice");
    const bob = user("bob");
    const id = await createSession(alice);
    expect((await send(alice, id, "secret of alice")).status).toBe(200);

    const missing = `s-does-not-exist-${Date.now()}`;
    for (const [method, path, json] of [
      ["GET", `/v1/sessions/${id}`, undefined],
      ["POST", `/v1/sessions/${id}/messages`, { prompt: "let me in" }],
      ["DELETE", `/v1/sessions/${id}`, undefined],
    ] as const) {
      const theirs = await api(method, path, { user: bob, json });
      const none = await api(method, path.replace(id, missing), { user: bob, json });
      expect(theirs.status, `${method} ${path}`).toBe(404);
      expect(theirs.body).toEqual(NOT_FOUND);
      expect(none.status).toBe(404);
      expect(theirs.body).toEqual(none.body);
      expect(theirs.headers.get("x-copilot-server")).toBeNull();
    }
    const bobs = await api<{ sessions: { sessionId: string }[] }>("GET", "/v1/sessions", { user: bob });
    expect(bobs.body.sessions.map((s) => s.sessionId)).not.toContain(id);

    // Alice's session is intact: bob's attempts wrote nothing into it.
    const next = await send(alice, id, "still mine");
    expect(turnOf(next.body.content)).toEqual({ turn: 2, prompt: "still mine" });
  });

  conformance(["session-isolation"], "identity comes from the token only, never from spoofable headers", async () => {
    const alice = user("alice");
    const mallory = user("mallory");
    const id = await createSession(alice);
    const spoofed = await api("GET", `/v1/sessions/${id}`, { user: mallory, headers: { "x-user-id": alice, "x-forwarded-user": alice } });
    expect(spoofed.status).toBe(404);
  });
});

describe("persistence", () => {
  conformance(["persistence"], "the turn count grows by one per message", async () => {
    const alice = user("alice");
    const id = await createSession(alice);
    for (let i = 1; i <= 4; i++) {
      const r = await send(alice, id, `message ${i}`);
      expect(r.status).toBe(200);
      expect(turnOf(r.body.content)).toEqual({ turn: i, prompt: `message ${i}` });
    }
  });

  conformance(["persistence", "restart-gateway", "process-control"], "history survives the gateway restarting", async () => {
    const alice = user("alice");
    const id = await createSession(alice);
    expect(turnOf((await send(alice, id, "before restart")).body.content).turn).toBe(1);
    expect(turnOf((await send(alice, id, "again")).body.content).turn).toBe(2);
    const url = target(true).gatewayUrls[0]!;
    const t0 = Date.now();
    await killAndAwaitRestart("gateway", url, "SIGTERM");
    await waitFor("gateway ready after restart", async () => (await fetch(`${adminUrlOf(url)}/readyz`)).ok, 60_000);
    recordFigure("gateway restart to ready", (Date.now() - t0) / 1000, "s");
    const after = await send(alice, id, "after restart");
    expect(after.status).toBe(200);
    expect(turnOf(after.body.content)).toEqual({ turn: 3, prompt: "after restart" });
    await expectNothingLeft(() => target(true));
  });
});

describe("ephemeral chat", () => {
  conformance(["ephemeral-chat"], "POST /v1/chat answers and leaves no session behind", async () => {
    const alice = user("alice");
    const before = await api<{ sessions: unknown[] }>("GET", "/v1/sessions", { user: alice });
    const servers = claims("process-control") ? target(true).servers : [];

    const r = await api<{ content: string }>("POST", "/v1/chat", { user: alice, json: { prompt: "one shot" } });
    expect(r.status).toBe(200);
    expect(turnOf(r.body.content)).toEqual({ turn: 1, prompt: "one shot" });
    expect(r.headers.get("x-copilot-server")).toBeTruthy();

    const after = await api<{ sessions: unknown[] }>("GET", "/v1/sessions", { user: alice });
    expect(after.body.sessions.length).toBe(before.body.sessions.length);
    // Ephemeral chats use `c-` ids: none may be left on any CLI server.
    for (const s of servers) {
      const left = [...(await cliSessionIds(s))].filter((id) => id.startsWith("c-"));
      expect(left, `chat sessions left on ${s.id}`).toEqual([]);
    }
  });
});

describe("streaming", () => {
  conformance(["streaming"], "SSE streams deltas that add up to the final reply", async () => {
    const alice = user("alice");
    const id = await createSession(alice);
    const { status, headers, events } = await sse(`/v1/sessions/${id}/messages`, alice, { prompt: "stream this please" });
    expect(status).toBe(200);
    expect(headers.get("content-type")).toContain("text/event-stream");
    expect(headers.get("x-copilot-server")).toBeTruthy();
    const deltas = events.filter((e) => e.event === "delta").map((e) => (e.data as { content: string }).content);
    const done = events.filter((e) => e.event === "done");
    expect(deltas.length).toBeGreaterThan(1);
    expect(done).toHaveLength(1);
    expect(events.at(-1)!.event).toBe("done");
    const final = done[0]!.data as { content: string; sessionId: string };
    expect(final.sessionId).toBe(id);
    expect(deltas.join("")).toBe(final.content);
    expect(turnOf(final.content)).toEqual({ turn: 1, prompt: "stream this please" });
  });
});

describe("bad input", () => {
  const errorShape = (body: unknown) => {
    const e = (body as { error?: { code?: unknown; message?: unknown } }).error;
    expect(typeof e?.code).toBe("string");
    expect(typeof e?.message).toBe("string");
  };

  conformance(["bad-input"], "client mistakes get 400 with a JSON error", async () => {
    const alice = user("alice");
    const id = await createSession(alice);
    const cases: [string, string, Parameters<typeof api>[2]][] = [
      ["malformed JSON", `/v1/sessions/${id}/messages`, { user: alice, raw: "{not json" }],
      ["missing prompt", `/v1/sessions/${id}/messages`, { user: alice, json: {} }],
      ["empty prompt", `/v1/sessions/${id}/messages`, { user: alice, json: { prompt: "" } }],
      ["prompt of the wrong type", `/v1/sessions/${id}/messages`, { user: alice, json: { prompt: 42 } }],
      ["body that is not an object", "/v1/chat", { user: alice, json: ["prompt"] }],
      ["unknown create option", "/v1/sessions", { user: alice, json: { persistent: "yes" } }],
      ["session id with traversal", `/v1/sessions/..%2F..%2Fetc/messages`, { user: alice, json: { prompt: "x" } }],
      ["session id with a control character", `/v1/sessions/a%00b`, { user: alice }],
    ];
    for (const [what, path, opts] of cases) {
      const method = what.includes("control") ? "GET" : "POST";
      const r = await api(method, path, opts);
      expect(r.status, what).toBe(400);
      errorShape(r.body);
    }
    // Nothing was written: the session's next turn is still its first.
    expect(turnOf((await send(alice, id, "first real")).body.content).turn).toBe(1);
  });

  conformance(["bad-input"], "missing, malformed, forged and expired tokens get 401", async () => {
    const { SignJWT } = await import("jose");
    const t = target();
    const secret = t.auth.kind === "jwt-hs256" ? new TextEncoder().encode(t.auth.secret) : undefined;
    const wrongKey = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").setExpirationTime("1h").sign(new TextEncoder().encode("x".repeat(40)));
    const none = `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${Buffer.from(JSON.stringify({ sub: "alice" })).toString("base64url")}.`;
    const tokens: [string, string | null][] = [
      ["no token", null],
      ["garbage", "not-a-token"],
      ["wrong key", wrongKey],
      ["alg none", none],
    ];
    if (secret) {
      tokens.push(["expired", await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(secret)]);
      tokens.push(["no sub", await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(secret)]);
    }
    for (const [what, token] of tokens) {
      const r = await api("GET", "/v1/sessions", { token });
      expect(r.status, what).toBe(401);
      errorShape(r.body);
    }
  });

  conformance(["bad-input"], "tokens without exp or iat, living longer than the maximum, or issued in the future get 401", async () => {
    const t = target();
    if (t.auth.kind !== "jwt-hs256") return; // static tokens have no lifetime
    const { issuer, audience } = t.auth;
    const maxLifetime = t.settings.maxTokenLifetimeSeconds ?? 24 * 3600;
    const now = Math.floor(Date.now() / 1000);
    const { SignJWT } = await import("jose");
    const secret = new TextEncoder().encode(t.auth.secret);
    const base = { sub: user("alice"), ...(issuer ? { iss: issuer } : {}), ...(audience ? { aud: audience } : {}) };
    const mint = (claims: Record<string, unknown>) => new SignJWT({ ...base, ...claims }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(secret);
    const cases: [string, Record<string, unknown>, number][] = [
      ["control: a token within the limits", { iat: now, exp: now + 600 }, 200],
      ["no exp", { iat: now }, 401],
      ["no iat", { exp: now + 600 }, 401],
      ["exp beyond the maximum lifetime", { iat: now, exp: now + maxLifetime + 3600 }, 401],
      ["issued an hour in the future", { iat: now + 3600, exp: now + 7200 }, 401],
    ];
    for (const [what, claims, want] of cases) {
      const r = await api("GET", "/v1/sessions", { token: await mint(claims) });
      expect(r.status, what).toBe(want);
      if (want !== 200) errorShape(r.body);
    }
  });

  conformance(["bad-input"], "unknown sessions and routes get 404", async () => {
    const alice = user("alice");
    const r1 = await api("GET", "/v1/sessions/s-unknown", { user: alice });
    expect(r1.status).toBe(404);
    errorShape(r1.body);
    const r2 = await api("GET", "/v1/nothing-here", { user: alice });
    expect(r2.status).toBe(404);
    errorShape(r2.body);
  });

  conformance(["bad-input"], "a body over the limit gets 413 and nothing is written", async () => {
    const alice = user("alice");
    const id = await createSession(alice);
    const limit = target().settings.bodyLimitBytes ?? 256 * 1024;
    const r = await api("POST", `/v1/sessions/${id}/messages`, { user: alice, json: { prompt: "x".repeat(limit + 1024) } });
    expect(r.status).toBe(413);
    errorShape(r.body);
    expect(turnOf((await send(alice, id, "small")).body.content).turn).toBe(1);
  });
});

describe("health and metrics", () => {
  conformance(["readiness"], "healthz is 200 and readyz reports every CLI server", async () => {
    expect((await api("GET", "/healthz")).status).toBe(200);
    const r = await api<{ servers: { server: string; ok: boolean }[] }>("GET", "/readyz", { admin: true });
    expect(r.status).toBe(200);
    expect(r.body.servers.every((s) => s.ok)).toBe(true);
  });

  conformance(["readiness", "process-control"], "readyz turns 503 when a CLI process is killed, and recovers", async () => {
    // isolated culls idle per-user servers: make sure one runs.
    if (target(true).servers.length === 0) await createSession(user("readyz"));
    const server = await waitFor("a CLI server in the target", async () => target(true).servers[0], 10_000);
    const t0 = Date.now();
    process.kill(server.pid!, "SIGKILL");
    const unready = await waitFor("readyz 503", async () => {
      const r = await api<{ servers: { server: string; ok: boolean; reason?: string }[] }>("GET", "/readyz", { admin: true });
      return r.status === 503 ? r : undefined;
    }, 10_000, 50);
    recordFigure("CLI killed to readyz 503", (Date.now() - t0) / 1000, "s");
    expect(unready.body.servers.find((s) => s.server === server.id)?.ok).toBe(false);
    await waitFor("readyz 200 after the CLI restarts", async () => (await api("GET", "/readyz", { admin: true })).status === 200, 60_000, 200);
    recordFigure("CLI killed to ready again", (Date.now() - t0) / 1000, "s");
    await expectNothingLeft(() => target(true));
  });

  conformance(["metrics"], "a streamed turn whose client goes away is still counted, as client_gone", async () => {
    const alice = user("alice");
    const id = await createSession(alice);
    const gone = async () => {
      const text = (await api("GET", "/metrics", { admin: true })).text;
      const line = /^copilot_gateway_streams_total\{[^}]*outcome="client_gone"[^}]*\} (\d+)/m.exec(text);
      return Number(line?.[1] ?? 0);
    };
    const before = await gone();
    const abort = new AbortController();
    const res = await fetch(`${target().gatewayUrls[0]}/v1/sessions/${id}/messages`, {
      method: "POST",
      headers: { authorization: `Bearer ${await tokenFor(alice)}`, "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ prompt: "[sleep:3000] leave early" }),
      signal: abort.signal,
    });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    abort.abort();
    await waitFor("the abandoned stream counted as client_gone", async () => (await gone()) > before, 15_000, 200);
    const text = (await api("GET", "/metrics", { admin: true })).text;
    expect(text).toMatch(/^copilot_gateway_http_requests_total\{[^}]*status="499"[^}]*\} [1-9]/m);
    // The session is still usable afterwards (the turn finished or was ended; nothing is stuck).
    await waitFor("the session answers again", async () => (await send(alice, id, "after the abandoned stream")).status === 200, 30_000, 500);
  });

  conformance(["metrics"], "metrics expose sessions, turn latency and requests by status", async () => {
    const alice = user("alice");
    const id = await createSession(alice);
    await send(alice, id, "count me");
    const r = await api("GET", "/metrics", { admin: true });
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/^copilot_gateway_active_sessions\{/m);
    expect(r.text).toMatch(/^copilot_gateway_turn_duration_seconds_bucket\{/m);
    expect(r.text).toMatch(/^copilot_gateway_http_requests_total\{.*status="201"/m);
    expect(r.text).not.toContain(alice);
  });
});
