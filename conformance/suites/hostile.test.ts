/**
 * Hostile and malformed input, property-based (fast-check) against the live gateway: random JSON,
 * wrong types, unicode-edge, empty and huge prompts, hostile session ids, identity-spoofing
 * headers, forged and broken JWTs, mangled paths and raw HTTP. Every case must get the right 4xx
 * with the JSON error shape (or, for an input that is valid after all, the normal answer); none a
 * 5xx, a hang (every request has a deadline) or a write into another user's session. Then the
 * secret-hygiene scan of everything captured: error bodies, headers, metrics, logs, run folder.
 * The expected answers follow the documented API contract (README, "Gateway API v1").
 */
import { createHmac } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { isSecretEnvName } from "../../images/contract.js";
import { findSecrets, secretNeedles } from "../../topology/secret-scan.js";
import { TARGET_ENV } from "../env.js";
import { api, claims, conformance, createSession, recordFigure, send, target, tokenFor, turnOf, user } from "../harness.js";
import { gatewayHost, rawExchange, rawRequest, type RawResponse } from "../raw-http.js";

/** The documented id and user-id contracts. */
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const USER_RE = /^(?!\s)(?!.*\s$)[^\p{Cc}\p{Cs}\p{Zl}\p{Zp}\uFFFD]{1,256}$/u;
const MAX_PROMPT = 100_000;
const MAX_PARAM = 4_096;
const LONE_SURROGATE = /\p{Cs}/u;
const STACK_TRACE = /\n\s+at .+:\d+:\d+|node_modules[\\/]|\.ts:\d+:\d+/;
const TIMEOUT_MS = 15_000;
const TURN_TIMEOUT_MS = 45_000;

let cases = 0;
/** Everything the gateway answered (status line, headers, body), for the secret-hygiene scan. */
const captured: string[] = [];
/** Every bearer token sent, valid or forged: none may show up in a log. */
const sentTokens = new Set<string>();

interface Actor {
  user: string;
  token: string;
  sessionId: string;
  turns: number;
  used: number;
}

/**
 * Requests one actor may make: under a per-user rate limit the attacker is replaced by a fresh
 * one before the limit, so that every answer is about the input, not about the limit.
 */
const budget = () => (claims("rate-limit") ? Math.max(5, (target().settings.rateLimitPerMinute ?? 0) - 5) : Number.POSITIVE_INFINITY);

async function newActor(name: string): Promise<Actor> {
  const u = user(`${name}${Math.random().toString(36).slice(2, 6)}`);
  const token = await tokenFor(u);
  sentTokens.add(token);
  return { user: u, token, sessionId: await createSession(u), turns: 0, used: 1 };
}

let attacker: Actor | undefined;
let victim: Actor;
const roomsServed = () => claims("rooms");

async function mallory(): Promise<Actor> {
  if (!attacker || attacker.used >= budget()) attacker = await newActor("mallory");
  attacker.used++;
  return attacker;
}

const auth = (token: string | undefined): Record<string, string> => (token === undefined ? {} : { authorization: `Bearer ${token}` });
const json = (extra: Record<string, string> = {}) => ({ "content-type": "application/json", ...extra });

function capture(r: RawResponse): RawResponse {
  captured.push(`${r.status}\n${JSON.stringify(r.headers)}\n${r.text}`);
  return r;
}

