/**
 * Memory: gateway RSS and heap while it tracks up to 10,000 sessions (the bundled gateway on plain
 * Node, as the image runs it; local/gateway-bundle.ts); CLI memory per idle session (one shared CLI)
 * and per idle user (isolated: a CLI per user). RSS counts pages shared with other processes (the
 * CLI binary is mapped by every CLI process), so PSS, which splits shared pages, is reported too.
 */
import { GatewayClient, memoryOf, pool, sleep, withPlatform } from "./harness.js";
import type { TargetDescriptor } from "../../topology/index.js";

export interface GatewayMemoryPoint {
  sessions: number;
  rssMiB: number;
  /** V8 heap in use, from the gateway's own metrics. */
  heapUsedMiB?: number;
}

export interface MemoryResult {
  /** RSS at `baseSessions` tracked sessions and at `sessions`; `points` in between. */
  gateway: { sessions: number; baseSessions: number; baseRssMiB: number; rssMiB: number; points?: GatewayMemoryPoint[]; bytesPerSession?: number; runtime?: string };
  cliPerIdleSession: { sessions: number; baseRssMiB: number; rssMiB: number; perSessionMiB: number };
  cliPerIdleUser: { users: number; rssMiB: number; pssMiB: number };
}

/** A session with one answered turn, left idle. */
async function idleSession(gw: GatewayClient): Promise<void> {
  await gw.send(await gw.createSession(), "hello");
}

/** Heap in use as the gateway reports it on /metrics (prom-client's default metrics). */
async function heapUsedMiB(adminUrl: string): Promise<number | undefined> {
  const text = await fetch(`${adminUrl}/metrics`).then((r) => r.text(), () => "");
  const m = /^copilot_gateway_nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
  return m ? Number(m[1]) / 2 ** 20 : undefined;
}

export async function measureMemory(trackedSessions = 10_000, idleSessions = 40, idleUsers = 3, checkpoints = [1_000, 5_000]): Promise<MemoryResult> {
  const shared = await withPlatform({ topology: "shared", maxSessionsPerServer: idleSessions + 10 }, async (_p, target) => {
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
    const listed = (await Promise.all(users.map((u) => u.call<{ sessions: unknown[] }>("GET", "/v1/sessions")))).reduce((n, r) => n + r.sessions.length, 0);
    if (listed !== trackedSessions) throw new Error(`memory bench: the gateway tracks ${listed} sessions, expected ${trackedSessions}`);
    return {
      gateway: {
        sessions: listed,
        baseSessions: first.sessions,
        baseRssMiB: first.rssMiB,
        rssMiB: last.rssMiB,
        points,
        bytesPerSession: ((last.rssMiB - first.rssMiB) * 2 ** 20) / (last.sessions - first.sessions),
        runtime: "bundle on plain Node",
      },
      cliPerIdleSession: { sessions: idleSessions, baseRssMiB: cliBase, rssMiB: cliAfter, perSessionMiB: (cliAfter - cliBase) / idleSessions },
    };
  });

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
  return { ...shared, cliPerIdleUser: perUser };
}
