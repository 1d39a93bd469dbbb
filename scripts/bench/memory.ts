/**
 * Memory: gateway RSS and heap while it tracks up to 10,000 sessions (the bundled gateway on plain
 * Node, as the image runs it; local/gateway-bundle.ts), with the image's Node flags and with V8's
 * defaults in the same run; CLI memory per idle session (one shared CLI) and per idle user
 * (isolated: a CLI per user). RSS counts pages shared with other processes (the CLI binary is
 * mapped by every CLI process), so PSS, which splits shared pages, is reported too.
 */
import { GATEWAY_NODE_FLAGS } from "../../images/contract.js";
import { cpuSecondsOf, GatewayClient, memoryOf, pool, sleep, withPlatform } from "./harness.js";
import type { TargetDescriptor } from "../../topology/index.js";

export interface GatewayMemoryPoint {
  sessions: number;
  rssMiB: number;
  /** V8 heap in use, from the gateway's own metrics. */
  heapUsedMiB?: number;
}

export interface GatewayMemory {
  sessions: number;
  baseSessions: number;
  baseRssMiB: number;
  rssMiB: number;
  points?: GatewayMemoryPoint[];
  bytesPerSession?: number;
  runtime?: string;
  /** The gateway's Node flags in this measurement. */
  nodeFlags?: readonly string[];
  /** Gateway CPU and V8 garbage-collection time per session created (the cost of the flags). */
  cpuMsPerSession?: number;
  gcMsPerSession?: number;
}

export interface MemoryResult {
  /** RSS at `baseSessions` tracked sessions and at `sessions`, with the image's Node flags; `points` in between. */
  gateway: GatewayMemory;
  /** The same with no Node flags (V8's defaults), measured in the same run. */
  gatewayV8Defaults?: GatewayMemory;
  cliPerIdleSession: { sessions: number; baseRssMiB: number; rssMiB: number; perSessionMiB: number };
  cliPerIdleUser: { users: number; rssMiB: number; pssMiB: number };
}

/** A session with one answered turn, left idle. */
async function idleSession(gw: GatewayClient): Promise<void> {
  await gw.send(await gw.createSession(), "hello");
}

/** One metric of the gateway's /metrics (prom-client's default metrics), summed over its labels. */
async function metric(adminUrl: string, name: string): Promise<number | undefined> {
  const text = await fetch(`${adminUrl}/metrics`).then((r) => r.text(), () => "");
  const values = [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))].map((m) => Number(m[1]));
  return values.length ? values.reduce((a, b) => a + b, 0) : undefined;
}
const heapUsedMiB = async (adminUrl: string) => ((await metric(adminUrl, "copilot_gateway_nodejs_heap_size_used_bytes")) ?? NaN) / 2 ** 20;
const gcSeconds = (adminUrl: string) => metric(adminUrl, "copilot_gateway_nodejs_gc_duration_seconds_sum");