/** A JSON error with one of the expected statuses (and codes), no stack trace, and Retry-After on 429/503. */
function expectError(r: RawResponse, what: string, statuses: number[], codes?: string[]): void {
  cases++;
  capture(r);
  const shown = `${what} -> ${r.status} ${r.text.slice(0, 300)}`;
  expect(statuses, shown).toContain(r.status);
  const e = (r.json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  expect(typeof e?.code, `${shown}: the body must be {error:{code,message}}`).toBe("string");
  expect(typeof e?.message, shown).toBe("string");
  if (codes) expect(codes, shown).toContain(e!.code);
  expect(r.text, `${shown}: no stack trace`).not.toMatch(STACK_TRACE);
}

function expectOk(r: RawResponse, what: string, status = 200): void {
  cases++;
  capture(r);
  expect(r.status, `${what} -> ${r.status} ${r.text.slice(0, 300)}`).toBe(status);
}

beforeAll(async () => {
  victim = await newActor("victim");
  const r = await send(victim.user, victim.sessionId, "the victim's first message");
  expect(r.status).toBe(200);
  victim.turns = 1;
}, 120_000);

afterAll(() => {
  if (cases > 0) recordFigure("hostile inputs tried", cases, "cases", "property-based (fast-check) and fixed edge cases; each got the expected status and a JSON error");
});

// ---------------------------------------------------------------------------------------------
// Bodies

type Route = "message" | "create" | "chat" | "room";
const ROUTES: Route[] = ["message", "create", "chat", "room"];

async function postTo(route: Route, body: string, headers: Record<string, string>): Promise<{ r: RawResponse; actor: Actor }> {
  const actor = await mallory();
  const path = {
    message: `/v1/sessions/${actor.sessionId}/messages`,
    create: "/v1/sessions",
    chat: "/v1/chat",
    room: `/v1/rooms/hostile-room/messages`,
  }[route];
  const r = await rawRequest("POST", path, { headers: { ...auth(actor.token), ...headers }, body, timeoutMs: TIMEOUT_MS });
  return { r, actor };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
/** Limits count characters (code points), not UTF-16 units. */
const validPrompt = (p: unknown) => typeof p === "string" && p.length >= 1 && [...p].length <= MAX_PROMPT && !LONE_SURROGATE.test(p);
const validModel = (m: unknown) => typeof m === "string" && /^[\x21-\x7e]{1,200}$/.test(m);

/** Would the gateway accept this body on this route? (Such bodies are not hostile: filtered out.) */
function acceptable(route: Route, body: unknown): boolean {
  if (route === "create") {
    if (body === null) return true;
    if (!isObject(body)) return false;
    return (
      Object.keys(body).every((k) => k === "model" || k === "persistent") &&
      (body.model === undefined || validModel(body.model)) &&
      (body.persistent === undefined || typeof body.persistent === "boolean")
    );
  }
  return isObject(body) && validPrompt(body.prompt);
}

/**
 * A body the route must refuse: 400. Where rooms are not served the room route is 404, once the
 * body has parsed (a body that is not JSON fails first, with 400).
 */
function refusal(route: Route, parsed = true): { statuses: number[]; codes: string[] } {
  if (route === "room" && !roomsServed() && parsed) return { statuses: [404], codes: ["route_not_found"] };
  return { statuses: [400], codes: ["invalid_body", "invalid_json", "bad_request"] };
}

/**
 * JSON the gateway's parser refuses as prototype poisoning (Fastify's secure-json-parse): a
 * `__proto__` key anywhere, or a `constructor` key holding a `prototype`. It never parses, so 400.
 */
function poisoned(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
  if (own(value, "__proto__")) return true;
  const ctor = (value as Record<string, unknown>).constructor;
  if (own(value, "constructor") && typeof ctor === "object" && ctor !== null && own(ctor, "prototype")) return true;
  return Object.values(value).some(poisoned);
}

const wrongType = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
);

describe("hostile bodies", () => {
  conformance(["bad-input"], "random JSON, wrong types and broken JSON get 400 with a JSON error, and write nothing", async () => {
    // Random JSON documents, none of them a valid request for its route.
    await fc.assert(
      fc.asyncProperty(
        fc
          .record({ route: fc.constantFrom(...ROUTES), body: fc.jsonValue({ maxDepth: 3 }) })
          .filter(({ route, body }) => !acceptable(route, body)),
        async ({ route, body }) => {
          const { r } = await postTo(route, JSON.stringify(body), json());
          const expected = refusal(route, !poisoned(body));
          expectError(r, `${route} ${JSON.stringify(body).slice(0, 80)}`, expected.statuses, expected.codes);
        },
      ),
      { numRuns: 150 },
    );
    // The right keys with the wrong types.
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ route: fc.constantFrom<Route>("message", "chat", "room"), body: fc.record({ prompt: wrongType }) }),
          fc.record({
            route: fc.constant<Route>("create"),
            body: fc.oneof(
              fc.record({ model: fc.oneof(wrongType, fc.constant(""), fc.string({ unit: "binary", minLength: 1, maxLength: 20 })) }),
              fc.record({ persistent: fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.constant(null)) }),
              fc.tuple(fc.constantFrom("owner", "sessionId", "user", "serverId"), fc.string()).map(([key, value]) => ({ persistent: true, [key]: value })),
            ),
          }),
        ).filter(({ route, body }) => !acceptable(route, body)),
        async ({ route, body }) => {
          const { r } = await postTo(route, JSON.stringify(body), json());
          expectError(r, `${route} ${JSON.stringify(body).slice(0, 80)}`, refusal(route).statuses, refusal(route).codes);
        },
      ),
      { numRuns: 100 },
    );
    // Text that is not JSON at all, and prototype-poisoning JSON.
    const notJson = fc.oneof(
      fc.string({ maxLength: 200 }).filter((s) => {
        try {
          // A leading byte order mark may be ignored (RFC 8259 section 8.1), and the gateway does.
          JSON.parse(s.replace(/^\ufeff/, ""));
          return false;
        } catch {
          return true;
        }
      }),
      fc.constantFrom('{"prompt":', "{", "[", "NaN", "undefined", "{'prompt':'x'}", '{"prompt":"x",}', '{"__proto__":{"admin":true},"prompt":"x"}', '{"constructor":{"prototype":{"admin":true}},"prompt":"x"}', "\u0000", "\ufeff{"),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES), notJson, async (route, body) => {
        const { r } = await postTo(route, body, json());
        expectError(r, `${route} raw ${JSON.stringify(body).slice(0, 80)}`, refusal(route, false).statuses, refusal(route, false).codes);
      }),
      { numRuns: 100 },
    );
    // A valid body under a media type the API does not speak: 415 (or 400 for text, parsed as a string).
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Route>("message", "chat", "create"),
        fc.constantFrom("text/plain", "application/xml", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", "application/jsonx", "image/png", "application/octet-stream", "*/*"),
        async (route, type) => {
          const { r } = await postTo(route, JSON.stringify({ prompt: "hello" }), { "content-type": type });
          expectError(r, `${route} as ${type}`, [400, 415]);
        },
      ),
      { numRuns: 40 },
    );
    // Nothing above reached the CLI: the attacker's next turn is the first of its session.
    const a = await mallory();
    const next = await send(a.user, a.sessionId, "first real turn");
    expect(turnOf(next.body.content).turn).toBe(++a.turns);
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// Prompts

const EDGE_UNITS = ["\u0000", "\u0007", "\u202e", "\u200f", "\u200b", "\ufeff", "\ud800", "\udfff", "😀", "👩‍👩‍👧", "\u0301", "\r", "\n", "\t", "\\", '"', "</", "\u2028", "%00", "a", " "];

/** What the gateway must answer to this prompt in a JSON body. */
function promptOracle(prompt: string): 200 | 400 | 413 {
  if (Buffer.byteLength(JSON.stringify({ prompt })) > (target().settings.bodyLimitBytes ?? 256 * 1024)) return 413;
  return validPrompt(prompt) ? 200 : 400;
}

async function sendPrompt(prompt: string, what: string): Promise<void> {
  const a = await mallory();
  const body = JSON.stringify({ prompt });
  const r = await rawRequest("POST", `/v1/sessions/${a.sessionId}/messages`, { headers: { ...auth(a.token), ...json() }, body, timeoutMs: TURN_TIMEOUT_MS });
  const expected = promptOracle(prompt);
  if (expected !== 200) {
    expectError(r, what, [expected], expected === 413 ? ["body_too_large"] : ["invalid_body"]);
    return;
  }
  expectOk(r, what);
  const reply = (r.json as { content: string }).content;
  // Exactly one turn per accepted prompt: refused ones wrote nothing.
  expect(turnOf(reply).turn, what).toBe(++a.turns);
  expect(reply, `${what}: no file content pulled into the conversation`).not.toContain("root:x:0:0");
}

describe("hostile prompts", () => {
  conformance(["bad-input"], "unicode-edge, empty and huge prompts: a real turn when valid, 400 or 413 when not, never a hang", async () => {
    const edge: [string, string][] = [
      ["empty", ""],
      ["only spaces", "   "],
      ["NUL", "a\u0000b"],
      ["lone high surrogate", "\ud800"],
      ["lone low surrogate inside text", "a\udc00b"],
      ["RTL override and marks", "\u202eevil\u200f txt.exe"],
      ["slash command", "/clear"],
      ["file mention", "@/etc/passwd"],
      ["shell escape", "!cat /etc/passwd"],
      ["100 000 characters (the limit)", "x".repeat(MAX_PROMPT)],
      ["100 001 characters", "x".repeat(MAX_PROMPT + 1)],
      ["60 000 four-byte emoji", "😀".repeat(60_000)],
      ["four-byte emoji past the body limit", "😀".repeat(70_000)],
      ["NULs escaped past the body limit", "\u0000".repeat(50_000)],
    ];
    for (const [what, prompt] of edge) await sendPrompt(prompt, what);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ unit: "grapheme", maxLength: 200 }),
          fc.string({ unit: "binary", maxLength: 200 }),
          fc.string({ unit: fc.constantFrom(...EDGE_UNITS), maxLength: 300 }),
        ),
        async (prompt) => sendPrompt(prompt, `prompt ${JSON.stringify(prompt).slice(0, 80)}`),
      ),
      { numRuns: 30 },
    );
  }, 240_000);
});

