/**
 * Each user's own GitHub identity, proven on the wire: a tap between the gateways' SDK and a real
 * offline CLI records the gitHubToken of every session.create and session.resume. Two users on one
 * shared CLI, two gateway replicas on real Redis, the first stopped so the second resumes both
 * users' sessions (failover): every create and resume carries its owner's token; a room carries
 * none (service identity); a user without a token is 403; no log line holds a token. Negative
 * control: with the first-user-token switch the same check finds bob's session on alice's token.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { CopilotClient, RuntimeConnection } from "@github/copilot-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayFor, TEST_TOKENS } from "../testing/gateway.js";
import { MOCK_MODEL, startIdentityTap, startOfflineCli, type IdentityTap, type OfflineCli } from "../testing/local.js";
import { startTestRedis, type TestRedis } from "../testing/redis.js";
import { parseGatewayConfig } from "../topology/gateway-config.js";
import { gatewayLogger, type Gateway, type UnsafeSwitches } from "./server.js";
import { spawnServerId } from "./spawn-pool.js";

const KEY = "identity-test-key-0123456789abcdef";
const GITHUB = { alice: "ghu_alice_identity_0123456789", bob: "ghu_bob_identity_9876543210" } as const;
const CAROL = "carol-token-0123456789ab";
let redis: TestRedis;
let offline: OfflineCli;
let tap: IdentityTap;
let dir: string;

beforeAll(async () => {
  redis = await startTestRedis();
  offline = await startOfflineCli("c".repeat(32));
  tap = await startIdentityTap(offline.cli.address, { type: "openai", baseUrl: offline.modelUrl });
  dir = mkdtempSync(join(tmpdir(), "csk-identity-"));
  for (const [user, token] of Object.entries(GITHUB)) writeFileSync(join(dir, spawnServerId(user, KEY)), token);
}, 120_000);
afterAll(async () => {
  await tap?.stop();
  await offline?.stop();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type User = keyof typeof GITHUB;
const as = (user: User | "carol") => ({ authorization: `Bearer ${user === "carol" ? CAROL : TEST_TOKENS[user]}` });

/** Two replicas in front of the tap; their logs (trace level) collected in `logs`. */
async function replicas(unsafe: UnsafeSwitches, logs: string[]): Promise<[Gateway, Gateway]> {
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (logs.push(chunk.toString("utf8")), done()) });
  const make = async (replicaId: string) =>
    gatewayFor(
      offline,
      {
        topology: "collaborative",
        replicaId,
        store: "redis",
        backends: { kind: "static", servers: [{ id: "cli-0", address: tap.address, tokenEnv: "CLI_TOKEN_CLI_0" }] },
        // GitHub-hosted models: no BYOK provider (the tap adds the mock model's provider after recording the token).
        model: { name: MOCK_MODEL },
        identity: { source: "dir", dir },
        logLevel: "trace",
      },
      {
        env: { GATEWAY_REDIS_URL: redis.url, GATEWAY_SERVER_ID_KEY: KEY, GATEWAY_STATIC_TOKENS: JSON.stringify({ ...TEST_TOKENS, carol: CAROL }) },
        unsafe,
        log: gatewayLogger({ logLevel: "trace", replicaId }, sink),
      },
    );
  return [await make("gw-a"), await make("gw-b")];
}

