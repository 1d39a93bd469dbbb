/**
 * No orphans between steps: a real CLI (offline, against the mock model) behind a real
 * gateway replica whose store fails one write on demand, as a stalled or full Redis would, or whose
 * create is cut short between its steps (a lost CLI answer, a killed replica).
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { CopilotClient, RuntimeConnection } from "@github/copilot-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayFor } from "../testing/gateway.js";
import { startOfflineCli, type OfflineCli } from "../testing/local.js";
import type { CliServerHandle } from "./cli-process.js";
import { unavailable } from "./errors.js";
import { reconcileOrphans } from "./reconcile.js";
import type { Gateway } from "./server.js";
import { CliDeleteFailed } from "./sessions.js";
import type { Store } from "./store.js";

const TOKEN = "t".repeat(32);
const AUTH = { authorization: "Bearer alice-token-0123456789" };
let cli: CliServerHandle;
let client: CopilotClient;
let gw: Gateway;
let offline: OfflineCli;

beforeAll(async () => {
  offline = await startOfflineCli(TOKEN);
  cli = offline.cli;
  client = new CopilotClient({ connection: RuntimeConnection.forUri(cli.address, { connectionToken: TOKEN }) });
  await client.start();
  gw = await gatewayFor(offline);
}, 120_000);
afterAll(async () => {
  await gw?.drainAndStop();
  await client?.forceStop().catch(() => undefined);
  await offline?.stop();
});

/** Sessions the CLI holds: on disk (a fresh session is listed by listSessions only after its first turn), or known to it. */
const cliSessions = async () => {
  const state = join(cli.home, "session-state");
  const onDisk = existsSync(state) ? readdirSync(state) : [];
  return new Set([...onDisk, ...(await client.listSessions()).map((s) => s.sessionId)].filter((id) => id.startsWith("s-")));
};

/** Makes the next call of one store method fail (the guarded store turns it into 503 store_unavailable). */
function failOnce(method: "createSession" | "deleteSession"): void {
  const store = gw.store as unknown as Record<string, unknown>;
  const original = store[method] as Store[typeof method];
  store[method] = async () => {
    store[method] = original;
    throw new Error("injected store write failure");
  };
}

describe("undo on failure", () => {
  it("a create whose record cannot be written leaves no CLI session behind", async () => {
    // Not vacuous: a create that succeeds is listed by the CLI at once.
    const ok = await gw.app.inject({ method: "POST", url: "/v1/sessions", headers: AUTH, payload: {} });
    expect(ok.statusCode).toBe(201);
    const before = await cliSessions();
    expect(before.has(ok.json<{ sessionId: string }>().sessionId)).toBe(true);

    failOnce("createSession");
    const r = await gw.app.inject({ method: "POST", url: "/v1/sessions", headers: AUTH, payload: {} });
    expect(r.statusCode).toBe(503);
    expect(r.json<{ error: { code: string } }>().error.code).toBe("store_unavailable");
    expect([...(await cliSessions())].filter((id) => !before.has(id)), "CLI sessions without a record").toEqual([]);
    expect(gw.sessions.attachedSessions().map((a) => a.id).filter((id) => !before.has(id)), "sessions attached without a record").toEqual([]);
  });

  it("a delete whose record removal failed answers 204 and the reconciler removes the record: no record without a session", async () => {
    const created = await gw.app.inject({ method: "POST", url: "/v1/sessions", headers: AUTH, payload: {} });
    const id = created.json<{ sessionId: string }>().sessionId;
    failOnce("deleteSession");
    // Marked deleting before the CLI call, so the delete is done for its owner once the mark is written.
    const del = await gw.app.inject({ method: "DELETE", url: `/v1/sessions/${id}`, headers: AUTH });
    expect(del.statusCode, del.body).toBe(204);
    expect((await cliSessions()).has(id)).toBe(false);
    expect((await gw.store.getSession(id))?.state, "the record left by the failed removal").toBe("deleting");
    expect((await gw.app.inject({ method: "GET", url: `/v1/sessions/${id}`, headers: AUTH })).statusCode).toBe(404);
    expect((await gw.app.inject({ method: "DELETE", url: `/v1/sessions/${id}`, headers: AUTH })).statusCode).toBe(404);
    // A delete's record is finished at once, grace or not.
    expect(await gw.reconcilePass()).toContain(id);
    expect(await gw.store.getSession(id)).toBeUndefined();
  });
});

