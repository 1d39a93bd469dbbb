/**
 * Session lifecycle: idle detach and transparent resume, what the CLI itself does with
 * --session-idle-timeout, TTL deletion, eviction order and limits, drain on SIGTERM.
 * Meant for targets with short settings (conformance/self-test.ts: local-shared-lifecycle,
 * local-shared-eviction); every wait is bounded by a multiple of the target's own settings.
 */
import { readFileSync } from "node:fs";
import type { CopilotSession, SessionConfig } from "@github/copilot-sdk";
import { describe, expect } from "vitest";
import { alive, startMockModel } from "../../testing/local.js";
import { cliLog, cliSessionIds, serverById, stateOnDisk, withCli } from "../cli-access.js";
import { api, claims, conformance, createSession, metric, recordFigure, send, sleep, target, turnOf, user, waitFor } from "../harness.js";
import { expectNothingLeft } from "../leftovers.js";

interface SessionView {
  sessionId: string;
  attached: boolean;
}

async function attached(u: string, id: string): Promise<boolean> {
  const r = await api<SessionView>("GET", `/v1/sessions/${id}`, { user: u });
  expect(r.status, `GET session ${id}`).toBe(200);
  return r.body.attached;
}

/** Attached flags of all of a user's sessions, by id. */
async function attachedMap(u: string): Promise<Record<string, boolean>> {
  const r = await api<{ sessions: SessionView[] }>("GET", "/v1/sessions", { user: u });
  return Object.fromEntries(r.body.sessions.map((s) => [s.sessionId, s.attached]));
}

async function ok(u: string, id: string, prompt: string, turn: number): Promise<string> {
  const r = await send(u, id, prompt);
  expect(r.status, `${prompt}: ${r.text}`).toBe(200);
  expect(turnOf(r.body.content)).toEqual({ turn, prompt });
  return r.headers.get("x-copilot-server")!;
}

const seconds = (since: number) => (Date.now() - since) / 1000;

describe("idle timeout", () => {
  conformance(["idle-detach"], "an idle session is detached after the timeout and the next message resumes it with its history", async () => {
    const idle = target().settings.idleTimeoutSeconds;
    const u = user("idle");
    const id = await createSession(u);
    const serverId = await ok(u, id, "before idle", 1);
    const lastUse = Date.now();
    expect(await attached(u, id)).toBe(true);
    const detachesBefore = await metric("copilot_gateway_session_detaches_total", { reason: "idle" });

    await waitFor("the idle session to be detached", async () => !(await attached(u, id)), idle * 1000 + 15_000, 100);
    const detachedAfter = seconds(lastUse);
    recordFigure("idle detach after last activity", detachedAfter, "s", `idle timeout ${idle} s`);
    // Never before the timeout (1 s of slack for the reply in flight when lastUse was taken).
    expect(detachedAfter).toBeGreaterThan(idle - 1);
    expect(await metric("copilot_gateway_session_detaches_total", { reason: "idle" })).toBeGreaterThan(detachesBefore);
    if (claims("process-control")) {
      // The gateway's detach is what frees the CLI's memory: the CLI closes a session once its last client detaches.
      const server = serverById(serverId);
      await waitFor("the CLI to close the detached session", async () => cliLog(server).includes(`Cleaning up session ${id}: Session closed after last owner detached`), 10_000, 100);
      expect(stateOnDisk(server, id)).toBe(true);
    }

    const t0 = Date.now();
    await ok(u, id, "after idle", 2);
    recordFigure("resume after idle detach (next message latency)", seconds(t0), "s");
    expect(await attached(u, id)).toBe(true);
  });

  conformance(["idle-detach"], "a turn in flight counts as activity: a turn longer than the idle timeout is not detached and returns 200", async () => {
    const idle = target().settings.idleTimeoutSeconds;
    const u = user("busy");
    const id = await createSession(u);
    await ok(u, id, "warm up", 1);
    const prompt = `[sleep:${(idle + 3) * 1000}] outlast the idle timeout`;
    let done = false;
    const turn = send(u, id, prompt).finally(() => {
      done = true;
    });
    const seen: boolean[] = [];
    while (!done) {
      seen.push(await attached(u, id));
      await sleep(200);
    }
    const r = await turn;
    expect(r.status, r.text).toBe(200);
    expect(turnOf(r.body.content)).toEqual({ turn: 2, prompt });
    expect(seen.length).toBeGreaterThan(idle * 2);
    expect(seen.every(Boolean), `attached while the turn ran: ${seen.join(",")}`).toBe(true);
  });
});

