/**
 * The local platform: runs a topology on one machine with real processes on loopback: the mock
 * model, N real `copilot --headless` servers (own COPILOT_HOME, own connection token, offline) and
 * the gateway replicas. It supervises them like an orchestrator would (restart on exit, after a
 * delay; restart-policy.ts) and keeps the target descriptor file current. What the run is
 * configured with and claims, derived from its options, is local-options.ts.
 */
import { createHash, randomBytes } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, unwatchFile, watchFile } from "node:fs";
import { dirname, join, resolve } from "node:path";
import writeFileAtomic from "write-file-atomic";
import type { FastifyInstance } from "fastify";
import { backendTokenEnv, GATEWAY_SECRET_ENV, MULTI_SERVER_ROUTING, TOPOLOGIES, type GatewayConfigInput, type TargetDescriptor } from "../topology/index.js";
import { resolveCliPath, startCliServer, type CliServerHandle } from "../gateway/cli-process.js";
import type { SpawnRegistryEntry } from "../gateway/spawn-registry.js";
import { startGatewayProcess, waitReady, type GatewayProcess } from "./gateway-process.js";
import { startIdentityTap, type IdentityTap } from "./identity-tap.js";
import { prepareHome, SHARED_HOME, type HomeLayout } from "./homes.js";
import { localDescriptor, type LocalOptions, localGatewayConfig, MODEL, validateOptions } from "./local-options.js";
import { startMockModel } from "./mock-model.js";
import { RestartPolicy } from "./restart-policy.js";
import { CpuBudget } from "./cpu-budget.js";
import { freePort } from "./ports.js";
import { redisDir, startRedis, type RedisProcess } from "./redis-process.js";

export type { LocalOptions } from "./local-options.js";
export { waitReady } from "./gateway-process.js";

/** Servers a per-user spawner has started, as the gateway writes them to its registry file. */
export type SpawnedServer = SpawnRegistryEntry;

/** A CLI server this platform started (its home and token survive its restarts); `tap`: with
 * userTokensDir, the identity tap the gateways reach it through. */
interface Server { id: string; token: string; home: string; port: number; handle: CliServerHandle; tap?: IdentityTap }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secret = (bytes = 24) => randomBytes(bytes).toString("base64url");

export class LocalPlatform {
  private model?: { app: FastifyInstance; url: string };
  private servers: Server[] = [];
  private gateways: { port: number; adminPort: number; proc: GatewayProcess }[] = [];
  private redis?: RedisProcess;
  /** With cliCpuCores: the cgroup quota every CLI server runs under. */
  cpuBudget?: CpuBudget;
  private readonly redisPassword = secret(18);
  private spawned: SpawnedServer[] = [];
  private stopping = false;
  private readonly jwtSecret = secret(36);
  /** isolated: keys the per-user server ids (one per run: the run folder and its homes are fresh each up). */
  private readonly serverIdKey = process.env[GATEWAY_SECRET_ENV.serverIdKey] ?? secret(36);
  private readonly runDir: string;
  private readonly targetFile: string;
  private readonly restarts: RestartPolicy;
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
    this.restarts = new RestartPolicy(this.opts.restartDelayMs, (line) => this.log(line), () => this.stopping, () => this.writeTarget());
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

  private async boot(): Promise<void> {
    rmSync(this.runDir, { recursive: true, force: true });
    mkdirSync(join(this.runDir, "logs"), { recursive: true });
    this.log(`starting topology ${this.opts.topology} in ${this.runDir}`);

    this.model = await startMockModel({ latencyMs: this.opts.modelLatencyMs ?? 0, modelName: MODEL });
    this.log(`mock model on ${this.model.url}`);

    if (this.opts.store === "redis") await this.startRedisServer();
    if (this.opts.cliCpuCores) this.cpuBudget = new CpuBudget(this.opts.cliCpuCores);
    await Promise.all(Array.from({ length: this.opts.servers }, (_, i) => this.startServer(`cli-${i}`)));
    if (TOPOLOGIES[this.opts.topology].routing === "per-user") this.watchSpawnRegistry();

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
      cgroup: this.cpuBudget?.prepare(id),
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

  private onServerExit(server: Server, code: number | string): Promise<void> {
    return this.restarts.restart(server.id, code, () => this.startServer(server.id, server));
  }

  private get spawnRegistryFile(): string {
    return join(this.runDir, "spawned-servers.json");
  }

  private async startRedisServer(previousPort?: number): Promise<void> {
    const port = previousPort ?? (await freePort());
    const redis = await startRedis({ port, dir: redisDir(this.runDir), logFile: join(this.runDir, "logs", "redis.log"), password: this.redisPassword });
    this.redis = redis;
    this.log(`redis on 127.0.0.1:${port} pid ${redis.pid}`);
    void redis.exited.then((code) => this.restarts.restart("redis", code, () => this.startRedisServer(port)));
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
    if (TOPOLOGIES[this.opts.topology].routing === "per-user") {
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
    const config = localGatewayConfig(this.opts, { port, adminPort, replica, backends: this.backendsConfig(), modelUrl: this.model!.url, runDir: this.runDir });
    const env: Record<string, string> = this.opts.oidc ? {} : { [GATEWAY_SECRET_ENV.jwtSecret]: this.jwtSecret };
    if (TOPOLOGIES[this.opts.topology].routing === "per-user" || this.opts.userTokensDir) env[GATEWAY_SECRET_ENV.serverIdKey] = this.serverIdKey;
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
    const proc = await startGatewayProcess({ config, env, nodeFlags: this.opts.gatewayNodeFlags, logFile: join(this.runDir, "logs", `gateway-${index}.log`) });
    if (replica >= 0) this.gateways[replica] = { port, adminPort, proc };
    else this.gateways.push({ port, adminPort, proc });
    this.log(`gateway-${index} on ${proc.url} (admin ${proc.adminUrl}) pid ${proc.pid}`);
    void proc.exited.then((code) => this.onGatewayExit(port, adminPort, code));
  }

  private onGatewayExit(port: number, adminPort: number, code: number | string): Promise<void> {
    return this.restarts.restart(`gateway on port ${port}`, code, () => this.startGateway(port, adminPort));
  }

  descriptor(): TargetDescriptor {
    return localDescriptor(this.opts, {
      gateways: this.gateways.map((g) => ({ url: g.proc.url, adminUrl: g.proc.adminUrl, pid: g.proc.pid })),
      servers: [
        ...this.servers.map((s) => ({ id: s.id, address: s.handle.address, connectionToken: s.token, pid: s.handle.pid, home: s.home })),
        ...this.spawned.map((s) => ({ id: s.id, address: s.address, connectionToken: s.connectionToken, pid: s.pid, home: s.home, user: s.user })),
      ],
      redis: this.redis,
      jwtSecret: this.jwtSecret,
      runDir: this.runDir,
    });
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
    if (!MULTI_SERVER_ROUTING.includes(TOPOLOGIES[this.opts.topology].routing)) {
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
    await this.restarts.settled();
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
    this.cpuBudget?.removeAll();
    await this.redis?.stop();
    await this.model?.app.close();
    rmSync(this.targetFile, { force: true });
    this.log("stopped");
  }
}
