/**
 * A CLI that cannot write its session state (found by the fault soak): a real CLI (offline, mock
 * model) whose session-state folder is made immutable. Creates and chats must answer the
 * documented, retryable 503 server_unavailable with Retry-After (they were 502 cli_error), and
 * succeed once the CLI can write again; a delete is finished once it can. No session is left behind.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayFor } from "../testing/gateway.js";
import { startOfflineCli, type OfflineCli } from "../testing/local.js";
import type { Gateway } from "./server.js";

const TOKEN = "w".repeat(32);
const AUTH = { authorization: "Bearer alice-token-0123456789" };
let cli: OfflineCli;
let gw: Gateway;
let state: string;

beforeAll(async () => {
  cli = await startOfflineCli(TOKEN);
  state = join(cli.cli.home, "session-state");
  mkdirSync(state, { recursive: true });
  gw = await gatewayFor(cli);
}, 120_000);
afterAll(async () => {
  if (state) execFileSync("chattr", ["-i", state]);
  await gw?.drainAndStop();
  await cli?.stop();
});

async function unwritable<T>(fn: () => Promise<T>): Promise<T> {
  execFileSync("chattr", ["+i", state]);
  try {
    return await fn();
  } finally {
    execFileSync("chattr", ["-i", state]);
  }
}

function expectRetryable503(r: { statusCode: number; body: string; headers: Record<string, unknown> }) {
  expect(r.statusCode, r.body).toBe(503);
  const err = JSON.parse(r.body).error as { code: string; message: string };
  expect(err.code).toBe("server_unavailable");
  expect(err.message).toMatch(/cli-0 cannot write session state/);
  expect(Number(r.headers["retry-after"])).toBeGreaterThanOrEqual(1);
}

describe("a CLI that cannot write", () => {
  it("answers creates and chats with a retryable 503, and serves them once it can write again", async () => {
    await unwritable(async () => {
      expectRetryable503(await gw.app.inject({ method: "POST", url: "/v1/sessions", headers: AUTH, payload: {} }));
      expectRetryable503(await gw.app.inject({ method: "POST", url: "/v1/chat", headers: AUTH, payload: { prompt: "hi" } }));
    });
    expect((await gw.app.inject({ method: "POST", url: "/v1/sessions", headers: AUTH, payload: {} })).statusCode).toBe(201);
    expect((await gw.app.inject({ method: "POST", url: "/v1/chat", headers: AUTH, payload: { prompt: "hi" } })).statusCode).toBe(200);
  }, 60_000);

  it("finishes a delete the CLI could do only in part: 204 at once, gone for its owner, its state removed once the CLI can write", async () => {
    const id = (await gw.app.inject({ method: "POST", url: "/v1/sessions", headers: AUTH, payload: {} })).json<{ sessionId: string }>().sessionId;
    expect((await gw.app.inject({ method: "POST", url: `/v1/sessions/${id}/messages`, headers: AUTH, payload: { prompt: "one" } })).statusCode).toBe(200);
    // The CLI empties the session's folder, then fails to remove it (found by the fault soak: the
    // record stayed, and the next message reopened the emptied session as a new one, history lost).
    const del = await unwritable(() => gw.app.inject({ method: "DELETE", url: `/v1/sessions/${id}`, headers: AUTH }));
    expect(del.statusCode, del.body).toBe(204);
    expect((await gw.app.inject({ method: "POST", url: `/v1/sessions/${id}/messages`, headers: AUTH, payload: { prompt: "two" } })).statusCode).toBe(404);
    expect((await gw.app.inject({ method: "DELETE", url: `/v1/sessions/${id}`, headers: AUTH })).statusCode).toBe(404);
    await gw.reconcilePass();
    expect(await gw.store.getSession(id)).toBeUndefined();
    expect(readdirSync(state)).not.toContain(id);
  }, 60_000);

  it("keeps a chat's record when its CLI session cannot be deleted, so no CLI session is left without one", async () => {
    const chat = gw.app.inject({ method: "POST", url: "/v1/chat", headers: AUTH, payload: { prompt: "[sleep:1500] long enough to lock the disk under it" } });
    await new Promise((r) => setTimeout(r, 700));
    // The turn writes inside its own folder (allowed); removing the folder afterwards is not.
    const r = await unwritable(async () => {
      const answer = await chat;
      await new Promise((res) => setTimeout(res, 200));
      return answer;
    });
    expect(r.statusCode, r.body).toBe(200);
    const chats = readdirSync(state).filter((id) => id.startsWith("c-"));
    expect(chats.length, "the chat's CLI session outlived the failed delete").toBeGreaterThan(0);
    const records = new Set((await gw.store.allSessions()).map((x) => x.sessionId));
    expect(chats.filter((id) => !records.has(id)), "CLI sessions without a record (TTL cleanup could never find them)").toEqual([]);
  }, 60_000);
});
