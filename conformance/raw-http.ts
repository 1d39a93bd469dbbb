/**
 * HTTP exactly as written, for hostile-input tests: fetch normalises paths (`/a/../b`), refuses
 * some headers and methods, and cannot send a malformed request line. Every call has a deadline,
 * so a gateway that never answers fails the test instead of hanging it.
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { target } from "./harness.js";

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON, when it is JSON. */
  json?: unknown;
  ms: number;
}

export interface RawOptions {
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
  gateway?: number;
}

function baseUrl(gateway = 0): URL {
  const urls = target().gatewayUrls;
  return new URL(urls[gateway % urls.length]!);
}

function parseJson(text: string, contentType: string | undefined): unknown {
  if (!text || !(contentType ?? "").includes("json")) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** One request with `path` sent byte for byte as given (it must already be percent-encoded). */
export function rawRequest(method: string, path: string, opts: RawOptions = {}): Promise<RawResponse> {
  const base = baseUrl(opts.gateway);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const started = Date.now();
  const request = base.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      { host: base.hostname, port: base.port || (base.protocol === "https:" ? 443 : 80), method, path, headers: opts.headers, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: parseJson(text, res.headers["content-type"]), ms: Date.now() - started });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${path.slice(0, 80)}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/**
 * Writes `data` on a fresh connection and parses whatever HTTP response comes back (the server
 * closes the connection: send `Connection: close`). Status 0 means the connection closed silently.
 */
export function rawExchange(data: string | Buffer, timeoutMs = 10_000, gateway?: number): Promise<RawResponse> {
  const base = baseUrl(gateway);
  const started = Date.now();
  const tls = base.protocol === "https:";
  const port = Number(base.port || (tls ? 443 : 80));
  return new Promise((resolve, reject) => {
    const socket = tls ? tlsConnect({ host: base.hostname, port, servername: base.hostname }) : connect(port, base.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`raw request ${JSON.stringify(String(data).slice(0, 60))}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString("utf8");
      const [head = "", ...rest] = raw.split("\r\n\r\n");
      const lines = head.split("\r\n");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const text = rest.join("\r\n\r\n");
      resolve({ status, headers, text, json: parseJson(text, headers["content-type"]), ms: Date.now() - started });
    });
    socket.write(data);
  });
}

/** The gateway's `host:port`, for Host headers and absolute-form request targets. */
export const gatewayHost = (gateway?: number) => baseUrl(gateway).host;
