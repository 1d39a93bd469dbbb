/**
 * shared-storage acceptance run and figures (issue 13): `npm run bench:shared-storage`.
 *
 * 1. Acceptance: 3 CLI servers, 2 gateway replicas, Redis; 50 sessions with turns through both
 *    replicas; one server SIGKILLed mid-turn. While it runs, the open files of every CLI process are
 *    scanned: no `.db`, `-wal`, `-shm` or `.lock` file may be open in two of them. Every reply's
 *    turn number must grow (a forked history repeats one) and no acknowledged turn may be missing.
 * 2. State bytes per session after 10 and 100 turns (the per-session folder on the shared volume).
 * 3. Turn latency of this layout against the local-disk layout (sticky: every server keeps its
 *    sessions in its own home), both platforms up at once and measured in alternating rounds.
 */
import { readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sharedStateDir } from "../../local/homes.js";
import { openFiles, processTree, sharedOpenFiles } from "../../conformance/open-files.js";
import type { TargetDescriptor } from "../../topology/index.js";
import { parseMarker } from "../load/checks.js";
import { GatewayClient, pool, sleep, withPlatform } from "./harness.js";
import { summarize, type Summary } from "./stats.js";

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);

interface Tracked {
  gw: GatewayClient[];
  id: string;
  acked: number;
  lastTurn: number;
  forks: number;
  /** The server that answered the last acknowledged turn. */
  server?: string;
}

function scanShared(target: TargetDescriptor): { shared: { path: string; servers: string[] }[]; checked: number } {
  const open = new Map<string, Set<string>>();
  for (const s of target.servers) open.set(s.id, new Set(processTree(s.pid!).flatMap(openFiles)));
  const checked = [...open.values()].reduce((n, set) => n + [...set].filter((p) => /(\.db|-wal|-shm|\.lock)$/.test(p)).length, 0);
  return { shared: sharedOpenFiles(open), checked };
}

function bytesUnder(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? bytesUnder(p) : statSync(p).size;
  }
  return total;
}

/** One turn; records the reply's turn number. 200 = acknowledged; anything else is not. */
async function turn(s: Tracked, prompt: string, replica: number): Promise<{ status: number; server?: string }> {
  try {
    const r = await s.gw[replica]!.request<{ content: string }>("POST", `/v1/sessions/${s.id}/messages`, { prompt });
    const n = parseMarker(r.body.content)?.turn ?? -1;
    // A forked history answers with a turn number it already gave (two branches of one history).
    if (n <= s.lastTurn) s.forks++;
    s.lastTurn = Math.max(s.lastTurn, n);
    s.acked++;
    s.server = r.server;
    return { status: 200, server: r.server };
  } catch (err) {
    return { status: Number(/HTTP (\d+)/.exec((err as Error).message)?.[1] ?? 0) };
  }
}