describe("the CLI's own idle timeout", () => {
  const MODEL = "mock-model";

  conformance(
    ["idle-detach", "process-control"],
    "characterisation: the CLI keeps an attached idle session between its 300 s checks, closes a session at once when its last client detaches or disconnects, and a closed session resumes from disk",
    async () => {
      const idle = target().settings.idleTimeoutSeconds;
      const server = target(true).servers.find((s) => s.pid && s.home);
      expect(server, "a CLI server with a pid and a home").toBeDefined();
      // The platform hands the gateway's idle timeout to the CLI.
      const argv = readFileSync(`/proc/${server!.pid}/cmdline`, "utf8").split("\0");
      expect(argv[argv.indexOf("--session-idle-timeout") + 1]).toBe(String(idle));

      // Sessions opened directly over the SDK need a provider; the worker runs its own mock model.
      const model = await startMockModel({ modelName: MODEL });
      const config = (sessionId: string) =>
        ({ sessionId, model: MODEL, provider: { type: "openai", baseUrl: model.url }, onPermissionRequest: () => ({ kind: "approve-once" }) }) as SessionConfig;
      const reply = async (s: CopilotSession, prompt: string) => turnOf((await s.sendAndWait({ prompt }, 30_000))!.data.content).turn;
      const a = `cli-idle-a-${user("x")}`;
      const b = `cli-idle-b-${user("x")}`;
      try {
        await withCli(server!, async (c) => {
          // 1. A client attached and idle past the timeout: the CLI does not close the session (its
          //    stale-session check runs every 300 s after start, not every `idle` seconds).
          const s = await c.createSession(config(a));
          expect(await reply(s, "one")).toBe(1);
          await sleep((idle + 2) * 1000);
          expect(await reply(s, "two")).toBe(2);
          expect(cliLog(server!)).not.toContain(`Session ${a} has been idle`);

          // 2. The last client detaches: closed in memory at once, whatever the timeout; kept on disk.
          const t0 = Date.now();
          await s.disconnect();
          await waitFor("the CLI to close the detached session", async () => cliLog(server!).includes(`Cleaning up session ${a}: Session closed after last owner detached`), 10_000, 100);
          recordFigure("CLI closes a session after its last client detached (upper bound)", seconds(t0), "s");
          expect(stateOnDisk(server!, a)).toBe(true);
          expect((await c.listSessions()).map((m) => m.sessionId)).toContain(a);
          const resumed = await c.resumeSession(a, config(a));
          expect(await reply(resumed, "three")).toBe(3);
          await resumed.disconnect();

          // 3. A session the CLI closes under an attached client (what its idle check does): the
          //    client's handle then fails with "Session not found"; resume restores the history.
          const sb = await c.createSession(config(b));
          expect(await reply(sb, "one")).toBe(1);
          await c.rpc.sessions.close({ sessionId: b });
          await expect(sb.sendAndWait({ prompt: "on a closed session" }, 30_000)).rejects.toThrow(/Session not found/);
          expect(stateOnDisk(server!, b)).toBe(true);
          const rb = await c.resumeSession(b, config(b));
          expect(await reply(rb, "two")).toBe(2);
        });
        // 4. The client's connection drops without detaching (a crashed gateway): closed at once too.
        const orphan = `cli-idle-c-${user("x")}`;
        await withCli(server!, async (client) => {
          expect(await reply(await client.createSession(config(orphan)), "one")).toBe(1);
        });
        await waitFor("the CLI to close the orphaned session", async () => cliLog(server!).includes(`Cleaning up session ${orphan}: Last RPC connection closed`), 10_000, 100);
        await withCli(server!, async (client) => {
          for (const id of [a, b, orphan]) await client.deleteSession(id);
        });
      } finally {
        await model.app.close();
      }
    },
  );

  conformance(["persistence", "process-control"], "a session the CLI closed on its own is resumed by the gateway on the next message", async () => {
    const u = user("closed");
    const id = await createSession(u);
    const serverId = await ok(u, id, "before close", 1);
    const server = serverById(serverId);
    const before = await metric("copilot_gateway_session_detaches_total", { reason: "cli-closed" });
    await withCli(server, (c) => c.rpc.sessions.close({ sessionId: id }));
    const again = await ok(u, id, "after close", 2);
    // Where the next turn ran on the same server, the gateway saw the closed session and resumed it.
    if (again === serverId) expect(await metric("copilot_gateway_session_detaches_total", { reason: "cli-closed" })).toBeGreaterThan(before);
  });
});

