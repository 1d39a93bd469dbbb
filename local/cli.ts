/**
 * `npm run local -- up|down|status|token …` and `npm start` (= up, in the foreground).
 *   up --topology T [--servers N] [--gateways N] [--store memory|redis] [--idle-timeout S]
 *      [--session-ttl S] [--cli-idle-timeout S] [--max-cli-servers N] [--max-sessions N] [--lock-ttl S] [--port P]
 *      [--rate-limit N (requests per user per minute)] [--cli-cpu CORES (cgroup CPU quota per CLI server)]
 *      [--max-user-sessions N] [--max-user-turns N (per-user quotas)] [--sse-heartbeat S]
 *      [--target-file PATH] [--detach]
 *   down [--target-file PATH]
 *   token [--user U] [--target-file PATH]
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isTopologyName, readTargetFile, TOPOLOGY_NAMES, type TargetDescriptor } from "../topology/index.js";
import { type LocalOptions, validateOptions } from "./local-options.js";
import { LocalPlatform } from "./platform.js";
import { alive } from "./ports.js";
import { mintToken } from "../topology/tokens.js";

const DEFAULT_TARGET = ".local/target.json";
const DEFAULT_TOPOLOGY = "shared";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const OPTIONS = {
  topology: { type: "string", default: DEFAULT_TOPOLOGY },
  servers: { type: "string" },
  gateways: { type: "string" },
  store: { type: "string" },
  "idle-timeout": { type: "string" },
  "session-ttl": { type: "string" },
  "cli-idle-timeout": { type: "string" },
  "max-cli-servers": { type: "string" },
  "max-sessions": { type: "string" },
  "lock-ttl": { type: "string" },
  "lock-wait": { type: "string" },
  "drain-grace": { type: "string" },
  "model-latency-ms": { type: "string" },
  "cli-cpu": { type: "string" },
  "restart-delay-ms": { type: "string" },
  "rate-limit": { type: "string" },
  "max-user-sessions": { type: "string" },
  "max-user-turns": { type: "string" },
  "sse-heartbeat": { type: "string" },
  unsafe: { type: "string" },
  "user-tokens-dir": { type: "string" },
  port: { type: "string" },
  "admin-port": { type: "string" },
  "oidc-issuer": { type: "string" },
  "oidc-audience": { type: "string" },
  "oidc-jwks-uri": { type: "string" },
  "oidc-user-claim": { type: "string" },
  "oidc-rooms-claim": { type: "string" },
  "target-file": { type: "string", default: DEFAULT_TARGET },
  "run-dir": { type: "string" },
  user: { type: "string", default: "demo" },
  detach: { type: "boolean", default: false },
  supervise: { type: "boolean", default: false },
  quiet: { type: "boolean", default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

function int(values: Values, key: keyof Values, min = 0): number | undefined {
  const raw = values[key];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${key} must be a number >= ${min} (got ${String(raw)})`);
  return n;
}

/** --oidc-issuer and --oidc-audience (both, or neither) point the gateway at an OpenID provider. */
function oidcOptions(values: Values): LocalOptions["oidc"] {
  const issuer = values["oidc-issuer"];
  const audience = values["oidc-audience"];
  const extras = ["oidc-jwks-uri", "oidc-user-claim", "oidc-rooms-claim"] as const;
  if (issuer === undefined && audience === undefined) {
    const stray = extras.find((k) => values[k] !== undefined);
    if (stray) throw new Error(`--${stray} needs --oidc-issuer and --oidc-audience`);
    return undefined;
  }
  if (!issuer || !audience) throw new Error("--oidc-issuer and --oidc-audience go together: the provider's issuer URL and the audience (client id) its tokens are for");
  return {
    issuer,
    audience,
    ...(values["oidc-jwks-uri"] ? { jwksUri: values["oidc-jwks-uri"] } : {}),
    ...(values["oidc-user-claim"] ? { userClaim: values["oidc-user-claim"] } : {}),
    ...(values["oidc-rooms-claim"] ? { roomsClaim: values["oidc-rooms-claim"] } : {}),
  };
}

