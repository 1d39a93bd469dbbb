/** API errors: every failure the gateway returns is `{"error":{"code","message"}}` with a fitting status. */
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const notFound = (what = "session") => new ApiError(404, "not_found", `${what} not found`);
export const badRequest = (message: string, code = "bad_request") => new ApiError(400, code, message);
export const unauthorized = (message = "missing or invalid bearer token") =>
  new ApiError(401, "unauthorized", message, { "www-authenticate": 'Bearer realm="copilot-scale-kit"' });
export const forbidden = (message: string) => new ApiError(403, "forbidden", message);
export const unavailable = (code: string, message: string, retryAfterSeconds = 1) =>
  new ApiError(503, code, message, { "retry-after": String(Math.max(1, Math.ceil(retryAfterSeconds))) });
export const locked = (message: string, retryAfterSeconds: number) =>
  new ApiError(423, "room_busy", message, { "retry-after": String(Math.max(1, Math.ceil(retryAfterSeconds))) });
export const tooManyRequests = (retryAfterSeconds: number) =>
  new ApiError(429, "rate_limited", "too many requests", { "retry-after": String(Math.max(1, Math.ceil(retryAfterSeconds))) });

/** Session and room ids: no path separators, control characters or dot-only names. */
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export function validateId(value: string, what: "session" | "room"): string {
  if (!ID_RE.test(value)) {
    throw badRequest(`invalid ${what} id: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`, what === "session" ? "invalid_session_id" : "invalid_room_id");
  }
  return value;
}

/** Writes an API error straight to a socket (for what never reaches Fastify) and closes it. */
export function rawErrorResponse(socket: Socket, e: ApiError): void {
  const body = JSON.stringify({ error: { code: e.code, message: e.message } });
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(`HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

/**
 * Fastify's clientErrorHandler: HTTP the parser rejects (a malformed request line, headers over
 * the size limit) gets the same JSON error shape as everything else, then the connection closes.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const e =
    err.code === "HPE_HEADER_OVERFLOW"
      ? new ApiError(431, "headers_too_large", "the request line or headers are too large")
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? new ApiError(408, "request_timeout", "the request was not received in time")
        : badRequest("malformed HTTP request");
  rawErrorResponse(socket, e);
}

/** Fastify's router failures (frameworkErrors: a malformed %-escape, an over-long path segment) as API errors. */
export function frameworkError(err: { code?: string }): ApiError {
  if (err.code === "FST_ERR_MAX_PARAM_LENGTH") return new ApiError(414, "uri_too_long", "a path segment is too long");
  if (err.code === "FST_ERR_BAD_URL") return badRequest("the URL holds a malformed percent-escape", "invalid_url");
  return badRequest("the request could not be routed");
}
