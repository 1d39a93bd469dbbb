/**
 * No orphans between steps: a real CLI (offline, against the mock model) behind a real
 * gateway replica whose store fails one write on demand, as a stalled or full Redis would.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { CopilotClient, RuntimeConnection } from "@github/copilot-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayFor } from "../testing/gateway.js";
import { startOfflineCli, type OfflineCli } from "../testing/local.js";
import type { CliServerHandle } from "./cli-process.js";
import { reconcileOrphans } from "./reconcile.js";
import type { Gateway } from "./server.js";
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

  it("a delete whose record removal failed can be retried to the end: no record without a session", async () => {
    const created = await gw.app.inject({ method: "POST", url: "/v1/sessions", headers: AUTH, payload: {} });
    const id = created.json<{ sessionId: string }>().sessionId;
    failOnce("deleteSession");
    expect((await gw.app.inject({ method: "DELETE", url: `/v1/sessions/${id}`, headers: AUTH })).statusCode).toBe(503);
    // The CLI session is gone, its record not yet: the retry must finish the job, not fail on the missing session.
    expect((await cliSessions()).has(id)).toBe(false);
    const retry = await gw.app.inject({ method: "DELETE", url: `/v1/sessions/${id}`, headers: AUTH });
    expect(retry.statusCode, retry.body).toBe(204);
    expect(await gw.store.getSession(id)).toBeUndefined();
    expect((await gw.app.inject({ method: "GET", url: `/v1/sessions/${id}`, headers: AUTH })).statusCode).toBe(404);
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
      reconcileOrphans({ store: gw.store, pool: gw.pool, graceMs: 60_000, log: gw.log, now, destroy: (id, b) => gw.sessions.destroy(id, b, "orphan"), onRemoved: (id) => removed.push(id) });
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
