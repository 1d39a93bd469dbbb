/**
 * `npm run soak [-- --seed N] [--profile soak|ci] [--report reports/soak]`: the randomized fault
 * soak. Starts the local collaborative topology (two gateway replicas, Redis, one real CLI: the only
 * local topology that serves sessions, rooms and ephemeral chats), drives it with real k6
 * (scripts/soak/driver.js) while a seeded schedule injects faults (scripts/soak/faults.ts), lets it
 * settle, reads every history from the CLI, checks for leftovers, stops the platform, checks that
 * no process is left, and judges it all with scripts/soak/invariants.ts. Prints the seed first.
 */
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { alive, findLeftovers, isEmpty, processesIn, type Leftovers } from "../../conformance/leftovers.js";
import { LocalPlatform, waitReady } from "../../local/platform.js";
import { mintToken } from "../../topology/tokens.js";
import { findK6 } from "../load/run.js";
import { FaultInjector } from "./faults.js";
import { readHistories } from "./histories.js";
import { recordEvidence, type RecordEvidence } from "./evidence.js";
import { checkSoak, countByKind, roomSessionId, type DriverRecord, type History } from "./invariants.js";
import { faultsByKind, writeReport, type SoakReport } from "./report.js";
import { faultSchedule, newSeed, PROFILES, type SoakProfile } from "./schedule.js";

const ROOT = resolve(import.meta.dirname, "../..");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The reconciler's grace in the soak (default 60 s): orphans left by a killed replica go within the settle time. */
const ORPHAN_GRACE_S = 10;
/** After the load: lock TTL (10 s) + orphan grace + a reconcile period + margin. */
const SETTLE_MS = 45_000;