/** Sessions of both users created and used on A; A stops; B resumes both (a turn, a history read); a room on both. */
async function scenario(unsafe: UnsafeSwitches) {
  const logs: string[] = [];
  const [a, b] = await replicas(unsafe, logs);
  const owners = new Map<string, User>();
  const room = `identity-${Math.random().toString(36).slice(2, 8)}`;
  const from = tap.calls.length;
  for (const user of ["alice", "bob"] as const) {
    const created = await a.app.inject({ method: "POST", url: "/v1/sessions", headers: as(user), payload: {} });
    expect(created.statusCode, created.body).toBe(201);
    const id = created.json<{ sessionId: string }>().sessionId;
    owners.set(id, user);
    expect((await a.app.inject({ method: "POST", url: `/v1/sessions/${id}/messages`, headers: as(user), payload: { prompt: "hi" } })).statusCode).toBe(200);
  }
  expect((await a.app.inject({ method: "POST", url: `/v1/rooms/${room}/messages`, headers: as("alice"), payload: { prompt: "room" } })).statusCode).toBe(200);
  const refused = await a.app.inject({ method: "POST", url: "/v1/sessions", headers: as("carol"), payload: {} });
  await a.drainAndStop();
  for (const [id, user] of owners) {
    const r = await b.app.inject({ method: user === "alice" ? "POST" : "GET", url: `/v1/sessions/${id}/messages`, headers: as(user), ...(user === "alice" ? { payload: { prompt: "again" } } : {}) });
    expect(r.statusCode, r.body).toBe(200);
  }
  expect((await b.app.inject({ method: "POST", url: `/v1/rooms/${room}/messages`, headers: as("bob"), payload: { prompt: "room again" } })).statusCode).toBe(200);
  for (const id of owners.keys()) expect((await b.app.inject({ method: "DELETE", url: `/v1/sessions/${id}`, headers: as(owners.get(id)!) })).statusCode).toBe(204);
  // A line that would carry a token if it were ever logged: the logger's redaction must catch it.
  b.log.info({ config: { gitHubToken: GITHUB.bob }, token: GITHUB.bob }, "redaction probe");
  await b.drainAndStop();
  const calls = tap.calls.slice(from);
  const mine = calls.filter((c) => owners.has(c.sessionId));
  const wrong = mine.filter((c) => c.gitHubToken !== GITHUB[owners.get(c.sessionId)!]);
  return { refused, logs, mine, wrong, roomCalls: calls.filter((c) => c.sessionId === `r-${room}`), owners };
}

describe("per-user GitHub identity on a shared CLI", () => {
  it("every create and resume carries its owner's token, on the first replica and after failover on the second; rooms the service identity; carol 403", async () => {
    const { refused, logs, mine, wrong, roomCalls, owners } = await scenario({});
    // Both users, both paths: a create on A and a resume on B for each session.
    for (const id of owners.keys()) expect(mine.filter((c) => c.sessionId === id).map((c) => c.method).sort()).toEqual(["session.create", "session.resume"]);
    expect(wrong).toEqual([]);
    expect(roomCalls.map((c) => [c.method, c.gitHubToken])).toEqual([["session.create", undefined], ["session.resume", undefined]]);
    expect([refused.statusCode, refused.json().error.code]).toEqual([403, "github_identity_missing"]);
    expect(logs.length, "the replicas logged").toBeGreaterThan(2);
    expect(logs.filter((l) => l.includes("redaction probe") && l.includes("[redacted]"))).toHaveLength(1);
    for (const token of Object.values(GITHUB)) expect(logs.filter((l) => l.includes(token)), "no log line holds a token").toEqual([]);
    // Nothing left: the deleted sessions are gone from the CLI, and the tap holds no connection.
    const client = new CopilotClient({ connection: RuntimeConnection.forUri(offline.cli.address, { connectionToken: offline.connectionToken }) });
    await client.start();
    const left = (await client.listSessions()).map((s) => s.sessionId).filter((id) => owners.has(id));
    await client.stop();
    expect(left).toEqual([]);
    expect(tap.openConnections()).toBe(0);
  }, 120_000);

  it("negative control: with first-user-token every session gets alice's token, and the check finds bob's on it", async () => {
    const { wrong, owners } = await scenario({ "first-user-token": true });
    const bobs = [...owners].filter(([, u]) => u === "bob").map(([id]) => id);
    expect(wrong.length).toBeGreaterThan(0);
    expect(wrong.every((c) => bobs.includes(c.sessionId) && c.gitHubToken === GITHUB.alice)).toBe(true);
  }, 120_000);

  it("config: per-user tokens with a BYOK provider are refused at startup (the CLI refuses both on one session)", () => {
    const base = { topology: "shared", backends: { kind: "static", servers: [{ id: "cli-0", address: "127.0.0.1:1", tokenEnv: "T" }] } };
    expect(() => parseGatewayConfig({ ...base, identity: { source: "dir", dir: "/x" }, model: { providerBaseUrl: "http://127.0.0.1:1/v1" } })).toThrow(/Cannot specify both gitHubToken and provider/);
    expect(parseGatewayConfig({ ...base, identity: { source: "dir", dir: "/x" } }).identity).toMatchObject({ source: "dir", missing: "refuse", cacheSeconds: 300 });
  });
});
