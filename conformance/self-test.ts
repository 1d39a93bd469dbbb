/**
 * `npm run test:conformance`: starts fresh local topologies, runs the conformance suite against
 * each, and runs negative controls: the same suite against a gateway with one protection switched
 * off, which must fail. Writes reports/conformance/<run>/ per run and reports/conformance/self-test.json.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Feature } from "../topology/index.js";
import { runConformance } from "./run.js";

interface Run {
  name: string;
  /** Arguments to `local up`. */
  up: string[];
  /** Only tests whose name contains this text (negative controls aim at one mechanism). */
  filter?: string;
  /** Only tests that declare one of these features (for runs whose settings would disturb other tests). */
  features?: Feature[];
  /** A negative control passes when tests of this feature fail (the mechanism it checks is off). */
  mustFail?: Feature;
}

const RUNS: Run[] = [
  { name: "local-shared", up: ["--topology", "shared"] },
  {
    name: "control-no-ownership-check",
    up: ["--topology", "shared", "--unsafe", "skip-ownership-check"],
    filter: "core.test.ts",
    mustFail: "session-isolation",
  },
  // The cross-tenant matrix and the hostile-input suite must catch the missing ownership check on their own.
  {
    name: "control-no-ownership-check-tenancy",
    up: ["--topology", "shared", "--unsafe", "skip-ownership-check"],
    filter: "tenancy.test.ts,hostile.test.ts",
    features: ["session-isolation"],
    mustFail: "session-isolation",
  },
  // Tokens must end: without the exp/iat/lifetime rules, everlasting and future-dated tokens pass.
  {
    name: "control-no-token-lifetime",
    up: ["--topology", "shared", "--unsafe", "no-token-lifetime"],
    filter: "core.test.ts",
    features: ["bad-input"],
    mustFail: "bad-input",
  },
  // Slow clients: with Node's default timeouts a header trickler and an idle connection stay for a minute.
  {
    name: "control-no-http-limits",
    up: ["--topology", "shared", "--unsafe", "no-http-limits"],
    filter: "slow-clients.test.ts",
    mustFail: "bad-input",
  },
  // Streams: without counting a stream whose client left, the abandoned turn is missing from the metrics.
  { name: "control-uncounted-streams", up: ["--topology", "shared", "--unsafe", "uncounted-streams"], filter: "core.test.ts", features: ["metrics"], mustFail: "metrics" },
  // The admin port: with readiness and metrics served on the public port as well, the admin-port test fails.
  { name: "control-admin-on-public", up: ["--topology", "shared", "--unsafe", "admin-on-public"], filter: "admin-port.test.ts", mustFail: "metrics" },
  // A per-user limit: the noisy-neighbour test, and the hostile suite keeping under the limit.
  { name: "local-shared-rate-limit", up: ["--topology", "shared", "--rate-limit", "60"], filter: "rate-limit.test.ts,hostile.test.ts" },
  {
    name: "control-no-rate-limit",
    up: ["--topology", "shared", "--rate-limit", "60", "--unsafe", "no-rate-limit"],
    filter: "rate-limit.test.ts",
    mustFail: "rate-limit",
  },
  // Idempotency-Key: with the header ignored, the retries write the prompt again.
  { name: "control-no-idempotency", up: ["--topology", "shared", "--unsafe", "no-idempotency"], filter: "client-api.test.ts", features: ["idempotency"], mustFail: "idempotency" },
  // The same for room turns (only the room tests run: two replicas, so the retry lands on the other).
  {
    name: "control-no-idempotency-rooms",
    up: ["--topology", "collaborative", "--store", "redis", "--gateways", "2", "--unsafe", "no-idempotency"],
    filter: "client-api.test.ts",
    features: ["rooms"],
    mustFail: "idempotency",
  },
  // Per-user GitHub identity: two replicas on one CLI behind the identity tap; the control hands every session the first token.
  { name: "local-collaborative-identity", up: ["--topology", "collaborative", "--store", "redis", "--gateways", "2", "--user-tokens-dir", ".local/conformance-user-tokens"], filter: "identity.test.ts" },
  {
    name: "control-first-user-token",
    up: ["--topology", "collaborative", "--store", "redis", "--gateways", "2", "--user-tokens-dir", ".local/conformance-user-tokens", "--unsafe", "first-user-token"],
    filter: "identity.test.ts",
    mustFail: "user-identity",
  },
  // Noisy neighbour: a server of 8 sessions, 3 turns per user; without the cap one user fills the server.
  { name: "local-shared-user-quotas", up: ["--topology", "shared", "--max-sessions", "8", "--max-user-turns", "3"], filter: "noisy-neighbour.test.ts" },
  {
    name: "control-no-turn-quota",
    up: ["--topology", "shared", "--max-sessions", "8", "--max-user-turns", "3", "--unsafe", "no-turn-quota"],
    filter: "noisy-neighbour.test.ts",
    mustFail: "user-quotas",
  },
  // Lifecycle with short settings; eviction apart, because idle detach at 3 s would race its LRU order.
  {
    name: "local-shared-lifecycle",
    up: ["--topology", "shared", "--idle-timeout", "3", "--session-ttl", "6"],
    filter: "lifecycle.test.ts",
    features: ["idle-detach", "session-ttl"],
  },
  { name: "local-shared-eviction", up: ["--topology", "shared", "--max-sessions", "2"], filter: "lifecycle.test.ts", features: ["eviction"] },
  {
    name: "control-no-drain",
    up: ["--topology", "shared", "--unsafe", "no-drain"],
    filter: "lifecycle.test.ts,faults.test.ts",
    features: ["drain"],
    mustFail: "drain",
  },
  // Culling at 3 s keeps the cull tests short; every suite runs, as against any topology.
  { name: "local-isolated", up: ["--topology", "isolated", "--cli-idle-timeout", "3"] },
  // Plain-hash server ids: /readyz and /metrics then tell who is active (only the metrics-tagged test runs).
  {
    name: "control-keyless-server-ids",
    up: ["--topology", "isolated", "--unsafe", "keyless-server-ids"],
    filter: "isolated.test.ts",
    features: ["metrics"],
    mustFail: "per-user-cli",
  },
  // Two users on one server (as if they shared a pod): the per-user separation tests must fail.
  {
    name: "control-shared-user-servers",
    up: ["--topology", "isolated", "--unsafe", "shared-user-servers"],
    filter: "isolated.test.ts",
    mustFail: "per-user-cli",
  },
  {
    name: "control-no-spawn-singleflight",
    up: ["--topology", "isolated", "--unsafe", "no-spawn-singleflight"],
    filter: "isolated.test.ts",
    mustFail: "per-user-cli",
  },
  // collaborative on 2 replicas sharing Redis, short lock TTL and wait so the fault tests stay short.
  { name: "local-collaborative", up: ["--topology", "collaborative", "--store", "redis", "--gateways", "2", "--lock-ttl", "3", "--lock-wait", "3"] },
  {
    name: "control-no-turn-lock",
    up: ["--topology", "collaborative", "--store", "redis", "--gateways", "2", "--lock-ttl", "3", "--lock-wait", "3", "--unsafe", "no-turn-lock"],
    filter: "collaborative.test.ts",
    mustFail: "room-lock",
  },
  // A paused Redis: without the store deadline requests wait as long as the pause.
  {
    name: "control-no-store-deadline",
    up: ["--topology", "collaborative", "--store", "redis", "--gateways", "2", "--unsafe", "no-store-deadline"],
    filter: "store-stall.test.ts",
    mustFail: "multi-gateway",
  },
  {
    name: "control-no-fencing",
    up: ["--topology", "collaborative", "--store", "redis", "--gateways", "2", "--lock-ttl", "3", "--lock-wait", "3", "--unsafe", "no-fencing"],
    filter: "collaborative.test.ts",
    mustFail: "room-lock",
  },
  { name: "local-sticky", up: ["--topology", "sticky", "--servers", "3"] },
  { name: "control-modulo-hash", up: ["--topology", "sticky", "--servers", "3", "--unsafe", "modulo-hash"], filter: "sticky.test.ts", mustFail: "sticky-routing" },
  { name: "local-shared-storage", up: ["--topology", "shared-storage", "--servers", "2", "--store", "redis", "--gateways", "2"] },
  // Today's layout before issue 13: every server on one COPILOT_HOME, so they share session-store.db.
  {
    name: "control-shared-home",
    up: ["--topology", "shared-storage", "--servers", "2", "--store", "redis", "--gateways", "2", "--unsafe", "shared-home"],
    filter: "state-layout.test.ts",
    features: ["private-homes"],
    mustFail: "private-homes",
  },
  {
    name: "control-no-lease",
    up: ["--topology", "shared-storage", "--servers", "2", "--store", "redis", "--gateways", "2", "--unsafe", "no-lease"],
    filter: "shared-storage.test.ts",
    mustFail: "session-lease",
  },
  // Fault-test controls: without the write probe a read-only COPILOT_HOME looks ready; without the
  // turn watch a CLI killed mid-turn leaves its client waiting for the turn timeout.
  { name: "control-no-write-probe", up: ["--topology", "shared", "--unsafe", "no-write-probe"], filter: "faults.test.ts", features: ["readiness"], mustFail: "readiness" },
  {
    name: "control-no-turn-watch",
    up: ["--topology", "shared-storage", "--servers", "2", "--store", "redis", "--gateways", "2", "--unsafe", "no-turn-watch"],
    filter: "faults.test.ts",
    features: ["session-lease"],
    mustFail: "session-lease",
  },
];

