/**
 * The OpenAPI document is true: it validates as OpenAPI 3.1, lists exactly the routes Fastify
 * registers, each documented route answers its method (never route_not_found), and its error codes
 * are exactly the codes the gateway's source can emit.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayWithoutCli } from "../testing/gateway.js";
import { ERROR_CODES, ROUTES } from "./api-routes.js";
import { openApiPath } from "./openapi.js";
import type { Gateway } from "./server.js";

const AUTH = { authorization: "Bearer alice-token-0123456789" };
let gw: Gateway;

beforeAll(async () => {
  // Rooms included (collaborative); the CLI address answers nothing, which no route may turn into a 404.
  gw = await gatewayWithoutCli({ topology: "collaborative" });
  await gw.app.ready();
});
afterAll(async () => {
  await gw?.drainAndStop();
});

const SRC = new URL(".", import.meta.url).pathname;
const sources = () =>
  readdirSync(SRC)
    .filter((f) => f.endsWith(".ts") && !f.includes(".test.") && !f.includes(".testing.") && f !== "api-routes.ts")
    .map((f) => readFileSync(join(SRC, f), "utf8"))
    .join("\n");

describe("OpenAPI document", () => {
  it("is a valid OpenAPI 3.1 document, served at /openapi.json", async () => {
    const r = await gw.app.inject({ method: "GET", url: "/openapi.json" });
    expect(r.statusCode).toBe(200);
    const doc = r.json<{ openapi: string; paths: Record<string, unknown> }>();
    expect(doc.openapi).toBe("3.1.0");
    await SwaggerParser.validate(structuredClone(doc) as never);
    // /readyz and /metrics are on the admin port, not in the public API.
    expect(Object.keys(doc.paths).length).toBeGreaterThanOrEqual(9);
  });

  it("lists exactly the routes the app registers", () => {
    const key = (m: string, p: string) => `${m} ${p}`;
    const registered = new Set(gw.routes.map((r) => key(r.method, r.url)));
    const documented = new Set(ROUTES.map((r) => key(r.method, r.path)));
    expect(registered.size).toBeGreaterThanOrEqual(10);
    expect([...registered].filter((k) => !documented.has(k)), "registered but not documented").toEqual([]);
    expect([...documented].filter((k) => !registered.has(k)), "documented but not registered").toEqual([]);
  });

  it("every documented route answers its method, with a documented status and code", async () => {
    const doc = (await gw.app.inject({ method: "GET", url: "/openapi.json" })).json<{ paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }>();
    for (const r of ROUTES) {
      const url = r.path.replace(":id", "s-nope").replace(":room", "lobby");
      const res = await gw.app.inject({ method: r.method, url, headers: AUTH, ...(r.body ? { payload: { prompt: "hi" } } : {}) });
      const what = `${r.method} ${r.path} -> ${res.statusCode} ${res.body.slice(0, 200)}`;
      const code = res.statusCode >= 400 && r.also?.status !== res.statusCode ? (res.json<{ error: { code: string } }>().error.code as keyof typeof ERROR_CODES) : undefined;
      expect(code, what).not.toBe("route_not_found");
      const documented = Object.keys(doc.paths[openApiPath(r.path)]![r.method.toLowerCase()]!.responses);
      expect(documented, what).toContain(String(res.statusCode));
      if (code) expect([...r.errors, "internal"], what).toContain(code);
    }
  });

  it("documents exactly the error codes the source can emit", () => {
    const src = sources();
    const documented = Object.keys(ERROR_CODES);
    expect(documented.filter((c) => !src.includes(`"${c}"`)), "documented but never emitted").toEqual([]);
    // Codes in the source: ApiError(status, "code"), unavailable("code"), badRequest(…, "code"), parse(…, "code"), code: "code".
    const emitted = new Set<string>();
    const patterns = [/ApiError\(\s*\d{3},\s*"([a-z_]+)"/g, /unavailable\(\s*"([a-z_]+)"/g, /(?:badRequest|parse)\([^;]*?,\s*"([a-z_]+)"\)/g, /\bcode: "([a-z_]+)"/g, /super\(\s*\d{3},\s*"([a-z_]+)"/g];
    for (const re of patterns) for (const m of src.matchAll(re)) emitted.add(m[1]!);
    expect(emitted.size).toBeGreaterThanOrEqual(15);
    expect([...emitted].filter((c) => !(c in ERROR_CODES)), "emitted but not documented").toEqual([]);
  });
});
