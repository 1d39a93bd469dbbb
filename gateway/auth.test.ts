import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { jwtAuthenticator, staticAuthenticator } from "./auth.js";
import { statusOf } from "../testing/error-status.js";

const secret = "s".repeat(40);
const key = new TextEncoder().encode(secret);
const limits = { maxLifetimeSeconds: 3600, clockToleranceSeconds: 30 };
const auth = jwtAuthenticator({ secret, roomsClaim: "rooms", ...limits });
const sign = (claims: Record<string, unknown>, opts: { sub?: string; exp?: number | string; alg?: string } = {}) => {
  let j = new SignJWT(claims).setProtectedHeader({ alg: opts.alg ?? "HS256" }).setIssuedAt();
  if (opts.sub !== undefined) j = j.setSubject(opts.sub);
  j = j.setExpirationTime(opts.exp ?? "1h");
  return j.sign(key);
};
const status = statusOf;

describe("jwt authenticator", () => {
  it("takes the user from sub and rooms from the rooms claim", async () => {
    const p = await auth.authenticate(`Bearer ${await sign({ rooms: ["a", "b", 3] }, { sub: "alice" })}`);
    expect(p).toEqual({ user: "alice", rooms: ["a", "b"] });
    expect((await auth.authenticate(`Bearer ${await sign({ rooms: "*" }, { sub: "bob" })}`)).rooms).toBe("*");
  });

  it("rejects missing, malformed, expired, unsigned, sub-less and wrong-key tokens with 401", async () => {
    const none = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from('{"sub":"alice"}').toString("base64url")}.`;
    const wrongKey = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").setExpirationTime("1h").sign(new TextEncoder().encode("k".repeat(40)));
    const cases = [
      undefined,
      "Basic abc",
      "Bearer",
      "Bearer not.a.jwt",
      `Bearer ${none}`,
      `Bearer ${wrongKey}`,
      `Bearer ${await sign({}, { sub: "alice", exp: Math.floor(Date.now() / 1000) - 120 })}`,
      `Bearer ${await sign({})}`,
      `Bearer ${await sign({}, { sub: "line\nbreak" })}`,
      `Bearer ${await sign({}, { sub: "nul\u0000byte" })}`,
      `Bearer ${await sign({}, { sub: " padded" })}`,
      `Bearer ${await sign({}, { sub: "x".repeat(257) })}`,
    ];
    for (const header of cases) expect(await status(auth.authenticate(header)), String(header)).toBe(401);
  });

  it("accepts any id a provider issues: e-mail, provider|subject, unicode, even path-like (ids never name paths)", async () => {
    for (const sub of ["pat@example.com", "auth0|5f7c8ec7", "zoë ünïcødé", "用户", "../etc", "x".repeat(256)]) {
      expect((await auth.authenticate(`Bearer ${await sign({}, { sub })}`)).user).toBe(sub);
    }
  });
});

describe("token lifetime", () => {
  const now = Math.floor(Date.now() / 1000);
  const raw = (claims: Record<string, unknown>) => new SignJWT({ sub: "alice", ...claims }).setProtectedHeader({ alg: "HS256" }).sign(key);
  const cases: [string, Record<string, unknown>, number][] = [
    ["control: within the maximum", { iat: now, exp: now + 3600 }, 200],
    ["control: iat within the clock tolerance", { iat: now + 20, exp: now + 600 }, 200],
    ["no exp", { iat: now }, 401],
    ["no iat", { exp: now + 60 }, 401],
    ["exp beyond the maximum lifetime", { iat: now, exp: now + 3601 }, 401],
    ["iat older than the maximum lifetime", { iat: now - 7200, exp: now + 60 }, 401],
    ["iat in the future", { iat: now + 300, exp: now + 600 }, 401],
    ["nbf in the future", { iat: now, nbf: now + 300, exp: now + 600 }, 401],
  ];
  it.each(cases)("%s", async (_what, claims, want) => {
    expect(await status(auth.authenticate(`Bearer ${await raw(claims)}`))).toBe(want);
  });

  it("negative control: with the limits off the same tokens pass", async () => {
    const open = jwtAuthenticator({ secret, roomsClaim: "rooms", ...limits, unsafeNoLifetimeLimit: true });
    for (const claims of [{ iat: now }, { iat: now, exp: now + 10 * 365 * 86400 }, { iat: now + 300, exp: now + 600 }]) {
      expect(await status(open.authenticate(`Bearer ${await raw(claims)}`)), JSON.stringify(claims)).toBe(200);
    }
  });
});

describe("static authenticator", () => {
  const s = staticAuthenticator({ alice: "alice-token-0123456789", bob: "bob-token-0123456789xx" });
  it("maps a known token to its user and rejects others", async () => {
    expect((await s.authenticate("Bearer bob-token-0123456789xx")).user).toBe("bob");
    expect(await status(s.authenticate("Bearer alice-token-012345678"))).toBe(401);
    expect(await status(s.authenticate(undefined))).toBe(401);
  });
});