const ROOT = resolve(new URL("..", import.meta.url).pathname);
const REPORTS = join(ROOT, "reports", "conformance");

function local(args: string[]): void {
  execFileSync(process.execPath, ["--import", "tsx", join(ROOT, "local/cli.ts"), ...args], { stdio: "inherit", cwd: ROOT });
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const runs = only.length ? RUNS.filter((r) => only.includes(r.name)) : RUNS;
  mkdirSync(REPORTS, { recursive: true });
  const results: { name: string; ok: boolean; passed: number; failed: number; skipped: number; mustFail?: Feature; seconds: number }[] = [];
  for (const run of runs) {
    const targetFile = join(ROOT, ".local", "self-test", run.name, "target.json");
    const started = Date.now();
    console.log(`\n=== ${run.name}: local up ${run.up.join(" ")}`);
    let summary = { passed: 0, failed: 1, skipped: 0 };
    let failedFeatures = new Set<Feature>();
    try {
      local(["up", ...run.up, "--target-file", targetFile, "--detach"]);
      const report = await runConformance({ targetFile, reportDir: join(REPORTS, run.name), filter: run.filter, features: run.features, quiet: run.mustFail !== undefined,
        // One retry against races of real processes on a loaded machine; none for the controls,
        // whose tests must fail every time. Retried tests are listed as flaky in the report.
        retry: run.mustFail ? 0 : 1 });
      summary = report.summary;
      failedFeatures = new Set(report.tests.filter((t) => t.state === "failed").flatMap((t) => t.features));
    } catch (err) {
      console.error(`${run.name}: ${(err as Error).message}`);
    } finally {
      local(["down", "--target-file", targetFile]);
    }
    const failedAsExpected = run.mustFail !== undefined && failedFeatures.has(run.mustFail);
    const ok = run.mustFail ? failedAsExpected : summary.failed === 0 && summary.passed > 0;
    results.push({ name: run.name, ok, ...summary, mustFail: run.mustFail, seconds: Math.round((Date.now() - started) / 1000) });
    console.log(
      `=== ${run.name}: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped${run.mustFail ? ` (negative control: ${run.mustFail} tests ${failedAsExpected ? "failed as they must" : "DID NOT FAIL"})` : ""}`,
    );
  }
  writeFileSync(join(REPORTS, "self-test.json"), `${JSON.stringify({ runs: results }, null, 2)}\n`);
  const bad = results.filter((r) => !r.ok);
  console.log(`\nconformance self-test: ${results.length - bad.length} of ${results.length} runs as expected`);
  process.exit(bad.length ? 1 : 0);
}

void main();
