/**
 * Runs one gateway replica as a child process (the gateway bundle on plain Node, as the image runs
 * it: `node <GATEWAY_NODE_FLAGS> gateway.js serve`) and waits until it listens (waitReady: until its
 * admin listener says ready). `nodeFlags` replaces the image's flags (a benchmark comparing settings).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { GATEWAY_NODE_FLAGS } from "../images/contract.js";
import { ensureGatewayBundle } from "./gateway-bundle.js";
import { GATEWAY_CONFIG_ENV, type GatewayConfigInput } from "../topology/gateway-config.js";

const LISTENING_RE = /gateway listening on (http:\/\/\S+) and admin on (http:\/\/\S+)/;

export interface GatewayProcess {
  pid: number;
  url: string;
  /** The admin listener: /healthz, /readyz, /metrics. */
  adminUrl: string;
  child: ChildProcess;
  exited: Promise<number | string>;
}

export async function startGatewayProcess(opts: {
  config: GatewayConfigInput;
  /** Secrets and backend tokens, each in its own variable. */
  env: Record<string, string>;
  /** Node flags instead of the image's GATEWAY_NODE_FLAGS. */
  nodeFlags?: readonly string[];
  logFile: string;
  startTimeoutMs?: number;
}): Promise<GatewayProcess> {
  const main = await ensureGatewayBundle();
  const log = createWriteStream(opts.logFile, { flags: "a" });
  const child = spawn(process.execPath, [...(opts.nodeFlags ?? GATEWAY_NODE_FLAGS), main, "serve"], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NODE_ENV: "production", ...opts.env, [GATEWAY_CONFIG_ENV]: JSON.stringify(opts.config) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, sig) => resolve(code ?? sig ?? "unknown")));
  const tail: string[] = [];
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  const { url, adminUrl } = await new Promise<{ url: string; adminUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`gateway did not start within ${timeoutMs} ms; see ${opts.logFile}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line) continue;
        tail.push(line);
        if (tail.length > 15) tail.shift();
        const m = LISTENING_RE.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve({ url: m[1]!, adminUrl: m[2]! });
        }
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited (${code}) before listening:\n${tail.join("\n")}`));
    });
  });
  return { pid: child.pid!, url, adminUrl, child, exited };
}

/** Waits for a gateway's readiness, on its admin listener (`url` is the admin URL). */
export async function waitReady(url: string, timeoutMs: number): Promise<void> {
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
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gateway ${url} not ready within ${timeoutMs} ms: ${last}`);
}
