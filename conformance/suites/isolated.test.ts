/** isolated: each user gets an own CLI server, spawned on the first request and culled when idle. */
import { createHash } from "node:crypto";
import { describe, expect } from "vitest";
import { alive } from "../../testing/local.js";
import type { TargetServer } from "../../topology/index.js";
import { withCli } from "../cli-access.js";
import { api, claims, conformance, createSession, recordFigure, send, target, turnOf, user, waitFor } from "../harness.js";

/** Sum of every sample of a metric (all label sets) on the first gateway. */
async function metric(name: string): Promise<number> {
  const text = (await api("GET", "/metrics", { admin: true })).text;
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "gm"))) sum += Number(m[1]);
  return sum;
}

/** The target's entry for a server, once the platform has published it. */
function listed(id: string, timeoutMs = 10_000): Promise<TargetServer> {
  return waitFor(`server ${id} in the target`, async () => target(true).servers.find((s) => s.id === id), timeoutMs);
}

/** Makes sure the user's CLI runs (a session create spawns it) and returns its server entry. */
async function serverOf(u: string): Promise<TargetServer> {
  const r = await api("POST", "/v1/sessions", { user: u, json: {} });
  expect(r.status).toBe(201);
  return listed(r.headers.get("x-copilot-server")!);
}

async function rejection(server: TargetServer, token: string): Promise<string> {
  const err = await withCli(server, (c) => c.ping("probe"), token).then(
    () => undefined,
    (e: unknown) => e as Error & { code?: unknown },
  );
  expect(err, `server ${server.id} accepted a foreign token`).toBeDefined();
  return `${err!.message} ${String(err!.code ?? "")}`;
}

describe("per-user CLI servers", () => {
  conformance(["per-user-cli"], "two users are served by different servers, and a user's requests stay on theirs", async () => {
    const a = user("iso-a");
    const b = user("iso-b");
    const ida = await createSession(a);
    const ra = await send(a, ida, "hello from a");
    const rb = await api("POST", "/v1/sessions", { user: b, json: {} });
    expect(ra.status).toBe(200);
    expect(rb.status).toBe(201);
    const sa = ra.headers.get("x-copilot-server")!;
    const sb = rb.headers.get("x-copilot-server")!;
    expect(sa).toBeTruthy();
    expect(sb).toBeTruthy();
    expect(sa).not.toBe(sb);

    // Later requests of a user go to the same server: a second session and its turns.
    const ida2 = await createSession(a);
    const again = await send(a, ida2, "second session of a");
    expect(again.headers.get("x-copilot-server")).toBe(sa);
    expect(turnOf(again.body.content).turn).toBe(1);
    expect(turnOf((await send(a, ida, "next")).body.content).turn).toBe(2);

    const [A, B] = await Promise.all([listed(sa), listed(sb)]);
    // The local platform's registry knows each server's owner; nothing on a cluster may name it.
    expect(A.user).toBe(claims("process-control") ? a : undefined);
    expect(B.user).toBe(claims("process-control") ? b : undefined);
    expect(A.address).not.toBe(B.address);
    expect(A.connectionToken).not.toBe(B.connectionToken);
    if (A.home && B.home) expect(A.home).not.toBe(B.home);
    expect(target(true).servers.filter((s) => s.id === sa)).toHaveLength(1);

    // Server ids, headers and metric labels never carry the user id.
    expect(sa).not.toContain(a);
    const metrics = (await api("GET", "/metrics", { admin: true })).text;
    expect(metrics).toContain(`server="${sa}"`);
    expect(metrics).not.toContain(a);
  });

  conformance(["per-user-cli", "metrics"], "/readyz and /metrics name no server id anyone could compute from a user id", async () => {
    const victim = user("leak-victim");
    const sid = (await serverOf(victim)).id;
    const [ready, metrics] = await Promise.all([api("GET", "/readyz", { admin: true }), api("GET", "/metrics", { admin: true })]);
    // Not vacuous: the victim's server is listed in both, under its id.
    expect(ready.text).toContain(sid);
    expect(metrics.text).toContain(`server="${sid}"`);
    // What anyone knowing only the user id can compute: the id itself, encodings, plain digests.
    const digests = ["sha256", "sha1", "md5", "sha512"].map((alg) => createHash(alg).update(victim).digest("hex"));
    const guesses = [victim, encodeURIComponent(victim), Buffer.from(victim).toString("base64url"), Buffer.from(victim).toString("hex"), ...digests.map((d) => d.slice(0, 10))];
    for (const [where, text] of [["/readyz", ready.text], ["/metrics", metrics.text]] as const) {
      for (const g of guesses) expect(text.toLowerCase(), `${where} holds ${g}, computable from the user id alone`).not.toContain(g.toLowerCase());
    }
  });

  conformance(["per-user-cli"], "user A's server rejects user B's connection token with AUTHENTICATION_FAILED", async () => {
    const a = user("iso-a");
    const b = user("iso-b");
    const [A, B] = await Promise.all([serverOf(a), serverOf(b)]);
    expect(A.id).not.toBe(B.id);

    expect(await rejection(A, B.connectionToken)).toContain("AUTHENTICATION_FAILED");
    expect(await rejection(B, A.connectionToken)).toContain("AUTHENTICATION_FAILED");
    expect(await rejection(A, "")).toContain("AUTHENTICATION_FAILED");
    // Its own token is accepted: the rejection is about the token, not the connection.
    const pong = await withCli(A, (c) => c.ping("own token"));
    expect(pong.message).toContain("own token");

    // The token stays in the gateway: nothing a user receives carries it.
    const id = await createSession(a);
    const r = await send(a, id, "do you know my server's token?");
    const seen = `${r.text} ${JSON.stringify([...r.headers])} ${(await api("GET", "/v1/sessions", { user: a })).text}`;
    expect(seen).not.toContain(A.connectionToken);
  });

  conformance(["per-user-cli"], "a burst of parallel first requests of a new user spawns exactly one CLI", async () => {
    // A new user on every attempt: on a retry the first attempt's server would already run.
    const c = user(`iso-burst-${Math.random().toString(36).slice(2, 6)}`);
    const spawnsBefore = await metric("copilot_gateway_cli_spawns_total");
    const t0 = Date.now();
    const created = await Promise.all(Array.from({ length: 10 }, () => api<{ sessionId: string }>("POST", "/v1/sessions", { user: c, json: {} })));
    recordFigure("first requests of a new user (10 in parallel: spawn + create)", (Date.now() - t0) / 1000, "s");
    expect(created.map((r) => r.status)).toEqual(Array(10).fill(201));
    const ids = new Set(created.map((r) => r.headers.get("x-copilot-server")));
    expect(ids.size).toBe(1);
    expect(await metric("copilot_gateway_cli_spawns_total")).toBe(spawnsBefore + 1);

    const [id] = [...ids];
    await listed(id!);
    expect(target(true).servers.filter((s) => s.id === id)).toHaveLength(1);

    // Every one of those sessions works on that one server.
    // One after another: a user's turns in flight are capped (quotas.maxTurnsInFlightPerUser).
    const replies = [];
    for (const [i, r] of created.entries()) replies.push(await send(c, r.body.sessionId, `burst ${i}`));
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(new Set(replies.map((r) => r.headers.get("x-copilot-server")))).toEqual(ids);
    for (const r of replies) expect(turnOf(r.body.content).turn).toBe(1);

    const sum = await metric("copilot_gateway_cli_spawn_seconds_sum");
    const count = await metric("copilot_gateway_cli_spawn_seconds_count");
    if (count > 0) recordFigure("per-user CLI spawn to listening (mean, gateway side)", sum / count, "s", `${count} spawns`);
  });
});

