/**
 * What a local platform run is configured with, derived from its options alone: the options and
 * their validation, the settings and features the target claims, the gateway config each replica
 * gets, and the target descriptor (platform.ts runs the processes and passes their addresses).
 */
import { join, resolve } from "node:path";
import { CORE_API, type Feature, type GatewayConfigInput, type TargetDescriptor, type TopologyName } from "../topology/index.js";

export const SUPPORTED_LOCAL_TOPOLOGIES: readonly TopologyName[] = ["shared", "isolated", "collaborative", "sticky", "shared-storage"];

export interface LocalOptions {
  topology: TopologyName;
  servers?: number;
  gateways?: number;
  store?: "memory" | "redis";
  idleTimeoutSeconds?: number;
  sessionTtlSeconds?: number;
  lockTtlSeconds?: number;
  lockWaitSeconds?: number;
  maxSessionsPerServer?: number;
  cliIdleTimeoutSeconds?: number;
  /** isolated: per-user CLIs running at once (503 server_capacity beyond); default 100. */
  maxCliServers?: number;
  drainGraceSeconds?: number;
  /** Requests per user per minute before 429; 0 or absent = off. */
  rateLimitPerMinute?: number;
  /**
   * Per-user quotas. Absent: generous local values (the conformance suites and k6 drive many
   * concurrent turns from few users); deployed gateways get the schema's safe defaults.
   */
  maxSessionsPerUser?: number;
  maxTurnsInFlightPerUser?: number;
  /** The orphan reconciler's grace; absent = the gateway default (60 s). The soak shortens it to settle sooner. */
  orphanGraceSeconds?: number;
  /** SSE comment heartbeat interval; absent = the gateway default (15 s). */
  sseHeartbeatSeconds?: number;
  /** Gateway port of the first replica; 0 = any free port. */
  port?: number;
  /** Admin port (/healthz, /readyz, /metrics) of the first replica; absent = any free port. */
  adminPort?: number;
  /** Tokens from an OpenID provider instead of the run's HS256 secret (the target then mints none). */
  oidc?: { issuer: string; audience: string; jwksUri?: string; userClaim?: string; roomsClaim?: string };
  targetFile: string;
  runDir?: string;
  modelLatencyMs?: number;
  /** CPU budget of every CLI server, in cores (a cgroup CPU quota each, like a container limit); absent = none. */
  cliCpuCores?: number;
  /** Delay before a crashed process is restarted, like a container restart backoff. */
  restartDelayMs?: number;
  /** Comma-separated test switches passed to the gateway (see gateway/server.ts). Never for production. */
  unsafe?: string;
  /**
   * Each user's own GitHub token (gateway identity.source dir): a folder of `user-<hmac>` files keyed
   * by GATEWAY_SERVER_ID_KEY (this process's, else the run's). An offline CLI cannot take the token,
   * so an identity tap in front of each CLI records and removes it (local/identity-tap.ts).
   */
  userTokensDir?: string;
  /** Node flags of the gateway processes; absent = the image's (GATEWAY_NODE_FLAGS). A benchmark compares settings with it. */
  gatewayNodeFlags?: readonly string[];
  log?: (line: string) => void;
}

export const MODEL = "mock-model";
const BODY_LIMIT_BYTES = 256 * 1024;
/** Local quota defaults when no flag is given: high enough for the suites' many turns from few users. */
const LOCAL_MAX_SESSIONS_PER_USER = 1000;
const LOCAL_MAX_TURNS_PER_USER = 64;
/** user-quotas is claimed with a server this small: the noisy-neighbour test fills it without the cap. */
const NOISY_NEIGHBOUR_MAX_SESSIONS = 16;
/** The gateway default, stated so conformance knows which lifetime to exceed. */
const MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600;
/** The gateway defaults for slow clients, stated for the slow-client tests. */
const HEADERS_TIMEOUT_SECONDS = 10;
const KEEP_ALIVE_TIMEOUT_SECONDS = 10;
/** The settings the target descriptor states (the gateway is configured with the same). */
export function localSettings(o: LocalOptions): TargetDescriptor["settings"] {
  return {
    idleTimeoutSeconds: o.idleTimeoutSeconds ?? 0,
    sessionTtlSeconds: o.sessionTtlSeconds ?? 0,
    lockTtlSeconds: o.lockTtlSeconds ?? 10,
    lockWaitSeconds: o.lockWaitSeconds ?? 30,
    maxSessionsPerServer: o.maxSessionsPerServer ?? 200,
    cliIdleTimeoutSeconds: o.cliIdleTimeoutSeconds ?? 0,
    bodyLimitBytes: BODY_LIMIT_BYTES,
    rateLimitPerMinute: o.rateLimitPerMinute ?? 0,
    maxTurnsInFlightPerUser: o.maxTurnsInFlightPerUser ?? LOCAL_MAX_TURNS_PER_USER,
    maxTokenLifetimeSeconds: MAX_TOKEN_LIFETIME_SECONDS,
    headersTimeoutSeconds: HEADERS_TIMEOUT_SECONDS,
    keepAliveTimeoutSeconds: KEEP_ALIVE_TIMEOUT_SECONDS,
  };
}

