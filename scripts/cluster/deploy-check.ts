/**
 * One topology on the real cluster: `pulumi up` with the real engine, every pod Ready, the
 * conformance suite with the topology's profile and the k6 smoke scenario against the exported
 * target (through the Services' addresses on this machine's pod bridge), then `pulumi destroy` and
 * what it left behind.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { GATEWAY_ADMIN_PORT, GATEWAY_PORT } from "../../images/contract.js";
import { parseTarget, type TargetDescriptor, TOPOLOGIES, type TopologyName } from "../../topology/index.js";
import { net } from "../../local/cluster/layout.js";
import { engineStack } from "./engine.js";
import { isolationChecks, type IsolationResult } from "./isolation-checks.js";
import { kubectl, namespaceLeftovers, podsReady, serviceAddress } from "./kube.js";
import { perUserChecks, type PerUserResult } from "./per-user-check.js";
import { UserServerWatch } from "./user-servers.js";

const ROOT = resolve(import.meta.dirname, "../..");

/** The k6 scenario each topology's smoke run uses. */
export const SMOKE_SCENARIO: Record<TopologyName, string> = {
  shared: "chat-ramp",
  sticky: "sticky-spread",
  "shared-storage": "chat-ramp",
  collaborative: "room-contention",
  isolated: "chat-ramp",
};

/**
 * Topologies whose conformance profile and k6 smoke cannot pass on this path yet, and why: they are
 * still deployed, checked (pods, Pod Security, NetworkPolicy, leftovers) and destroyed, and the
 * report shows the suites as skipped with this reason instead of counting them.
 */
export const SUITES_SKIPPED: Partial<Record<TopologyName, string>> = {};

export interface TopologyResult {
  name: TopologyName;
  stack: string;
  up: boolean;
  conformance: { passed: number; failed: number; skipped: number; failedTests: string[]; report: string };
  load: { scenario: string; ok: boolean; detail: string };
  /** Why conformance and k6 were not run (SUITES_SKIPPED). */
  suitesSkipped?: string;
  isolation?: IsolationResult;
  /** isolated with per-user Pods: the acceptance checks and figures of per-user-check.ts. */
  perUser?: PerUserResult;
  leftovers: string[];
  timings: { upSeconds?: number; podsReadySeconds?: number; conformanceSeconds?: number; loadSeconds?: number; destroySeconds?: number };
  error?: string;
}

interface KubernetesSection {
  namespace?: string;
  perUser?: { namespace?: string; maxServers?: number; idleCullSeconds?: number };
}

/** A stack file's config, keyed as in the file (`copilot-scale-kit:kubernetes`, …). */
export function stackFileConfig(stack: string): Record<string, unknown> {
  return (parse(readFileSync(join(ROOT, "stacks", `Pulumi.${stack}.yaml`), "utf8")) as { config: Record<string, unknown> }).config;
}

function kubernetesSection(stack: string): KubernetesSection & { tenants: unknown[] } {
  const config = stackFileConfig(stack);
  return { ...(config["copilot-scale-kit:kubernetes"] as KubernetesSection), tenants: (config["copilot-scale-kit:tenants"] as unknown[]) ?? [] };
}

export function stackNamespace(stack: string): string {
  return kubernetesSection(stack).namespace ?? "copilot";
}

/** isolated without tenants: where the gateway creates the users' Pods, and its cap and cull timeout (the stack defaults). */
function perUserOf(stack: string, topology: TopologyName): { namespace: string; maxServers: number; idleSeconds: number } | undefined {
  const k = kubernetesSection(stack);
  if (TOPOLOGIES[topology].routing !== "per-user" || k.tenants.length > 0) return undefined;
  return { namespace: k.perUser?.namespace ?? `${k.namespace ?? "copilot"}-users`, maxServers: k.perUser?.maxServers ?? 100, idleSeconds: k.perUser?.idleCullSeconds ?? 1800 };
}

/** Waits until no volume is bound to a claim of the namespace (or the time is up; leftovers then say so). */
async function volumesReleased(namespace: string, timeoutSeconds: number): Promise<void> {
  for (let i = 0; i < timeoutSeconds; i++) {
    if (!namespaceLeftovers(namespace).some((l) => l.startsWith("persistentvolume/"))) return;
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** Runs a command with inherited output without blocking this process (the Pod watch keeps writing the target meanwhile). */
function run(command: string, args: string[]): Promise<number | null> {
  return new Promise((resolveExit) => spawn(command, args, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] }).on("exit", resolveExit));
}

const seconds = (t0: number) => Math.round((Date.now() - t0) / 100) / 10;

/**
 * The target as the host reaches it: CLI servers at their Services' addresses, and one URL per
 * gateway replica (its pod address), as the local platform lists them. Behind one Service URL a
 * client's keep-alive connection sticks to one replica, so a test could never read the metrics of
 * the replica that served its request.
 */
export function hostTarget(target: TargetDescriptor, namespace: string): TargetDescriptor {
  const servers = (target.servers ?? []).map((s) => {
    const [host, port] = s.address.split(":");
    return { ...s, address: serviceAddress(namespace, host!.split(".")[0]!, Number(port)) };
  });
  const pods = JSON.parse(kubectl(["-n", namespace, "get", "pods", "-l", "app.kubernetes.io/component=gateway", "-o", "json"])) as {
    items: { metadata: { name: string }; status: { podIP?: string } }[];
  };
  const ips = pods.items
    .filter((p) => p.status.podIP)
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    .map((p) => p.status.podIP!);
  // Readiness and metrics are on each pod's admin port; the public Service does not carry it.
  if (ips.length === 0) {
    return { ...target, gatewayUrls: [`http://${serviceAddress(namespace, "copilot-gateway", GATEWAY_PORT)}`], adminUrls: [`http://${serviceAddress(namespace, "copilot-gateway-admin", GATEWAY_ADMIN_PORT)}`], servers };
  }
  return { ...target, gatewayUrls: ips.map((ip) => `http://${ip}:${GATEWAY_PORT}`), adminUrls: ips.map((ip) => `http://${ip}:${GATEWAY_ADMIN_PORT}`), servers };
}