describe("culling idle per-user CLIs", () => {
  conformance(["per-user-cli", "cli-culling"], "an idle CLI is culled and comes back on the next request with its history", async () => {
    const d = user("iso-cull");
    const id = await createSession(d);
    const first = await send(d, id, "before the cull");
    expect(turnOf(first.body.content).turn).toBe(1);
    const sid = first.headers.get("x-copilot-server")!;
    const before = await listed(sid);
    const culls = await metric("copilot_gateway_cli_culls_total");
    const idle = target().settings.cliIdleTimeoutSeconds;

    const t0 = Date.now();
    await waitFor(
      "the idle CLI to be culled",
      async () => !target(true).servers.some((s) => s.id === sid) && !(claims("process-control") && before.pid && alive(before.pid)),
      idle * 1000 + 30_000,
      200,
    );
    recordFigure("last request to CLI culled", (Date.now() - t0) / 1000, "s", `cliIdleTimeoutSeconds ${idle}`);
    expect(await metric("copilot_gateway_cli_culls_total")).toBeGreaterThan(culls);

    const t1 = Date.now();
    const after = await send(d, id, "after the cull");
    recordFigure("culled CLI back: first message (respawn + resume + turn)", (Date.now() - t1) / 1000, "s");
    expect(after.status).toBe(200);
    expect(after.headers.get("x-copilot-server")).toBe(sid);
    expect(turnOf(after.body.content)).toEqual({ turn: 2, prompt: "after the cull" });
    const back = await listed(sid);
    // A process id locally, a Pod's uid on Kubernetes: a new run of the server either way.
    const run = (s: TargetServer) => s.pid ?? s.instance;
    expect(run(before)).toBeDefined();
    expect(run(back)).not.toBe(run(before));
    if (before.home) expect(back.home).toBe(before.home);
    const mine = await api<{ sessions: { sessionId: string }[] }>("GET", "/v1/sessions", { user: d });
    expect(mine.body.sessions.map((s) => s.sessionId)).toContain(id);
  });

  conformance(["per-user-cli", "cli-culling"], "a turn in flight is never culled, however long it runs", async () => {
    const e = user("iso-busy");
    const id = await createSession(e);
    const warm = await send(e, id, "warm up");
    const sid = warm.headers.get("x-copilot-server")!;
    const before = await listed(sid);
    const idle = target().settings.cliIdleTimeoutSeconds;

    const long = await send(e, id, `[sleep:${(idle + 2) * 1000}] hold the turn past the idle timeout`);
    expect(long.status).toBe(200);
    expect(turnOf(long.body.content).turn).toBe(2);
    expect(long.headers.get("x-copilot-server")).toBe(sid);
    // Same process (or Pod) as before the turn: it was not culled and respawned in between.
    const now = target(true).servers.find((s) => s.id === sid);
    expect(now?.pid ?? now?.instance).toBe(before.pid ?? before.instance);
    expect(before.pid ?? before.instance).toBeDefined();
  });
});