/** What a local target claims: the topology's mechanisms and the lifecycle settings in force. */
export function localFeatures(opts: LocalOptions): Feature[] {
  const f: Feature[] = [...CORE_API];
  const byTopology: Record<TopologyName, Feature[]> = {
    shared: [],
    isolated: ["per-user-cli", ...((opts.cliIdleTimeoutSeconds ?? 0) > 0 ? (["cli-culling"] as Feature[]) : [])],
    collaborative: ["rooms", "room-lock"],
    sticky: ["sticky-routing"],
    // Claimed under `--unsafe shared-home` too: the negative control must show the claim fails.
    "shared-storage": ["session-lease", "private-homes"],
  };
  f.push(...byTopology[opts.topology]);
  const s = localSettings(opts);
  if (s.idleTimeoutSeconds > 0) f.push("idle-detach");
  if (s.sessionTtlSeconds > 0) f.push("session-ttl");
  if (opts.maxSessionsPerServer !== undefined && opts.maxSessionsPerServer <= 10) f.push("eviction");
  if ((s.rateLimitPerMinute ?? 0) > 0) f.push("rate-limit");
  // Observable: the cap is below a small server's session capacity, which one user could fill without it.
  if (s.maxTurnsInFlightPerUser! < s.maxSessionsPerServer && s.maxSessionsPerServer <= NOISY_NEIGHBOUR_MAX_SESSIONS) f.push("user-quotas");
  if (opts.userTokensDir) f.push("user-identity");
  if ((opts.gateways ?? 1) > 1) f.push("multi-gateway");
  f.push("drain", "restart-gateway", "process-control");
  return f;
}

/** One gateway replica's config; `backends` and the model's URL come from the running processes. */
export function localGatewayConfig(
  opts: LocalOptions & { store: "memory" | "redis" },
  run: { port: number; adminPort: number; replica: number; backends: GatewayConfigInput["backends"]; modelUrl: string; runDir: string },
): GatewayConfigInput {
  const s = localSettings(opts);
  return {
    topology: opts.topology,
    host: "127.0.0.1",
    port: run.port,
    admin: { port: run.adminPort },
    replicaId: `gw-${run.replica}`,
    backends: run.backends,
    auth: opts.oidc ? { kind: "oidc", ...opts.oidc, maxTokenLifetimeSeconds: MAX_TOKEN_LIFETIME_SECONDS } : { kind: "jwt-hs256", maxTokenLifetimeSeconds: MAX_TOKEN_LIFETIME_SECONDS },
    store: opts.store,
    storeFile: opts.store === "memory" ? join(run.runDir, "gateway-store.json") : undefined,
    // Per-user tokens exclude a BYOK provider (the CLI refuses both): the tap adds the mock model's.
    model: opts.userTokensDir ? { name: MODEL } : { name: MODEL, providerBaseUrl: run.modelUrl, providerType: "openai" },
    ...(opts.userTokensDir ? { identity: { source: "dir" as const, dir: resolve(opts.userTokensDir) } } : {}),
    lifecycle: {
      idleTimeoutSeconds: s.idleTimeoutSeconds,
      sessionTtlSeconds: s.sessionTtlSeconds,
      cleanupIntervalSeconds: s.sessionTtlSeconds > 0 ? Math.max(0.5, s.sessionTtlSeconds / 4) : 60,
      lockTtlSeconds: s.lockTtlSeconds,
      lockWaitSeconds: s.lockWaitSeconds,
      maxSessionsPerServer: s.maxSessionsPerServer,
      cliIdleTimeoutSeconds: s.cliIdleTimeoutSeconds,
      drainGraceSeconds: opts.drainGraceSeconds ?? 30,
      ...(opts.orphanGraceSeconds !== undefined ? { orphanGraceSeconds: opts.orphanGraceSeconds } : {}),
    },
    http: {
      bodyLimitBytes: BODY_LIMIT_BYTES,
      rateLimitPerMinute: s.rateLimitPerMinute,
      ...(opts.sseHeartbeatSeconds !== undefined ? { sseHeartbeatSeconds: opts.sseHeartbeatSeconds } : {}),
      headersTimeoutSeconds: HEADERS_TIMEOUT_SECONDS,
      keepAliveTimeoutSeconds: KEEP_ALIVE_TIMEOUT_SECONDS,
    },
    quotas: {
      maxSessionsPerUser: opts.maxSessionsPerUser ?? LOCAL_MAX_SESSIONS_PER_USER,
      maxTurnsInFlightPerUser: opts.maxTurnsInFlightPerUser ?? LOCAL_MAX_TURNS_PER_USER,
    },
    logLevel: "info",
  };
}