function toOptions(values: Values): LocalOptions {
  const topology = values.topology!;
  if (!isTopologyName(topology)) throw new Error(`--topology must be one of ${TOPOLOGY_NAMES.join(", ")} (got ${topology})`);
  const store = values.store;
  if (store !== undefined && store !== "memory" && store !== "redis") throw new Error(`--store must be memory or redis (got ${store})`);
  return {
    topology,
    servers: int(values, "servers", 1),
    gateways: int(values, "gateways", 1),
    store,
    idleTimeoutSeconds: int(values, "idle-timeout"),
    sessionTtlSeconds: int(values, "session-ttl"),
    cliIdleTimeoutSeconds: int(values, "cli-idle-timeout"),
    maxCliServers: int(values, "max-cli-servers", 1),
    maxSessionsPerServer: int(values, "max-sessions", 1),
    lockTtlSeconds: int(values, "lock-ttl", 1),
    lockWaitSeconds: int(values, "lock-wait", 0),
    drainGraceSeconds: int(values, "drain-grace", 1),
    modelLatencyMs: int(values, "model-latency-ms"),
    cliCpuCores: values["cli-cpu"] === undefined ? undefined : Number(values["cli-cpu"]),
    restartDelayMs: int(values, "restart-delay-ms"),
    rateLimitPerMinute: int(values, "rate-limit"),
    maxSessionsPerUser: int(values, "max-user-sessions", 1),
    maxTurnsInFlightPerUser: int(values, "max-user-turns", 1),
    sseHeartbeatSeconds: int(values, "sse-heartbeat"),
    unsafe: values.unsafe,
    userTokensDir: values["user-tokens-dir"],
    port: int(values, "port"),
    adminPort: int(values, "admin-port"),
    oidc: oidcOptions(values),
    targetFile: values["target-file"]!,
    runDir: values["run-dir"],
  };
}

async function printWelcome(t: TargetDescriptor): Promise<void> {
  // OIDC: the provider issues tokens, the platform holds no key to mint one.
  const token = t.auth.kind === "static" && !t.auth.tokens.demo ? "<a token from your OIDC provider>" : await mintToken(t.auth, "demo", { rooms: "*" });
  const url = t.gatewayUrls[0]!;
  console.log(`
copilot-scale-kit local platform is ready: topology ${t.topology}, ${t.servers.length} CLI server(s), ${t.gatewayUrls.length} gateway(s).
  gateway:  ${url}
  admin:    ${t.adminUrls?.[0] ?? "-"}    (/readyz, /metrics; not on the gateway port)
  token:    ${token}    (user "demo", 12 h)
  target:   ${resolve(DEFAULT_TARGET)}

Chat through the gateway:
  curl -s -X POST ${url}/v1/chat -H "authorization: Bearer ${token}" -H "content-type: application/json" -d '{"prompt":"hello"}'

Press Ctrl-C to stop everything.`);
}

