/**
 * OIDC authenticator against an issuer served on loopback (discovery document + JWKS): the user from
 * a configurable claim, iss/aud/exp/lifetime rules, and a rotated key accepted without a restart.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { oidcAuthenticator } from "./auth.js";
import { ApiError } from "./errors.js";
import { statusOf } from "../testing/error-status.js";

interface SigningKey {
  kid: string;
  alg: "RS256" | "ES256";
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(kid: string, alg: "RS256" | "ES256"): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

let server: Server;
let issuer = "";
let published: SigningKey[] = [];
let jwksFetches = 0;
const audience = "copilot-gateway";

beforeAll(async () => {
  server = createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    if (req.url === "/.well-known/openid-configuration") return res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/keys` }));
    if (req.url === "/keys") {
      jwksFetches++;
      return res.end(JSON.stringify({ keys: published.map((k) => k.jwk) }));
    }
    res.statusCode = 404;
    res.end("{}");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const status = statusOf;

function token(key: SigningKey, claims: Record<string, unknown>, o: { iss?: string; aud?: string; exp?: number | null; iat?: number } = {}) {
  const now = Math.floor(Date.now() / 1000);
  let j = new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid })
    .setIssuer(o.iss ?? issuer)
    .setAudience(o.aud ?? audience)
    .setIssuedAt(o.iat ?? now);
  if (o.exp !== null) j = j.setExpirationTime(o.exp ?? now + 600);
  return j.sign(key.privateKey);
}

describe("oidc authenticator", () => {
  it("verifies RS256 and ES256 tokens from the issuer's JWKS, the user from the configured claim", async () => {
    const rsa = await signingKey("rsa-1", "RS256");
    const ec = await signingKey("ec-1", "ES256");
    published = [rsa, ec];
    const auth = oidcAuthenticator({ issuer, audience, algorithms: ["RS256", "ES256"], userClaim: "email", roomsClaim: "groups", maxLifetimeSeconds: 3600, clockToleranceSeconds: 30 });
    expect(await auth.authenticate(`Bearer ${await token(rsa, { sub: "opaque-1", email: "alice@example.com", groups: ["r1"] })}`)).toEqual({ user: "alice@example.com", rooms: ["r1"] });
    expect((await auth.authenticate(`Bearer ${await token(ec, { sub: "opaque-2", email: "bob@example.com" })}`)).user).toBe("bob@example.com");
    // The configured claim missing is 401, even with a valid sub.
    expect(await status(auth.authenticate(`Bearer ${await token(ec, { sub: "opaque-2" })}`))).toBe(401);
  });

  it("refuses a wrong aud, a wrong iss, no exp, a lifetime past the maximum, an expired token and an unknown key with 401", async () => {
    const key = await signingKey("k-1", "ES256");
    const stranger = await signingKey("k-unknown", "ES256");
    published = [key];
    const auth = oidcAuthenticator({ issuer, audience, algorithms: ["RS256", "ES256"], roomsClaim: "rooms", maxLifetimeSeconds: 3600, clockToleranceSeconds: 30 });
    const now = Math.floor(Date.now() / 1000);
    expect(await status(auth.authenticate(`Bearer ${await token(key, { sub: "alice" })}`))).toBe(200); // the control
    const bad = {
      "wrong aud": await token(key, { sub: "alice" }, { aud: "another-client" }),
      "wrong iss": await token(key, { sub: "alice" }, { iss: "http://127.0.0.1:1/other" }),
      "no exp": await token(key, { sub: "alice" }, { exp: null }),
      "exp past max lifetime": await token(key, { sub: "alice" }, { exp: now + 7200 }),
      expired: await token(key, { sub: "alice" }, { iat: now - 1200, exp: now - 600 }),
      "unknown key": await token(stranger, { sub: "alice" }),
    };
    for (const [what, t] of Object.entries(bad)) expect([what, await status(auth.authenticate(`Bearer ${t}`))]).toEqual([what, 401]);
    // An HS256 token signed with a public JWK's bytes, or alg none, is never accepted.
    const none = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify({ sub: "alice", iss: issuer, aud: audience })).toString("base64url")}.`;
    expect(await status(auth.authenticate(`Bearer ${none}`))).toBe(401);
  });

  it("accepts a rotated signing key without a restart (the JWKS is refetched for an unknown kid)", async () => {
    const old = await signingKey("gen-1", "RS256");
    published = [old];
    const auth = oidcAuthenticator({ issuer, audience, algorithms: ["RS256"], roomsClaim: "rooms", maxLifetimeSeconds: 3600, clockToleranceSeconds: 30, jwksCooldownSeconds: 0 });
    expect((await auth.authenticate(`Bearer ${await token(old, { sub: "alice" })}`)).user).toBe("alice");
    const fetchesBefore = jwksFetches;
    const rotated = await signingKey("gen-2", "RS256");
    published = [rotated]; // the provider rotated and dropped the old key
    expect((await auth.authenticate(`Bearer ${await token(rotated, { sub: "bob" })}`)).user).toBe("bob");
    expect(jwksFetches).toBeGreaterThan(fetchesBefore);
    expect(await status(auth.authenticate(`Bearer ${await token(old, { sub: "alice" })}`))).toBe(401);
  });

  it("answers 503 issuer_unavailable (not 401, not 500) when the issuer cannot be reached", async () => {
    const key = await signingKey("k-2", "ES256");
    const auth = oidcAuthenticator({ issuer: "http://127.0.0.1:1", audience, algorithms: ["ES256"], roomsClaim: "rooms", maxLifetimeSeconds: 3600, clockToleranceSeconds: 30 });
    const t = await token(key, { sub: "alice" }, { iss: "http://127.0.0.1:1" });
    const err = await auth.authenticate(`Bearer ${t}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect([(err as ApiError).status, (err as ApiError).code]).toEqual([503, "issuer_unavailable"]);
  });
});
