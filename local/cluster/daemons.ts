/**
 * The cluster's host processes: started detached (they outlive `npm run cluster -- up`), each with a
 * log file and a pid file, and stopped by pid, most recently started first.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { alive } from "../ports.js";
import { paths } from "./layout.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Daemon {
  name: string;
  argv: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export function logFile(name: string): string {
  return join(paths.logs, `${name}.log`);
}

function pidFile(name: string): string {
  return join(paths.pids, `${name}.pid`);
}

export function daemonPid(name: string): number | undefined {
  const f = pidFile(name);
  if (!existsSync(f)) return undefined;
  const pid = Number(readFileSync(f, "utf8"));
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

export function startDaemon(d: Daemon): number {
  mkdirSync(paths.logs, { recursive: true });
  mkdirSync(paths.pids, { recursive: true });
  const running = daemonPid(d.name);
  if (running) return running;
  const out = openSync(logFile(d.name), "a");
  const child = spawn(d.argv[0]!, d.argv.slice(1), { detached: true, stdio: ["ignore", out, out], env: { ...process.env, ...d.env }, cwd: d.cwd });
  child.unref();
  if (!child.pid) throw new Error(`cluster: could not start ${d.name} (${d.argv[0]}); log: ${logFile(d.name)}`);
  writeFileSync(pidFile(d.name), String(child.pid));
  return child.pid;
}

/** Names of daemons with a pid file, newest first (stop order). */
export function startedDaemons(): string[] {
  if (!existsSync(paths.pids)) return [];
  return readdirSync(paths.pids)
    .filter((f) => f.endsWith(".pid"))
    .map((f) => ({ name: f.slice(0, -4), t: statSync(join(paths.pids, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t)
    .map((d) => d.name);
}

export async function stopDaemon(name: string, graceMs = 15_000): Promise<void> {
  const pid = daemonPid(name);
  if (pid) {
    // Each daemon leads its own process group (detached): signal the group, so children go too.
    const kill = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {
        try {
          process.kill(pid, sig);
        } catch {
          /* already gone */
        }
      }
    };
    kill("SIGTERM");
    const deadline = Date.now() + graceMs;
    while (alive(pid) && Date.now() < deadline) await sleep(200);
    if (alive(pid)) kill("SIGKILL");
    while (alive(pid)) await sleep(100);
  }
  rmSync(pidFile(name), { force: true });
}

/** Polls `check` until it returns true; the error names the daemon and its log. */
export async function waitFor(what: string, daemon: string | undefined, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    try {
      if (await check()) return Date.now() - t0;
    } catch {
      /* not yet */
    }
    if (daemon && !daemonPid(daemon)) throw new Error(`cluster: ${daemon} exited while waiting for ${what}; log: ${logFile(daemon)}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`cluster: timed out after ${timeoutMs / 1000} s waiting for ${what}${daemon ? `; log: ${logFile(daemon)}` : ""}`);
    await sleep(300);
  }
}