function parse(argv: string[]): { seed: number; profile: SoakProfile; reportRoot: string } {
  const { values } = parseArgs({ args: argv, options: { seed: { type: "string" }, profile: { type: "string", default: "soak" }, report: { type: "string", default: "reports/soak" } }, strict: true });
  const profile = PROFILES[values.profile as SoakProfile["name"]];
  if (!profile) throw new Error(`unknown profile ${values.profile}: choose ${Object.keys(PROFILES).join(" or ")}`);
  const seed = values.seed === undefined ? newSeed() : Number(values.seed);
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, got ${values.seed}`);
  return { seed, profile, reportRoot: resolve(ROOT, values.report!) };
}

function runK6(k6: string, env: Record<string, string>, recordsFile: string, logFile: string): Promise<number> {
  return new Promise((done, reject) => {
    const args = ["run", "--no-usage-report", "--address", "", "--log-format", "raw", "--console-output", recordsFile, join(ROOT, "scripts/soak/driver.js")];
    const child = spawn(k6, args, { env: { ...process.env, ...env }, cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (b: Buffer) => appendFileSync(logFile, b));
    child.stderr.on("data", (b: Buffer) => appendFileSync(logFile, b));
    child.on("error", reject);
    child.on("exit", (code, signal) => done(code ?? (signal ? 128 : 1)));
  });
}

function readRecords(file: string): DriverRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.startsWith('{"op":'))
    .map((l) => JSON.parse(l) as DriverRecord);
}

/** Polls the leftover check until it is empty or the time is up; returns the last finding. */
async function settle(target: () => ReturnType<LocalPlatform["descriptor"]>, ms: number): Promise<Leftovers> {
  const deadline = Date.now() + ms;
  let last: Leftovers | undefined;
  while (Date.now() < deadline) {
    last = await findLeftovers(target()).catch(() => last);
    if (last && isEmpty(last)) return last;
    await sleep(1_000);
  }
  return last ?? (await findLeftovers(target()));
}

async function main(): Promise<number> {
  const { seed, profile, reportRoot } = parse(process.argv.slice(2));
  const command = `npm run soak -- --seed ${seed} --profile ${profile.name}`;
  console.log(`soak: seed ${seed}, profile ${profile.name} (replay: ${command})`);
  if (spawnSync("bash", [join(ROOT, "scripts/install-k6.sh")], { stdio: "inherit" }).status !== 0) throw new Error("scripts/install-k6.sh failed");
  const k6 = findK6();
  const started = new Date();
  const work = join(ROOT, ".local/soak");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const runDir = join(work, "run");
  const platform = await LocalPlatform.start({
    topology: "collaborative",
    gateways: 2,
    store: "redis",
    orphanGraceSeconds: ORPHAN_GRACE_S,
    targetFile: join(work, "target.json"),
    runDir,
    log: (l) => console.log(`[platform] ${l}`),
  });
  const target = () => platform.descriptor();
  const injector = new FaultInjector(target, (l) => console.log(`[fault] ${l}`));
  const onSignal = () => {
    injector.restore();
    void platform.stop().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const secrets = mkdtempSync(join(tmpdir(), "copilot-soak-"));
  let k6Exit = -1;
  let leftovers: Leftovers = { orphanSessions: [], recordsWithoutSession: [], heldLocks: [], strayLeases: [], processes: [] };
  let histories = new Map<string, History>();
  let records: DriverRecord[] = [];
  let evidence: RecordEvidence[] = [];
  const recordsFile = join(work, "requests.jsonl");
  try {
    injector.notePids();
    const runId = `soak${seed.toString(36)}`;
    const users = await Promise.all(
      Array.from({ length: profile.vus.sessions + profile.vus.rooms + profile.vus.chats }, async (_, i) => {
        const id = `${runId}-u${i}`;
        return { id, token: await mintToken(target().auth, id, { rooms: "*", ttlSeconds: profile.loadS + 3600 }) };
      }),
    );
    const rooms = Array.from({ length: profile.rooms }, (_, i) => `${runId}-room${i}`);
    const configFile = join(secrets, "config.json");
    writeFileSync(configFile, JSON.stringify({ ...profile, runId, users, rooms, gatewayUrls: target().gatewayUrls }), { mode: 0o600 });

    const load = runK6(k6, { SOAK_CONFIG: configFile }, recordsFile, join(work, "k6.log"));
    const faults = injector.run(faultSchedule(seed, profile));
    await sleep(profile.loadS * 1000);
    await injector.stop();
    await faults;
    console.log(`soak: load over, ${injector.injected.length} faults injected; waiting for k6 to finish requests in flight`);
    k6Exit = await load;

    // Readiness is served on the admin listener only.
    await Promise.all((target().adminUrls ?? target().gatewayUrls).map((u) => waitReady(u, 60_000)));
    leftovers = await settle(target, SETTLE_MS);
    records = readRecords(recordsFile);
    const ids = new Set<string>();
    for (const r of records) {
      if (r.op === "send" && r.status === 200 && r.id) ids.add(r.id);
      if (r.op === "room" && r.status === 200 && r.id) ids.add(roomSessionId(r.id));
    }
    console.log(`soak: ${records.length} requests logged; reading ${ids.size} histories from the CLI`);
    histories = await readHistories(target(), [...ids]);
    // Reading attached and detached every session: check once more that this left nothing either.
    leftovers = { ...(await settle(target, 10_000)), processes: leftovers.processes };
    evidence = await recordEvidence(target(), leftovers.recordsWithoutSession);
  } finally {
    rmSync(secrets, { recursive: true, force: true });
    injector.restore();
    injector.notePids();
    await platform.stop();
  }
  await sleep(500);
  const afterStop = [...alive(injector.pidsSeen).map((p) => `${p} (a pid the platform listed)`), ...processesIn(runDir).map((p) => p.line)];
  leftovers.processes = [...leftovers.processes, ...afterStop];

  const verdict = checkSoak({ records, histories, leftovers });
  const problems: string[] = [];
  if (injector.injected.length < profile.minFaults) problems.push(`only ${injector.injected.length} faults injected; the ${profile.name} profile needs ${profile.minFaults}`);
  if (k6Exit !== 0) problems.push(`k6 exited ${k6Exit} (see ${join(work, "k6.log")})`);
  const report: SoakReport = {
    seed,
    profile: profile.name,
    command,
    topology: "collaborative, 1 CLI server, 2 gateway replicas, Redis",
    started: started.toISOString(),
    durationS: (Date.now() - started.getTime()) / 1000,
    k6Exit,
    faults: { injected: injector.injected.length, byKind: faultsByKind(injector.injected), skipped: injector.skipped.length, minimum: profile.minFaults, list: injector.injected },
    figures: verdict.figures,
    violations: { total: verdict.violations.length, byKind: countByKind(verdict.violations), first: verdict.violations.slice(0, 200) },
    problems,
    ok: verdict.violations.length === 0 && problems.length === 0,
  };
  const dir = writeReport(reportRoot, report);
  if (evidence.length) writeFileSync(join(dir, "records-without-session.json"), `${JSON.stringify(evidence, null, 2)}\n`);
  // The evidence beside the verdict: every request the driver logged, k6's output, every process's log.
  for (const f of ["requests.jsonl", "k6.log"]) if (existsSync(join(work, f))) cpSync(join(work, f), join(dir, f));
  cpSync(join(runDir, "logs"), join(dir, "logs"), { recursive: true });
  // Every write the store took, in order (AOF), for replaying how a leftover record came to be.
  if (!report.ok && existsSync(join(runDir, "redis/appendonlydir"))) cpSync(join(runDir, "redis/appendonlydir"), join(dir, "redis-aof"), { recursive: true });
  console.log(readFileSync(join(dir, "summary.md"), "utf8"));
  console.log(`soak ${report.ok ? "PASSED" : "FAILED"}: seed ${seed}, ${report.faults.injected} faults, ${report.violations.total} violations; report ${dir}`);
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(2);
  },
);
