/**
 * Nothing left behind (local targets): what a fault must not leave once the platform settled. CLI
 * sessions that no record owns, records whose CLI session is gone, turn locks still held or
 * queued, leases on a missing session or server, and processes of the run that no listed server,
 * gateway or store accounts for (after down: any of them). Fault tests end with expectNothingLeft;
 * the soak's checker reads the same findings.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { CopilotClient, RuntimeConnection } from "@github/copilot-sdk";
import { Redis } from "ioredis";
import { GATEWAY_SECRET_ENV, type TargetDescriptor } from "../topology/index.js";
import { parseRegistry } from "../topology/registry-file.js";
import { processTree } from "./open-files.js";

export interface Leftovers {
  /** CLI sessions with a gateway id that no record owns. */
  orphanSessions: string[];
  /** Session and room records whose CLI session does not exist. */
  recordsWithoutSession: string[];
  /** Turn locks still held, and lock queues with waiters. */
  heldLocks: string[];
  /** Session leases naming a session without a record or a server the target does not list. */
  strayLeases: string[];
  /** Processes of the run that should not be there. */
  processes: string[];
}

/** The Redis layout of gateway/redis-store.ts (scripts/soak/leftovers.test.ts checks it against the real store). */
export const REDIS_KEYS = { session: "csk:session:", all: "csk:sessions", lock: "csk:lock:", queue: "csk:lockq:", lease: "csk:lease:" } as const;
/** Ids the gateway gives sessions (s-), chats (c-) and rooms (r-), as gateway/reconcile.ts reads them. */
export const GATEWAY_SESSION_ID = /^(?:[sc]-[0-9a-f-]{36}|r-.+)$/;

interface StoreView {
  records: { sessionId: string; kind: string }[];
  locks: string[];
  leases: { sessionId: string; serverId: string }[];
}

/** The target's Redis URL with its password, as a local gateway was started with it (its environment). */
export function storeUrlOf(t: TargetDescriptor): string | undefined {
  if (t.store?.kind !== "redis") return undefined;
  for (const g of t.gateways ?? []) {
    try {
      const entry = readFileSync(`/proc/${g.pid}/environ`, "utf8").split("\0").find((e) => e.startsWith(`${GATEWAY_SECRET_ENV.redisUrl}=`));
      if (entry) return entry.slice(GATEWAY_SECRET_ENV.redisUrl.length + 1);
    } catch {
      // restarting; try the next replica
    }
  }
  return t.store.url;
}

async function scan(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== "0");
  return keys;
}

async function readStore(t: TargetDescriptor, storeUrl?: string): Promise<StoreView> {
  const url = storeUrl ?? storeUrlOf(t);
  if (url) {
    const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
    redis.on("error", () => undefined);
    try {
      await redis.connect();
      const records = [];
      for (const key of await scan(redis, REDIS_KEYS.session)) {
        const raw = await redis.get(key);
        if (raw) records.push(JSON.parse(raw) as { sessionId: string; kind: string });
      }
      const locks = await scan(redis, REDIS_KEYS.lock);
      for (const q of await scan(redis, REDIS_KEYS.queue)) if ((await redis.zcard(q)) > 0) locks.push(q);
      const leases = [];
      for (const key of await scan(redis, REDIS_KEYS.lease)) {
        const serverId = await redis.get(key);
        if (serverId) leases.push({ sessionId: key.slice(REDIS_KEYS.lease.length), serverId });
      }
      return { records, locks, leases };
    } finally {
      redis.disconnect();
    }
  }
  // The memory store snapshots its records to the run folder (locks live and die with the replica).
  const file = t.local ? join(t.local.runDir, "gateway-store.json") : undefined;
  const records: StoreView["records"] = file && existsSync(file) ? [...parseRegistry<StoreView["records"][number]>(readFileSync(file, "utf8"), file).values()] : [];
  return { records, locks: [], leases: [] };
}

/** Session ids on disk in a CLI home. */
function sessionsOnDisk(home: string, ids = new Set<string>()): Set<string> {
  if (!existsSync(join(home, "session-state"))) return ids;
  // A session's state is its workspace.yaml (written at create) and events.jsonl (first turn on);
  // an emptied folder a failed removal left is not a session.
  for (const d of readdirSync(join(home, "session-state"), { withFileTypes: true })) {
    const dir = join(home, "session-state", d.name);
    if (d.isDirectory() && (existsSync(join(dir, "workspace.yaml")) || existsSync(join(dir, "events.jsonl")))) ids.add(d.name);
  }
  return ids;
}

/**
 * isolated on the local platform: every user's home under the run folder, the culled users' too
 * (their sessions stay on disk while no server runs, and the target lists running servers only).
 */
function perUserHomes(t: TargetDescriptor): string[] {
  const root = t.local ? join(t.local.runDir, "users") : undefined;
  if (!root || !existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && !d.name.startsWith("."))
    .map((d) => join(root, d.name));
}

