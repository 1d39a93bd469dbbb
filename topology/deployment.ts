/**
 * What every deployment platform derives alike from its settings: the gateway and lifecycle
 * sections (with their defaults), the gateway settings they give, the features a deployment can
 * claim for conformance, and the settings its target descriptor reports. Stacks read these
 * sections from Pulumi config; components take them as typed args.
 */
import { z } from "zod";
import { type Feature, PROFILES } from "./features.js";
import { type GatewayConfig, type GatewayConfigInput, identityFields } from "./gateway-config.js";
import type { TargetSettings } from "./target.js";
import type { TopologyName } from "./topologies.js";

export const deploymentLifecycleSchema = z
  .strictObject({
    idleTimeoutSeconds: z.number().int().min(0).default(1800),
    sessionTtlSeconds: z.number().int().min(0).default(7 * 24 * 3600),
    lockTtlSeconds: z.number().int().positive().default(30),
    lockWaitSeconds: z.number().positive().default(30),
    maxSessionsPerServer: z.number().int().positive().default(200),
    drainGraceSeconds: z.number().int().positive().default(60),
    /** Cron schedule of the TTL cleanup job. */
    cleanupSchedule: z.string().default("*/15 * * * *"),
    /** The gateway's own TTL cleanup timer; default: a quarter of the TTL, between 1 and 60 s. */
    cleanupIntervalSeconds: z.number().positive().optional(),
  })
  .prefault({});
export type DeploymentLifecycle = z.infer<typeof deploymentLifecycleSchema>;

export const deploymentGatewaySchema = z
  .strictObject({
    replicas: z.number().int().min(1).default(1),
    /** Optional autoscaling bounds; omitted = fixed replicas. */
    autoscale: z
      .strictObject({ min: z.number().int().min(1), max: z.number().int().min(1), cpuPercent: z.number().int().min(1).max(100).default(70) })
      .optional(),
    model: z.string().optional(),
    /** BYOK provider endpoint; omit to use GitHub-hosted models via the GitHub token. */
    providerBaseUrl: z.string().url().optional(),
    /** The BYOK provider's API flavour (its key is the secret providerApiKey). */
    providerType: z.enum(["openai", "azure", "anthropic"]).default("openai"),
    rateLimitPerMinute: z.number().int().min(0).default(0),
    /** Per-user quotas (429 session_quota_exceeded / turn_quota_exceeded with Retry-After). */
    maxSessionsPerUser: z.number().int().positive().default(50),
    maxTurnsInFlightPerUser: z.number().int().positive().default(4),
  })
  .prefault({});
export type DeploymentGateway = z.infer<typeof deploymentGatewaySchema>;

/** An issuer URL: https, or http on loopback (a provider the tests run). */
const issuerUrl = z.url({ protocol: /^https?$/ }).refine((u) => u.startsWith("https://") || /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(u), "must be https (http only for a provider on loopback)");

/**
 * Who may call the gateway. `oidc`: tokens of your identity provider (RS256/ES256, keys from its
 * JWKS, issuer and audience checked). `hs256`: one shared secret signs every token, whoever holds
 * it can be any user: for development and tests only.
 */
export const deploymentAuthSchema = z
  .discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("hs256") }),
    z.strictObject({
      kind: z.literal("oidc"),
      issuer: issuerUrl,
      /** The client id (aud) tokens are issued for. */
      audience: z.string().min(1),
      /** Omitted = the jwks_uri of <issuer>/.well-known/openid-configuration. */
      jwksUri: issuerUrl.optional(),
      /** The claim naming the user (sub; email when the provider's subject is opaque). */
      userClaim: z.string().min(1).default("sub"),
      /** collaborative: the claim listing the rooms a user may post to. */
      roomsClaim: z.string().min(1).default("rooms"),
      algorithms: z.array(z.enum(["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"])).min(1).optional(),
      /** Longest token lifetime (exp - iat) accepted. */
      maxTokenLifetimeSeconds: z.number().int().positive().default(24 * 3600),
      /** Clock skew allowed on exp, nbf and iat. */
      clockSkewSeconds: z.number().int().min(0).max(300).default(30),
    }),
  ])
  .default({ kind: "hs256" });
export type DeploymentAuth = z.infer<typeof deploymentAuthSchema>;

/** The gateway's auth section for a deployment's auth (the HS256 secret travels in its own env var). */
export function gatewayAuth(auth: DeploymentAuth = { kind: "hs256" }): GatewayConfigInput["auth"] {
  if (auth.kind === "hs256") return { kind: "jwt-hs256" };
  const { clockSkewSeconds, kind: _kind, ...rest } = auth;
  return { kind: "oidc", ...rest, clockToleranceSeconds: clockSkewSeconds };
}

/**
 * Each user's own GitHub identity on their sessions, as a deployment sets it: `kubernetes`, the
 * per-user Secrets scripts/user-credentials.ts writes (default namespace: the gateway's), or `http`,
 * the operator's token hook (its bearer token is the identityHookToken secret). `none`: every session
 * runs on the CLI server's own token. The gateway's section is gatewayIdentity()'s.
 */
