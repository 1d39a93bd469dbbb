/**
 * Starts a real `copilot --headless` server as a child process and waits until it listens.
 * Used by the local platform and by the gateway's per-user spawner (isolated topology, local).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";

export interface CliServerOptions {
  /** Path of the copilot executable; defaults to the pinned platform binary from node_modules. */
  cliPath?: string;
  home: string;
  connectionToken: string;
  host?: string;
  /** 0 = let the CLI pick a free port (it prints the port it took). */
  port?: number;
  /** Passed as --session-idle-timeout when > 0. */
  sessionIdleTimeoutSeconds?: number;
  /** Extra environment: COPILOT_OFFLINE, COPILOT_PROVIDER_BASE_URL, COPILOT_MODEL, COPILOT_GITHUB_TOKEN… */
  env?: Record<string, string>;
  startTimeoutMs?: number;
  /** Receives every line the CLI prints, prefixed by stream name. */
  onOutput?: (line: string) => void;
  /**
   * A cgroup directory the process joins before it execs the CLI (the local platform's CPU budget):
   * joining first means nothing the CLI forks escapes the group, and the pid stays the CLI's.
   */
  cgroup?: string;
}

export interface CliServerHandle {
  pid: number;
  port: number;
  host: string;
  address: string;
  home: string;
  process: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  exited: Promise<number | string>;
  stop(graceMs?: number): Promise<void>;
}

/** The pinned native binary, not the npm loader script (which would add a second process). */
export function resolveCliPath(): string {
  const platformPkg = `@github/copilot-${process.platform}-${process.arch}`;
  try {
    // The platform package's entry point is the executable itself.
    const binary = createRequire(import.meta.url).resolve(platformPkg);
    if (existsSync(binary)) return binary;
  } catch {
    // fall through to the error below
  }
  throw new Error(`Copilot CLI binary not found: package ${platformPkg} is not installed. Run \`npm ci\` in the project root.`);
}

const LISTENING_RE = /CLI server listening on port (\d+)/;

export async function startCliServer(opts: CliServerOptions): Promise<CliServerHandle> {
  const cliPath = opts.cliPath ?? resolveCliPath();
  if (!existsSync(cliPath)) throw new Error(`Copilot CLI binary not found at ${cliPath}`);
  const host = opts.host ?? "127.0.0.1";
  mkdirSync(opts.home, { recursive: true });
  const args = ["--headless", "--host", host, "--port", String(opts.port ?? 0), "--no-auto-update", "--no-auto-login"];
  if (opts.sessionIdleTimeoutSeconds && opts.sessionIdleTimeoutSeconds > 0) {
    args.push("--session-idle-timeout", String(opts.sessionIdleTimeoutSeconds));
  }
  // sh writes its own pid into the group, then becomes the CLI (exec keeps the pid).
  const [command, argv] = opts.cgroup
    ? ["/bin/sh", ["-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', opts.cgroup, cliPath, ...args]]
    : [cliPath, args];
  const child = spawn(command, argv, {
    cwd: opts.home,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: opts.home,
      COPILOT_HOME: opts.home,
      COPILOT_CONNECTION_TOKEN: opts.connectionToken,
      ...opts.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
  });
  const tail: string[] = [];
  const timeoutMs = opts.startTimeoutMs ?? 30_000;

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`Copilot CLI did not start listening within ${timeoutMs} ms; last output:\n${tail.join("\n")}`));
    }, timeoutMs);
    const onLine = (stream: string) => (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split(/\r?\n/)) {
        if (!line) continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        opts.onOutput?.(`${stream}: ${line}`);
        const m = LISTENING_RE.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      }
    };
    child.stdout!.on("data", onLine("stdout"));
    child.stderr!.on("data", onLine("stderr"));
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`Copilot CLI failed to start (${cliPath}): ${err.message}`));
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`Copilot CLI exited (${code}) before listening; last output:\n${tail.join("\n")}`));
    });
  });

  return {
    pid: child.pid!,
    port,
    host,
    address: `${host}:${port}`,
    home: opts.home,
    process: child,
    exited,
    async stop(graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
