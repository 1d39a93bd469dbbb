/**
 * The local platform: runs a topology on one machine with real processes on loopback: the mock
 * model, N real `copilot --headless` servers (own COPILOT_HOME, own connection token, offline) and
 * the gateway replicas. It supervises them like an orchestrator would (restart on exit, after a
 * delay) and keeps the target descriptor file current.
 */
import { createHash, randomBytes } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, unwatchFile, watchFile } from "node:fs";
import { dirname, join, resolve } from "node:path";
import writeFileAtomic from "write-file-atomic";
import type { FastifyInstance } from "fastify";
import {
  backendTokenEnv,
  CORE_API,
  GATEWAY_SECRET_ENV,
  TOPOLOGIES,
  type Feature,
  type GatewayConfigInput,
  type TargetDescriptor,
  type TopologyName,
} from "../topology/index.js";
import { resolveCliPath, startCliServer, type CliServerHandle } from "../gateway/cli-process.js";
import type { SpawnRegistryEntry } from "../gateway/spawn-registry.js";
import { startGatewayProcess, type GatewayProcess } from "./gateway-process.js";
import { startIdentityTap, type IdentityTap } from "./identity-tap.js";
import { prepareHome, SHARED_HOME, type HomeLayout } from "./homes.js";
import { startMockModel } from "./mock-model.js";
import { freePort } from "./ports.js";
import { redisDir, startRedis, type RedisProcess } from "./redis-process.js";

export const SUPPORTED_LOCAL_TOPOLOGIES: readonly TopologyName[] = ["shared", "isolated", "collaborative", "sticky", "shared-storage"];

/** Servers a per-user spawner has started, as the gateway writes them to its registry file. */
export type SpawnedServer = SpawnRegistryEntry;

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
  log?: (line: string) => void;
}

interface Server {
  id: string;
  token: string;
  home: string;
  port: number;
  handle: CliServerHandle;
  /** With userTokensDir: the identity tap the gateways reach this server through. */
  tap?: IdentityTap;
}

const MODEL = "mock-model";
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
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secret = (bytes = 24) => randomBytes(bytes).toString("base64url");

export class LocalPlatform {
  private model?: { app: FastifyInstance; url: string };
  private servers: Server[] = [];
  private gateways: { port: number; adminPort: number; proc: GatewayProcess }[] = [];
  private redis?: RedisProcess;
  private readonly redisPassword = secret(18);
  private spawned: SpawnedServer[] = [];
  private stopping = false;
  private readonly jwtSecret = secret(36);
  /** isolated: keys the per-user server ids (one per run: the run folder and its homes are fresh each up). */
  private readonly serverIdKey = process.env[GATEWAY_SECRET_ENV.serverIdKey] ?? secret(36);
  private readonly runDir: string;
  private readonly targetFile: string;
  private readonly opts: Required<Pick<LocalOptions, "servers" | "gateways" | "store" | "restartDelayMs">> & LocalOptions;

  private constructor(opts: LocalOptions) {
    const topo = TOPOLOGIES[opts.topology];
    this.opts = {
      ...opts,
      servers: opts.servers ?? topo.defaultServers,
      gateways: opts.gateways ?? 1,
      store: opts.store ?? "memory",
      restartDelayMs: opts.restartDelayMs ?? 2_000,
    };
    this.targetFile = resolve(opts.targetFile);
    this.runDir = resolve(opts.runDir ?? join(dirname(this.targetFile), "run"));
  }

  static async start(opts: LocalOptions): Promise<LocalPlatform> {
    validateOptions(opts);
    const p = new LocalPlatform(opts);
    try {
      await p.boot();
      return p;
    } catch (err) {
      await p.stop();
      throw err;
    }
  }

  private log(line: string): void {
    this.opts.log?.(line);
    try {
      appendFileSync(join(this.runDir, "logs", "platform.log"), `${new Date().toISOString()} ${line}\n`);
    } catch {
      // the run folder may already be gone during stop
    }
  }

