/**
 * The seam between the per-user pool (spawn-pool.ts: who needs a server, single-flight, restarts,
 * culling) and where servers run: a local process per user (ProcessSpawner, here) or a Pod per user
 * (PodSpawner, kube-spawner.ts). A spawner starts or finds one server by its opaque id.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { GATEWAY_SECRET_ENV, type GatewayConfig } from "../topology/index.js";
import { startCliServer, type CliServerHandle, type CliServerOptions } from "./cli-process.js";

/** How a server ended: a crash (the pool restarts it) or removed by someone else (a cull on another replica: no restart). */
export interface ServerExit {
  code: number | string;
  removed: boolean;
}

export interface SpawnedServer {
  /** host:port the SDK connects to. */
  address: string;
  connectionToken: string;
  /** Local process id and home, for the local platform's registry file. */
  pid?: number;
  home?: string;
  exited: Promise<ServerExit>;
  stop(graceMs: number): Promise<void>;
}

export interface Spawner {
  /** Starts server `id` or, where servers outlive the gateway (Pods), finds the one already running. */
  start(id: string, onOutput: (line: string) => void): Promise<SpawnedServer>;
  /** The server was last used at `at` (ms); other replicas see it before they cull (no-op where one replica spawns). */
  touch?(id: string, at: number): void;
  /** True when another replica used server `id` within `ms`; such a server is not culled here. */
  usedElsewhereWithin?(id: string, ms: number): Promise<boolean>;
  /** Background work of a serving gateway (watches, claim expiry). */
  startBackground?(): Promise<void>;
  close?(): Promise<void>;
}

type ProcessBackends = Extract<GatewayConfig["backends"], { kind: "spawn" }>;

/**
 * One `copilot --headless` process per user on this host, each with its own COPILOT_HOME under
 * homeRoot and a fresh random connection token that only the gateway (and its registry file) knows.
 */
export class ProcessSpawner implements Spawner {
  /** Spawns run one at a time until one succeeded: the first start unpacks the CLI into the shared cache. */
  private warmed = false;
  private gate: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly spec: ProcessBackends,
    /** Gateway environment: COPILOT_GITHUB_TOKEN is passed on to the spawned CLIs when set. */
    private readonly env: Record<string, string | undefined> = {},
    private readonly startCli: (opts: CliServerOptions) => Promise<CliServerHandle> = startCliServer,
  ) {}

  async start(id: string, onOutput: (line: string) => void): Promise<SpawnedServer> {
    const token = randomBytes(24).toString("base64url");
    const home = join(this.spec.homeRoot, id);
    const opts: CliServerOptions = {
      cliPath: this.spec.cliPath,
      home,
      connectionToken: token,
      host: this.spec.host,
      port: 0,
      sessionIdleTimeoutSeconds: this.spec.sessionIdleTimeoutSeconds,
      env: this.cliEnv(),
      onOutput,
    };
    mkdirSync(home, { recursive: true, mode: 0o700 });
    let handle: CliServerHandle;
    if (this.warmed) {
      handle = await this.startCli(opts);
    } else {
      const started = this.gate.then(() => this.startCli(opts));
      this.gate = started.catch(() => undefined);
      handle = await started;
      this.warmed = true;
    }
    return {
      address: handle.address,
      connectionToken: token,
      pid: handle.pid,
      home,
      exited: handle.exited.then((code) => ({ code, removed: false })),
      stop: (graceMs) => handle.stop(graceMs),
    };
  }

  private cliEnv(): Record<string, string> {
    const githubToken = this.env[GATEWAY_SECRET_ENV.githubToken];
    return {
      // One unpacked CLI for all users instead of ~235 MB and a 2-3 s unpack per user home.
      XDG_CACHE_HOME: join(this.spec.homeRoot, ".cache"),
      ...this.spec.env,
      ...(githubToken ? { [GATEWAY_SECRET_ENV.githubToken]: githubToken } : {}),
    };
  }
}
