/**
 * Each user's own GitHub identity (local targets with --user-tokens-dir): two users get token files,
 * use sessions on one replica and then on the other (a resume there), and the identity tap's
 * log (a fingerprint per create and resume) must show each session on its owner's token only. A
 * user without a file is 403. The negative control (--unsafe first-user-token) must fail here.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect } from "vitest";
import { GATEWAY_CONFIG_ENV, GATEWAY_SECRET_ENV, type TargetDescriptor } from "../../topology/index.js";
import { expectNothingLeft } from "../leftovers.js";
import { api, conformance, createSession, send, target } from "../harness.js";

/** The token folder and its key, as the gateway process was started with them (its environment). */
function identitySetup(t: TargetDescriptor): { dir: string; key: string } {
  for (const g of t.gateways ?? []) {
    try {
      const env = new Map(readFileSync(`/proc/${g.pid}/environ`, "utf8").split("\0").map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)] as const));
      const dir = (JSON.parse(env.get(GATEWAY_CONFIG_ENV) ?? "{}") as { identity?: { dir?: string } }).identity?.dir;
      const key = env.get(GATEWAY_SECRET_ENV.serverIdKey);
      if (dir && key) return { dir, key };
    } catch {
      // restarting; try the next replica
    }
  }
  throw new Error("no gateway of the target runs with identity.source dir and GATEWAY_SERVER_ID_KEY");
}

// The keyed file name the gateway reads (gateway/spawn-pool.ts spawnServerId): conformance imports no gateway code.
const fileFor = (user: string, key: string) => `user-${createHmac("sha256", key).update(user).digest("hex").slice(0, 16)}`;
const fingerprint = (t: string) => createHash("sha256").update(t).digest("hex").slice(0, 16);

describe("per-user GitHub identity", () => {
  conformance(["user-identity", "sessions"], "each session's create and resume (on the other replica) carry its owner's own token; a user without one is 403", async () => {
    const t = target(true);
    const { dir, key } = identitySetup(t);
    mkdirSync(dir, { recursive: true });
    const users = [`idu-a-${randomBytes(3).toString("hex")}`, `idu-b-${randomBytes(3).toString("hex")}`];
    const tokens = new Map(users.map((u) => [u, `ghu_conformance_${randomBytes(12).toString("hex")}`]));
    for (const [u, token] of tokens) writeFileSync(join(dir, fileFor(u, key)), token, { mode: 0o600 });
    const owners = new Map<string, string>();
    const other = t.gatewayUrls.length > 1 ? 1 : 0;
    for (const u of users) {
      const id = await createSession(u, {}, 0);
      owners.set(id, u);
      expect((await send(u, id, "mine", 0)).status).toBe(200);
      expect((await send(u, id, "mine again", other)).status).toBe(200);
    }
    const stranger = await api<{ error: { code: string } }>("POST", "/v1/sessions", { user: `idu-none-${randomBytes(3).toString("hex")}`, json: {} });
    expect([stranger.status, stranger.body.error?.code]).toEqual([403, "github_identity_missing"]);
    const log = join(t.local!.runDir, "logs", "identity-tap.jsonl");
    expect(existsSync(log), "the identity tap logged the calls").toBe(true);
    const calls = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { method: string; sessionId: string; token: string | null });
    for (const [id, u] of owners) {
      const mine = calls.filter((c) => c.sessionId === id);
      expect(mine.map((c) => c.method), `session of ${u}`).toContain("session.create");
      if (other) expect(mine.map((c) => c.method), `session of ${u} resumed on the other replica`).toContain("session.resume");
      expect(mine.map((c) => c.token), `session of ${u}: every call on its owner's token`).toEqual(mine.map(() => fingerprint(tokens.get(u)!)));
    }
    for (const [id, u] of owners) expect((await api("DELETE", `/v1/sessions/${id}`, { user: u })).status).toBe(204);
    for (const u of users) rmSync(join(dir, fileFor(u, key)), { force: true });
    await expectNothingLeft(() => target(true));
  }, 90_000, (t) => t.platform === "local");
});
