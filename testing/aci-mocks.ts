/**
 * Runs the real stack program (stacks/index.ts) with an ACI stack file under Pulumi mocks
 * (testing/pulumi-mocks.ts) and gives tests what Azure would have computed: group IPs and
 * FQDNs, resource names, the storage account key.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import { type CapturedResource, resolveOutput, runWithMocks } from "./pulumi-mocks.js";
import { importStackProgram, loadStackFile, STACKS_DIR } from "./stack-files.js";
import { CONFIG_NAMESPACE } from "../stacks/config.js";
import { secretNeedles } from "../topology/secret-scan.js";
import { recordLeafSecrets } from "./leaf-secrets.js";

export const MOCK_STORAGE_KEY = "bW9jay1zdG9yYWdlLWFjY291bnQta2V5LTAxMjM0NTY3ODk=";
/** Secret config every ACI test stack gets unless a test says otherwise. */
export const TEST_SECRETS: Record<string, string> = {
  secretSeed: "mock-secret-seed-0123456789abcdef0123456789abcdef",
  githubToken: "ghp_mockGithubToken0123456789abcdef",
  registryPassword: "mock-registry-password-0123456789",
  // aci.tls.mode certificate (PEM text; the mocks never parse it).
  tlsCertificate: "-----BEGIN CERTIFICATE-----\nMOCKcertificate0123456789\n-----END CERTIFICATE-----\n",
  tlsPrivateKey: "-----BEGIN PRIVATE KEY-----\nMOCKprivateKey0123456789abcdef\n-----END PRIVATE KEY-----\n",
};

const digest = (s: string): string => createHash("sha256").update(s).digest("hex");

/** Outputs Azure computes: names of named resources, a group's IP and FQDN. */
const NAME_INPUT: Record<string, string> = {
  "azure-native:resources:ResourceGroup": "resourceGroupName",
  "azure-native:storage:StorageAccount": "accountName",
  "azure-native:storage:FileShare": "shareName",
  "azure-native:containerinstance:ContainerGroup": "containerGroupName",
  "azure-native:network:VirtualNetwork": "virtualNetworkName",
  "azure-native:network:Subnet": "subnetName",
};

/** Outputs Azure computes: the name (given, or auto-named), a group's IP and FQDN. */
export function azureState(r: CapturedResource): Record<string, unknown> | undefined {
  if (!r.type.startsWith("azure-native:")) return undefined;
  const i = r.inputs;
  const given = NAME_INPUT[r.type] ? i[NAME_INPUT[r.type]!] : undefined;
  const name = typeof given === "string" ? given : `${r.name}${digest(r.name).slice(0, 6)}`;
  if (r.type !== "azure-native:containerinstance:ContainerGroup") return { name };
  const ip = (i.ipAddress ?? {}) as Record<string, unknown>;
  const n = parseInt(digest(r.name).slice(0, 2), 16) % 250;
  return {
    name,
    ipAddress: {
      ...ip,
      ip: ip.type === "Private" ? `10.42.0.${n + 4}` : `20.50.1.${n + 4}`,
      fqdn: ip.dnsNameLabel ? `${String(ip.dnsNameLabel)}.${digest(r.name).slice(0, 10)}.westeurope.azurecontainer.io` : "",
    },
  };
}

export function azureCall(args: pulumi.runtime.MockCallArgs): Record<string, unknown> | undefined {
  if (args.token === "azure-native:storage:listStorageAccountKeys") {
    return { keys: [{ keyName: "key1", value: MOCK_STORAGE_KEY, permissions: "FULL" }] };
  }
  return undefined;
}

export interface AciRunOptions {
  /** Edits the parsed config (keys without namespace) before the run. */
  patch?: (config: Record<string, unknown>) => void;
  /** Secret config (keys without namespace); default TEST_SECRETS. */
  secrets?: Record<string, unknown>;
  /** Stack name; default the file's. */
  stack?: string;
}