// ---------------------------------------------------------------------------------------------
// Session ids

type Verb = "GET" | "DELETE" | "POST" | "POST-SSE";
const VERBS: Verb[] = ["GET", "DELETE", "POST", "POST-SSE"];

function sessionRequest(verb: Verb, segment: string, headers: Record<string, string>) {
  if (verb === "GET" || verb === "DELETE") return rawRequest(verb, `/v1/sessions/${segment}`, { headers, timeoutMs: TIMEOUT_MS });
  const sse: Record<string, string> = verb === "POST-SSE" ? { accept: "text/event-stream" } : {};
  return rawRequest("POST", `/v1/sessions/${segment}/messages`, { headers: { ...headers, ...json(sse) }, body: JSON.stringify({ prompt: "let me in" }), timeoutMs: TIMEOUT_MS });
}

/** A path segment as sent: well-formed ids are 404 unless they are the caller's, the rest 400 (414 when too long). */
function idOracle(segment: string): { statuses: number[]; codes: string[] } {
  if (segment.length > MAX_PARAM) return { statuses: [414], codes: ["uri_too_long"] };
  let id: string;
  try {
    id = decodeURIComponent(segment);
  } catch {
    return { statuses: [400], codes: ["invalid_url"] };
  }
  return ID_RE.test(id) ? { statuses: [404], codes: ["not_found"] } : { statuses: [400], codes: ["invalid_session_id"] };
}