export function validateOptions(opts: LocalOptions): void {
  const t = opts.topology;
  if (!SUPPORTED_LOCAL_TOPOLOGIES.includes(t)) {
    throw new Error(`topology "${t}" is not yet supported on the local platform (supported: ${SUPPORTED_LOCAL_TOPOLOGIES.join(", ")})`);
  }
  const gateways = opts.gateways ?? 1;
  if (gateways > 1 && opts.store !== "redis") {
    throw new Error(`--gateways ${gateways} needs a shared store: add --store redis`);
  }
  if ((t === "shared" || t === "collaborative") && opts.servers !== undefined && opts.servers !== 1) {
    throw new Error(`topology ${t} runs exactly one CLI server (got --servers ${opts.servers})`);
  }
  if (t === "isolated") {
    if (opts.userTokensDir) throw new Error("--user-tokens-dir: isolated runs each user's own CLI (give it their token as its process identity); the flag is for shared CLIs");
    if (opts.servers !== undefined) throw new Error("topology isolated spawns one CLI per user on demand; drop --servers");
    if (gateways > 1) throw new Error("topology isolated on the local platform runs one gateway (it spawns the per-user CLIs itself)");
  }
  if (opts.cliCpuCores !== undefined && t === "isolated") throw new Error("--cli-cpu budgets the platform's own CLI servers; isolated's are spawned by the gateway");
  if (opts.cliCpuCores !== undefined && !(opts.cliCpuCores > 0)) throw new Error(`--cli-cpu must be a positive number of cores (got ${opts.cliCpuCores})`);
  if ((t === "sticky" || t === "shared-storage") && opts.servers !== undefined && opts.servers < 1) {
    throw new Error(`topology ${t} needs --servers >= 1`);
  }
}

/** The target descriptor of a local run; `run` is what its processes are now. */
export function localDescriptor(
  opts: LocalOptions & { store: "memory" | "redis" },
  run: Pick<TargetDescriptor, "servers"> & { gateways: { url: string; adminUrl: string; pid: number }[]; redis?: { port: number; pid: number }; jwtSecret: string; runDir: string },
): TargetDescriptor {
  return {
    version: 1,
    name: `local-${opts.topology}`,
    topology: opts.topology,
    platform: "local",
    gatewayUrls: run.gateways.map((g) => g.url),
    adminUrls: run.gateways.map((g) => g.adminUrl),
    // OIDC: only the provider issues tokens.
    auth: opts.oidc ? { kind: "static", tokens: {} } : { kind: "jwt-hs256", secret: run.jwtSecret },
    features: localFeatures(opts),
    settings: localSettings(opts),
    servers: run.servers,
    store: run.redis ? { kind: "redis", url: `redis://127.0.0.1:${run.redis.port}`, pid: run.redis.pid } : { kind: opts.store },
    gateways: run.gateways.map((g) => ({ url: g.url, pid: g.pid })),
    local: { runDir: run.runDir, supervisorPid: process.pid },
  };
}