export const deploymentIdentitySchema = z
  .discriminatedUnion("source", [
    z.strictObject({ source: z.literal("none") }),
    z.strictObject({
      source: z.literal("kubernetes"),
      namespace: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "a namespace name").optional(),
      namePrefix: identityFields.namePrefix,
      ...identityFields.caching,
    }),
    z.strictObject({ source: z.literal("http"), url: identityFields.url, timeoutSeconds: identityFields.timeoutSeconds, ...identityFields.caching }),
  ])
  .default({ source: "none" });
export type DeploymentIdentity = z.infer<typeof deploymentIdentitySchema>;

/** The gateway's identity section; a kubernetes source without a namespace reads the gateway's own. */
export function gatewayIdentity(identity: DeploymentIdentity, gatewayNamespace: string): GatewayConfigInput["identity"] {
  return identity.source === "kubernetes" ? { ...identity, namespace: identity.namespace ?? gatewayNamespace } : identity;
}

/**
 * The gateway settings every platform derives the same way from its gateway, lifecycle and auth
 * sections; each platform adds its topology, backends and store.
 */
export function gatewaySettings(cfg: {
  gateway: DeploymentGateway;
  lifecycle: DeploymentLifecycle;
  auth?: DeploymentAuth;
}): Pick<GatewayConfigInput, "model" | "lifecycle" | "http" | "quotas" | "auth"> {
  const { gateway, lifecycle } = cfg;
  return {
    auth: gatewayAuth(cfg.auth),
    model: { name: gateway.model, providerBaseUrl: gateway.providerBaseUrl, providerType: gateway.providerType },
    lifecycle: {
      idleTimeoutSeconds: lifecycle.idleTimeoutSeconds,
      sessionTtlSeconds: lifecycle.sessionTtlSeconds,
      cleanupIntervalSeconds: lifecycle.cleanupIntervalSeconds ?? Math.min(60, Math.max(1, lifecycle.sessionTtlSeconds / 4)),
      lockTtlSeconds: lifecycle.lockTtlSeconds,
      lockWaitSeconds: lifecycle.lockWaitSeconds,
      maxSessionsPerServer: lifecycle.maxSessionsPerServer,
      drainGraceSeconds: lifecycle.drainGraceSeconds,
      // Static servers are never culled; culling is a local-platform (spawn) feature.
      cliIdleTimeoutSeconds: 0,
    },
    http: { rateLimitPerMinute: gateway.rateLimitPerMinute },
    quotas: { maxSessionsPerUser: gateway.maxSessionsPerUser, maxTurnsInFlightPerUser: gateway.maxTurnsInFlightPerUser },
  };
}

/**
 * Lifecycle settings short enough for a conformance test to observe them within its 60 s budget
 * (the tests wait for the real timeout). Production values (minutes, days) are not claimed.
 */
export const OBSERVABLE_LIFECYCLE = { idleTimeoutSeconds: 30, sessionTtlSeconds: 30, maxSessionsPerServer: 10 } as const;

/**
 * Features a deployment claims for conformance: the topology's core profile plus the lifecycle
 * behaviour the gateway provides on its own, when its settings make it observable. Nothing that
 * needs process control (drain, restart, culling) or one URL per gateway replica, which a cloud
 * deployment does not expose.
 */
export function deployedFeatures(cfg: { topology: TopologyName; lifecycle: DeploymentLifecycle; gateway: DeploymentGateway }): Feature[] {
  const { lifecycle } = cfg;
  const within = (value: number, max: number) => value > 0 && value <= max;
  const features: Feature[] = [...PROFILES[cfg.topology].core];
  if (within(lifecycle.idleTimeoutSeconds, OBSERVABLE_LIFECYCLE.idleTimeoutSeconds)) features.push("idle-detach");
  if (within(lifecycle.sessionTtlSeconds, OBSERVABLE_LIFECYCLE.sessionTtlSeconds)) features.push("session-ttl");
  if (within(lifecycle.maxSessionsPerServer, OBSERVABLE_LIFECYCLE.maxSessionsPerServer)) features.push("eviction");
  if (cfg.gateway.rateLimitPerMinute > 0) features.push("rate-limit");
  return features;
}

/** The target descriptor's settings: what the deployed gateway was configured with. */
export function targetSettings(config: GatewayConfig): TargetSettings {
  const { lifecycle } = config;
  return {
    idleTimeoutSeconds: lifecycle.idleTimeoutSeconds,
    sessionTtlSeconds: lifecycle.sessionTtlSeconds,
    lockTtlSeconds: lifecycle.lockTtlSeconds,
    lockWaitSeconds: lifecycle.lockWaitSeconds,
    maxSessionsPerServer: lifecycle.maxSessionsPerServer,
    cliIdleTimeoutSeconds: lifecycle.cliIdleTimeoutSeconds,
    bodyLimitBytes: config.http.bodyLimitBytes,
    rateLimitPerMinute: config.http.rateLimitPerMinute,
  };
}