describe("session TTL", () => {
  conformance(["session-ttl"], "a session past its TTL is deleted (404, state gone from disk); a recently used one is kept", async () => {
    const ttl = target().settings.sessionTtlSeconds;
    const u = user("ttl");
    const old = await createSession(u);
    const serverId = await ok(u, old, "expire me", 1);
    const oldUse = Date.now();
    const kept = await createSession(u);
    await ok(u, kept, "keep me 1", 1);
    const deletedBefore = await metric("copilot_gateway_sessions_deleted_total", { reason: "ttl" });
    const server = claims("process-control") ? serverById(serverId) : undefined;
    if (server) expect(stateOnDisk(server, old)).toBe(true);

    // `kept` is used at a third of the TTL while `old` ages out.
    let keptTurns = 1;
    let keptUse = Date.now();
    await waitFor(
      "the expired session to answer 404",
      async () => {
        if (Date.now() - keptUse > (ttl * 1000) / 3) {
          keptTurns++;
          await ok(u, kept, `keep me ${keptTurns}`, keptTurns);
          keptUse = Date.now();
        }
        return (await api("GET", `/v1/sessions/${old}`, { user: u })).status === 404;
      },
      ttl * 1000 + 20_000,
      200,
    );
    const deletedAfter = seconds(oldUse);
    recordFigure("TTL deletion after last activity", deletedAfter, "s", `TTL ${ttl} s`);
    expect(deletedAfter).toBeGreaterThan(ttl - 1);
    expect((await send(u, old, "still there?")).status).toBe(404);
    expect(await metric("copilot_gateway_sessions_deleted_total", { reason: "ttl" })).toBeGreaterThan(deletedBefore);
    const listed = await attachedMap(u);
    expect(Object.keys(listed)).toEqual([kept]);
    if (server) {
      expect(stateOnDisk(server, old)).toBe(false);
      expect((await cliSessionIds(server)).has(old)).toBe(false);
      expect(stateOnDisk(server, kept)).toBe(true);
    }
    await ok(u, kept, "kept", keptTurns + 1);
  });
});

describe("limits and eviction", () => {
  conformance(["eviction"], "a full server detaches its least recently used idle session for a new one, which later resumes with its history", async () => {
    const max = target().settings.maxSessionsPerServer;
    const u = user("evict");
    // Attached sessions of this test, least recently used first (the gateway's LRU order).
    const lru: string[] = [];
    const use = (id: string) => {
      if (lru.includes(id)) lru.splice(lru.indexOf(id), 1);
      lru.push(id);
    };
    const turns = new Map<string, number>();
    const servers = new Set<string>();
    const next = async (id: string) => {
      turns.set(id, (turns.get(id) ?? 0) + 1);
      servers.add(await ok(u, id, `turn ${turns.get(id)} of ${id.slice(-6)}`, turns.get(id)!));
      use(id);
    };
    for (let i = 0; i < max; i++) {
      const id = await createSession(u);
      use(id);
      await next(id);
    }
    expect(servers.size, "the user's sessions must share one CLI server for this test").toBe(1);
    // Touch the oldest, so least recently used differs from first created.
    await next(lru[0]!);
    expect(Object.values(await attachedMap(u)).every(Boolean)).toBe(true);

    const evictionsBefore = await metric("copilot_gateway_evictions_total");
    const victim = lru[0]!;
    const newcomer = await createSession(u);
    lru.shift();
    use(newcomer);
    let flags = await attachedMap(u);
    expect(flags[victim], "the least recently used session is detached").toBe(false);
    for (const id of lru) expect(flags[id], `${id} stays attached`).toBe(true);
    expect(await metric("copilot_gateway_evictions_total")).toBe(evictionsBefore + 1);

    // The evicted session comes back with its history, which evicts the next least recently used.
    const second = lru[0]!;
    lru.shift();
    use(victim);
    await next(victim);
    flags = await attachedMap(u);
    expect(flags[second], "the next least recently used session is detached").toBe(false);
    for (const id of lru) expect(flags[id], `${id} stays attached`).toBe(true);
    expect(await metric("copilot_gateway_evictions_total")).toBe(evictionsBefore + 2);
    expect(await metric("copilot_gateway_session_detaches_total", { reason: "eviction" })).toBeGreaterThanOrEqual(2);
  });

  conformance(["eviction"], "when every session of a full server has a turn in flight, new work gets 503 with Retry-After and nothing in flight is evicted", async () => {
    const max = target().settings.maxSessionsPerServer;
    const u = user("full");
    const ids: string[] = [];
    for (let i = 0; i <= max; i++) {
      const id = await createSession(u);
      await ok(u, id, "fill", 1);
      ids.push(id);
    }
    // The first one was evicted by the last; the other `max` fill the server.
    const [evicted, ...busy] = ids;
    expect((await attachedMap(u))[evicted!]).toBe(false);

    const inflightBefore = await metric("copilot_gateway_inflight_turns");
    const prompts = busy.map((_, i) => `[sleep:4000] busy ${i}`);
    const turns = busy.map((id, i) => send(u, id, prompts[i]!));
    await waitFor("every session to have a turn in flight", async () => (await metric("copilot_gateway_inflight_turns")) >= inflightBefore + max, 3_000, 20);

    const refused = await api<{ error: { code: string } }>("POST", "/v1/sessions", { user: u, json: {} });
    expect(refused.status, refused.text).toBe(503);
    expect(refused.body.error.code).toBe("server_full");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Resuming a detached session needs room too.
    const resume = await send(u, evicted!, "no room");
    expect(resume.status, resume.text).toBe(503);
    expect(resume.headers.get("retry-after")).toBeTruthy();

    const results = await Promise.all(turns);
    results.forEach((r, i) => {
      expect(r.status, r.text).toBe(200);
      expect(turnOf(r.body.content)).toEqual({ turn: 2, prompt: prompts[i] });
    });
    // Room again: the refused message was not written, so the history continues at turn 2.
    await ok(u, evicted!, "room again", 2);
  });
});

