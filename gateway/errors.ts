/** API errors: every failure the gateway returns is `{"error":{"code","message"}}` with a fitting status. */
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
    throw badRequest(`invalid ${what} id: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`, `invalid_${what}_id`);
  }
  return value;
}
