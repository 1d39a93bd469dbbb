/**
 * The API's routes and error codes as data: what openapi.ts publishes, and what the OpenAPI test
 * holds against the routes Fastify registers and the codes the source can emit.
 */
import type { z } from "zod";
import { createBody, historyQuery, promptBody, RESPONSES } from "./api-schemas.js";

/** Every error code the gateway emits, with its HTTP status and what it means. */
export const ERROR_CODES = {
  bad_request: [400, "malformed request (HTTP the parser rejects, a request that cannot be routed)"],
  invalid_body: [400, "the JSON body does not match the route's schema"],
  invalid_json: [400, "the body is not JSON"],
  invalid_query: [400, "a query parameter is out of range"],
  invalid_cursor: [400, "`after` is not a message id of this session"],
  invalid_session_id: [400, "the session id has characters or a length the API does not allow"],
  invalid_room_id: [400, "the room id has characters or a length the API does not allow"],
  invalid_idempotency_key: [400, "Idempotency-Key is not 1-200 printable ASCII characters"],
  invalid_url: [400, "the URL holds a malformed percent-escape"],
  unauthorized: [401, "missing, invalid or expired bearer token"],
  forbidden: [403, "not a member of the room"],
  github_identity_missing: [403, "identity: no GitHub token is configured for this user and identity.missing is refuse"],
  no_server_for_user: [403, "isolated with static tenants: no CLI server is provisioned for this user"],
  not_found: [404, "no such session (or not yours: the same answer)"],
  route_not_found: [404, "no such route (or rooms on a topology without rooms)"],
  method_not_allowed: [405, "CONNECT"],
  request_timeout: [408, "the request did not arrive in time"],
  lock_lost: [409, "the turn's lock was taken over; the message says whether the prompt was written"],
  turn_aborted: [409, "the turn was stopped by POST …/abort; the prompt is in the history with status aborted"],
  no_turn_in_flight: [409, "abort: no turn of this session or room is running"],
  idempotency_in_flight: [409, "the first request with this Idempotency-Key still runs; retry after Retry-After"],
  body_too_large: [413, "the body is over http.bodyLimitBytes"],
  uri_too_long: [414, "a path segment is too long"],
  unsupported_media_type: [415, "the body is not application/json"],
  idempotency_key_reused: [422, "this Idempotency-Key was used with a different body"],
  room_busy: [423, "waited lockWaitSeconds for the session's or room's turn lock; Retry-After"],
  rate_limited: [429, "over http.rateLimitPerMinute; Retry-After"],
  session_quota_exceeded: [429, "the user owns quotas.maxSessionsPerUser sessions; Retry-After"],
  turn_quota_exceeded: [429, "the user has quotas.maxTurnsInFlightPerUser turns in flight; Retry-After"],
  headers_too_large: [431, "the request line or headers are too large"],
  internal: [500, "a bug: reported without details"],
  cli_error: [502, "the CLI server answered with an error"],
  no_reply: [502, "the CLI finished the turn without an assistant message"],
  turn_interrupted: [502, "the CLI connection was lost mid-turn (503 when the server is down): check the history before resending"],
  draining: [503, "this replica is shutting down; retry on another"],
  store_unavailable: [503, "the session store does not answer; Retry-After"],
  server_unavailable: [503, "the CLI server that holds the session is down; Retry-After"],
  server_full: [503, "the CLI server has lifecycle.maxSessionsPerServer sessions with turns in flight; Retry-After"],
  no_healthy_server: [503, "shared-storage: no other CLI server is available"],
  cli_unavailable: [503, "isolated: this user's CLI server could not be started"],
  server_capacity: [503, "isolated: backends.maxServers per-user servers run; a new user waits for a cull (Retry-After)"],
  server_starting: [503, "isolated on Kubernetes: this user's expired state is still being deleted; Retry-After"],
  issuer_unavailable: [503, "OIDC: the token issuer (JWKS) cannot be reached"],
  identity_unavailable: [503, "identity: the user's GitHub token source (folder, Secret or hook) did not answer; Retry-After"],
  turn_timeout: [504, "the turn did not finish within lifecycle.turnTimeoutSeconds"],
} as const satisfies Record<string, readonly [number, string]>;
export type ErrorCode = keyof typeof ERROR_CODES;

/** Errors any route can answer, before it runs: the router, the HTTP parser, a bug. */
export const GLOBAL_ERRORS: ErrorCode[] = ["bad_request", "invalid_url", "route_not_found", "method_not_allowed", "request_timeout", "uri_too_long", "headers_too_large", "internal"];
/** Errors of every authenticated (/v1/) route. */
const AUTHED: ErrorCode[] = ["unauthorized", "issuer_unavailable", "draining", "rate_limited", "store_unavailable"];
const WITH_BODY: ErrorCode[] = ["invalid_body", "invalid_json", "body_too_large", "unsupported_media_type"];
const SESSION: ErrorCode[] = ["invalid_session_id", "not_found"];
const CLI: ErrorCode[] = ["cli_error", "server_unavailable", "server_full", "no_healthy_server", "cli_unavailable", "server_capacity", "server_starting", "no_server_for_user"];
/** Opening a user's session (create, resume) carries their GitHub token (identity.*); rooms use the service identity. */
const IDENTITY: ErrorCode[] = ["github_identity_missing", "identity_unavailable"];
const ROOM: ErrorCode[] = ["invalid_room_id", "forbidden", "route_not_found"];
const TURN: ErrorCode[] = [...CLI, "turn_quota_exceeded", "room_busy", "lock_lost", "turn_aborted", "turn_interrupted", "turn_timeout", "no_reply"];
const IDEMPOTENT: ErrorCode[] = ["invalid_idempotency_key", "idempotency_in_flight", "idempotency_key_reused"];