describe("drain", () => {
  conformance(["drain", "restart-gateway", "process-control"], "SIGTERM drains: readiness and new requests get 503 while the turn in flight finishes with 200", async () => {
    const t = target(true);
    const url = t.gatewayUrls[0]!;
    const pid = t.gateways?.find((g) => g.url === url)?.pid;
    expect(pid, "gateway pid in the target").toBeDefined();
    const u = user("drain");
    const id = await createSession(u);
    await ok(u, id, "before drain", 1);

    const prompt = "[sleep:2000] finish me";
    let turnDone = 0;
    // Settles either way, so a turn cut off by the exit fails this test instead of escaping it.
    const turn = send(u, id, prompt).then(
      (r) => ({ r }),
      (err: unknown) => ({ err: err as Error }),
    );
    void turn.then(() => {
      turnDone = Date.now();
    });
    await waitFor("the turn to be in flight", async () => (await metric("copilot_gateway_inflight_turns")) >= 1, 5_000, 20);
    const t0 = Date.now();
    process.kill(pid!, "SIGTERM");

    const [unready, refused, draining] = await Promise.all([
      waitFor("readyz 503", async () => {
        const r = await api("GET", "/readyz", { admin: true });
        return r.status === 503 ? Date.now() : undefined;
      }, 5_000, 20),
      waitFor("a new request to be refused", async () => {
        const r = await api<{ error?: { code: string } }>("POST", "/v1/sessions", { user: u, json: {} });
        return r.status === 503 ? r : undefined;
      }, 5_000, 20),
      waitFor("the draining gauge", async () => (await metric("copilot_gateway_draining")) === 1, 5_000, 20),
    ]);
    recordFigure("SIGTERM to readyz 503", (unready - t0) / 1000, "s");
    expect(refused.body.error?.code).toBe("draining");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(draining).toBe(true);

    const out = await turn;
    expect("err" in out ? `cut off: ${out.err.message}` : "answered", "the turn in flight").toBe("answered");
    const r = (out as { r: Awaited<ReturnType<typeof send>> }).r;
    expect(r.status, r.text).toBe(200);
    expect(turnOf(r.body.content)).toEqual({ turn: 2, prompt });
    expect(unready, "readiness turned 503 before the turn finished").toBeLessThan(turnDone);

    await waitFor("the gateway process to exit", async () => !alive(pid!), 45_000, 50);
    recordFigure("drain duration (SIGTERM to exit, one 2 s turn in flight)", seconds(t0), "s");

    // The supervisor restarts it on the same URL; the session continues there.
    await waitFor("the gateway to be restarted", async () => {
      const g = target(true).gateways?.find((x) => x.url === url);
      return g !== undefined && g.pid !== pid;
    }, 60_000, 200);
    await waitFor("readyz 200 after the restart", async () => (await api("GET", "/readyz", { admin: true })).status === 200, 60_000, 200);
    recordFigure("SIGTERM to ready again (drain + restart)", seconds(t0), "s");
    await ok(u, id, "after restart", 3);
    await expectNothingLeft(() => target(true));
  });
});