describe("hostile session ids", () => {
  conformance(["bad-input", "session-isolation"], "traversal, NUL, reserved, encoded and over-long session ids get 400 (404 when well-formed) on every verb", async () => {
    const v = victim.sessionId;
    // The victim's own id, and ways to spell it: each is the attacker's 404, exactly like a missing session.
    const victims = [v, v.toUpperCase(), `${v}.`, `%73${v.slice(1)}`, `${v}%00`, `${v}%2F..`, `..%2F${v}`, `${v}%20`];
    const fixed = [
      ...victims,
      ".", "..", "...", "con", "CON", "nul", "aux", "com1", "lpt1", "prn", "%2e", "%2e%2e", "%2E%2E%2F", "..%2F..%2Fetc%2Fpasswd", "%2F", "a%2Fb", "a%5Cb",
      "%00", "a%00b", "%C0%AE%C0%AE", "%ZZ", "%", "~root", "*", "%20", "-", "_", ".hidden", "a;b", "a%3Bb", "%E2%80%AE",
    ];
    const segment = fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...fixed) },
      { weight: 3, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 200 }).map(encodeURIComponent) },
      { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/) },
      { weight: 1, arbitrary: fc.integer({ min: 129, max: MAX_PARAM }).map((n) => "a".repeat(n)) },
      { weight: 1, arbitrary: fc.integer({ min: MAX_PARAM + 1, max: 12_000 }).map((n) => "s".repeat(n)) },
    );
    await fc.assert(
      fc.asyncProperty(segment, fc.constantFrom(...VERBS), async (seg, verb) => {
        const a = await mallory();
        const r = await sessionRequest(verb, seg, auth(a.token));
        const { statuses, codes } = idOracle(seg);
        expectError(r, `${verb} ${seg.slice(0, 80)}`, statuses, codes);
        expect(r.headers["x-copilot-server"], "no CLI server was touched").toBeUndefined();
      }),
      { numRuns: 200, examples: victims.flatMap((s) => VERBS.map((verb) => [s, verb] as [string, Verb])) },
    );
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// Identity

const SPOOF_HEADERS = [
  "x-user-id", "x-user", "x-forwarded-user", "x-remote-user", "remote-user", "x-auth-request-user", "x-auth-request-email",
  "x-forwarded-email", "x-forwarded-preferred-username", "x-ms-client-principal-name", "x-ms-client-principal-id",
  "x-goog-authenticated-user-email", "x-amzn-oidc-identity", "x-authenticated-userid", "x-consumer-username", "x-webauth-user",
  "x-original-user", "x-impersonate-user", "impersonate-user", "x-copilot-user", "x-jwt-sub", "forwarded", "x-forwarded-for",
  "x-real-ip", "x-original-url", "x-rewrite-url", "x-http-method-override", "x-method-override",
];