export async function deployAndCheck(topology: TopologyName, kubeconfig: string, overrides: Record<string, string>, reportDir: string, log: (l: string) => void): Promise<TopologyResult> {
  const stack = `local-${topology}`;
  const namespace = stackNamespace(stack);
  const perUser = perUserOf(stack, topology);
  let watch: UserServerWatch | undefined;
  const dir = join(reportDir, topology);
  mkdirSync(dir, { recursive: true });
  const engineLog: string[] = [];
  const result: TopologyResult = {
    name: topology,
    stack,
    up: false,
    conformance: { passed: 0, failed: 0, skipped: 0, failedTests: [], report: join(dir, "conformance", "report.json") },
    load: { scenario: SMOKE_SCENARIO[topology], ok: false, detail: "not run" },
    leftovers: [],
    timings: {},
  };
  const engine = await engineStack(stack, kubeconfig, overrides);
  try {
    let t = Date.now();
    log(`[${topology}] pulumi up --stack ${stack}`);
    const outputs = await engine.up((l) => engineLog.push(l));
    result.timings.upSeconds = seconds(t);
    t = Date.now();
    podsReady(namespace, 240);
    result.timings.podsReadySeconds = seconds(t);
    result.up = true;

    const target = hostTarget(parseTarget(JSON.parse(String(outputs.target))), namespace);
    const services = kubectl(["-n", namespace, "get", "svc", "-o", "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}"])
      .split("\n")
      .filter((n) => n.startsWith("copilot-cli-") || n === "copilot-redis")
      .map((name) => ({ name, port: name === "copilot-redis" ? 6379 : 4321 }));
    result.isolation = isolationChecks(namespace, services, { "copilot-scale-kit.io/backend-client": "true", "app.kubernetes.io/instance": "copilot" });
    if (SUITES_SKIPPED[topology]) {
      result.suitesSkipped = SUITES_SKIPPED[topology];
      log(`[${topology}] conformance and k6 skipped: ${result.suitesSkipped}`);
      return result;
    }
    const targetFile = join(dir, "target.json");
    writeFileSync(targetFile, JSON.stringify(target, null, 2), { mode: 0o600 });
    if (perUser) {
      // The users' servers come and go; the suite reads them from the target as they do.
      watch = new UserServerWatch(kubeconfig, perUser.namespace, target, targetFile);
      await watch.start();
    }

    t = Date.now();
    log(`[${topology}] conformance (profile ${topology})`);
    // One retry, as npm test's conformance runs have: a test that passed only on its retry is
    // reported as flaky in the report, never as a clean pass.
    await run("npx", ["tsx", "conformance/run.ts", "--target", targetFile, "--report", join(dir, "conformance"), "--profile", topology, "--retry", "1"]);
    result.timings.conformanceSeconds = seconds(t);
    const report = JSON.parse(readFileSync(result.conformance.report, "utf8")) as {
      profiles: { core: { passed: number; failed: number; skipped: number } }[];
      tests: { name: string; state: string }[];
    };
    const core = report.profiles[0]!.core;
    result.conformance = { ...result.conformance, passed: core.passed, failed: core.failed, skipped: core.skipped, failedTests: report.tests.filter((x) => x.state === "failed").map((x) => x.name) };

    t = Date.now();
    log(`[${topology}] k6 ${SMOKE_SCENARIO[topology]} (smoke)`);
    const load = spawnSync("npx", ["tsx", "scripts/load/run.ts", "--target", targetFile, "--scenario", SMOKE_SCENARIO[topology], "--profile", "smoke", "--report", join(dir, "load")], { cwd: ROOT, encoding: "utf8" });
    result.timings.loadSeconds = seconds(t);
    result.load = { scenario: SMOKE_SCENARIO[topology], ok: load.status === 0, detail: `exit ${load.status}: ${(load.stdout + load.stderr).trim().split("\n").slice(-3).join(" | ")}` };

    if (perUser && watch) {
      log(`[${topology}] per-user Pods: 20 users, a burst on two replicas, the cap, culling and return`);
      result.perUser = await perUserChecks({ target, gatewayNamespace: namespace, usersNamespace: perUser.namespace, watch, maxServers: perUser.maxServers, idleSeconds: perUser.idleSeconds, modelAddress: `${net.bridgeIp}:${net.modelPort}`, log });
    }
  } catch (err) {
    result.error = (err as Error).message.split("\n").slice(0, 6).join("\n");
    log(`[${topology}] FAILED: ${result.error}`);
  } finally {
    await watch?.stop();
    const t = Date.now();
    try {
      await engine.destroy((l) => engineLog.push(l));
    } catch (err) {
      result.error = `${result.error ?? ""}\ndestroy: ${(err as Error).message.split("\n")[0]}`.trim();
    }
    result.timings.destroySeconds = seconds(t);
    // Claims the gateway made go with their namespace; the provisioner then deletes their volumes.
    if (perUser) await volumesReleased(perUser.namespace, 120);
    result.leftovers = [...namespaceLeftovers(namespace), ...(perUser ? namespaceLeftovers(perUser.namespace) : [])];
    writeFileSync(join(dir, "engine.log"), engineLog.join("\n"));
  }
  return result;
}
