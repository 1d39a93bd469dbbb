/**
 * The real Pulumi engine on a stack of stacks/: the Automation API runs stacks/program.ts as an
 * inline program in this process, and the Pulumi CLI built by the toolchain connects to it with
 * `--client` (no Node language host is served by the registries). State lives in a local file
 * backend under .local/pulumi; stack config comes from stacks/Pulumi.<stack>.yaml, unchanged.
 */
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { LocalWorkspace, PulumiCommand, Stack, type ConfigMap } from "@pulumi/pulumi/automation/index.js";
import { parse } from "yaml";
import { manifest, toolBinary } from "../../local/cluster/toolchain.js";
import { CONFIG_NAMESPACE, SECRET_SEED_KEY } from "../../stacks/config.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const STATE = join(ROOT, ".local", "pulumi");
const PULUMI_HOME = process.env.KIT_PULUMI_HOME ?? join(homedir(), ".cache", "copilot-scale-kit", "pulumi-home");

/** A passphrase for this checkout's local state (secrets in it are encrypted with it), made once. */
function passphrase(): string {
  const file = join(STATE, "passphrase");
  if (!existsSync(file)) {
    mkdirSync(STATE, { recursive: true });
    writeFileSync(file, randomBytes(24).toString("hex"), { mode: 0o600 });
  }
  return readFileSync(file, "utf8").trim();
}

/** Each local stack's secret seed, made once, so a second `up` derives the same secrets. */
function secretSeed(stack: string): string {
  const file = join(STATE, "seeds.json");
  const seeds = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, string>) : {};
  if (!seeds[stack]) {
    seeds[stack] = randomBytes(32).toString("hex");
    writeFileSync(file, JSON.stringify(seeds, null, 2), { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  return seeds[stack]!;
}

/** The provider build known to the engine by the version @pulumi/kubernetes asks for. */
function installProviderPlugin(pulumi: string): void {
  const spec = manifest.tools["pulumi-resource-kubernetes"]!;
  const version = spec.pluginVersion!;
  if (existsSync(join(PULUMI_HOME, "plugins", `resource-kubernetes-v${version}`, "pulumi-resource-kubernetes"))) return;
  execFileSync(pulumi, ["plugin", "install", "resource", "kubernetes", `v${version}`, "--file", toolBinary("pulumi-resource-kubernetes")], {
    env: { ...process.env, PULUMI_HOME, PULUMI_SKIP_UPDATE_CHECK: "true" },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Stack config as stacks/Pulumi.<stack>.yaml has it (plain values; objects stay objects). */
function stackFileConfig(stack: string): ConfigMap {
  const doc = parse(readFileSync(join(ROOT, "stacks", `Pulumi.${stack}.yaml`), "utf8")) as { config?: Record<string, unknown> };
  const out: ConfigMap = {};
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    out[key] = { value: typeof value === "string" ? value : JSON.stringify(value), secret: false };
  }
  return out;
}

export interface EngineStack {
  stack: Stack;
  /** Runs `pulumi up`; the engine's output goes to `log`. */
  up(log: (line: string) => void): Promise<Record<string, unknown>>;
  destroy(log: (line: string) => void): Promise<void>;
}

/**
 * Selects (or creates) `stack` with its stack file's config, the seed and `overrides` (full keys,
 * objects as JSON text). `kubeconfig` is what the Kubernetes provider talks to.
 */
export async function engineStack(stack: string, kubeconfig: string, overrides: Record<string, string> = {}): Promise<EngineStack> {
  const pulumiBin = toolBinary("pulumi");
  installProviderPlugin(pulumiBin);
  const workDir = join(STATE, "work");
  mkdirSync(workDir, { recursive: true });
  mkdirSync(join(STATE, "backend"), { recursive: true });
  const ws = await LocalWorkspace.create({
    workDir,
    pulumiHome: PULUMI_HOME,
    pulumiCommand: await PulumiCommand.get({ root: dirname(dirname(pulumiBin)), skipVersionCheck: true }),
    projectSettings: { name: CONFIG_NAMESPACE, runtime: "nodejs", backend: { url: `file://${join(STATE, "backend")}` } },
    program: async () => {
      const out = await (await import("../../stacks/program.js")).program();
      return { gatewayUrl: out.gatewayUrl, servers: out.servers, target: out.target };
    },
    envVars: { PULUMI_CONFIG_PASSPHRASE: passphrase(), KUBECONFIG: kubeconfig, PULUMI_SKIP_UPDATE_CHECK: "true", PULUMI_DIY_BACKEND_NO_LEGACY_WARNING: "true" },
  });
  const s = await Stack.createOrSelect(stack, ws);
  const config: ConfigMap = {
    ...stackFileConfig(stack),
    [`${CONFIG_NAMESPACE}:${SECRET_SEED_KEY}`]: { value: secretSeed(stack), secret: true },
    ...Object.fromEntries(Object.entries(overrides).map(([k, v]) => [k, { value: v, secret: false }])),
  };
  await s.setAllConfig(config);
  return {
    stack: s,
    async up(log) {
      const res = await s.up({ onOutput: (o) => log(o.trimEnd()), color: "never" });
      return Object.fromEntries(Object.entries(res.outputs).map(([k, v]) => [k, v.value]));
    },
    async destroy(log) {
      await s.destroy({ onOutput: (o) => log(o.trimEnd()), color: "never" });
      await ws.removeStack(stack);
    },
  };
}