/** Session ids a CLI server holds: listed by it (sessions with a turn) or on disk in its home. */
async function cliSessions(server: TargetDescriptor["servers"][number]): Promise<Set<string>> {
  const ids = server.home ? sessionsOnDisk(server.home) : new Set<string>();
  const client = new CopilotClient({ connection: RuntimeConnection.forUri(server.address, { connectionToken: server.connectionToken }) });
  try {
    await client.start();
    for (const s of await client.listSessions()) ids.add(s.sessionId);
  } catch (err) {
    // A server that is not running (culled, restarting) holds what its home holds.
    if (!server.home) throw err;
  } finally {
    await client.forceStop().catch(() => undefined);
  }
  return ids;
}

/** Processes working in the run folder or naming it on their command line, as `pid command`. */
export function processesIn(runDir: string): { pid: number; line: string }[] {
  const out: { pid: number; line: string }[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim();
      if (cwd.startsWith(runDir) || cmd.includes(runDir)) out.push({ pid: Number(pid), line: `${pid} ${cmd.slice(0, 160)}` });
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

/** A process's start time (clock ticks since boot), which tells it apart from a later one given the same pid. */
export function startTime(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ").pop()!.split(" ")[19];
  } catch {
    return undefined;
  }
}

/** Of these processes (pid and start time), the ones still alive: zombies and reused pids count as gone. */
export function alive(procs: Iterable<number> | ReadonlyMap<number, string | undefined>): number[] {
  const entries: [number, string | undefined][] = procs instanceof Map ? [...procs] : [...new Set(procs as Iterable<number>)].map((p) => [p, undefined]);
  return entries
    .filter(([pid, started]) => {
      try {
        if (/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"))) return false;
        return started === undefined || startTime(pid) === started;
      } catch {
        return false;
      }
    })
    .map(([pid]) => pid);
}

/** Processes of a running local target that no listed server, gateway or store (or the supervisor) accounts for. */
function strayProcesses(t: TargetDescriptor): string[] {
  if (!t.local) return [];
  const listed = [...t.servers.map((s) => s.pid), ...(t.gateways ?? []).map((g) => g.pid), t.store?.pid].filter((p): p is number => !!p);
  const known = new Set([t.local.supervisorPid, process.pid, ...listed.flatMap(processTree)]);
  return processesIn(t.local.runDir).filter((p) => !known.has(p.pid)).map((p) => p.line);
}

/** What a running target has left behind right now. */
export async function findLeftovers(t: TargetDescriptor, opts: { storeUrl?: string } = {}): Promise<Leftovers> {
  const store = await readStore(t, opts.storeUrl);
  const onCli = new Set<string>();
  for (const s of t.servers) for (const id of await cliSessions(s)) onCli.add(id);
  for (const home of perUserHomes(t)) sessionsOnDisk(home, onCli);
  const recorded = new Set(store.records.map((r) => r.sessionId));
  const serverIds = new Set(t.servers.map((s) => s.id));
  return {
    orphanSessions: [...onCli].filter((id) => GATEWAY_SESSION_ID.test(id) && !recorded.has(id)).sort(),
    // A chat's record lives for its one request; a crash mid-chat leaves it to TTL cleanup (15 min).
    recordsWithoutSession: store.records.filter((r) => r.kind !== "chat" && !onCli.has(r.sessionId)).map((r) => r.sessionId).sort(),
    heldLocks: store.locks.sort(),
    strayLeases: store.leases.filter((l) => !recorded.has(l.sessionId) || !serverIds.has(l.serverId)).map((l) => `${l.sessionId} on ${l.serverId}`),
    processes: strayProcesses(t),
  };
}

export const isEmpty = (l: Leftovers) => Object.values(l).every((xs: string[]) => xs.length === 0);

/**
 * Waits until nothing is left (locks of a killed holder expire after their TTL; the orphan
 * reconciler needs its grace), else throws listing what is left. `target` is re-read each time.
 */
export async function expectNothingLeft(target: () => TargetDescriptor, opts: { timeoutMs?: number; storeUrl?: string } = {}): Promise<void> {
  // A deployed target exposes neither its store nor its processes to the suite: every CLI session
  // would look like an orphan. The test's own assertions still run there.
  if (!target().local && !opts.storeUrl) return;
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let last: Leftovers | undefined;
  let error: unknown;
  while (Date.now() < deadline) {
    try {
      last = await findLeftovers(target(), opts);
      if (isEmpty(last)) return;
    } catch (err) {
      error = err; // a server restarting refuses the listing for a moment
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const found = last ? Object.entries(last).filter(([, xs]) => (xs as string[]).length > 0).map(([k, xs]) => `${k}: ${(xs as string[]).join(", ")}`) : [];
  throw new Error(`left behind after ${opts.timeoutMs ?? 30_000} ms: ${found.join("; ") || `could not look: ${(error as Error)?.message}`}`);
}