export interface AciRun {
  stack: string;
  resources: CapturedResource[];
  /** `type/name` to the paths where the program put a secret (before the mock monitor lifts it). */
  leafSecretPaths: Map<string, string[]>;
  /** Every string the program sent as a secret, plus the secret config and the storage key. */
  secretValues: Set<string>;
  outputs: { gatewayUrl: { value: string; secret: boolean }; servers: { value: { id: string; address: string }[]; secret: boolean }; target: { value: string; secret: boolean } };
}

const parse = (raw: string): unknown => {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
};

export async function runAciStack(stackFile: string, opts: AciRunOptions = {}): Promise<AciRun> {
  const file = loadStackFile(join(STACKS_DIR, stackFile));
  const prefix = `${CONFIG_NAMESPACE}:`;
  const config: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(file.config)) if (k.startsWith(prefix)) config[k.slice(prefix.length)] = parse(v);
  opts.patch?.(config);
  const secrets = opts.secrets ?? TEST_SECRETS;
  const raw: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...config, ...secrets })) {
    if (v !== undefined) raw[prefix + k] = typeof v === "string" ? v : JSON.stringify(v);
  }

  const recorder = recordLeafSecrets();
  try {
    const stack = opts.stack ?? file.stack;
    const run = await runWithMocks(importStackProgram, {
      config: raw,
      secretKeys: Object.keys(secrets).map((k) => prefix + k),
      stack,
      state: azureState,
      call: azureCall,
    });
    const out = run.exports as unknown as Record<string, pulumi.Output<unknown>>;
    const outputs = {
      gatewayUrl: (await resolveOutput(out.gatewayUrl!)) as AciRun["outputs"]["gatewayUrl"],
      servers: (await resolveOutput(out.servers!)) as AciRun["outputs"]["servers"],
      target: (await resolveOutput(out.target!)) as AciRun["outputs"]["target"],
    };
    const given: string[] = [...recorder.values, MOCK_STORAGE_KEY];
    for (const v of Object.values(secrets)) {
      if (typeof v === "string") given.push(v);
      else if (v && typeof v === "object") for (const inner of Object.values(v)) if (typeof inner === "string") given.push(inner);
    }
    // Also the parts that are secrets alone (a Redis URL's password), so a password copied out of its URL is caught.
    const secretValues = new Set<string>([...given, ...secretNeedles(given, 8)]);
    return { stack, resources: run.resources, leafSecretPaths: recorder.paths, secretValues, outputs };
  } finally {
    recorder.restore();
  }
}

/** Paths where a secret may sit in ACI inputs: the secure fields the API keeps write-only. */
// ACI secret volumes (the TLS proxy's key) are write-only too.
const SECURE_FIELD = [/\.secureValue$/, /^volumes\.\d+\.azureFile\.storageAccountKey$/, /^imageRegistryCredentials\.\d+\.password$/, /^volumes\.\d+\.secret\.[^.]+$/];

function strings(value: unknown, path = "", out: { path: string; value: string }[] = []): { path: string; value: string }[] {
  if (typeof value === "string") out.push({ path, value });
  else if (Array.isArray(value)) value.forEach((v, i) => strings(v, path ? `${path}.${i}` : String(i), out));
  else if (typeof value === "object" && value !== null) for (const [k, v] of Object.entries(value)) strings(v, path ? `${path}.${k}` : k, out);
  return out;
}

/**
 * What is wrong with where the secrets of one resource sit: a secret (or a string containing one)
 * outside a secure field, a secure field that did not arrive wrapped as a secret, or a secure field
 * holding a value that is not a known secret. Empty when all is well.
 */
export function secretPlacementProblems(resource: Pick<CapturedResource, "type" | "name" | "inputs">, leafPaths: readonly string[], secrets: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const wrapped = new Set(leafPaths);
  for (const { path, value } of strings(resource.inputs)) {
    const secure = SECURE_FIELD.some((re) => re.test(path));
    const holdsSecret = secrets.has(value) || [...secrets].some((s) => s.length >= 8 && value.includes(s));
    if (holdsSecret && !secure) problems.push(`${resource.name}: a secret sits in ${path}, not in a secure field`);
    if (secure && !wrapped.has(path)) problems.push(`${resource.name}: ${path} did not arrive wrapped as a secret`);
  }
  return problems;
}
