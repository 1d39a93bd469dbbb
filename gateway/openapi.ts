/**
 * The OpenAPI 3.1 document served at /openapi.json, generated from the route table (api-routes.ts)
 * and the zod schemas that validate requests (z.toJSONSchema, JSON Schema 2020-12 as OpenAPI 3.1
 * uses it), never written by hand.
 */
import { z } from "zod";
import { idempotencyKeyHeader, errorBody } from "./api-schemas.js";
import { ERROR_CODES, GLOBAL_ERRORS, ROUTES, type ErrorCode, type RouteDoc } from "./api-routes.js";

type Json = Record<string, unknown>;

const schemaOf = (s: z.ZodType, io: "input" | "output"): Json => {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, unrepresentable: "any" }) as Json;
  return rest;
};

export const openApiPath = (path: string) => path.replace(/:([A-Za-z]+)/g, "{$1}");

function errorResponses(codes: readonly ErrorCode[]): Record<string, Json> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set([...codes, ...GLOBAL_ERRORS])) {
    const status = ERROR_CODES[code][0];
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Record<string, Json> = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    const schema = schemaOf(errorBody.extend({ error: z.object({ code: z.enum(list as [ErrorCode, ...ErrorCode[]]), message: z.string() }) }), "output");
    out[String(status)] = {
      description: list.map((c) => `${c}: ${ERROR_CODES[c][1]}`).join("; "),
      content: { "application/json": { schema } },
    };
  }
  return out;
}

function operation(r: RouteDoc): Json {
  const parameters: Json[] = [];
  for (const m of r.path.matchAll(/:([A-Za-z]+)/g)) {
    parameters.push({ name: m[1], in: "path", required: true, schema: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$" } });
  }
  if (r.query) {
    const q = schemaOf(r.query, "input") as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, schema] of Object.entries(q.properties ?? {})) {
      parameters.push({ name, in: "query", required: q.required?.includes(name) ?? false, schema, ...(schema.description ? { description: schema.description } : {}) });
    }
  }
  if (r.idempotent) {
    parameters.push({
      name: "Idempotency-Key",
      in: "header",
      required: false,
      description: "A retry with the same key (per user and session, room or chat) returns the first answer (header Idempotent-Replayed: true) and never writes the prompt twice, on any replica; kept http.idempotencyTtlSeconds.",
      schema: schemaOf(idempotencyKeyHeader, "input"),
    });
  }
  const okContent: Json = r.ok.status === 204 ? {} : { content: { [r.ok.contentType ?? "application/json"]: { schema: schemaOf(r.ok.schema, "output") }, ...(r.streams ? { "text/event-stream": { schema: { type: "string" } } } : {}) } };
  return {
    operationId: `${r.method.toLowerCase()}${r.path.replace(/[^A-Za-z]+(.)?/g, (_m, c: string | undefined) => (c ?? "").toUpperCase())}`,
    summary: r.summary,
    ...(r.auth ? { security: [{ bearer: [] }] } : { security: [] }),
    ...(parameters.length ? { parameters } : {}),
    ...(r.body ? { requestBody: { required: true, content: { "application/json": { schema: schemaOf(r.body, "input") } } } } : {}),
    responses: {
      [String(r.ok.status)]: { description: "success", ...okContent },
      ...errorResponses(r.errors),
      ...(r.also ? { [String(r.also.status)]: { description: r.also.description, content: { "application/json": { schema: schemaOf(r.also.schema, "output") } } } } : {}),
    },
  };
}

export function openApiDocument(): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of ROUTES) (paths[openApiPath(r.path)] ??= {})[r.method.toLowerCase()] = operation(r);
  return {
    openapi: "3.1.0",
    info: {
      title: "copilot-scale-kit session gateway",
      version: "1",
      description: 'Every error is {"error":{"code","message"}}; x-error-codes lists every code with its status.',
    },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
    paths,
    "x-error-codes": Object.fromEntries(Object.entries(ERROR_CODES).map(([code, [status, description]]) => [code, { status, description }])),
  };
}
