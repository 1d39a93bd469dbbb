/**
 * A create whose record write is reported failed but lands anyway (found by the fault soak: with
 * Redis paused, the write times out at the gateway, the undo removes the CLI session, then Redis
 * resumes and runs the queued write): the undo must remove the record too, or the owner lists a
 * session that has no CLI state. Real CLI; the store's write is made to land and then fail.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayFor } from "../testing/gateway.js";
import { startOfflineCli, type OfflineCli } from "../testing/local.js";
import type { Gateway } from "./server.js";
import type { SessionRecord, Store } from "./store.js";

const TOKEN = "l".repeat(32);
const AUTH = { authorization: "Bearer alice-token-0123456789" };
let cli: OfflineCli;
let gw: Gateway;

beforeAll(async () => {
  cli = await startOfflineCli(TOKEN);
  gw = await gatewayFor(cli);
}, 120_000);
afterAll(async () => {
  await gw?.drainAndStop();
  await cli?.stop();
});

describe("a record write that fails late", () => {
  it("is undone with the CLI session: neither the record nor the CLI state stays", async () => {
    const store = gw.store as unknown as Record<string, unknown>;
    const original = store.createSession as Store["createSession"];
    let written: string | undefined;
    store.createSession = async (rec: SessionRecord) => {
      store.createSession = original;
      await original.call(gw.store, rec);
      written = rec.sessionId;
      throw new Error("Command timed out");
    };
    const r = await gw.app.inject({ method: "POST", url: "/v1/sessions", headers: AUTH, payload: {} });
    expect(r.statusCode, r.body).toBe(503);
    expect(written, "the write landed").toBeDefined();
    await new Promise((res) => setTimeout(res, 300));
    expect(existsSync(join(cli.cli.home, "session-state", written!)), "CLI state of the undone create").toBe(false);
    expect(await gw.store.getSession(written!), "the record of the undone create").toBeUndefined();
    expect((await gw.app.inject({ method: "GET", url: "/v1/sessions", headers: AUTH })).json<{ sessions: unknown[] }>().sessions).toEqual([]);
  }, 60_000);
});