  private get settings(): TargetDescriptor["settings"] {
    const o = this.opts;
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

  private async boot(): Promise<void> {
    rmSync(this.runDir, { recursive: true, force: true });
    mkdirSync(join(this.runDir, "logs"), { recursive: true });
    this.log(`starting topology ${this.opts.topology} in ${this.runDir}`);

    this.model = await startMockModel({ latencyMs: this.opts.modelLatencyMs ?? 0, modelName: MODEL });
    this.log(`mock model on ${this.model.url}`);

    if (this.opts.store === "redis") await this.startRedisServer();
    await Promise.all(Array.from({ length: this.opts.servers }, (_, i) => this.startServer(`cli-${i}`)));
    if (this.opts.topology === "isolated") this.watchSpawnRegistry();

    for (let i = 0; i < this.opts.gateways; i++) {
      const port = i === 0 && this.opts.port ? this.opts.port : await freePort();
      const adminPort = i === 0 && this.opts.adminPort ? this.opts.adminPort : await freePort();
      await this.startGateway(port, adminPort);
    }
    await Promise.all(this.gateways.map((g) => waitReady(g.proc.adminUrl, 30_000)));
    this.writeTarget();
    this.log(`ready: ${this.gateways.map((g) => g.proc.url).join(" ")}`);
  }

  private homeLayout(): HomeLayout {
    return { runDir: this.runDir, sharedState: TOPOLOGIES[this.opts.topology].sharedState, sharedHome: this.unsafeSwitches().includes(SHARED_HOME) };
  }

  private unsafeSwitches(): string[] {
    return (this.opts.unsafe ?? "").split(",").filter(Boolean);
  }

  private cliEnv(): Record<string, string> {
    return { COPILOT_OFFLINE: "true", COPILOT_PROVIDER_BASE_URL: this.model!.url, COPILOT_MODEL: MODEL };
  }

  private async startServer(id: string, previous?: Server): Promise<void> {
    const home = previous?.home ?? prepareHome(this.homeLayout(), id);
    const token = previous?.token ?? secret();
    const logFile = join(this.runDir, "logs", `${id}.log`);
    const handle = await startCliServer({
      home,
      connectionToken: token,
      port: previous?.port ?? 0,
      sessionIdleTimeoutSeconds: this.opts.idleTimeoutSeconds,
      env: this.cliEnv(),
      onOutput: (line) => appendFileSync(logFile, `${line}\n`),
    });
    const tap = previous?.tap ?? (this.opts.userTokensDir ? await this.startTap(id, handle.address) : undefined);
    const server: Server = { id, token, home, port: handle.port, handle, tap };
    const idx = this.servers.findIndex((s) => s.id === id);
    if (idx >= 0) this.servers[idx] = server;
    else this.servers.push(server);
    this.log(`${id} listening on ${handle.address} pid ${handle.pid}`);
    void handle.exited.then((code) => this.onServerExit(server, code));
  }

  /** Records a fingerprint of each create's and resume's token (never the token) in logs/identity-tap.jsonl. */
  private async startTap(id: string, address: string): Promise<IdentityTap> {
    const file = join(this.runDir, "logs", "identity-tap.jsonl");
    const fingerprint = (t: string | undefined) => (t === undefined ? null : createHash("sha256").update(t).digest("hex").slice(0, 16));
    return startIdentityTap(address, { type: "openai", baseUrl: this.model!.url }, (c) =>
      appendFileSync(file, `${JSON.stringify({ server: id, method: c.method, sessionId: c.sessionId, token: fingerprint(c.gitHubToken) })}\n`),
    );
  }

  /** Restarts under way: down waits for them, so a process one of them is starting is stopped too. */
  private readonly restarting = new Set<Promise<void>>();

  private restart(name: string, code: number | string, start: () => Promise<void>): Promise<void> {
    const p = this.restartLoop(name, code, start);
    this.restarting.add(p);
    void p.finally(() => this.restarting.delete(p));
    return p;
  }

  /** Restart policy "always", like an orchestrator: wait, restart, back off while it keeps failing. */
  private async restartLoop(name: string, code: number | string, start: () => Promise<void>): Promise<void> {
    if (this.stopping) return;
    this.log(`${name} exited (${code}); restarting in ${this.opts.restartDelayMs} ms`);
    await sleep(this.opts.restartDelayMs);
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await start();
        this.writeTarget();
        return;
      } catch (err) {
        this.log(`${name} restart ${attempt} failed: ${(err as Error).message}`);
        await sleep(Math.min(10_000, this.opts.restartDelayMs * attempt));
      }
    }
  }

  private onServerExit(server: Server, code: number | string): Promise<void> {
    return this.restart(server.id, code, () => this.startServer(server.id, server));
  }

  private get spawnRegistryFile(): string {
    return join(this.runDir, "spawned-servers.json");
  }

  private async startRedisServer(previousPort?: number): Promise<void> {
    const port = previousPort ?? (await freePort());
    const redis = await startRedis({ port, dir: redisDir(this.runDir), logFile: join(this.runDir, "logs", "redis.log"), password: this.redisPassword });
    this.redis = redis;
    this.log(`redis on 127.0.0.1:${port} pid ${redis.pid}`);
    void redis.exited.then((code) => this.restart("redis", code, () => this.startRedisServer(port)));
  }

  /** isolated: the gateway spawns CLIs per user and lists them in a registry file; mirror it into the target. */
  private watchSpawnRegistry(): void {
    const read = () => {
      if (!existsSync(this.spawnRegistryFile)) return;
      try {
        this.spawned = JSON.parse(readFileSync(this.spawnRegistryFile, "utf8")) as SpawnedServer[];
        this.writeTarget();
      } catch {
        // mid-write; the next change event reads it again
      }
    };
    watchFile(this.spawnRegistryFile, { interval: 100 }, read);
  }

  private backendsConfig(): GatewayConfigInput["backends"] {
    if (this.opts.topology === "isolated") {
      return {
        kind: "spawn",
        cliPath: resolveCliPath(),
        homeRoot: join(this.runDir, "users"),
        host: "127.0.0.1",
        registryFile: this.spawnRegistryFile,
        sessionIdleTimeoutSeconds: this.opts.idleTimeoutSeconds ?? 0,
        env: this.cliEnv(),
        ...(this.opts.maxCliServers ? { maxServers: this.opts.maxCliServers } : {}),
      };
    }
    return {
      kind: "static",
      servers: this.servers.map((srv) => ({ id: srv.id, address: srv.tap?.address ?? srv.handle.address, tokenEnv: backendTokenEnv(srv.id) })),
    };
  }

  gatewayConfig(port: number, replica: number, adminPort = 0): { config: GatewayConfigInput; env: Record<string, string> } {
    const s = this.settings;
    const config: GatewayConfigInput = {
      topology: this.opts.topology,
      host: "127.0.0.1",
      port,
      admin: { port: adminPort },
      replicaId: `gw-${replica}`,
      backends: this.backendsConfig(),
      auth: this.opts.oidc ? { kind: "oidc", ...this.opts.oidc, maxTokenLifetimeSeconds: MAX_TOKEN_LIFETIME_SECONDS } : { kind: "jwt-hs256", maxTokenLifetimeSeconds: MAX_TOKEN_LIFETIME_SECONDS },
      store: this.opts.store,
      storeFile: this.opts.store === "memory" ? join(this.runDir, "gateway-store.json") : undefined,
      // Per-user tokens exclude a BYOK provider (the CLI refuses both): the tap adds the mock model's.
      model: this.opts.userTokensDir ? { name: MODEL } : { name: MODEL, providerBaseUrl: this.model!.url, providerType: "openai" },
      ...(this.opts.userTokensDir ? { identity: { source: "dir" as const, dir: resolve(this.opts.userTokensDir) } } : {}),
      lifecycle: {
        idleTimeoutSeconds: s.idleTimeoutSeconds,
        sessionTtlSeconds: s.sessionTtlSeconds,
        cleanupIntervalSeconds: s.sessionTtlSeconds > 0 ? Math.max(0.5, s.sessionTtlSeconds / 4) : 60,
        lockTtlSeconds: s.lockTtlSeconds,
        lockWaitSeconds: s.lockWaitSeconds,
        maxSessionsPerServer: s.maxSessionsPerServer,
        cliIdleTimeoutSeconds: s.cliIdleTimeoutSeconds,
        drainGraceSeconds: this.opts.drainGraceSeconds ?? 30,
        ...(this.opts.orphanGraceSeconds !== undefined ? { orphanGraceSeconds: this.opts.orphanGraceSeconds } : {}),
      },
      http: {
        bodyLimitBytes: BODY_LIMIT_BYTES,
        rateLimitPerMinute: s.rateLimitPerMinute,
        ...(this.opts.sseHeartbeatSeconds !== undefined ? { sseHeartbeatSeconds: this.opts.sseHeartbeatSeconds } : {}),
        headersTimeoutSeconds: HEADERS_TIMEOUT_SECONDS,
        keepAliveTimeoutSeconds: KEEP_ALIVE_TIMEOUT_SECONDS,
      },
      quotas: {
        maxSessionsPerUser: this.opts.maxSessionsPerUser ?? LOCAL_MAX_SESSIONS_PER_USER,
        maxTurnsInFlightPerUser: this.opts.maxTurnsInFlightPerUser ?? LOCAL_MAX_TURNS_PER_USER,
      },
      logLevel: "info",
    };
    const env: Record<string, string> = this.opts.oidc ? {} : { [GATEWAY_SECRET_ENV.jwtSecret]: this.jwtSecret };
    if (this.opts.topology === "isolated" || this.opts.userTokensDir) env[GATEWAY_SECRET_ENV.serverIdKey] = this.serverIdKey;
    if (this.redis) env[GATEWAY_SECRET_ENV.redisUrl] = this.redis.url;
    for (const srv of this.servers) env[backendTokenEnv(srv.id)] = srv.token;
    // shared-home is the platform's own switch (how it lays out homes); the others are the gateway's.
    const gatewaySwitches = this.unsafeSwitches().filter((u) => u !== SHARED_HOME);
    if (gatewaySwitches.length) env.GATEWAY_UNSAFE_TEST_SWITCHES = gatewaySwitches.join(",");
    return { config, env };
  }

  /** A restarted replica keeps both ports, as a Pod keeps its container ports. */
  private async startGateway(port: number, adminPort: number): Promise<void> {
    const replica = this.gateways.findIndex((g) => g.port === port);
    const index = replica >= 0 ? replica : this.gateways.length;
    const { config, env } = this.gatewayConfig(port, index, adminPort);
    const proc = await startGatewayProcess({ config, env, logFile: join(this.runDir, "logs", `gateway-${index}.log`) });
    if (replica >= 0) this.gateways[replica] = { port, adminPort, proc };
    else this.gateways.push({ port, adminPort, proc });
    this.log(`gateway-${index} on ${proc.url} (admin ${proc.adminUrl}) pid ${proc.pid}`);
    void proc.exited.then((code) => this.onGatewayExit(port, adminPort, code));
  }

  private onGatewayExit(port: number, adminPort: number, code: number | string): Promise<void> {
    return this.restart(`gateway on port ${port}`, code, () => this.startGateway(port, adminPort));
  }

  /** What this local target claims: the topology's mechanisms and the lifecycle settings in force. */
  features(): Feature[] {
    const f: Feature[] = [...CORE_API];
    const byTopology: Record<TopologyName, Feature[]> = {
      shared: [],
      isolated: ["per-user-cli", ...((this.opts.cliIdleTimeoutSeconds ?? 0) > 0 ? (["cli-culling"] as Feature[]) : [])],
      collaborative: ["rooms", "room-lock"],
      sticky: ["sticky-routing"],
      // Claimed under `--unsafe shared-home` too: the negative control must show the claim fails.
      "shared-storage": ["session-lease", "private-homes"],
    };
    f.push(...byTopology[this.opts.topology]);
    const s = this.settings;
    if (s.idleTimeoutSeconds > 0) f.push("idle-detach");
    if (s.sessionTtlSeconds > 0) f.push("session-ttl");
    if (this.opts.maxSessionsPerServer !== undefined && this.opts.maxSessionsPerServer <= 10) f.push("eviction");
    if ((s.rateLimitPerMinute ?? 0) > 0) f.push("rate-limit");
    // Observable: the cap is below a small server's session capacity, which one user could fill without it.
    if (s.maxTurnsInFlightPerUser! < s.maxSessionsPerServer && s.maxSessionsPerServer <= NOISY_NEIGHBOUR_MAX_SESSIONS) f.push("user-quotas");
    if (this.opts.userTokensDir) f.push("user-identity");
    if (this.opts.gateways > 1) f.push("multi-gateway");
    f.push("drain", "restart-gateway", "process-control");
    return f;
  }

  descriptor(): TargetDescriptor {
    return {
      version: 1,
      name: `local-${this.opts.topology}`,
      topology: this.opts.topology,
      platform: "local",
      gatewayUrls: this.gateways.map((g) => g.proc.url),
      adminUrls: this.gateways.map((g) => g.proc.adminUrl),
      // OIDC: only the provider issues tokens.
      auth: this.opts.oidc ? { kind: "static", tokens: {} } : { kind: "jwt-hs256", secret: this.jwtSecret },
      features: this.features(),
      settings: this.settings,
      servers: [
        ...this.servers.map((s) => ({ id: s.id, address: s.handle.address, connectionToken: s.token, pid: s.handle.pid, home: s.home })),
        ...this.spawned.map((s) => ({ id: s.id, address: s.address, connectionToken: s.connectionToken, pid: s.pid, home: s.home, user: s.user })),
      ],
      store: this.redis ? { kind: "redis", url: `redis://127.0.0.1:${this.redis.port}`, pid: this.redis.pid } : { kind: this.opts.store },
      gateways: this.gateways.map((g) => ({ url: g.proc.url, pid: g.proc.pid })),
      local: { runDir: this.runDir, supervisorPid: process.pid },
    };
  }

  private writeTarget(): void {
    if (this.stopping) return;
    mkdirSync(dirname(this.targetFile), { recursive: true });
    writeFileAtomic.sync(this.targetFile, `${JSON.stringify(this.descriptor(), null, 2)}\n`, { mode: 0o600 });
  }

  /**
   * Scale-out (sticky, shared-storage): starts one more CLI server, then restarts the gateways one
   * by one so they route to it, as a rolling update of the gateway config would.
   */
  async addServer(): Promise<string> {
    if (this.opts.topology !== "sticky" && this.opts.topology !== "shared-storage") {
      throw new Error(`adding a server is for sticky and shared-storage, not ${this.opts.topology}`);
    }
    const id = `cli-${this.servers.length}`;
    await this.startServer(id);
    for (const g of [...this.gateways]) {
      const pid = g.proc.pid;
      g.proc.child.kill("SIGTERM");
      while (this.gateways.find((x) => x.port === g.port)?.proc.pid === pid) await sleep(100);
      await waitReady(`http://127.0.0.1:${g.adminPort}`, 60_000);
    }
    this.writeTarget();
    this.log(`scaled out: added ${id}`);
    return id;
  }

  /** Stops everything this platform started: gateways first (they drain), then CLIs, then the model. */
  async stop(): Promise<void> {
    this.stopping = true;
    // A restart in flight ends its start (no further attempt); what it started is in the lists then.
    await Promise.all(this.restarting);
    await Promise.all(
      this.gateways.map(async (g) => {
        if (g.proc.child.exitCode !== null || g.proc.child.signalCode !== null) return;
        g.proc.child.kill("SIGTERM");
        const t = setTimeout(() => g.proc.child.kill("SIGKILL"), ((this.opts.drainGraceSeconds ?? 30) + 5) * 1000);
        await g.proc.exited;
        clearTimeout(t);
      }),
    );
    unwatchFile(this.spawnRegistryFile);
    await Promise.all(this.servers.map((s) => s.handle.stop()));
    await Promise.all(this.servers.map((s) => s.tap?.stop()));
    await this.redis?.stop();
    await this.model?.app.close();
    rmSync(this.targetFile, { force: true });
    this.log("stopped");
  }
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
  if ((t === "sticky" || t === "shared-storage") && opts.servers !== undefined && opts.servers < 1) {
    throw new Error(`topology ${t} needs --servers >= 1`);
  }
}

/** Waits for a gateway's readiness, on its admin listener (`adminUrl`). */
export async function waitReady(adminUrl: string, timeoutMs: number): Promise<void> {
  const url = adminUrl;
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.ok) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`gateway ${url} not ready within ${timeoutMs} ms: ${last}`);
}