async function up(values: Values): Promise<void> {
  const opts = toOptions(values);
  validateOptions(opts);
  if (values.detach) return upDetached(values, opts);
  const started = Date.now();
  const platform = await LocalPlatform.start({ ...opts, log: values.quiet || values.supervise ? undefined : (l) => console.error(`[local] ${l}`) });
  const target = platform.descriptor();
  if (!values.supervise) {
    console.error(`[local] ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await printWelcome(target);
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    if (!values.supervise) console.error(`\n[local] ${signal}: stopping…`);
    await platform.stop();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  // SIGUSR2 = add one CLI server (scale-out), used by the sticky remap test and by operators trying it.
  process.on("SIGUSR2", () => {
    platform.addServer().catch((err: Error) => console.error(`[local] scale-out failed: ${err.message}`));
  });
}

/** Starts a supervisor in the background and returns once its target file says it is ready. */
async function upDetached(values: Values, opts: LocalOptions): Promise<void> {
  const targetFile = resolve(opts.targetFile);
  if (existsSync(targetFile)) {
    const old = readTargetFile(targetFile);
    if (old.local && alive(old.local.supervisorPid)) {
      throw new Error(`a local platform is already running for ${targetFile} (pid ${old.local.supervisorPid}); run \`npm run local -- down --target-file ${opts.targetFile}\` first`);
    }
  }
  mkdirSync(dirname(targetFile), { recursive: true });
  const logFile = `${targetFile}.supervisor.log`;
  const out = openSync(logFile, "w");
  const args = process.argv.slice(2).filter((a) => a !== "--detach");
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), ...args, "--supervise"], {
    detached: true,
    stdio: ["ignore", out, out],
  });
  closeSync(out);
  child.unref();
  const started = Date.now();
  while (Date.now() - started < 120_000) {
    if (child.exitCode !== null || !alive(child.pid!)) {
      throw new Error(`local platform failed to start:\n${readFileSync(logFile, "utf8").trim().split("\n").slice(-15).join("\n")}`);
    }
    if (existsSync(targetFile)) {
      try {
        const t = readTargetFile(targetFile);
        if (t.local?.supervisorPid === child.pid) {
          console.log(`local ${t.topology} platform ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${t.gatewayUrls.join(" ")} (target ${opts.targetFile}, supervisor pid ${child.pid})`);
          return;
        }
      } catch {
        // half-written or stale file: keep waiting
      }
    }
    await sleep(100);
  }
  process.kill(child.pid!, "SIGTERM");
  throw new Error(`local platform not ready within 120 s; see ${logFile}`);
}

async function down(values: Values): Promise<void> {
  const targetFile = resolve(values["target-file"]!);
  if (!existsSync(targetFile)) {
    console.log(`nothing to stop: ${values["target-file"]} does not exist`);
    return;
  }
  const t = readTargetFile(targetFile);
  const pids = [t.local?.supervisorPid, ...t.servers.map((s) => s.pid), ...(t.gateways ?? []).map((g) => g.pid), t.store?.pid].filter(
    (p): p is number => typeof p === "number",
  );
  if (t.local && alive(t.local.supervisorPid)) {
    process.kill(t.local.supervisorPid, "SIGTERM");
    const deadline = Date.now() + 60_000;
    while (alive(t.local.supervisorPid) && Date.now() < deadline) await sleep(100);
  }
  const left = pids.filter(alive);
  for (const pid of left) process.kill(pid, "SIGKILL");
  rmSync(targetFile, { force: true });
  console.log(`stopped local ${t.topology} platform${left.length ? ` (force-killed ${left.length} leftover process(es))` : ""}`);
}

async function token(values: Values): Promise<void> {
  const t = readTargetFile(resolve(values["target-file"]!));
  console.log(await mintToken(t.auth, values.user!, { rooms: "*" }));
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: OPTIONS, allowPositionals: true });
  const command = positionals[0] ?? "up";
  if (command === "up") return up(values);
  if (command === "down") return down(values);
  if (command === "token") return token(values);
  if (command === "status") {
    const t = readTargetFile(resolve(values["target-file"]!));
    console.log(JSON.stringify({ topology: t.topology, gatewayUrls: t.gatewayUrls, servers: t.servers.map((s) => ({ id: s.id, pid: s.pid, alive: s.pid ? alive(s.pid) : undefined })) }, null, 2));
    return;
  }
  if (command === "add-server") {
    const t = readTargetFile(resolve(values["target-file"]!));
    if (!t.local) throw new Error("add-server works on a local platform target");
    process.kill(t.local.supervisorPid, "SIGUSR2");
    console.log(`asked the supervisor (pid ${t.local.supervisorPid}) to add a CLI server`);
    return;
  }
  throw new Error(`unknown command ${command}: use up, down, status, token or add-server`);
}

main().catch((err) => {
  console.error(`local: ${(err as Error).message}`);
  process.exit(1);
});
