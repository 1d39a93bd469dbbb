/**
 * The zod schemas of the HTTP API: the request schemas validate requests (app.ts, client-routes.ts),
 * and the same schemas, with the response shapes, make the OpenAPI document (openapi.ts).
 */
import { z } from "zod";
import { badRequest } from "./errors.js";

// A lone UTF-16 surrogate cannot cross the CLI's JSON-RPC (the CLI never answers): refuse it here.
const LONE_SURROGATE = /\p{Cs}/u;

export const createBody = z
  .object({
    model: z.string().regex(/^[\x21-\x7e]{1,200}$/, "model must be 1-200 printable ASCII characters without spaces").optional(),
    persistent: z.boolean().optional(),
  })
  .strict()
  .nullish();

export const promptBody = z.object({
  prompt: z
    .string()
    .min(1, "prompt must not be empty")
    .max(100_000)
    .refine((p) => !LONE_SURROGATE.test(p), "prompt must be well-formed Unicode (it holds a lone surrogate)"),
});

export const historyQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(200).default(50).describe("messages per page (1-200, default 50)"),
    after: z.string().min(1).max(200).optional().describe("the nextCursor of the previous page; absent = from the first message"),
  })
  .strict();

/** `Idempotency-Key` request header: a client-chosen id of one logical request. */
export const idempotencyKeyHeader = z.string().regex(/^[\x21-\x7e]{1,200}$/, "Idempotency-Key must be 1-200 printable ASCII characters");

export const errorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export const sessionView = z.object({
  sessionId: z.string(),
  createdAt: z.iso.datetime(),
  lastActiveAt: z.iso.datetime(),
  persistent: z.boolean(),
  model: z.string().optional(),
  attached: z.boolean().describe("open on this replica's CLI connection right now"),
});

export const historyMessage = z.object({
  id: z.string().describe("the CLI's event id; also the cursor that pages after this message"),
  role: z.enum(["user", "assistant"]),
  content: z.string(),
  createdAt: z.iso.datetime(),
  status: z
    .enum(["answered", "aborted", "unanswered"])
    .optional()
    .describe("user messages: answered, aborted, or unanswered (the turn is running, or was interrupted after the prompt was written)"),
});

export const historyPage = z.object({
  messages: z.array(historyMessage),
  nextCursor: z.string().nullable().describe("pass as ?after= for the next page; null on the last page"),
});

export const RESPONSES = {
  health: z.object({ status: z.literal("ok") }),
  created: z.object({ sessionId: z.string() }),
  sessionList: z.object({ sessions: z.array(sessionView) }),
  session: sessionView,
  turn: z.object({ sessionId: z.string(), content: z.string() }).describe("with Accept: text/event-stream: `delta` events, then a `done` event with this body, or an `error` event"),
  roomTurn: z.object({ room: z.string(), content: z.string(), turn: z.number().int() }),
  chat: z.object({ content: z.string() }),
  history: historyPage,
  aborted: z.object({ sessionId: z.string(), aborted: z.literal(true) }),
  roomAborted: z.object({ room: z.string(), aborted: z.literal(true) }),
  models: z.object({
    models: z.array(z.object({ id: z.string(), name: z.string() }).loose()),
    source: z.enum(["cli", "provider-config"]).describe("cli: the CLI's listModels; provider-config: the BYOK model the gateway is configured with (an offline CLI lists none)"),
  }),
  openapi: z.object({ openapi: z.string() }).loose(),
  empty: z.null(),
} as const;

/** Parses a body or query; the first issue becomes a 400 with `code`. */
export function parse<T>(schema: z.ZodType<T>, value: unknown, code = "invalid_body"): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const where = issue.path.length ? `${issue.path.join(".")}: ` : "";
    throw badRequest(`${where}${issue.path.length === 0 && value == null ? "a JSON body is required" : issue.message}`, code);
  }
  return r.data;
}
