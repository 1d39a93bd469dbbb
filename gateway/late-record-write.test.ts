/**
 * A create whose record write is reported failed but lands anyway (found by the fault soak: with
 * Redis paused, the write times out at the gateway, the undo removes the CLI session, then Redis
 * resumes and runs the queued write): the undo must remove the record too, or the owner lists a
 * session that has no CLI state. Real CLI; the store's write is made to land and then fail.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { gatewaySuite } from "../testing/gateway.js";
import type { SessionRecord, Store } from "./store.js";

const AUTH = { authorization: "Bearer alice-token-0123456789" };
const suite = gatewaySuite("l".repeat(32));

describe("a record write that fails late", () => {
  it("is undone with the CLI session: neither the record nor the CLI state stays", async () => {
    const store = suite.gw.store as unknown as Record<string, unknown>;
    const original = store.createSession as Store["createSession"];
    let written: string | undefined;
    store.createSession = async (rec: SessionRecord) => {
      store.createSession = original;
      await original.call(suite.gw.store, rec);
      written = rec.sessionId;
      throw new Error("Command timed out");
    };
    const r = await suite.gw.app.inject({ method: "POST", url: "/v1/sessions", headers: AUTH, payload: {} });
    expect(r.statusCode, r.body).toBe(503);
    expect(written, "the write landed").toBeDefined();
    await new Promise((res) => setTimeout(res, 300));
    expect(existsSync(join(suite.cli.cli.home, "session-state", written!)), "CLI state of the undone create").toBe(false);
    expect(await suite.gw.store.getSession(written!), "the record of the undone create").toBeUndefined();
    expect((await suite.gw.app.inject({ method: "GET", url: "/v1/sessions", headers: AUTH })).json<{ sessions: unknown[] }>().sessions).toEqual([]);
  }, 60_000);
});