async function acceptance() {
  return withPlatform({ topology: "shared-storage", servers: 3, gateways: 2, store: "redis" }, async (platform, target) => {
    const sessions: Tracked[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      const gw = [await GatewayClient.forUser(target, `acc-${i}`, 0), await GatewayClient.forUser(target, `acc-${i}`, 1)];
      sessions.push({ gw, id: await gw[i % 2]!.createSession(), acked: 0, lastTurn: 0, forks: 0 });
    }
    let scans = 0;
    let checked = 0;
    const shared = new Map<string, string[]>();
    let scanning = true;
    const scanner = (async () => {
      while (scanning) {
        const r = scanShared(platform.descriptor());
        scans++;
        checked += r.checked;
        for (const s of r.shared) shared.set(s.path, s.servers);
        await sleep(200);
      }
    })();
    const spread: Record<string, number> = {};
    const count = (server?: string) => (spread[server ?? "?"] = (spread[server ?? "?"] ?? 0) + 1);
    for (let round = 0; round < ROUNDS; round++) {
      await pool(sessions.length, 10, async (i) => {
        count((await turn(sessions[i]!, `r${round}`, (i + round) % 2)).server);
      });
    }
    // Mid-turn kill: a slow turn on a session, its server SIGKILLed while the model is "thinking".
    const victim = sessions[0]!;
    const holder = victim.server;
    const slow = turn(victim, "slow [sleep:3000]", 0);
    await sleep(800);
    // The lease keeps the session on the server that served its last turn.
    const lease = platform.descriptor().servers.find((s) => s.id === holder);
    if (!lease) throw new Error(`no server ${holder} serves the victim session`);
    const killedAt = performance.now();
    process.kill(lease.pid!, "SIGKILL");
    const interrupted = await slow;
    let failoverMs = NaN;
    for (;;) {
      const r = await turn(victim, "after the kill", 1);
      if (r.status === 200) {
        failoverMs = performance.now() - killedAt;
        break;
      }
      if (performance.now() - killedAt > 60_000) throw new Error("the session was not served again within 60 s of the kill");
      await sleep(100);
    }
    // Everyone goes on, through both replicas, while the killed server restarts.
    for (let round = 0; round < 2; round++) {
      await pool(sessions.length, 10, async (i) => {
        count((await turn(sessions[i]!, `after-${round}`, (i + round + 1) % 2)).server);
      });
    }
    scanning = false;
    await scanner;
    // Lost = a session whose history has fewer turns than were acknowledged.
    let lost = 0;
    for (const s of sessions) {
      const r = await turn(s, "final", 0);
      if (r.status !== 200 || s.lastTurn < s.acked) lost++;
    }
    return {
      servers: 3,
      gateways: 2,
      sessions: sessions.length,
      turnsAcknowledged: sessions.reduce((n, s) => n + s.acked, 0),
      spread,
      interruptedStatus: interrupted.status,
      failoverSeconds: failoverMs / 1000,
      sessionsWithLostTurns: lost,
      forkedReplies: sessions.reduce((n, s) => n + s.forks, 0),
      openFileScans: scans,
      dbAndLockFilesChecked: checked,
      sharedDbOrLockFiles: [...shared].map(([path, servers]) => ({ path, servers })),
    };
  });
}

async function stateBytes() {
  return withPlatform({ topology: "shared-storage", servers: 2, gateways: 1, store: "redis" }, async (_p, target) => {
    const gw = await GatewayClient.forUser(target, "bytes");
    const id = await gw.createSession();
    const out: Record<string, number> = {};
    for (let t = 1; t <= 100; t++) {
      await gw.send(id, `turn ${t}: a short question of about sixty characters for the model`);
      if (t === 10 || t === 100) out[`after${t}Turns`] = bytesUnder(join(sharedStateDir(target.local!.runDir), id));
    }
    return out;
  });
}

async function latency(): Promise<{ rounds: number; sharedStorage: Summary; localDisk: Summary }> {
  const samples = { sharedStorage: [] as number[], localDisk: [] as number[] };
  const rounds = 6;
  await withPlatform({ topology: "shared-storage", servers: 2, gateways: 1, store: "redis" }, (_a, shared) =>
    withPlatform({ topology: "sticky", servers: 2, gateways: 1, store: "redis" }, async (_b, local) => {
      const setup = async (t: TargetDescriptor, name: string) =>
        Promise.all(Array.from({ length: 8 }, async (_, i) => {
          const gw = await GatewayClient.forUser(t, `${name}-${i}`);
          return { gw, id: await gw.createSession() };
        }));
      const sides = { sharedStorage: await setup(shared, "ss"), localDisk: await setup(local, "ld") };
      for (let r = 0; r < rounds; r++) {
        // Alternate which side goes first, so drift on a shared machine hits both.
        const order = r % 2 === 0 ? (["sharedStorage", "localDisk"] as const) : (["localDisk", "sharedStorage"] as const);
        for (const side of order) {
          await Promise.all(sides[side].map(async (w) => {
            for (let k = 0; k < 5; k++) {
              const t0 = performance.now();
              await w.gw.send(w.id, `r${r} k${k}`);
              if (r > 0) samples[side].push(performance.now() - t0);
            }
          }));
        }
      }
    }),
  );
  return { rounds, sharedStorage: summarize(samples.sharedStorage), localDisk: summarize(samples.localDisk) };
}

async function main(): Promise<void> {
  const started = new Date().toISOString();
  const result = { started, acceptance: await acceptance(), stateBytes: await stateBytes(), latency: await latency() };
  const out = process.env.BENCH_OUT ?? "reports/bench-shared-storage.json";
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
  const a = result.acceptance;
  const ok = a.sharedDbOrLockFiles.length === 0 && a.sessionsWithLostTurns === 0 && a.forkedReplies === 0 && a.dbAndLockFilesChecked > 0;
  console.log(ok ? "shared-storage acceptance: PASS" : "shared-storage acceptance: FAIL");
  process.exit(ok ? 0 : 1);
}

void main();
