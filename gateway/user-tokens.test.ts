/**
 * Per-user GitHub token sources: a folder of keyed files, a Kubernetes Secret per user (an API
 * server on loopback (a test double of its Secrets route)) and an HTTP hook on loopback (caching, a
 * user without a token refused or served with the service identity, a failing hook 503, rooms
 * always the service identity), and the test switch that hands everyone the first token.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { identitySchema } from "../topology/gateway-config.js";
import { objectNames } from "../topology/user-pod.js";
import { ApiError } from "./errors.js";
import { spawnServerId } from "./spawn-pool.js";
import { createUserTokens } from "./user-tokens.js";

const KEY = "k".repeat(32);
const env = { GATEWAY_SERVER_ID_KEY: KEY, GATEWAY_IDENTITY_HOOK_TOKEN: "hook-secret-0123456789" };
const codeOf = (p: Promise<unknown>) => p.then(() => "resolved", (e: unknown) => (e instanceof ApiError ? `${e.status} ${e.code}` : String(e)));

let dir: string;
let hook: FastifyInstance;
let hookUrl: string;
const hookCalls: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "csk-user-tokens-"));
  writeFileSync(join(dir, spawnServerId("alice", KEY)), "ghu_alice_0123\n");
  writeFileSync(join(dir, spawnServerId("bob", KEY)), "ghu_bob_4567");
  hook = Fastify({ forceCloseConnections: true });
  hook.post<{ Body: { user: string } }>("/token", async (req, reply) => {
    if (req.headers.authorization !== `Bearer ${env.GATEWAY_IDENTITY_HOOK_TOKEN}`) return reply.code(401).send({});
    hookCalls.push(req.body.user);
    if (req.body.user === "alice") return { token: "ghu_alice_hook", expiresInSeconds: 3600 };
    if (req.body.user === "broken") return reply.code(500).send({});
    if (req.body.user === "slow") await new Promise((r) => setTimeout(r, 3_000));
    return reply.code(404).send({});
  });
  hookUrl = `${await hook.listen({ port: 0, host: "127.0.0.1" })}/token`;
});
afterAll(async () => {
  await hook?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("user tokens", () => {
  it("dir: each user's own file, named by the keyed id; a user without one is refused, or served with the service identity", async () => {
    const tokens = createUserTokens(identitySchema.parse({ source: "dir", dir }), env);
    expect(await tokens.tokenFor("alice")).toBe("ghu_alice_0123");
    expect(await tokens.tokenFor("bob")).toBe("ghu_bob_4567");
    expect(await codeOf(tokens.tokenFor("carol"))).toBe("403 github_identity_missing");
    expect(await tokens.tokenFor("room:lobby"), "rooms use the service identity").toBeUndefined();
    const lenient = createUserTokens(identitySchema.parse({ source: "dir", dir, missing: "service" }), env);
    expect(await lenient.tokenFor("carol")).toBeUndefined();
    expect(() => createUserTokens(identitySchema.parse({ source: "dir", dir }), {}), "the names are keyed").toThrow(/GATEWAY_SERVER_ID_KEY/);
  });

  it("dir: a token is cached for cacheSeconds, then read again (a rotated file takes effect)", async () => {
    const file = join(dir, spawnServerId("dave", KEY));
    writeFileSync(file, "ghu_dave_1");
    const cached = createUserTokens(identitySchema.parse({ source: "dir", dir, cacheSeconds: 600 }), env);
    const fresh = createUserTokens(identitySchema.parse({ source: "dir", dir, cacheSeconds: 0 }), env);
    expect([await cached.tokenFor("dave"), await fresh.tokenFor("dave")]).toEqual(["ghu_dave_1", "ghu_dave_1"]);
    writeFileSync(file, "ghu_dave_2");
    expect([await cached.tokenFor("dave"), await fresh.tokenFor("dave")]).toEqual(["ghu_dave_1", "ghu_dave_2"]);
  });

  it("http: the hook's token, cached; 404 is no token; an error or a timeout is 503 identity_unavailable", async () => {
    const tokens = createUserTokens(identitySchema.parse({ source: "http", url: hookUrl, timeoutSeconds: 1 }), env);
    expect(await tokens.tokenFor("alice")).toBe("ghu_alice_hook");
    expect(await tokens.tokenFor("alice")).toBe("ghu_alice_hook");
    expect(hookCalls.filter((u) => u === "alice")).toHaveLength(1);
    expect(await codeOf(tokens.tokenFor("nobody"))).toBe("403 github_identity_missing");
    expect(await codeOf(tokens.tokenFor("broken"))).toBe("503 identity_unavailable");
    expect(await codeOf(tokens.tokenFor("slow"))).toBe("503 identity_unavailable");
    const unauthenticated = createUserTokens(identitySchema.parse({ source: "http", url: hookUrl }), {});
    expect(await codeOf(unauthenticated.tokenFor("alice")), "the hook refuses a gateway without its secret").toBe("503 identity_unavailable");
  });

  it("kubernetes: the per-user Secret user-credentials.ts writes (<prefix>-user-<hmac>-credentials, key github-token); 404 is no token, an API error 503", async () => {
    const api = Fastify({ forceCloseConnections: true });
    const asked: string[] = [];
    api.get<{ Params: { ns: string; name: string } }>("/api/v1/namespaces/:ns/secrets/:name", async (req, reply) => {
      asked.push(`${req.params.ns}/${req.params.name}`);
      if (req.params.name === objectNames({ namePrefix: "copilot-u" }, spawnServerId("alice", KEY)).credentials) {
        return { apiVersion: "v1", kind: "Secret", metadata: { name: req.params.name }, data: { "github-token": Buffer.from("ghu_alice_secret").toString("base64") } };
      }
      if (req.params.name.includes(spawnServerId("broken", KEY))) return reply.code(500).send({ kind: "Status", code: 500 });
      return reply.code(404).send({ kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 });
    });
    const server = await api.listen({ port: 0, host: "127.0.0.1" });
    // Plain HTTP on loopback: the client allows it only with TLS verification off.
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: "v1", kind: "Config", "current-context": "t",
      clusters: [{ name: "t", cluster: { server, "insecure-skip-tls-verify": true } }], users: [{ name: "t", user: { token: "sa-token" } }], contexts: [{ name: "t", context: { cluster: "t", user: "t" } }],
    }));
    const before = process.env.KUBECONFIG;
    process.env.KUBECONFIG = kubeconfig;
    try {
      const tokens = createUserTokens(identitySchema.parse({ source: "kubernetes", namespace: "copilot-users" }), env);
      expect(await tokens.tokenFor("alice")).toBe("ghu_alice_secret");
      expect(await codeOf(tokens.tokenFor("bob"))).toBe("403 github_identity_missing");
      expect(await codeOf(tokens.tokenFor("broken"))).toBe("503 identity_unavailable");
      expect(asked[0]).toBe(`copilot-users/copilot-u-${spawnServerId("alice", KEY)}-credentials`);
      expect(asked.join(" "), "names carry no user id").not.toMatch(/alice|bob/);
    } finally {
      if (before === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = before;
      await api.close();
    }
  });

  it("no error message carries a token", async () => {
    const tokens = createUserTokens(identitySchema.parse({ source: "dir", dir }), env);
    const err = await tokens.tokenFor("carol").catch((e: Error) => e);
    expect(String((err as Error).message)).not.toMatch(/ghu_/);
  });

  it("negative control: the first-user-token switch hands bob alice's token", async () => {
    const tokens = createUserTokens(identitySchema.parse({ source: "dir", dir }), env, { firstUserTokenForAll: true });
    expect(await tokens.tokenFor("alice")).toBe("ghu_alice_0123");
    expect(await tokens.tokenFor("bob")).toBe("ghu_alice_0123");
  });
});
