/**
 * The local platform pointed at an OpenID provider (`--oidc-issuer`, `--oidc-audience`): a real
 * shared platform (gateway process, offline CLI) behind panva's oidc-provider on loopback. Two
 * users' provider tokens work and see only their own sessions; the platform's own HS256 tokens and
 * a token for another audience are refused; the target mints no tokens.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OIDC_AUDIENCE, type OidcProvider, startOidcProvider } from "../testing/oidc-provider.js";
import { readTargetFile } from "../topology/index.js";
import { LocalPlatform } from "./platform.js";

const dir = mkdtempSync(join(tmpdir(), "csk-oidc-"));
let provider: OidcProvider;
let platform: LocalPlatform;
let url = "";

beforeAll(async () => {
  provider = await startOidcProvider();
  const targetFile = join(dir, "target.json");
  platform = await LocalPlatform.start({ topology: "shared", targetFile, runDir: join(dir, "run"), oidc: { issuer: provider.issuer, audience: OIDC_AUDIENCE }, log: () => undefined });
  url = readTargetFile(targetFile).gatewayUrls[0]!;
}, 120_000);
afterAll(async () => {
  await platform?.stop();
  await provider?.close();
  rmSync(dir, { recursive: true, force: true });
});

const call = async (method: string, path: string, token: string, json?: unknown) => {
  const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(json ? { "content-type": "application/json" } : {}) }, body: json ? JSON.stringify(json) : undefined });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
};

describe("local platform with an OIDC provider", () => {
  it("serves two provider users, keeps them apart, and refuses HS256 and another audience", async () => {
    const [alice, bob] = await Promise.all([provider.tokenFor("alice"), provider.tokenFor("bob")]);
    const created = await call("POST", "/v1/sessions", alice, {});
    expect(created.status).toBe(201);
    const id = String(created.body.sessionId);
    const turn = await call("POST", `/v1/sessions/${id}/messages`, alice, { prompt: "hello" });
    expect(turn.status).toBe(200);
    expect(String(turn.body.content)).toContain("turn=1 prompt=hello");
    expect((await call("GET", `/v1/sessions/${id}`, bob)).status).toBe(404);
    expect((await call("GET", "/v1/sessions", bob)).body).toEqual({ sessions: [] });

    // An HS256 token (the platform's usual kind) and a token for another API are refused.
    const hs256 = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").setIssuedAt().setExpirationTime("1h").sign(new TextEncoder().encode("x".repeat(48)));
    expect((await call("GET", "/v1/sessions", hs256)).status).toBe(401);
    expect((await call("GET", "/v1/sessions", await provider.tokenFor("alice", "https://another-api.test"))).status).toBe(401);
    expect(platform.descriptor().auth).toEqual({ kind: "static", tokens: {} });
    expect((await call("DELETE", `/v1/sessions/${id}`, alice)).status).toBe(204);
  }, 60_000);
});
