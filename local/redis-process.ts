/** Runs a real redis-server (Debian package) on loopback for multi-replica local topologies. */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";

export interface RedisProcess {
  pid: number;
  port: number;
  url: string;
  child: ChildProcess;
  exited: Promise<number | string>;
  stop(): Promise<void>;
}

export async function startRedis(opts: { port: number; dir: string; logFile: string; password: string }): Promise<RedisProcess> {
  mkdirSync(opts.dir, { recursive: true });
  const args = [
    "--bind", "127.0.0.1",
    "--port", String(opts.port),
    "--dir", opts.dir,
    "--requirepass", opts.password,
    // Every write reaches the AOF before it is acknowledged, so a restart loses no lock fence or record.
    "--appendonly", "yes",
    "--appendfsync", "always",
    "--save", "",
    "--protected-mode", "yes",
  ];
  let child: ChildProcess;
  try {
    child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    throw new Error(`cannot start redis-server: ${(err as Error).message}`);
  }
  const log = createWriteStream(opts.logFile, { flags: "a" });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<number | string>((resolve) => child.once("exit", (c, s) => resolve(c ?? s ?? "unknown")));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not become ready within 15 s; see ${opts.logFile}`)), 15_000);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(
        new Error(
          (err as NodeJS.ErrnoException).code === "ENOENT"
            ? "redis-server is not installed: run `apt-get install -y redis-server` (CI's .ci/run does this)"
            : `redis-server failed: ${err.message}`,
        ),
      );
    });
    child.stdout!.on("data", (b: Buffer) => {
      if (b.toString().includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}) during startup; see ${opts.logFile}`));
    });
  });
  return {
    pid: child.pid!,
    port: opts.port,
    url: `redis://:${encodeURIComponent(opts.password)}@127.0.0.1:${opts.port}`,
    child,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}

export const redisDir = (runDir: string) => join(runDir, "redis");