function spoofValue(header: string): string {
  const v = victim;
  if (header === "forwarded") return `for=127.0.0.1;by=${v.user};user=${v.user}`;
  if (header === "x-forwarded-for" || header === "x-real-ip") return "127.0.0.1";
  if (header === "x-original-url" || header === "x-rewrite-url") return `/v1/sessions/${v.sessionId}`;
  if (header.includes("method")) return "DELETE";
  return v.user;
}

describe("identity spoofing", () => {
  conformance(["bad-input", "session-isolation"], "identity-spoofing headers are ignored: the token alone says who you are", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.subarray(SPOOF_HEADERS, { minLength: 1, maxLength: 6 }),
        fc.constantFrom<Verb | "LIST">("GET", "DELETE", "POST", "LIST"),
        fc.boolean(),
        async (names, verb, withToken) => {
          const a = await mallory();
          const spoof = Object.fromEntries(names.map((h) => [h, spoofValue(h)]));
          const headers = { ...spoof, ...(withToken ? auth(a.token) : {}) };
          const what = `${verb} ${withToken ? "as mallory" : "without a token"} with ${names.join(", ")}`;
          if (verb === "LIST") {
            const r = await rawRequest("GET", "/v1/sessions", { headers, timeoutMs: TIMEOUT_MS });
            if (!withToken) return expectError(r, what, [401], ["unauthorized"]);
            expectOk(r, what);
            const ids = (r.json as { sessions: { sessionId: string }[] }).sessions.map((s) => s.sessionId);
            expect(ids, what).not.toContain(victim.sessionId);
            return;
          }
          const r = await sessionRequest(verb, victim.sessionId, headers);
          if (!withToken) return expectError(r, what, [401], ["unauthorized"]);
          expectError(r, what, [404], ["not_found"]);
        },
      ),
      { numRuns: 100 },
    );
  }, 120_000);
});

const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
function hmacJwt(header: Record<string, unknown>, payload: Record<string, unknown>, key: string | Buffer, alg: "HS256" | "HS512" = "HS256"): string {
  const signing = `${b64({ alg, typ: "JWT", ...header })}.${b64(payload)}`;
  return `${signing}.${createHmac(alg === "HS256" ? "sha256" : "sha512", key).update(signing).digest("base64url")}`;
}

type TokenCase = { kind: string; header: string; expect: 200 | 401 };

