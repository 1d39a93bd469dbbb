/**
 * Bearer authentication: JWTs verified with jose (OIDC: RS256/ES256 against the issuer's JWKS; or
 * HS256 with a shared secret, for development and tests), or static per-user tokens.
 */
import { timingSafeEqual } from "node:crypto";
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from "jose";
import { unauthorized, unavailable } from "./errors.js";

export interface Principal {
  user: string;
  /** Rooms this user may post to; "*" means every room. */
  rooms: string[] | "*";
}

export interface Authenticator {
  authenticate(authorization: string | undefined): Promise<Principal>;
}

/**
 * Any user id an identity provider issues (e-mail addresses, opaque or `provider|id` subjects,
 * unicode names): 1-256 characters, no control or line-separator characters, no surrounding
 * space, no U+FFFD (a sign the id was mangled in decoding). Ids never reach names or labels: those
 * use a keyed hash of them.
 */
const USER_RE = /^(?!\s)(?!.*\s$)[^\p{Cc}\p{Cs}\p{Zl}\p{Zp}\uFFFD]{1,256}$/u;

function bearer(header: string | undefined): string {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  if (!m) throw unauthorized();
  return m[1]!;
}

function roomsFrom(value: unknown): string[] | "*" {
  if (value === "*") return "*";
  if (Array.isArray(value)) return value.filter((r): r is string => typeof r === "string");
  return [];
}

/** What every JWT kind shares: the claims checked and the token-lifetime rule. */
export interface JwtRules {
  issuer?: string;
  audience?: string;
  roomsClaim: string;
  /** Claim that names the user; `sub` unless the provider's subject is opaque (e.g. `email`, `preferred_username`). */
  userClaim?: string;
  /** A token must carry `exp` and `iat`, and live no longer than this from `iat` to `exp`. */
  maxLifetimeSeconds: number;
  /** Clock skew allowed on `exp`, `nbf` and `iat` (a token issued further in the future is refused). */
  clockToleranceSeconds: number;
  /** Test-only: accept tokens without `exp`/`iat` and of any lifetime, so conformance can prove it catches that. */
  unsafeNoLifetimeLimit?: boolean;
}

export interface JwtOptions extends JwtRules {
  secret: string;
}

/** One verifier for every key source, so the lifetime rule and the claim checks exist once. */
function verifyingAuthenticator(key: Uint8Array | JWTVerifyGetKey, algorithms: string[], opts: JwtRules): Authenticator {
  const limits = !opts.unsafeNoLifetimeLimit;
  const userClaim = opts.userClaim ?? "sub";
  return {
    async authenticate(header) {
      const token = bearer(header);
      try {
        const { payload } = await jwtVerify(token, key as JWTVerifyGetKey, {
          algorithms,
          issuer: opts.issuer,
          audience: opts.audience,
          requiredClaims: limits ? [userClaim, "exp", "iat"] : [userClaim],
          clockTolerance: opts.clockToleranceSeconds,
          // Refuses an `iat` older than the maximum lifetime, or in the future beyond the tolerance.
          maxTokenAge: limits ? opts.maxLifetimeSeconds : undefined,
        });
        if (limits && payload.exp! - payload.iat! > opts.maxLifetimeSeconds) {
          throw unauthorized(`token lifetime (exp - iat) exceeds the maximum of ${opts.maxLifetimeSeconds} s`);
        }
        const user = payload[userClaim];
        if (typeof user !== "string" || !USER_RE.test(user)) throw unauthorized(`token claim ${userClaim} is not a valid user id`);
        return { user, rooms: roomsFrom(payload[opts.roomsClaim]) };
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired) throw unauthorized("token expired");
        if (err instanceof joseErrors.JWTClaimValidationFailed) throw unauthorized(`invalid token: ${err.message}`);
        // Includes JWKSNoMatchingKey (unknown kid after a refresh) and JWKS fetch failures.
        if (err instanceof joseErrors.JOSEError) throw unauthorized("invalid token");
        throw err;
      }
    },
  };
}

/** HS256 with a shared secret: for development and tests (whoever holds the secret can be any user). */
export function jwtAuthenticator(opts: JwtOptions): Authenticator {
  return verifyingAuthenticator(new TextEncoder().encode(opts.secret), ["HS256"], opts);
}

export interface OidcOptions extends JwtRules {
  issuer: string;
  audience: string;
  /** The issuer's JWKS; found through its discovery document when omitted. */
  jwksUri?: string;
  algorithms: string[];
  /** A refetch of the JWKS (e.g. for an unknown `kid`) happens at most this often. */
  jwksCooldownSeconds?: number;
}

/** Resolves the JWKS address from `<issuer>/.well-known/openid-configuration` once, on first use. */
async function discoverJwksUri(issuer: string): Promise<string> {
  const url = `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`OIDC discovery ${url} answered ${res.status}`);
  const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
  if (doc.issuer !== issuer) throw new Error(`OIDC discovery ${url} names issuer ${String(doc.issuer)}, not ${issuer}`);
  if (typeof doc.jwks_uri !== "string") throw new Error(`OIDC discovery ${url} has no jwks_uri`);
  return doc.jwks_uri;
}

/**
 * OIDC: tokens signed by the issuer's keys. jose's remote JWKS caches the key set and refetches it
 * when a token names a `kid` it does not hold (rate-limited by the cooldown), so a rotated signing key
 * is accepted without a restart.
 */
export function oidcAuthenticator(opts: OidcOptions): Authenticator {
  let keys: Promise<JWTVerifyGetKey> | undefined;
  const remote = (uri: string) =>
    createRemoteJWKSet(new URL(uri), { cooldownDuration: (opts.jwksCooldownSeconds ?? 30) * 1000, timeoutDuration: 5000 });
  const getKey: JWTVerifyGetKey = async (protectedHeader, token) => {
    keys ??= (opts.jwksUri ? Promise.resolve(opts.jwksUri) : discoverJwksUri(opts.issuer)).then(remote);
    try {
      return await (await keys)(protectedHeader, token);
    } catch (err) {
      // An unknown kid or a malformed key set is the token's fault; an issuer we cannot reach is ours.
      if (err instanceof joseErrors.JOSEError && !(err instanceof joseErrors.JWKSTimeout)) throw err;
      keys = undefined; // discovery and the key set are retried on the next request
      throw unavailable("issuer_unavailable", `cannot reach the token issuer: ${(err as Error).message}`);
    }
  };
  return verifyingAuthenticator(getKey, opts.algorithms, opts);
}

/** Static tokens: `{ user: token }`. Every room is open to every static user (use JWTs for room claims). */
export function staticAuthenticator(tokens: Record<string, string>): Authenticator {
  const entries = Object.entries(tokens).map(([user, token]) => ({ user, token: Buffer.from(token) }));
  return {
    async authenticate(header) {
      const given = Buffer.from(bearer(header));
      for (const e of entries) {
        if (e.token.length === given.length && timingSafeEqual(e.token, given)) return { user: e.user, rooms: "*" };
      }
      throw unauthorized("invalid token");
    },
  };
}
