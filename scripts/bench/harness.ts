/** What the benchmarks share: a local platform in a scratch folder, a gateway client, process memory. */
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalPlatform, type LocalOptions } from "../../local/platform.js";
import { mintToken } from "../../topology/tokens.js";
import type { TargetDescriptor } from "../../topology/index.js";

/** Starts a local platform in a throwaway folder, runs fn, always stops it. */
export async function withPlatform<T>(
  opts: Omit<LocalOptions, "targetFile" | "runDir">,
  fn: (p: LocalPlatform, target: TargetDescriptor) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "csk-bench-"));
  const platform = await LocalPlatform.start({ ...opts, targetFile: join(dir, "target.json"), runDir: join(dir, "run") });
  try {
    return await fn(platform, platform.descriptor());
  } finally {
    // BENCH_LOGS=<dir> keeps the run's logs (gateway, CLIs, platform) to explain a failed figure.
    if (process.env.BENCH_LOGS) cpSync(join(dir, "run", "logs"), process.env.BENCH_LOGS, { recursive: true });
    await platform.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A user's view of the gateway API v1. */
export class GatewayClient {
  private constructor(
    readonly base: string,
    /** The user's bearer token (the streaming bench sends its own SSE requests). */
    readonly token: string,
  ) {}

  static async forUser(target: TargetDescriptor, user: string, gateway = 0): Promise<GatewayClient> {
    return new GatewayClient(target.gatewayUrls[gateway]!, await mintToken(target.auth, user));
  }

  /** One call; fails on any status but `expect`. Returns the JSON body and the serving CLI server. */
  async request<T>(method: string, path: string, body?: unknown, expect = 200): Promise<{ body: T; server?: string }> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status !== expect) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 200)}`);
    return { body: (text ? JSON.parse(text) : undefined) as T, server: res.headers.get("x-copilot-server") ?? undefined };
  }

  async call<T>(method: string, path: string, body?: unknown, expect = 200): Promise<T> {
    return (await this.request<T>(method, path, body, expect)).body;
  }

  async createSession(): Promise<string> {
    return (await this.call<{ sessionId: string }>("POST", "/v1/sessions", { persistent: true }, 201)).sessionId;
  }

  async send(id: string, prompt: string): Promise<string> {
    return (await this.call<{ content: string }>("POST", `/v1/sessions/${id}/messages`, { prompt })).content;
  }
}

/** Resident and proportional set size of a process, in MiB (PSS splits shared pages between sharers). */
export function memoryOf(pid: number): { rssMiB: number; pssMiB: number } {
  const kb = (text: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN);
  return {
    rssMiB: kb(readFileSync(`/proc/${pid}/status`, "utf8"), "VmRSS") / 1024,
    pssMiB: kb(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"), "Pss") / 1024,
  };
}

/** CPU seconds (user + system) a process has used so far; Linux clock ticks are 1/100 s. */
export function cpuSecondsOf(pid: number): number {
  // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
  const rest = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ").pop()!.split(" ");
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

/** Runs `count` tasks with at most `concurrency` in flight. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