describe("a create cut short between its steps (found by the fault soak: never-used orphans)", () => {
  const created = () => gw.app.inject({ method: "POST", url: "/v1/sessions", headers: AUTH, payload: {} });
  const listedToOwner = async () => (await gw.app.inject({ method: "GET", url: "/v1/sessions", headers: AUTH })).json<{ sessions: { sessionId: string }[] }>().sessions.map((s) => s.sessionId);
  const newIn = (before: Set<string>, now: Set<string>) => [...now].filter((id) => !before.has(id));

  it("a CLI that created the session but died before answering, unreachable for the undo: the reconciler removes both", async () => {
    const before = await cliSessions();
    const sessions = gw.sessions as unknown as Record<string, unknown>;
    const [create, destroy] = [sessions.create, sessions.destroy] as [Gateway["sessions"]["create"], Gateway["sessions"]["destroy"]];
    sessions.create = async (...args: Parameters<typeof create>) => {
      sessions.create = create;
      await create.apply(gw.sessions, args); // the CLI writes the session...
      throw unavailable("server_unavailable", "CLI server cli-0 is unavailable: connect ECONNREFUSED", 2); // ...and its answer is lost
    };
    sessions.destroy = async (...args: Parameters<typeof destroy>) => {
      if (args[2] !== "undo") return destroy.apply(gw.sessions, args);
      sessions.destroy = destroy;
      throw new CliDeleteFailed("connect ECONNREFUSED"); // still down for the undo
    };
    expect((await created()).statusCode).toBe(503);
    const left = newIn(before, await cliSessions());
    expect(left, "the never-used CLI session the lost create left").toHaveLength(1);
    expect(await listedToOwner()).not.toContain(left[0]);
    await gw.reconcilePass();
    expect(newIn(before, await cliSessions()), "CLI sessions left after the reconciler ran").toEqual([]);
    expect(await gw.store.getSession(left[0]!)).toBeUndefined();
  });

  it("a replica killed between the CLI create and the record write: the reconciler removes the CLI session past the grace", async () => {
    const before = await cliSessions();
    const sessions = gw.sessions as unknown as Record<string, unknown>;
    const create = sessions.create as Gateway["sessions"]["create"];
    let resume!: () => void;
    const killed = new Promise<void>((r) => (resume = r));
    sessions.create = async (...args: Parameters<typeof create>) => {
      sessions.create = create;
      await create.apply(gw.sessions, args);
      await killed; // the replica dies here: nothing after this step runs until the test lets it
    };
    const answer = created();
    let left: string[] = [];
    for (let i = 0; i < 50 && left.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = newIn(before, await cliSessions());
    }
    expect(left, "the CLI session of the create in progress").toHaveLength(1);
    // Within the grace it may still be a create in progress: left alone.
    await gw.reconcilePass();
    expect(newIn(before, await cliSessions())).toEqual(left);
    await gw.reconcilePass(Date.now() + 61_000);
    expect(newIn(before, await cliSessions()), "CLI sessions left after the reconciler ran").toEqual([]);
    expect(await gw.store.getSession(left[0]!)).toBeUndefined();
    // Had it lived on, its commit finds the create taken over and undoes it: a retryable 503, nothing left.
    resume();
    expect((await answer).statusCode).toBe(503);
    expect(newIn(before, await cliSessions())).toEqual([]);
  });
});

describe("orphan reconciler", () => {
  const chat = async () => {
    const id = (await gw.app.inject({ method: "POST", url: "/v1/sessions", headers: AUTH, payload: {} })).json<{ sessionId: string }>().sessionId;
    const turn = await gw.app.inject({ method: "POST", url: `/v1/sessions/${id}/messages`, headers: AUTH, payload: { prompt: "hello" } });
    expect(turn.statusCode, turn.body).toBe(200);
    return id;
  };
  const listed = async () => new Set((await client.listSessions()).map((s) => s.sessionId));

  it("removes a CLI session no record owns once past the grace, and nothing else", async () => {
    const [orphan, kept] = [await chat(), await chat()];
    await gw.store.deleteSession(orphan); // the record is lost, the CLI session stays: an orphan
    expect(await listed()).toContain(orphan);
    const removed: string[] = [];
    const pass = (now: number) =>
      reconcileOrphans({
        store: gw.store,
        pool: gw.pool,
        graceMs: 60_000,
        log: gw.log,
        now,
        destroy: (id, b) => gw.sessions.destroy(id, b, "orphan"),
        finish: (id, b) => gw.sessions.destroy(id, b, "unfinished"),
        onRemoved: (id) => removed.push(id),
      });
    // Within the grace (a create may still be writing its record): left alone.
    expect(await pass(Date.now())).toEqual([]);
    expect(await listed()).toContain(orphan);
    // Past it: removed, counted and logged; the recorded session stays.
    expect(await pass(Date.now() + 61_000)).toEqual([orphan]);
    expect(removed).toEqual([orphan]);
    const after = await listed();
    expect(after).not.toContain(orphan);
    expect(after).toContain(kept);
    expect(gw.sessions.isAttached(orphan)).toBe(false);
  });

  it("runs in the gateway with a grace of at most a minute by default, counted as orphan deletions", async () => {
    expect(gw.cfg.lifecycle.orphanGraceSeconds).toBeLessThanOrEqual(60);
    const orphan = await chat();
    await gw.store.deleteSession(orphan);
    const before = (await gw.metrics.sessionsDeleted.get()).values.find((v) => v.labels.reason === "orphan")?.value ?? 0;
    // The gateway's own pass, with the clock past the grace.
    expect(await gw.reconcilePass(Date.now() + 61_000)).toContain(orphan);
    const after = (await gw.metrics.sessionsDeleted.get()).values.find((v) => v.labels.reason === "orphan")?.value ?? 0;
    expect(after - before).toBe(1);
  });
});
