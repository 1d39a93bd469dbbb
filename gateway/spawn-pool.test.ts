import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseGatewayConfig } from "../topology/gateway-config.js";
import type { CliServerHandle, CliServerOptions } from "./cli-process.js";
import { ApiError } from "./errors.js";
import { createMetrics } from "./metrics.js";
import { SpawnPool, spawnServerId, type SpawnPoolDeps } from "./spawn-pool.js";
import type { SpawnRegistryEntry } from "./spawn-registry.js";
import type { SessionRecord } from "./store.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const KEY = "k".repeat(32);

/** A fake CLI: records its options, takes a little time to "listen", can be crashed. */
function fakeCli() {
  const started: (CliServerOptions & { pid: number; stopped: boolean; crash: () => void })[] = [];
  let pid = 40_000;
  const start = async (opts: CliServerOptions): Promise<CliServerHandle> => {
    await sleep(30);
    let exit!: (code: number | string) => void;
    const exited = new Promise<number | string>((r) => (exit = r));
    const me = { ...opts, pid: ++pid, stopped: false, crash: () => exit("SIGKILL") };
    started.push(me);
    return {
      pid: me.pid,
      port: me.pid,
      host: "127.0.0.1",
      address: `127.0.0.1:${me.pid}`,
      home: opts.home,
      process: {} as ChildProcess,
      exited,
      stop: async () => {
        me.stopped = true;
        exit(0);
      },
    };
  };
  return { started, start };
}

/** Stands in for SessionManager: activity per server, and what was detached. */
function fakeSessions() {
  const activity = new Map<string, { inflight: number; lastActive: number; count: number }>();
  const detached: string[] = [];
  const forgotten: string[] = [];
  return {
    activity,
    detached,
    forgotten,
    lastActivityOn: (id: string) => activity.get(id) ?? { inflight: 0, lastActive: 0, count: 0 },
    detachAllOn: async (id: string) => {
      detached.push(id);
    },
    forgetBackend: (id: string) => {
      forgotten.push(id);
    },
  };
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "spawn-pool-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function makePool(opts: { idle?: number; singleFlight?: boolean; now?: () => number; maxServers?: number } = {}) {
  const cli = fakeCli();
  const sessions = fakeSessions();
  const metrics = createMetrics();
  const registryFile = join(dir, "registry.json");
  const cfg = parseGatewayConfig({
    topology: "isolated",
    backends: { kind: "spawn", cliPath: "/bin/true", homeRoot: join(dir, "users"), registryFile, env: { COPILOT_OFFLINE: "true" }, maxServers: opts.maxServers },
    lifecycle: { cliIdleTimeoutSeconds: opts.idle ?? 0 },
  });
  const deps: SpawnPoolDeps = { log: pino({ level: "silent" }), metrics, sessions, start: cli.start, singleFlight: opts.singleFlight, now: opts.now, idKey: KEY };
  const pool = new SpawnPool(cfg, deps);
  const registry = () => JSON.parse(readFileSync(registryFile, "utf8")) as SpawnRegistryEntry[];
  const count = async (name: string) =>
    (await metrics.registry.getSingleMetric(name)!.get()).values.filter((v) => !("metricName" in v) || !String(v.metricName).endsWith("_bucket")).reduce((n, v) => n + v.value, 0);
  return { pool, cli, sessions, metrics, registry, count };
}

const rec = (owner: string): SessionRecord => ({ sessionId: "s-1", owner, kind: "session", persistent: true, createdAt: 0, lastActiveAt: 0, serverId: "whatever" });

describe("spawnServerId", () => {
  it("is stable per key and user, and not computable from the user id alone", () => {
    const id = spawnServerId("alice", KEY);
    expect(id).toMatch(/^user-[0-9a-f]{16}$/);
    expect(spawnServerId("alice", KEY)).toBe(id);
    expect(spawnServerId("bob", KEY)).not.toBe(id);
    expect(spawnServerId("alice", "x".repeat(32))).not.toBe(id);
    // The keyless id (what main computed) is exactly what anyone could compute and look up.
    expect(spawnServerId("alice", undefined)).toBe(`user-${createHash("sha256").update("alice").digest("hex").slice(0, 16)}`);
    expect(id).not.toBe(spawnServerId("alice", undefined));
  });
});