export interface RouteDoc {
  method: "GET" | "POST" | "DELETE";
  /** Fastify's form (`:id`); openapi.ts writes `{id}`. */
  path: string;
  summary: string;
  auth: boolean;
  body?: z.ZodType;
  query?: z.ZodObject;
  /** Takes the Idempotency-Key header. */
  idempotent?: boolean;
  /** Answers text/event-stream when asked (Accept). */
  streams?: boolean;
  ok: { status: number; schema: z.ZodType; contentType?: string };
  /** A second non-error answer (readiness: 503 with the same body). */
  also?: { status: number; schema: z.ZodType; description: string };
  errors: ErrorCode[];
}

export const ROUTES: RouteDoc[] = [
  // /readyz and /metrics are on the admin port only (admin.ts), not part of the public API.
  { method: "GET", path: "/healthz", summary: "Liveness", auth: false, ok: { status: 200, schema: RESPONSES.health }, errors: [] },
  { method: "GET", path: "/openapi.json", summary: "This document", auth: false, ok: { status: 200, schema: RESPONSES.openapi }, errors: [] },
  { method: "POST", path: "/v1/sessions", summary: "Create a session", auth: true, body: createBody, ok: { status: 201, schema: RESPONSES.created }, errors: [...AUTHED, ...WITH_BODY, ...CLI, ...IDENTITY, "session_quota_exceeded"] },
  { method: "GET", path: "/v1/sessions", summary: "The caller's sessions", auth: true, ok: { status: 200, schema: RESPONSES.sessionList }, errors: AUTHED },
  { method: "GET", path: "/v1/sessions/:id", summary: "One of the caller's sessions", auth: true, ok: { status: 200, schema: RESPONSES.session }, errors: [...AUTHED, ...SESSION] },
  { method: "DELETE", path: "/v1/sessions/:id", summary: "Delete a session (waits for its turn in flight)", auth: true, ok: { status: 204, schema: RESPONSES.empty }, errors: [...AUTHED, ...SESSION, ...CLI, "room_busy"] },
  {
    method: "POST",
    path: "/v1/sessions/:id/messages",
    summary: "Send a prompt and get the reply (one turn)",
    auth: true,
    body: promptBody,
    idempotent: true,
    streams: true,
    ok: { status: 200, schema: RESPONSES.turn },
    errors: [...AUTHED, ...WITH_BODY, ...SESSION, ...TURN, ...IDENTITY, ...IDEMPOTENT],
  },
  {
    method: "GET",
    path: "/v1/sessions/:id/messages",
    summary: "The session's history: user and assistant messages, oldest first, paged",
    auth: true,
    query: historyQuery,
    ok: { status: 200, schema: RESPONSES.history },
    errors: [...AUTHED, ...SESSION, ...CLI, ...IDENTITY, "invalid_query", "invalid_cursor"],
  },
  { method: "POST", path: "/v1/sessions/:id/abort", summary: "Stop the session's turn in flight (on any replica)", auth: true, ok: { status: 200, schema: RESPONSES.aborted }, errors: [...AUTHED, ...SESSION, ...CLI, ...IDENTITY, "no_turn_in_flight"] },
  {
    method: "POST",
    path: "/v1/rooms/:room/messages",
    summary: "Post to a shared room (collaborative topology)",
    auth: true,
    body: promptBody,
    idempotent: true,
    streams: true,
    ok: { status: 200, schema: RESPONSES.roomTurn },
    errors: [...AUTHED, ...WITH_BODY, ...TURN, ...ROOM, ...IDEMPOTENT],
  },
  { method: "POST", path: "/v1/rooms/:room/abort", summary: "Stop the room's turn in flight, whoever posted it (members only, any replica)", auth: true, ok: { status: 200, schema: RESPONSES.roomAborted }, errors: [...AUTHED, ...CLI, ...ROOM, "not_found", "no_turn_in_flight"] },
  {
    method: "GET",
    path: "/v1/rooms/:room/messages",
    summary: "A room's history (members only)",
    auth: true,
    query: historyQuery,
    ok: { status: 200, schema: RESPONSES.history },
    errors: [...AUTHED, ...CLI, ...ROOM, "not_found", "invalid_query", "invalid_cursor"],
  },
  { method: "POST", path: "/v1/chat", summary: "One-shot chat in an ephemeral session", auth: true, body: promptBody, idempotent: true, streams: true, ok: { status: 200, schema: RESPONSES.chat }, errors: [...AUTHED, ...WITH_BODY, ...TURN, ...IDENTITY, ...IDEMPOTENT] },
  { method: "GET", path: "/v1/models", summary: "The models the CLI offers", auth: true, ok: { status: 200, schema: RESPONSES.models }, errors: [...AUTHED, ...CLI] },
];
