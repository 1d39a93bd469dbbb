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

export function jwtAuthenticator(opts: { secret: string; issuer?: string; audience?: string; roomsClaim: string }): Authenticator {
  const key = new TextEncoder().encode(opts.secret);
  return {
    async authenticate(header) {
      const token = bearer(header);
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ["HS256"],
          issuer: opts.issuer,
          audience: opts.audience,
          requiredClaims: ["sub"],
        });
        const sub = payload.sub;
        if (typeof sub !== "string" || !USER_RE.test(sub)) throw unauthorized("token subject is not a valid user id");
        return { user: sub, rooms: roomsFrom(payload[opts.roomsClaim]) };
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired) throw unauthorized("token expired");
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