/** Tokens that must be refused (and two controls that must pass, so the forging itself is known good). */
function tokenCases(): fc.Arbitrary<TokenCase> {
  const t = target();
  const secret = t.auth.kind === "jwt-hs256" ? t.auth.secret : undefined;
  const { issuer, audience } = t.auth.kind === "jwt-hs256" ? t.auth : { issuer: undefined, audience: undefined };
  const now = Math.floor(Date.now() / 1000);
  const base = () => ({ sub: victim.user, iat: now, exp: now + 3600, ...(issuer ? { iss: issuer } : {}), ...(audience ? { aud: audience } : {}) });
  const bearer = (token: string) => `Bearer ${token}`;
  const refused = (kind: string, token: string): TokenCase => ({ kind, header: bearer(token), expect: 401 });
  const forged: fc.Arbitrary<TokenCase>[] = [
    fc.constantFrom("none", "None", "NONE", "nOnE").map((alg) => refused(`alg:${alg}`, `${b64({ alg, typ: "JWT" })}.${b64(base())}.`)),
    fc.uint8Array({ minLength: 32, maxLength: 64 }).map((k) => refused("wrong key", hmacJwt({}, base(), Buffer.from(k)))),
    fc.uint8Array({ minLength: 32, maxLength: 64 }).map((k) => refused("wrong key with jku/kid headers", hmacJwt({ kid: "../../../dev/null", jku: "http://attacker.invalid/jwks" }, base(), Buffer.from(k)))),
    fc.stringMatching(/^[\x21-\x7e]{1,300}$/).map((s) => refused("garbage", s)),
    fc.tuple(fc.base64String(), fc.base64String(), fc.base64String()).map(([a, b, c]) => refused("three random segments", `${a}.${b}.${c}`)),
    fc.constantFrom("Basic YWxpY2U6cGFzcw==", "Bearer", "Bearer ", "Token abc", "Bearer a b", "bearer", "Digest x").map((header) => ({ kind: "scheme", header, expect: 401 as const })),
  ];
  if (secret) {
    forged.push(
      // Past the largest clock tolerance a gateway may be configured with (auth.clockToleranceSeconds <= 300):
      // a token expired a second ago is still valid within the tolerance, as JWT verifiers do.
      fc.integer({ min: 301, max: 1_000_000 }).map((ago) => refused("expired", hmacJwt({}, { ...base(), exp: now - ago }, secret))),
      fc.integer({ min: 301, max: 1_000_000 }).map((ahead) => refused("not yet valid", hmacJwt({}, { ...base(), nbf: now + ahead }, secret))),
      fc.constant(refused("HS512 with the right key", hmacJwt({}, base(), secret, "HS512"))),
      fc.constant(refused("unknown crit header", hmacJwt({ crit: ["x-evil"], "x-evil": 1 }, base(), secret))),
      fc.constant(refused("missing sub", hmacJwt({}, (({ sub: _s, ...rest }) => rest)(base()), secret))),
      fc.oneof(fc.integer(), fc.constant(""), fc.constant(null), fc.array(fc.string(), { maxLength: 2 }), fc.object({ maxDepth: 1 })).map((sub) => refused("sub of the wrong type", hmacJwt({}, { ...base(), sub }, secret))),
      fc
        .string({ unit: "binary", minLength: 1, maxLength: 140 })
        .filter((sub) => sub !== victim.user)
        .map((sub) => ({
          kind: "sub with odd characters",
          header: bearer(hmacJwt({}, { ...base(), sub }, secret)),
          // A well-formed user id is simply another user, with an empty session list.
          expect: USER_RE.test(sub) ? (200 as const) : (401 as const),
        })),
      fc.constant(null).map(() => {
        // Mallory's genuine token with the payload swapped for the victim's: the signature no longer matches.
        const [h, , sig] = attacker!.token.split(".");
        return refused("payload swapped under a valid signature", `${h}.${b64(base())}.${sig}`);
      }),
      fc.string({ minLength: 8_000, maxLength: 8_000 }).map((pad) => refused("huge, wrong key", hmacJwt({}, { ...base(), pad }, "k".repeat(40)))),
      fc.constant(null).map(() => ({ kind: "control: a well-formed token for a fresh user", header: bearer(hmacJwt({}, { ...base(), sub: user("fresh") }, secret)), expect: 200 as const })),
      fc.constant(null).map(() => ({ kind: "control: lower-case scheme", header: `bearer ${attacker!.token}`, expect: 200 as const })),
    );
    forged.push(
      issuer
        ? fc.constant(refused("wrong issuer", hmacJwt({}, { ...base(), iss: `${issuer}.evil` }, secret)))
        : fc.constant(null).map(() => ({ kind: "issuer not configured: any issuer", header: bearer(hmacJwt({}, { ...base(), sub: user("iss"), iss: "https://elsewhere.invalid" }, secret)), expect: 200 as const })),
      audience
        ? fc.constant(refused("wrong audience", hmacJwt({}, { ...base(), aud: `${audience}-evil` }, secret)))
        : fc.constant(null).map(() => ({ kind: "audience not configured: any audience", header: bearer(hmacJwt({}, { ...base(), sub: user("aud"), aud: "elsewhere" }, secret)), expect: 200 as const })),
    );
  }
  return fc.oneof(...forged);
}

