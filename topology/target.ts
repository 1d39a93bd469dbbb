/**
 * The conformance target descriptor: the one contract between every platform
 * (local, Kubernetes, ACI) and the conformance suite and load scripts.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { FEATURES } from "./features.js";
import { PLATFORM_NAMES, TOPOLOGY_NAMES } from "./topologies.js";

export const TARGET_VERSION = 1;

const hostPort = z
  .string()
  .regex(/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/, "must be host:port");

export const targetAuthSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("jwt-hs256"),
    secret: z.string().min(32, "an HS256 secret needs at least 32 characters"),
    issuer: z.string().optional(),
    audience: z.string().optional(),
  }),
  z.object({
    kind: z.literal("static"),
    tokens: z.record(z.string().min(1), z.string().min(16)),
  }),
]);
export type TargetAuth = z.infer<typeof targetAuthSchema>;

export const targetSettingsSchema = z.object({
  /** Gateway detaches sessions idle this long; 0 = off. */
  idleTimeoutSeconds: z.number().int().min(0),
  /** Cleanup deletes sessions inactive this long; 0 = off. */
  sessionTtlSeconds: z.number().int().min(0),
  lockTtlSeconds: z.number().int().positive(),
  /** How long a room poster waits in the lock queue before 423. */
  lockWaitSeconds: z.number().positive(),
  maxSessionsPerServer: z.number().int().positive(),
  /** isolated: a per-user CLI idle this long is drained and stopped; 0 = off. */
  cliIdleTimeoutSeconds: z.number().int().min(0),
  /** Largest request body the gateway accepts (413 above). */
  bodyLimitBytes: z.number().int().positive().optional(),
  /** Turns one user may have in flight per gateway replica before 429 turn_quota_exceeded. */
  maxTurnsInFlightPerUser: z.number().int().positive().optional(),
  /** Requests per user per minute before 429; 0 or absent = no limit. */
  rateLimitPerMinute: z.number().int().min(0).optional(),
  /** Longest token lifetime (exp - iat) the gateway accepts; absent = the gateway default, 24 h. */
  maxTokenLifetimeSeconds: z.number().int().positive().optional(),
  /** Slow clients: headers must arrive, and an idle kept-alive connection closes, within these. */
  headersTimeoutSeconds: z.number().positive().optional(),
  keepAliveTimeoutSeconds: z.number().positive().optional(),
});
export type TargetSettings = z.infer<typeof targetSettingsSchema>;

export const targetServerSchema = z.object({
  id: z.string().min(1),
  address: hostPort,
  connectionToken: z.string().min(1),
  /** Local platform only: lets fault tests signal the process. */
  pid: z.number().int().positive().optional(),
  /** Local platform only: the server's COPILOT_HOME. */
  home: z.string().optional(),
  /** Which run of the server this is (a Pod's uid): it changes when the server is started again. */
  instance: z.string().optional(),
  /** isolated: the user this server belongs to. */
  user: z.string().optional(),
});
export type TargetServer = z.infer<typeof targetServerSchema>;

export const targetDescriptorSchema = z.object({
  version: z.literal(TARGET_VERSION),
  name: z.string().optional(),
  topology: z.enum(TOPOLOGY_NAMES),
  platform: z.enum(PLATFORM_NAMES),
  gatewayUrls: z.array(z.url()).min(1),
  /**
   * The admin listener of each gateway in gatewayUrls, same order: /healthz, /readyz, /metrics
   * (never on the public port). Deployed targets give addresses inside the cluster or group.
   */
  adminUrls: z.array(z.url()).min(1).optional(),
  auth: targetAuthSchema,
  features: z.array(z.enum(FEATURES)),
  settings: targetSettingsSchema,
  servers: z.array(targetServerSchema),
  store: z
    .object({
      kind: z.enum(["memory", "redis"]),
      url: z.string().optional(),
      pid: z.number().int().positive().optional(),
    })
    .optional(),
  /** Local platform only: gateway processes, one per URL, for fault and restart tests. */
  gateways: z.array(z.object({ url: z.url(), pid: z.number().int().positive() })).optional(),
  /** Local platform only: the run folder and the control file of the supervisor. */
  local: z.object({ runDir: z.string(), supervisorPid: z.number().int().positive() }).optional(),
});
export type TargetDescriptor = z.infer<typeof targetDescriptorSchema>;

/** Parses a descriptor; the error lists each bad key as a path. */
export function parseTarget(value: unknown, source = "target"): TargetDescriptor {
  const result = targetDescriptorSchema.safeParse(value);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new Error(`invalid target descriptor ${source}:\n${lines.join("\n")}`);
  }
  return result.data;
}

export function readTargetFile(path: string): TargetDescriptor {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    throw new Error(`cannot read target descriptor ${path}: ${(err as Error).message}`);
  }
  return parseTarget(raw, path);
}
