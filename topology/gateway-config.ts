/**
 * The gateway's configuration: one schema shared by the gateway, the local platform and the
 * Pulumi components. Non-secret settings travel as JSON in GATEWAY_CONFIG; every secret travels in
 * its own environment variable, named here, so that platforms can inject it from a secret store
 * (Kubernetes secretKeyRef, ACI secureValue) and it never appears in the JSON.
 */
import { z } from "zod";
import { TOPOLOGY_NAMES } from "./topologies.js";

/** Environment variables that carry secrets into the gateway. */
export const GATEWAY_SECRET_ENV = {
  jwtSecret: "GATEWAY_JWT_SECRET",
  staticTokens: "GATEWAY_STATIC_TOKENS",
  redisUrl: "GATEWAY_REDIS_URL",
  providerApiKey: "GATEWAY_PROVIDER_API_KEY",
  githubToken: "COPILOT_GITHUB_TOKEN",
  /** backends.kind spawn: HMAC key of per-user server ids (keep it stable: ids name the users' homes). */
  serverIdKey: "GATEWAY_SERVER_ID_KEY",
  /** identity.source http: bearer token the gateway presents to the operator's token hook. */
  identityHookToken: "GATEWAY_IDENTITY_HOOK_TOKEN",
} as const;
export const GATEWAY_CONFIG_ENV = "GATEWAY_CONFIG";

