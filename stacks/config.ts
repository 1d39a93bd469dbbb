/**
 * Stack configuration: read from Pulumi config (namespace `copilot-scale-kit`), validated with zod.
 * Every error names the key and the command that fixes it.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { deploymentAuthSchema, deploymentGatewaySchema, deploymentIdentitySchema, deploymentLifecycleSchema, PLATFORM_NAMES, TOPOLOGIES, TOPOLOGY_NAMES } from "../topology/index.js";

export const CONFIG_NAMESPACE = "copilot-scale-kit";

export const imagesSchema = z.strictObject({
  /** The CLI server image (images/cli). Pin by digest in production. */
  cli: z.string().min(1),
  /** The gateway image (images/gateway). */
  gateway: z.string().min(1),
});

export const tenantSchema = z.strictObject({
  user: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, "a tenant id is lowercase letters, digits and '-'"),
  storageGi: z.number().int().positive().optional(),
});

/** Settings every platform shares (gateway and lifecycle: topology/deployment.ts). Platform sections are added by stacks/kubernetes.ts and stacks/aci.ts. */
export const commonStackSchema = z.object({
  topology: z.enum(TOPOLOGY_NAMES),
  platform: z.enum(PLATFORM_NAMES).exclude(["local"]),
  servers: z.number().int().min(1).max(64).optional(),
  images: imagesSchema,
  gateway: deploymentGatewaySchema,
  lifecycle: deploymentLifecycleSchema,
  /** Who may call the gateway: your identity provider (oidc), or hs256 with the jwtSecret secret (development and tests only). */
  auth: deploymentAuthSchema,
  /** Each user's own GitHub token on their sessions (Kubernetes): per-user Secrets or the operator's hook; default none (the service token). */
  identity: deploymentIdentitySchema,
  /** isolated: static tenants, one CLI server each. */
  tenants: z.array(tenantSchema).default([]),
  /** Redis for multi-replica gateways: in-cluster unless an external URL secret is set. */
  redis: z.strictObject({ external: z.boolean().default(false) }).prefault({}),
});
export type CommonStackConfig = z.infer<typeof commonStackSchema>;

/** Fix hint for a config key, shown in validation errors. */
export function fixHint(path: (string | number | symbol)[]): string {
  const [top] = path;
  if (top === undefined) return "";
  const key = `${CONFIG_NAMESPACE}:${String(top)}`;
  return path.length === 1
    ? ` (fix: pulumi config set ${key} <value>)`
    : ` (fix: set ${path.map(String).join(".")} under ${key} in stacks/Pulumi.<stack>.yaml, or pulumi config set --path '${key}.${path.slice(1).map(String).join(".")}' <value>)`;
}

export function formatIssues(error: z.ZodError, source: string): Error {
  const line = (path: PropertyKey[], message: string) => `  ${CONFIG_NAMESPACE}:${path.map(String).join(".")}: ${message}${fixHint(path)}`;
  const lines = error.issues.flatMap((i) =>
    // A misspelt nested key names itself (redis.externl), not only the object that holds it.
    i.code === "unrecognized_keys"
      ? i.keys.map((k) => {
          const key = [...i.path, k].map(String).join(".");
          return `  ${CONFIG_NAMESPACE}:${key}: unknown key (fix: correct or remove ${key} in stacks/Pulumi.<stack>.yaml)`;
        })
      : [line(i.path, i.message)],
  );
  return new Error(`invalid stack config in ${source}:\n${lines.join("\n")}`);
}

/** Servers in force: the explicit value, or the topology default (isolated counts tenants). */
export function serverCount(cfg: Pick<CommonStackConfig, "topology" | "servers" | "tenants">): number {
  if (TOPOLOGIES[cfg.topology].routing === "per-user") return cfg.tenants.length;
  if (TOPOLOGIES[cfg.topology].routing === "single") return 1;
  return cfg.servers ?? TOPOLOGIES[cfg.topology].defaultServers;
}

/** A raw config string as the Pulumi CLI passes it: structured values and numbers arrive as JSON text. */
function parseConfigValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Reads every key of `schema` from the project's config namespace and validates it. Keys in the
 * namespace that neither the schema nor `secretKeys` (read separately with getSecret) know are
 * rejected, so a typo fails `pulumi up` instead of being ignored.
 */
export function readStackConfig<S extends z.ZodObject>(schema: S, secretKeys: readonly string[] = []): z.infer<S> {
  const known = new Set([...Object.keys(schema.shape), ...secretKeys]);
  const prefix = `${CONFIG_NAMESPACE}:`;
  const unknown = Object.keys(pulumi.runtime.allConfig())
    .filter((k) => k.startsWith(prefix) && !known.has(k.slice(prefix.length)));
  if (unknown.length > 0) {
    throw new Error(
      `unknown stack config ${unknown.join(", ")} in stack ${pulumi.getStack()}; known keys: ${[...known].sort().join(", ")} ` +
        `(fix: correct the key in stacks/Pulumi.${pulumi.getStack()}.yaml, or pulumi config rm ${unknown[0]})`,
    );
  }
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = config.get(key);
    if (value !== undefined) raw[key] = parseConfigValue(value);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw formatIssues(parsed.error, `stack ${pulumi.getStack()}`);
  return parsed.data;
}

/** The secret every generated secret is derived from (components/secrets.ts). */
export const SECRET_SEED_KEY = "secretSeed";

export const MIN_SEED_LENGTH = 32;

export function requireSecretSeed(): pulumi.Output<string> {
  // Read raw (synchronously) so its length can be checked before any resource is declared.
  const seed = pulumi.runtime.allConfig()[`${CONFIG_NAMESPACE}:${SECRET_SEED_KEY}`];
  const fix = `(fix: pulumi config set --secret ${CONFIG_NAMESPACE}:${SECRET_SEED_KEY} "$(openssl rand -hex 32)")`;
  if (seed === undefined) {
    throw new Error(`${CONFIG_NAMESPACE}:${SECRET_SEED_KEY} is not set: connection tokens, the JWT secret and the Redis password are derived from it ${fix}`);
  }
  if (seed.length < MIN_SEED_LENGTH) throw new Error(`${CONFIG_NAMESPACE}:${SECRET_SEED_KEY} is shorter than ${MIN_SEED_LENGTH} characters ${fix}`);
  return pulumi.secret(seed);
}
