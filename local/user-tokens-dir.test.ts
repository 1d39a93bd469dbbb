/**
 * `npm start -- --user-tokens-dir`: a real shared platform whose gateway (a process of its own) gives
 * each user's sessions their own GitHub token. The identity tap in front of the CLI logs a
 * fingerprint of every create's and resume's token: each session's calls carry its owner's, also
 * after the gateway was SIGKILLed and restarted (resume); a user without a file is 403; no file of
 * the run (gateway, CLI and platform logs) holds a token.
 */
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { spawnServerId } from "../gateway/spawn-pool.js";
import { readTargetFile } from "../topology/index.js";
import { mintToken } from "../topology/tokens.js";
import { LocalPlatform } from "./platform.js";

const dir = mkdtempSync(join(tmpdir(), "csk-user-tokens-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const KEY = "local-identity-key-0123456789abcdef";
const GITHUB = { alice: "ghu_local_alice_0123456789", bob: "ghu_local_bob_9876543210" } as const;
const fingerprint = (t: string) => createHash("sha256").update(t).digest("hex").slice(0, 16);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function filesUnder(d: string): string[] {
  return readdirSync(d, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe("local platform --user-tokens-dir", () => {
  it("each user's sessions carry their own token, on create and on resume after a gateway restart; no file of the run holds a token", async () => {
    const tokens = join(dir, "tokens");
    mkdirSync(tokens);
    for (const [user, token] of Object.entries(GITHUB)) writeFileSync(join(tokens, spawnServerId(user, KEY)), token);
    const runDir = join(dir, "run");
    const targetFile = join(dir, "target.json");
    process.env.GATEWAY_SERVER_ID_KEY = KEY;
    const platform = await LocalPlatform.start({ topology: "shared", targetFile, runDir, userTokensDir: tokens, restartDelayMs: 0, log: () => undefined });
    try {
      const t = readTargetFile(targetFile);
      const url = t.gatewayUrls[0]!;
      const call = async (user: string, method: string, path: string, body?: unknown) => {
        const res = await fetch(`${url}${path}`, {
          method,
          headers: { authorization: `Bearer ${await mintToken(t.auth, user)}`, ...(body ? { "content-type": "application/json" } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      const owners = new Map<string, keyof typeof GITHUB>();
      for (const user of ["alice", "bob"] as const) {
        const created = await call(user, "POST", "/v1/sessions", {});
        expect(created.status).toBe(201);
        owners.set(String(created.body.sessionId), user);
        expect((await call(user, "POST", `/v1/sessions/${String(created.body.sessionId)}/messages`, { prompt: "hi" })).status).toBe(200);
      }
      const carol = await call("carol", "POST", "/v1/sessions", {});
      expect([carol.status, (carol.body.error as { code: string }).code]).toEqual([403, "github_identity_missing"]);
      // The gateway process dies and is restarted: its next turn on each session is a resume.
      process.kill(t.gateways![0]!.pid, "SIGKILL");
      let again = 0;
      for (const [id, user] of owners) {
        for (let i = 0; i < 100; i++) {
          const r = await call(user, "POST", `/v1/sessions/${id}/messages`, { prompt: "again" }).catch(() => undefined);
          if (r?.status === 200) {
            again++;
            break;
          }
          await sleep(200);
        }
      }
      expect(again).toBe(2);
      const calls = readFileSync(join(runDir, "logs", "identity-tap.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { method: string; sessionId: string; token: string | null });
      for (const [id, user] of owners) {
        const mine = calls.filter((c) => c.sessionId === id);
        expect(mine.map((c) => c.method).sort()).toEqual(["session.create", "session.resume"]);
        expect(mine.map((c) => c.token)).toEqual([fingerprint(GITHUB[user]), fingerprint(GITHUB[user])]);
      }
    } finally {
      await platform.stop();
      delete process.env.GATEWAY_SERVER_ID_KEY;
    }
    const files = filesUnder(runDir);
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) for (const token of Object.values(GITHUB)) expect(readFileSync(f, "latin1").includes(token), `${f} holds a token`).toBe(false);
  }, 180_000);
});
