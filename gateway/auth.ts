/** Bearer authentication: HS256 JWTs verified with jose, or static per-user tokens. The user id is `sub`. */
import { timingSafeEqual } from "node:crypto";
import { errors as joseErrors, jwtVerify } from "jose";
import { unauthorized } from "./errors.js";

export interface Principal {
  user: string;
  /** Rooms this user may post to; "*" means every room. */
  rooms: string[] | "*";
}

export interface Authenticator {
  authenticate(authorization: string | undefined): Promise<Principal>;
}

const USER_RE = /^[A-Za-z0-9][A-Za-z0-9@._-]{0,127}$/;

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

export interface JwtOptions {
  secret: string;
  issuer?: string;
  audience?: string;
  roomsClaim: string;
  /** A token must carry `exp` and `iat`, and live no longer than this from `iat` to `exp`. */
  maxLifetimeSeconds: number;
  /** Clock skew allowed on `exp`, `nbf` and `iat` (a token issued further in the future is refused). */
  clockToleranceSeconds: number;
  /** Test-only: accept tokens without `exp`/`iat` and of any lifetime, so conformance can prove it catches that. */
  unsafeNoLifetimeLimit?: boolean;
}

export function jwtAuthenticator(opts: JwtOptions): Authenticator {
  const key = new TextEncoder().encode(opts.secret);
  const limits = !opts.unsafeNoLifetimeLimit;
  return {
    async authenticate(header) {
      const token = bearer(header);
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ["HS256"],
          issuer: opts.issuer,
          audience: opts.audience,
          requiredClaims: limits ? ["sub", "exp", "iat"] : ["sub"],
          clockTolerance: opts.clockToleranceSeconds,
          // Refuses an `iat` older than the maximum lifetime, or in the future beyond the tolerance.
          maxTokenAge: limits ? opts.maxLifetimeSeconds : undefined,
        });
        if (limits && payload.exp! - payload.iat! > opts.maxLifetimeSeconds) {
          throw unauthorized(`token lifetime (exp - iat) exceeds the maximum of ${opts.maxLifetimeSeconds} s`);
        }
        const sub = payload.sub;
        if (typeof sub !== "string" || !USER_RE.test(sub)) throw unauthorized("token subject is not a valid user id");
        return { user: sub, rooms: roomsFrom(payload[opts.roomsClaim]) };
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired) throw unauthorized("token expired");
        if (err instanceof joseErrors.JWTClaimValidationFailed) throw unauthorized(`invalid token: ${err.message}`);
        if (err instanceof joseErrors.JOSEError) throw unauthorized("invalid token");
        throw err;
      }
    },
  };
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
