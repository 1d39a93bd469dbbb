/**
 * The leftover check (conformance/leftovers.ts) against a real local platform (collaborative, Redis,
 * a real CLI): a settled platform shows nothing, and each kind of leftover, planted with the
 * gateway's own store code or the SDK, is found. This also pins the Redis layout the check reads.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CopilotClient, RuntimeConnection, type SessionConfig } from "@github/copilot-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alive, findLeftovers, isEmpty, processesIn, storeUrlOf } from "../../conformance/leftovers.js";
import { RedisStore } from "../../gateway/redis-store.js";
import { LocalPlatform } from "../../local/platform.js";
import { mintToken } from "../../topology/tokens.js";

const dir = mkdtempSync(join(tmpdir(), "csk-leftovers-"));
let platform: LocalPlatform;
let store: RedisStore;
const pids: number[] = [];

beforeAll(async () => {
  platform = await LocalPlatform.start({ topology: "collaborative", store: "redis", targetFile: join(dir, "target.json"), runDir: join(dir, "run"), log: () => undefined });
  store = new RedisStore(storeUrlOf(platform.descriptor())!);
}, 120_000);
afterAll(async () => {
  await store?.close();
  await platform?.stop();
  for (const p of alive(pids)) process.kill(p, "SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe("leftover check", () => {
  it("finds nothing on a settled platform after a room turn, and each planted leftover", async () => {
    const t = platform.descriptor();
    const token = await mintToken(t.auth, "poster", { rooms: "*" });
    const r = await fetch(`${t.gatewayUrls[0]}/v1/rooms/lobby/messages`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ prompt: "hi" }) });
    expect(r.status).toBe(200);
    expect(await findLeftovers(t)).toEqual({ orphanSessions: [], recordsWithoutSession: [], heldLocks: [], strayLeases: [], processes: [] });

    // A held lock and a stray lease, written by the gateway's own store code.
    const grant = await store.acquireLock("room:planted", "gw-x:1", 60_000, 1_000);
    expect(grant).not.toBeNull();
    await store.claimLease("s-nobody", "cli-0", 60_000);
    // A record with no CLI session, and a CLI session with no record.
    const ghost = `s-${randomUUID()}`;
    await store.createSession({ sessionId: ghost, owner: "u", kind: "session", persistent: true, createdAt: Date.now(), lastActiveAt: Date.now() });
    const orphan = `s-${randomUUID()}`;
    const cli = t.servers[0]!;
    const client = new CopilotClient({ connection: RuntimeConnection.forUri(cli.address, { connectionToken: cli.connectionToken }) });
    await client.start();
    const s = await client.createSession({ sessionId: orphan, model: "mock-model", provider: { type: "openai", baseUrl: "http://127.0.0.1:9/v1" }, onPermissionRequest: () => ({ kind: "approve-once" }) } as SessionConfig);
    await s.disconnect();
    // A process of the run that nothing listed accounts for.
    const stray = spawn("sleep", ["300"], { cwd: t.local!.runDir, stdio: "ignore" });
    pids.push(stray.pid!);

    const found = await findLeftovers(platform.descriptor());
    expect(found.heldLocks.some((k) => k.includes("room:planted"))).toBe(true);
    expect(found.strayLeases).toEqual(["s-nobody on cli-0"]);
    expect(found.recordsWithoutSession).toEqual([ghost]);
    expect(found.orphanSessions).toEqual([orphan]);
    expect(found.processes.some((p) => p.startsWith(`${stray.pid} sleep`))).toBe(true);

    // Cleared again, the check is empty once more.
    await store.releaseLock(grant!);
    await store.releaseLease("s-nobody", "cli-0");
    await store.deleteSession(ghost);
    await client.deleteSession(orphan);
    await client.forceStop();
    stray.kill("SIGKILL");
    await new Promise((res) => stray.once("exit", res));
    expect(isEmpty(await findLeftovers(platform.descriptor()))).toBe(true);
  }, 120_000);

  it("after stop, no process of the run is left", async () => {
    const listed = [...platform.descriptor().servers.map((s) => s.pid!), ...platform.descriptor().gateways!.map((g) => g.pid)];
    expect(alive(listed)).toHaveLength(listed.length);
    await store.close();
    await platform.stop();
    expect(alive(listed)).toEqual([]);
    expect(processesIn(join(dir, "run"))).toEqual([]);
  }, 120_000);
});
