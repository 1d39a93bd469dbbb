/**
 * isolated: what a user costs. Spawns N per-user CLIs through the gateway (one at a time, so spawn
 * latency is not inflated by contention), lets them go idle and reads each CLI's RSS and PSS (PSS
 * splits the pages the CLIs share, such as the executable, so it is the honest per-user figure on
 * one host). Then measures memory per extra attached session, waits for the cull and times the
 * first message of each user after it (respawn + resume + turn).
 *   npx tsx scripts/bench/isolated-memory.ts [--users 8] [--sessions 10] [--cull-seconds 30] [--out file.json]
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import type { LocalPlatform } from "../../local/platform.js";
import { GatewayClient, memoryOf, sleep, withPlatform } from "./harness.js";
import { round, summarize, type Summary } from "./stats.js";

export interface IsolatedMemoryResult {
  users: number;
  /** First request of a new user: spawn + session create, in ms. */
  firstRequestMs: Summary;
  /** A later session create of the same user, in ms (no spawn). */
  warmCreateMs: Summary;
  /** Each idle user's CLI after one session with one turn (plus one empty session), in MiB. */
  idleRssMiB: Summary;
  idlePssMiB: Summary;
  /** RSS growth of one CLI per extra attached session with one turn, in MiB. */
  perSessionRssMiB: number;
  /** A user's last request to their CLI disappearing from the registry, in s. */
  cullAfterS: Summary;
  /** First message after the cull: respawn + resume + turn, in ms. */
  respawnMessageMs: Summary;
}

const ms = (t0: number) => performance.now() - t0;

/** CLI processes the gateway spawned, by user, as the platform publishes them. */
function spawned(p: LocalPlatform): Map<string, number> {
  return new Map(p.descriptor().servers.flatMap((s) => (s.user && s.pid ? [[s.user, s.pid] as const] : [])));
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`isolated memory bench: timed out waiting for ${what}`);
    await sleep(100);
  }
}

export async function measureIsolatedMemory(users = 8, extraSessions = 10, cullSeconds = 30): Promise<IsolatedMemoryResult> {
  return withPlatform({ topology: "isolated", cliIdleTimeoutSeconds: cullSeconds }, async (platform, target) => {
    const names = Array.from({ length: users }, (_, i) => `bench-iso-${i}`);
    const clients = await Promise.all(names.map((u) => GatewayClient.forUser(target, u)));
    const first: number[] = [];
    const warm: number[] = [];
    const sessions: string[] = [];
    const lastUse = new Map<string, number>();
    // A throwaway user first: the very first spawn also unpacks the CLI into the shared cache.
    const warmup = await GatewayClient.forUser(target, "bench-iso-warmup");
    await warmup.createSession();

    for (const [i, c] of clients.entries()) {
      let t0 = performance.now();
      const id = await c.createSession();
      first.push(ms(t0));
      t0 = performance.now();
      await c.createSession();
      warm.push(ms(t0));
      await c.send(id, "hello");
      sessions.push(id);
      lastUse.set(names[i]!, Date.now());
    }
    const pids = await until("every user's CLI in the registry", () => {
      const m = spawned(platform);
      return names.every((u) => m.has(u)) ? m : undefined;
    }, 10_000);
    // Let start-up garbage settle before reading memory.
    await sleep(2_000);
    const mem = names.map((u) => memoryOf(pids.get(u)!));

    // Sessions are the other cost: one user opens more, each with a turn, while staying attached.
    const c0 = clients[0]!;
    const pid0 = pids.get(names[0]!)!;
    const before = memoryOf(pid0).rssMiB;
    for (let i = 0; i < extraSessions; i++) await c0.send(await c0.createSession(), `session ${i}`);
    lastUse.set(names[0]!, Date.now());
    await sleep(1_000);
    const perSession = extraSessions > 0 ? (memoryOf(pid0).rssMiB - before) / extraSessions : NaN;

    // Culling: every CLI goes once idle; the user's next message brings it back with the session.
    const cullAfter: number[] = [];
    const gone = new Set<string>();
    await until("every CLI to be culled", () => {
      const live = spawned(platform);
      for (const u of names) {
        if (live.has(u) || gone.has(u)) continue;
        gone.add(u);
        cullAfter.push((Date.now() - lastUse.get(u)!) / 1000);
      }
      return gone.size === names.length ? true : undefined;
    }, (cullSeconds + 60) * 1000);
    const respawn: number[] = [];
    for (const [i, c] of clients.entries()) {
      const t0 = performance.now();
      await c.send(sessions[i]!, "after the cull");
      respawn.push(ms(t0));
    }

    return {
      users,
      firstRequestMs: summarize(first),
      warmCreateMs: summarize(warm),
      idleRssMiB: summarize(mem.map((m) => m.rssMiB)),
      idlePssMiB: summarize(mem.map((m) => m.pssMiB)),
      perSessionRssMiB: perSession,
      cullAfterS: summarize(cullAfter),
      respawnMessageMs: summarize(respawn),
    };
  });
}

const roundAll = (v: unknown): unknown =>
  typeof v === "number" ? round(v) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, roundAll(x)])) : v;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { users: { type: "string", default: "8" }, sessions: { type: "string", default: "10" }, "cull-seconds": { type: "string", default: "30" }, out: { type: "string" } },
  });
  const n = (key: "users" | "sessions" | "cull-seconds", min: number) => {
    const v = Number(values[key]);
    if (!Number.isInteger(v) || v < min) throw new Error(`--${key} must be an integer >= ${min} (got ${values[key]})`);
    return v;
  };
  const result = roundAll(await measureIsolatedMemory(n("users", 1), n("sessions", 0), n("cull-seconds", 1)));
  const json = `${JSON.stringify(result, null, 2)}\n`;
  if (values.out) writeFileSync(values.out, json);
  process.stdout.write(json);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: Error) => {
    console.error(`isolated memory bench: ${err.message}`);
    process.exit(1);
  });
}
