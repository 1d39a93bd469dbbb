/**
 * What conformance tests share: the target under test, a small HTTP client for the gateway API,
 * feature-gated tests and recorded figures. Tests declare features; a test whose features the
 * target does not claim is skipped (and reported as skipped).
 */
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { getCurrentSuite } from "vitest/suite";
import { mintToken } from "../topology/tokens.js";
import { readTargetFile, type Feature, type TargetDescriptor } from "../topology/index.js";
import { FEATURES_ENV, REPORT_DIR_ENV, TARGET_ENV } from "./env.js";

declare module "vitest" {
  interface TaskMeta {
    /** The features a conformance test declares; the report reads them from here. */
    features?: Feature[];
  }
}


let cached: TargetDescriptor | undefined;
/** The target descriptor, re-read on demand (the local platform rewrites it when pids change). */
export function target(fresh = false): TargetDescriptor {
  const file = process.env[TARGET_ENV];
  if (!file) throw new Error(`${TARGET_ENV} is not set: run the suite with npm run conformance -- --target <file>`);
  if (fresh || !cached) cached = readTargetFile(file);
  return cached;
}

export function claims(...features: Feature[]): boolean {
  const claimed = new Set(target().features);
  return features.every((f) => claimed.has(f));
}

/** Features asked for with --features (none = all): a test must declare one of them to run. */
function requested(features: readonly Feature[]): boolean {
  const only = process.env[FEATURES_ENV]?.split(",").filter(Boolean) ?? [];
  return only.length === 0 || features.some((f) => only.includes(f));
}

/**
 * A conformance test that declares its features as data (`task.meta.features`, as the Gateway API
 * conformance suite declares them on each test); skipped when the target does not claim them.
 */
export function conformance(
  features: Feature[],
  name: string,
  fn: () => Promise<void>,
  timeoutMs = 60_000,
  /** An extra condition on the target (e.g. its topology or store); false = skipped like a missing feature. */
  when: (t: TargetDescriptor) => boolean = () => true,
): void {
  const skip = !requested(features) || !claims(...features) || !when(target());
  getCurrentSuite().task(name, { skip, timeout: timeoutMs, meta: { features }, handler: fn });
}

/** Records a measured figure for the report (tests run in worker processes, so via a file). */
export function recordFigure(name: string, value: number, unit: string, note?: string): void {
  const dir = process.env[REPORT_DIR_ENV];
  if (!dir) return;
  appendFileSync(join(dir, "figures.jsonl"), `${JSON.stringify({ name, value, unit, note, target: target().name })}\n`);
}

export interface ApiResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

const tokens = new Map<string, Promise<string>>();
export function tokenFor(user: string, rooms: string[] | "*" = "*"): Promise<string> {
  const key = `${user}|${JSON.stringify(rooms)}`;
  if (!tokens.has(key)) tokens.set(key, mintToken(target().auth, user, { rooms }));
  return tokens.get(key)!;
}

/** Unique user ids per test run, so reruns against a long-lived target never collide. */
const run = Math.random().toString(36).slice(2, 8);
export const user = (name: string) => `${name}-${run}`;

export interface RequestOptions {
  user?: string;
  token?: string | null;
  headers?: Record<string, string>;
  /** Raw body (sent as is); otherwise `json` is serialised. */
  raw?: string | Buffer;
  json?: unknown;
  gateway?: number;
  /** To the gateway's admin listener (/healthz, /readyz, /metrics) instead of its public port. */
  admin?: boolean;
  timeoutMs?: number;
}

/** The admin listener of the gateway at `gatewayUrls[index]`: readiness and metrics are served there only. */
export function adminUrl(index = 0): string {
  const t = target();
  const i = index % t.gatewayUrls.length;
  const url = t.adminUrls?.[i];
  if (!url) throw new Error(`target ${t.name ?? ""} lists no adminUrls[${i}]: /readyz and /metrics are served on the gateways' admin port only`);
  return url;
}

/** The admin URL of the gateway whose public URL is `gatewayUrl` (targets re-read after a restart keep the order). */
export const adminUrlOf = (gatewayUrl: string): string => adminUrl(Math.max(0, target().gatewayUrls.indexOf(gatewayUrl)));

export async function api<T = Record<string, unknown>>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
  const t = target();
  const base = opts.admin ? adminUrl(opts.gateway) : t.gatewayUrls[(opts.gateway ?? 0) % t.gatewayUrls.length]!;
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? (opts.user ? await tokenFor(opts.user) : undefined) : opts.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | Buffer | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.json !== undefined) body = JSON.stringify(opts.json);
  if (body !== undefined && !headers["content-type"]) headers["content-type"] = "application/json";
  const res = await fetch(`${base}${path}`, { method, headers, body, signal: AbortSignal.timeout(opts.timeoutMs ?? 60_000) });
  const text = await res.text();
  let parsed: unknown = {};
  if (text && (res.headers.get("content-type") ?? "").includes("json")) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed as T, text };
}

export async function createSession(u: string, body: Record<string, unknown> = {}, gateway?: number): Promise<string> {
  const r = await api<{ sessionId: string }>("POST", "/v1/sessions", { user: u, json: body, gateway });
  if (r.status !== 201) throw new Error(`create session failed: ${r.status} ${r.text}`);
  return r.body.sessionId;
}

export async function send(u: string, sessionId: string, prompt: string, gateway?: number) {
  return api<{ sessionId: string; content: string }>("POST", `/v1/sessions/${encodeURIComponent(sessionId)}/messages`, {
    user: u,
    json: { prompt },
    gateway,
  });
}

/** Parses the mock model's marker line: `turn=<N> prompt=<P>`. */
export function turnOf(content: string): { turn: number; prompt: string } {
  const m = /turn=(\d+) prompt=(.*)$/m.exec(content);
  if (!m) throw new Error(`reply has no turn marker: ${JSON.stringify(content)}`);
  return { turn: Number(m[1]), prompt: m[2]! };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

/**
 * A gateway metric from /metrics: the sum of the samples whose labels include `labels`
 * (every sample when none are given); 0 when there is none.
 */
export async function metric(name: string, labels: Record<string, string> = {}, gateway?: number): Promise<number> {
  const text = (await api("GET", "/metrics", { gateway, admin: true })).text;
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, "gm"))) {
    const have = (m[1] ?? "").split(",");
    if (wanted.every((w) => have.includes(w))) sum += Number(m[2]);
  }
  return sum;
}

/** Reads an SSE response into events. */
export async function sse(path: string, u: string, json: unknown): Promise<{ status: number; headers: Headers; events: { event: string; data: unknown }[] }> {
  const t = target();
  const res = await fetch(`${t.gatewayUrls[0]}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${await tokenFor(u)}`, "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify(json),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  const events = text
    .split("\n\n")
    .filter((b) => b.trim())
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
      const data = /^data: (.*)$/m.exec(block)?.[1];
      return { event, data: data ? (JSON.parse(data) as unknown) : undefined };
    });
  return { status: res.status, headers: res.headers, events };
}