/** Conventional name of the env var holding a backend's connection token. */
export function backendTokenEnv(serverId: string): string {
  return `CLI_TOKEN_${serverId.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;
}

const dnsLabel = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const hostPort = z.string().regex(/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/, "must be host:port");

export const staticBackendSchema = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "lowercase letters, digits and '-'"),
  address: hostPort,
  /** Env var that holds this server's connection token. */
  tokenEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/),
  /** isolated topology with static tenants: the only user routed here. */
  user: z.string().optional(),
});
export type StaticBackend = z.infer<typeof staticBackendSchema>;

export const backendsSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("static"), servers: z.array(staticBackendSchema).min(1) }),
  /** isolated on the local platform: the gateway spawns one CLI per user on demand. */
  z.object({
    kind: z.literal("spawn"),
    cliPath: z.string(),
    homeRoot: z.string(),
    host: z.string().default("127.0.0.1"),
    /** The gateway lists the servers it spawned here (JSON array), so the platform can publish them. */
    registryFile: z.string().optional(),
    /** Passed to spawned CLIs as --session-idle-timeout when > 0. */
    sessionIdleTimeoutSeconds: z.number().int().min(0).default(0),
    /** Extra environment for spawned CLIs (never secrets of other users). */
    env: z.record(z.string(), z.string()).default({}),
    /** Per-user servers running at once; a new user beyond that gets 503 server_capacity with Retry-After. */
    maxServers: z.number().int().positive().default(100),
  }),
  /** isolated on Kubernetes: the gateway creates a Pod (with its claim and token Secret) per user (gateway/kube-spawner.ts). */
  z.object({
    kind: z.literal("kubernetes"),
    /** Namespace of the per-user objects; the gateway's ServiceAccount needs the kit's Role there. */
    namespace: z.string().regex(dnsLabel, "a namespace name"),
    /** Object names are `<namePrefix>-<server id>`; also the value of the instance label. */
    namePrefix: z.string().regex(/^[a-z][a-z0-9-]{0,20}$/, "lowercase letters, digits and '-', at most 21"),
    /** The Pod, as the deployment renders it: the gateway adds name, labels, the token, credentials and the claim. */
    podTemplate: z.object({
      metadata: z.object({ labels: z.record(z.string(), z.string()).default({}), annotations: z.record(z.string(), z.string()).default({}) }).prefault({}),
      spec: z.looseObject({ containers: z.array(z.looseObject({ name: z.string() })).min(1) }),
    }),
    /** The CLI image (the deployment adds it to the config it renders; required when the gateway starts). */
    image: z.string().min(1).optional(),
    /** Name of the container that runs the CLI in podTemplate. */
    container: z.string().default("copilot"),
    port: z.number().int().min(1).max(65535).default(4321),
    /** Each user's state claim (ReadWriteOnce); it outlives culls and is deleted after claimTtlSeconds unused. */
    storage: z.object({ sizeGi: z.number().positive().default(1), storageClass: z.string().optional() }).prefault({}),
    /** Claims (and token Secrets) unused this long are deleted; 0 = kept until an operator deletes them. */
    claimTtlSeconds: z.number().int().min(0).default(0),
    maxServers: z.number().int().positive().default(100),
    /** A Pod not Ready within this is deleted and the request answered 503. */
    startTimeoutSeconds: z.number().positive().default(180),
    /** Users without a credentials Secret of their own get the deployment's (COPILOT_GITHUB_TOKEN from this Secret) only if set. */
    sharedCredential: z.object({ secretName: z.string(), key: z.string() }).optional(),
  }),
]);
export type BackendsConfig = z.infer<typeof backendsSchema>;

/** The identity settings the gateway's section and a deployment's (topology/deployment.ts) share. */
export const identityFields = {
  namePrefix: z.string().regex(/^[a-z][a-z0-9-]{0,20}$/, "lowercase letters, digits and '-', at most 21").default("copilot-u"),
  url: z.url({ protocol: /^https?$/ }),
  timeoutSeconds: z.number().positive().max(60).default(5),
  caching: {
    /** A token (or a user's lack of one) is reused this long before the source is asked again. */
    cacheSeconds: z.number().int().min(0).max(86400).default(300),
    /** A user the source has no token for: refused (403 github_identity_missing), or served with the CLI's own identity. */
    missing: z.enum(["refuse", "service"]).default("refuse"),
  },
};

/**
 * Each user's own GitHub identity on their sessions (the SDK's session-level gitHubToken): where the
 * gateway gets a user's token (gateway/user-tokens.ts), and what a user without one gets.
 */
export const identitySchema = z
  .discriminatedUnion("source", [
    /** Every session uses the CLI server's own identity (its COPILOT_GITHUB_TOKEN): the service token. */
    z.object({ source: z.literal("none") }),
    /** A folder with one file per user, named by the keyed id `user-<hmac>` (GATEWAY_SERVER_ID_KEY), holding the token. */
    z.object({ source: z.literal("dir"), dir: z.string().min(1) }),
    /** A Secret per user, `<namePrefix>-user-<hmac>-credentials` key `github-token` (what scripts/user-credentials.ts writes). */
    z.object({ source: z.literal("kubernetes"), namespace: z.string().regex(dnsLabel, "a namespace name"), namePrefix: identityFields.namePrefix }),
    /** The operator's hook: POST {user} with GATEWAY_IDENTITY_HOOK_TOKEN, answers {token, expiresInSeconds?} or 404. */
    z.object({ source: z.literal("http"), url: identityFields.url, timeoutSeconds: identityFields.timeoutSeconds }),
  ])
  .and(z.object(identityFields.caching));
export type IdentityConfig = z.infer<typeof identitySchema>;

export const gatewayConfigSchema = z.object({
  topology: z.enum(TOPOLOGY_NAMES),
  host: z.string().default("0.0.0.0"),
  port: z.number().int().min(0).max(65535).default(8080),
  /**
   * The admin listener: /healthz, /readyz and /metrics for probes and scrapers (0 = any free port).
   * The public port serves the API and /healthz only, so readiness details and metrics never reach
   * a public Service, ingress or load balancer. host: default the public host.
   */
  admin: z
    .object({ host: z.string().optional(), port: z.number().int().min(0).max(65535).default(9090) })
    .prefault({}),
  /** Identifies this replica in logs, metrics and lock ownership. */
  replicaId: z.string().optional(),
  backends: backendsSchema,
  auth: z
    .object({
      /** oidc: the issuer's keys (RS256/ES256); jwt-hs256: a shared secret, for development and tests. */
      kind: z.enum(["oidc", "jwt-hs256", "static"]).default("jwt-hs256"),
      issuer: z.string().optional(),
      audience: z.string().optional(),
      /** oidc: the issuer's JWKS; by default found through `<issuer>/.well-known/openid-configuration`. */
      jwksUri: z.url({ protocol: /^https?$/ }).optional(),
      /** oidc: accepted signature algorithms. */
      algorithms: z.array(z.enum(["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"])).min(1).default(["RS256", "ES256"]),
      /** Claim that names the user (`sub`, or e.g. `email` when the provider's subject is opaque). */
      userClaim: z.string().min(1).default("sub"),
      /** Claim listing the rooms a user may post to (collaborative). */
      roomsClaim: z.string().default("rooms"),
      /** Tokens must carry exp and iat; exp - iat beyond this (and an iat older than this) is refused. */
      maxTokenLifetimeSeconds: z.number().int().positive().default(24 * 3600),
      /** Clock skew allowed on exp, nbf and iat; an iat further in the future is refused. */
      clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
    })
    .prefault({})
    .refine((a) => a.kind !== "oidc" || (a.issuer && a.audience), {
      path: ["issuer"],
      message: "auth.kind oidc needs auth.issuer (the provider's issuer URL) and auth.audience (the client id tokens are issued for)",
    }),
  store: z.enum(["memory", "redis"]).default("memory"),
  /** Every store call answers within this (plus a lock's wait time), else 503 store_unavailable. */
  storeTimeoutSeconds: z.number().positive().max(60).default(2),
  /** memory store: snapshot the registry to this file so a restarted replica keeps it. */
  storeFile: z.string().optional(),
  /** Tool permission requests from the CLI: denied unless the operator opts in. */
  toolPermissions: z.enum(["deny", "approve"]).default("deny"),
  model: z
    .object({
      /** Model name passed on session create/resume; omit to use the CLI's default. */
      name: z.string().optional(),
      /** BYOK OpenAI-compatible endpoint (the local mock model, or a real provider). */
      providerBaseUrl: z.string().optional(),
      providerType: z.enum(["openai", "azure", "anthropic"]).default("openai"),
    })
    .prefault({}),
  lifecycle: z
    .object({
      idleTimeoutSeconds: z.number().int().min(0).default(0),
      sessionTtlSeconds: z.number().int().min(0).default(0),
      cleanupIntervalSeconds: z.number().positive().default(60),
      lockTtlSeconds: z.number().int().positive().default(30),
      lockWaitSeconds: z.number().positive().default(30),
      /** shared-storage: a session's lease on its server lives this long without renewal. */
      leaseTtlSeconds: z.number().positive().default(15),
      maxSessionsPerServer: z.number().int().positive().default(200),
      cliIdleTimeoutSeconds: z.number().int().min(0).default(0),
      drainGraceSeconds: z.number().positive().default(30),
      turnTimeoutSeconds: z.number().positive().default(600),
      /**
       * A CLI server that answers no ping for this long is treated as gone: its connection is
       * reopened and the turns on it end 503 turn_interrupted. A slower answer only routes new work
       * elsewhere while it lasts (a CLI holding 250 streams answered 2.5 s late in a GC pause).
       */
      cliSilenceSeconds: z.number().min(2).max(300).default(10),
      /** CLI sessions no record owns are removed once unmodified this long (0 = never); a create in progress is younger. */
      orphanGraceSeconds: z.number().min(0).max(3600).default(60),
    })
    .prefault({}),
  http: z
    .object({
      bodyLimitBytes: z.number().int().positive().default(256 * 1024),
      /** Requests per user per window; 0 = off. */
      rateLimitPerMinute: z.number().int().min(0).default(0),
      /** SSE comment heartbeat every this many seconds, so load balancers keep a quiet stream open; 0 = off. */
      sseHeartbeatSeconds: z.number().min(0).max(300).default(15),
      /** A client must send its request headers within this (408 otherwise, then the socket closes). */
      headersTimeoutSeconds: z.number().positive().max(300).default(10),
      /** ... and the whole request, body included, within this. */
      requestTimeoutSeconds: z.number().positive().max(3600).default(30),
      /** An idle kept-alive connection closes after this. */
      keepAliveTimeoutSeconds: z.number().positive().max(3600).default(10),
      /** A socket with no traffic either way closes after this; absent = lifecycle.turnTimeoutSeconds + 60. */
      connectionTimeoutSeconds: z.number().positive().optional(),
      /** Requests on one kept-alive connection before the gateway closes it; 0 = no limit. */
      maxRequestsPerSocket: z.number().int().min(0).default(1000),
      /** Open connections per replica; further ones are closed at once. */
      maxConnections: z.number().int().positive().default(4096),
      /** An Idempotency-Key's answer is kept this long (in the store, so every replica replays it). */
      idempotencyTtlSeconds: z.number().int().positive().max(7 * 86400).default(86400),
      /** A retry while the first request with its key runs waits this long, then 409 idempotency_in_flight. */
      idempotencyWaitSeconds: z.number().min(0).max(600).default(10),
    })
    .prefault({}),
  /** Per-user caps so one user cannot fill a shared deployment (429 with a code and Retry-After). */
  quotas: z
    .object({
      /** Sessions one user may own (counted in the store, across replicas). */
      maxSessionsPerUser: z.number().int().positive().default(50),
      /** Turns one user may have in flight (or waiting for a lock) on one gateway replica. */
      maxTurnsInFlightPerUser: z.number().int().positive().default(4),
    })
    .prefault({}),
  identity: identitySchema.default({ source: "none", cacheSeconds: 300, missing: "refuse" }),
  logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
}).refine((c) => c.port === 0 || c.admin.port !== c.port, {
  path: ["admin", "port"],
  message: "the admin listener needs a port of its own (default 9090), not the public port",
}).refine((c) => c.identity.source === "none" || !c.model.providerBaseUrl, {
  path: ["identity"],
  message: "per-user GitHub tokens need GitHub-hosted models: the CLI refuses a session gitHubToken together with a BYOK provider (\"Cannot specify both gitHubToken and provider in session.create\", CLI 1.0.102); drop model.providerBaseUrl or set identity.source none",
});
export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;
export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;

export function parseGatewayConfig(value: unknown): GatewayConfig {
  const result = gatewayConfigSchema.safeParse(value);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new Error(`invalid gateway config:\n${lines.join("\n")}`);
  }
  return result.data;
}