describe("tokens", () => {
  conformance(["bad-input", "session-isolation"], "expired, alg:none, wrong-key, sub-less and tampered JWTs get 401, even when they name another user", async () => {
    await mallory();
    await fc.assert(
      fc.asyncProperty(tokenCases(), fc.constantFrom<"LIST" | Verb>("LIST", "GET", "POST"), async (c, verb) => {
        const token = c.header.replace(/^\S+\s*/, "");
        if (token.length >= 12) sentTokens.add(token);
        const headers = { authorization: c.header };
        const r = verb === "LIST" ? await rawRequest("GET", "/v1/sessions", { headers, timeoutMs: TIMEOUT_MS }) : await sessionRequest(verb, victim.sessionId, headers);
        const what = `${c.kind} on ${verb}`;
        if (c.expect === 401) {
          expectError(r, what, [401], ["unauthorized"]);
          expect(r.headers["www-authenticate"], what).toMatch(/^Bearer /);
        } else if (verb === "LIST") {
          expectOk(r, what);
          const ids = (r.json as { sessions: { sessionId: string }[] }).sessions.map((s) => s.sessionId);
          expect(ids, what).not.toContain(victim.sessionId);
        } else {
          // A genuine token of someone else: the victim's session is not theirs.
          expectError(r, what, [404], ["not_found"]);
        }
      }),
      { numRuns: 200 },
    );
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// Paths, methods and raw HTTP

const PATHS = () => ["/v1/sessions", `/v1/sessions/${victim.sessionId}`, `/v1/sessions/${victim.sessionId}/messages`, "/v1/chat", "/v1/rooms/r1/messages"];
const MUTATIONS: [string, (p: string) => string][] = [
  ["as is", (p) => p],
  ["upper-case V1", (p) => p.replace("/v1/", "/V1/")],
  ["leading double slash", (p) => `/${p}`],
  ["inner double slash", (p) => p.replace("/v1/", "/v1//")],
  ["trailing slash", (p) => `${p}/`],
  ["dot segment", (p) => p.replace("/v1/", "/v1/./")],
  ["dot-dot segment", (p) => p.replace("/v1/", "/x/../v1/")],
  ["encoded slash", (p) => p.replace("/v1/", "/v1%2F")],
  ["encoded unreserved", (p) => p.replace("/v1/", "/%76%31/")],
  ["encoded first letter", (p) => p.replace("/v1/s", "/v1/%73")],
  ["query", (p) => `${p}?user=admin&debug=1`],
  ["matrix parameter", (p) => `${p};jsessionid=1`],
  ["fragment", (p) => `${p}#x`],
  ["backslash", (p) => p.replace("/v1/", "/v1\\")],
];

describe("paths and raw HTTP", () => {
  conformance(["bad-input"], "mangled paths and odd methods without a token never get past authentication", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...PATHS()),
        fc.constantFrom(...MUTATIONS),
        fc.constantFrom("GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "PROPFIND", "TRACE"),
        async (path, [mutation, mutate], method) => {
          const p = mutate(path);
          const body = method === "POST" || method === "PUT" || method === "PATCH" ? JSON.stringify({ prompt: "x" }) : undefined;
          const r = await rawRequest(method, p, { headers: body ? json() : {}, body, timeoutMs: TIMEOUT_MS });
          expectError(r, `${method} ${p} (${mutation})`, [400, 401, 404, 405]);
        },
      ),
      { numRuns: 120 },
    );
  }, 120_000);

  conformance(["bad-input"], "raw HTTP: absolute-form targets, NUL and spaces in the path, oversized headers, CONNECT, smuggling, garbage", async () => {
    const a = await mallory();
    const host = gatewayHost();
    const req = (line: string, headers: string[] = []) => [line, `Host: ${host}`, "Connection: close", ...headers, "", ""].join("\r\n");
    const cases: [string, string, number[]][] = [
      ["absolute-form target without a token", req(`GET http://${host}/v1/sessions HTTP/1.1`), [401]],
      ["absolute-form target to another user's session", req(`GET http://${host}/v1/sessions/${victim.sessionId} HTTP/1.1`, [`Authorization: Bearer ${a.token}`]), [404]],
      ["NUL in the path", req(`GET /v1/sessions/a\u0000b HTTP/1.1`, [`Authorization: Bearer ${a.token}`]), [400]],
      ["space in the path", req(`GET /v1/sessions/a b HTTP/1.1`, [`Authorization: Bearer ${a.token}`]), [400]],
      ["NUL in a header value", req("GET /v1/sessions HTTP/1.1", [`Authorization: Bearer ${a.token}`, "X-User-Id: a\u0000b"]), [400]],
      ["request line over the header limit", req(`GET /v1/sessions/${"a".repeat(20_000)} HTTP/1.1`), [431]],
      ["32 KiB header", req("GET /v1/sessions HTTP/1.1", [`X-Pad: ${"p".repeat(32_768)}`]), [431]],
      ["CONNECT", req("CONNECT 127.0.0.1:22 HTTP/1.1"), [405]],
      ["not HTTP at all", "GARBAGE\r\n\r\n", [400]],
      ["Content-Length and Transfer-Encoding together", req("POST /v1/sessions HTTP/1.1", [`Authorization: Bearer ${a.token}`, "Content-Type: application/json", "Transfer-Encoding: chunked", "Content-Length: 2"]) + "{}", [400]],
      ["two Content-Length headers", req("POST /v1/sessions HTTP/1.1", [`Authorization: Bearer ${a.token}`, "Content-Type: application/json", "Content-Length: 2", "Content-Length: 3"]) + "{}", [400]],
      // llhttp reads a request line without a version leniently: then it is a request without a token.
      ["request line without a version", "GET /v1/sessions\r\n\r\n", [400, 401]],
    ];
    for (const [what, data, statuses] of cases) {
      a.used++;
      const r = await rawExchange(data, TIMEOUT_MS);
      expectError(r, what, statuses);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Isolation and secrets

describe("after the attack", () => {
  conformance(["session-isolation"], "nothing was written into the victim's session", async () => {
    const list = await api<{ sessions: { sessionId: string }[] }>("GET", "/v1/sessions", { user: victim.user });
    expect(list.body.sessions.map((s) => s.sessionId)).toEqual([victim.sessionId]);
    const next = await send(victim.user, victim.sessionId, "the victim again");
    expect(next.status).toBe(200);
    expect(turnOf(next.body.content), "the victim's history holds only the victim's own turn").toEqual({ turn: victim.turns + 1, prompt: "the victim again" });
  });

  /** Every secret the deployment holds, as far as the target shows them, plus the tokens sent. */
  function knownSecrets(): string[] {
    const t = target(true);
    let fromProcesses = 0;
    const values = [
      ...(t.auth.kind === "jwt-hs256" ? [t.auth.secret] : Object.values(t.auth.tokens)),
      ...t.servers.map((s) => s.connectionToken),
      ...sentTokens,
    ];
    // Local platform: the secrets each process was actually started with (Redis password, provider key…).
    for (const pid of [...(t.gateways ?? []).map((g) => g.pid), ...t.servers.map((s) => s.pid)]) {
      if (pid === undefined) continue;
      try {
        for (const entry of readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")) {
          const i = entry.indexOf("=");
          if (i > 0 && isSecretEnvName(entry.slice(0, i))) {
            values.push(entry.slice(i + 1));
            fromProcesses++;
          }
        }
      } catch {
        // not on this machine, or the process restarted meanwhile
      }
    }
    // Not vacuous: on the local platform the gateway's own secrets (its JWT secret at least) were read.
    if (t.local && t.gateways?.length) expect(fromProcesses, "secrets read from the local processes' environments").toBeGreaterThan(0);
    return secretNeedles(values);
  }

  conformance(["bad-input", "metrics"], "no secret or token in any error body, response header or metrics label", async () => {
    const needles = knownSecrets();
    expect(needles.length, "secrets to look for").toBeGreaterThanOrEqual(2);
    // Not vacuous: the attacks above captured what they got back (a filter that skipped them leaves nothing to scan).
    expect(captured.length, "responses captured by the attacks above").toBeGreaterThan(0);
    const metrics = await api("GET", "/metrics", { admin: true });
    expect(metrics.status).toBe(200);
    const found = [
      ...captured.flatMap((text, i) => findSecrets(text, needles, `response #${i}`)),
      ...findSecrets(metrics.text, needles, "/metrics"),
    ];
    expect(found).toEqual([]);
    // Labels carry no user ids either (bounded cardinality, no personal data).
    const users = [victim.user, ...(attacker ? [attacker.user] : [])];
    expect(users.filter((u) => metrics.text.includes(u))).toEqual([]);
    recordFigure("responses scanned for secrets", captured.length + 1, "responses");
  });

  conformance(["process-control"], "no secret or token in the platform's logs or anywhere in its run folder", async () => {
    const t = target(true);
    const runDir = t.local?.runDir;
    expect(runDir, "a local target names its run folder").toBeTruthy();
    const needles = knownSecrets();
    // The spawner's registry hands tokens to the platform, like the target file itself (both 0600).
    const handoff = new Set(["spawned-servers.json"]);
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) {
          // The CLI's unpacked package cache: its own binaries, not written by this deployment.
          if (e.name !== ".cache") walk(p);
        } else if (e.isFile() && !handoff.has(e.name)) files.push(p);
      }
    };
    walk(runDir!);
    const supervisorLog = `${process.env[TARGET_ENV]}.supervisor.log`;
    if (existsSync(supervisorLog)) files.push(supervisorLog);
    let bytes = 0;
    const found: string[] = [];
    for (const f of files) {
      if (statSync(f).size > 64 * 1024 * 1024) continue;
      const text = readFileSync(f, "latin1");
      bytes += text.length;
      found.push(...findSecrets(text, needles, f.slice(runDir!.length + 1)));
    }
    expect(files.some((f) => /gateway-\d+\.log$/.test(f)), "the gateway logs were scanned").toBe(true);
    expect(bytes).toBeGreaterThan(0);
    expect(found).toEqual([]);
    recordFigure("run-folder bytes scanned for secrets", bytes, "bytes", `${files.length} files: gateway, CLI, platform and Redis logs, CLI homes, store`);
  });
});