/** One shared platform whose gateway runs with `nodeFlags`: idle CLI sessions, then up to `trackedSessions` tracked. */
async function trackSessions(nodeFlags: readonly string[], trackedSessions: number, idleSessions: number, checkpoints: number[]) {
  return withPlatform({ topology: "shared", maxSessionsPerServer: idleSessions + 10, gatewayNodeFlags: nodeFlags }, async (_p, target) => {
    const cliPid = target.servers[0]!.pid!;
    const gatewayPid = target.gateways![0]!.pid;
    const users = await Promise.all(Array.from({ length: 20 }, (_, i) => GatewayClient.forUser(target, `bench-mem-${i}`)));
    await idleSession(users[0]!); // warm both processes before the baselines
    await sleep(1_000);
    const cliBase = memoryOf(cliPid).rssMiB;
    await pool(idleSessions, 4, (i) => idleSession(users[i % users.length]!));
    await sleep(2_000);
    const cliAfter = memoryOf(cliPid).rssMiB;

    const adminUrl = target.adminUrls?.[0] ?? target.gatewayUrls[0]!;
    const sample = async (sessions: number): Promise<GatewayMemoryPoint> => {
      await sleep(2_000);
      return { sessions, rssMiB: memoryOf(gatewayPid).rssMiB, heapUsedMiB: await heapUsedMiB(adminUrl) };
    };
    let tracked = idleSessions + 1;
    const points = [await sample(tracked)];
    const cpuBefore = cpuSecondsOf(gatewayPid);
    const gcBefore = await gcSeconds(adminUrl);
    // Past maxSessionsPerServer the gateway detaches the least recently used sessions: the CLI keeps
    // them on disk and the gateway keeps tracking them.
    for (const upTo of [...checkpoints.filter((c) => c > tracked && c < trackedSessions), trackedSessions]) {
      await pool(upTo - tracked, 8, async (i) => {
        await users[i % users.length]!.createSession();
      });
      tracked = upTo;
      points.push(await sample(tracked));
    }
    const first = points[0]!;
    const last = points[points.length - 1]!;
    const created = last.sessions - first.sessions;
    const gcAfter = await gcSeconds(adminUrl);
    const listed = (await Promise.all(users.map((u) => u.call<{ sessions: unknown[] }>("GET", "/v1/sessions")))).reduce((n, r) => n + r.sessions.length, 0);
    if (listed !== trackedSessions) throw new Error(`memory bench: the gateway tracks ${listed} sessions, expected ${trackedSessions}`);
    const gateway: GatewayMemory = {
      sessions: listed,
      baseSessions: first.sessions,
      baseRssMiB: first.rssMiB,
      rssMiB: last.rssMiB,
      points,
      bytesPerSession: ((last.rssMiB - first.rssMiB) * 2 ** 20) / created,
      runtime: "bundle on plain Node",
      nodeFlags,
      cpuMsPerSession: ((cpuSecondsOf(gatewayPid) - cpuBefore) * 1000) / created,
      gcMsPerSession: gcBefore !== undefined && gcAfter !== undefined ? ((gcAfter - gcBefore) * 1000) / created : undefined,
    };
    return { gateway, cliPerIdleSession: { sessions: idleSessions, baseRssMiB: cliBase, rssMiB: cliAfter, perSessionMiB: (cliAfter - cliBase) / idleSessions } };
  });
}

export async function measureMemory(trackedSessions = 10_000, idleSessions = 40, idleUsers = 3, checkpoints = [1_000, 5_000]): Promise<MemoryResult> {
  // V8's defaults first, then the image's flags, each on a fresh platform, in one run.
  const defaults = await trackSessions([], trackedSessions, idleSessions, checkpoints);
  const shared = await trackSessions(GATEWAY_NODE_FLAGS, trackedSessions, idleSessions, checkpoints);

  const perUser = await withPlatform({ topology: "isolated" }, async (platform, target) => {
    for (let i = 0; i < idleUsers; i++) await idleSession(await GatewayClient.forUser(target, `bench-user-${i}`));
    await sleep(2_000);
    // The per-user servers the gateway spawned appear in the descriptor once its registry is read.
    let t: TargetDescriptor = target;
    for (let tries = 0; tries < 50 && t.servers.filter((s) => s.user).length < idleUsers; tries++) {
      await sleep(200);
      t = platform.descriptor();
    }
    const spawned = t.servers.filter((s) => s.user && s.pid);
    if (spawned.length !== idleUsers) throw new Error(`memory bench: ${spawned.length} per-user CLI servers found, expected ${idleUsers}`);
    const mem = spawned.map((s) => memoryOf(s.pid!));
    return {
      users: idleUsers,
      rssMiB: mem.reduce((n, m) => n + m.rssMiB, 0) / idleUsers,
      pssMiB: mem.reduce((n, m) => n + m.pssMiB, 0) / idleUsers,
    };
  });
  return { ...shared, gatewayV8Defaults: defaults.gateway, cliPerIdleUser: perUser };
}