describe("SpawnPool", () => {
  it("spawns exactly one CLI for concurrent first requests of one user", async () => {
    const { pool, cli, registry, count } = makePool();
    const got = await Promise.all(Array.from({ length: 10 }, () => pool.forNewSession("alice")));
    expect(cli.started).toHaveLength(1);
    expect(new Set(got).size).toBe(1);
    expect(got[0]!.id).toBe(spawnServerId("alice", KEY));
    expect(registry()).toEqual([expect.objectContaining({ id: spawnServerId("alice", KEY), user: "alice", pid: cli.started[0]!.pid, home: join(dir, "users", spawnServerId("alice", KEY)) })]);
    expect(await count("copilot_gateway_cli_spawns_total")).toBe(1);
    await pool.close();
  });

  it("with single-flight switched off, a burst spawns several CLIs (the negative control's mechanism)", async () => {
    const { pool, cli, registry } = makePool({ singleFlight: false });
    await Promise.all(Array.from({ length: 5 }, () => pool.forNewSession("alice")));
    expect(cli.started.length).toBeGreaterThan(1);
    expect(registry().length).toBe(cli.started.length);
    await pool.close();
    expect(cli.started.every((c) => c.stopped)).toBe(true);
    expect(registry()).toEqual([]);
  });

  it("gives each user an own home, token and id that does not contain the user id", async () => {
    const { pool, cli, registry } = makePool();
    const a = await pool.forNewSession("alice@example.com");
    const b = await pool.forNewSession("bob@example.com");
    expect(a.id).not.toBe(b.id);
    expect(a.id).not.toContain("alice");
    const [ca, cb] = cli.started;
    expect(ca!.home).not.toBe(cb!.home);
    expect(ca!.connectionToken).not.toBe(cb!.connectionToken);
    expect(ca!.connectionToken.length).toBeGreaterThanOrEqual(32);
    expect(ca!.port).toBe(0);
    expect(ca!.env).toMatchObject({ COPILOT_OFFLINE: "true", XDG_CACHE_HOME: join(dir, "users", ".cache") });
    expect(registry().map((e) => e.connectionToken).sort()).toEqual([ca!.connectionToken, cb!.connectionToken].sort());
    // Later requests, and sessions by their owner, route to the same server.
    expect(await pool.forNewSession("alice@example.com")).toBe(a);
    expect(await pool.forSession(rec("alice@example.com"), "alice@example.com")).toBe(a);
    expect(cli.started).toHaveLength(2);
    expect(pool.all()).toHaveLength(2);
    await pool.close();
  });

  it("culls a server idle past the timeout after detaching its sessions, and respawns it on the same home", async () => {
    let now = 1_000_000;
    const { pool, cli, sessions, registry, count } = makePool({ idle: 10, now: () => now });
    const first = await pool.forNewSession("alice");
    const id = first.id;

    now += 9_000;
    expect(await pool.cullIdle()).toBe(0);
    // A turn in flight keeps it, however old the last request is.
    now += 60_000;
    sessions.activity.set(id, { inflight: 1, lastActive: 0, count: 1 });
    expect(await pool.cullIdle()).toBe(0);
    sessions.activity.set(id, { inflight: 0, lastActive: now - 11_000, count: 1 });
    expect(await pool.cullIdle()).toBe(1);

    expect(sessions.detached).toEqual([id]);
    expect(cli.started[0]!.stopped).toBe(true);
    expect(pool.all()).toEqual([]);
    expect(registry()).toEqual([]);
    expect(await count("copilot_gateway_cli_culls_total")).toBe(1);

    const again = await pool.forNewSession("alice");
    expect(again.id).toBe(id);
    expect(again).not.toBe(first);
    expect(cli.started).toHaveLength(2);
    expect(cli.started[1]!.home).toBe(cli.started[0]!.home);
    expect(cli.started[1]!.connectionToken).not.toBe(cli.started[0]!.connectionToken);
    await pool.close();
  });

  it("a request during a cull waits for it and gets a fresh server", async () => {
    let now = 0;
    const { pool, cli } = makePool({ idle: 1, now: () => now });
    await pool.forNewSession("alice");
    now += 5_000;
    const culling = pool.cullIdle();
    const during = pool.forNewSession("alice");
    await culling;
    const b = await during;
    expect(cli.started).toHaveLength(2);
    expect(cli.started[0]!.stopped).toBe(true);
    expect(b.info.pid).toBe(cli.started[1]!.pid);
    await pool.close();
  });

  it("keeps a crashed server listed (readiness sees it) and restarts it with the same home", async () => {
    const { pool, cli, sessions, registry } = makePool();
    const first = await pool.forNewSession("alice");
    cli.started[0]!.crash();
    await sleep(10);
    expect(pool.all()).toEqual([first]);
    expect(sessions.forgotten).toEqual([first.id]);
    // The next request restarts it at once instead of waiting for the backoff.
    const again = await pool.forNewSession("alice");
    expect(cli.started).toHaveLength(2);
    expect(cli.started[1]!.home).toBe(cli.started[0]!.home);
    expect(pool.all()).toEqual([again]);
    expect(registry()[0]!.pid).toBe(cli.started[1]!.pid);
    await pool.close();
  });

  it("restarts a crashed server on its own after a short backoff", async () => {
    const { pool, cli } = makePool();
    await pool.forNewSession("alice");
    cli.started[0]!.crash();
    await sleep(900);
    expect(cli.started).toHaveLength(2);
    expect(pool.all()[0]!.info.pid).toBe(cli.started[1]!.pid);
    await pool.close();
  });

  it("stops every CLI on close and refuses new requests with 503", async () => {
    const { pool, cli, registry } = makePool();
    await pool.forNewSession("alice");
    await pool.forNewSession("bob");
    await pool.close();
    expect(cli.started.every((c) => c.stopped)).toBe(true);
    expect(registry()).toEqual([]);
    const err = await pool.forNewSession("carol").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(503);
  });

  it("turns a failed start into 503 cli_unavailable", async () => {
    const cfg = parseGatewayConfig({ topology: "isolated", backends: { kind: "spawn", cliPath: "/bin/true", homeRoot: join(dir, "users") } });
    const pool = new SpawnPool(cfg, {
      log: pino({ level: "silent" }),
      metrics: createMetrics(),
      sessions: fakeSessions(),
      idKey: KEY,
      start: async () => {
        throw new Error("Copilot CLI exited (1) before listening");
      },
    });
    const err = (await pool.forNewSession("alice").catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(503);
    expect(err.code).toBe("cli_unavailable");
    expect(pool.all()).toEqual([]);
  });

  it("refuses topologies that do not route per user", () => {
    const cfg = parseGatewayConfig({ topology: "shared", backends: { kind: "spawn", cliPath: "/bin/true", homeRoot: dir } });
    expect(() => new SpawnPool(cfg, { log: pino({ level: "silent" }), metrics: createMetrics(), sessions: fakeSessions(), idKey: KEY })).toThrow(/only fits topology isolated/);
  });
});

describe("the cap on running servers", () => {
  it("answers the user beyond maxServers 503 server_capacity with Retry-After, starts nothing for them, and admits them after a cull", async () => {
    let now = 0;
    const { pool, cli, registry, count } = makePool({ maxServers: 2, idle: 20, now: () => now });
    await pool.forNewSession("alice");
    await pool.forNewSession("bob");
    const refused = await pool.forNewSession("carol").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ status: 503, code: "server_capacity" });
    expect(Number((refused as ApiError).headers["retry-after"])).toBeGreaterThan(0);
    expect(cli.started).toHaveLength(2);
    expect(registry()).toHaveLength(2);
    expect(await count("copilot_gateway_cli_spawn_refusals_total")).toBe(1);
    // A known user is still served at the cap.
    expect((await pool.forNewSession("alice")).id).toBe(spawnServerId("alice", KEY));

    now += 30_000;
    expect(await pool.cullIdle()).toBe(2);
    expect((await pool.forNewSession("carol")).id).toBe(spawnServerId("carol", KEY));
    expect(cli.started.filter((c) => !c.stopped)).toHaveLength(1);
    await pool.close();
  });
});
