/** Mints bearer tokens from a target's auth (every client of a target: conformance, load, benchmarks, the local CLI): HS256 JWTs for any user, or the static token of a known user. */
import { SignJWT } from "jose";
import type { TargetAuth } from "./target.js";

export async function mintToken(
  auth: TargetAuth,
  user: string,
  opts: { rooms?: string[] | "*"; ttlSeconds?: number; claims?: Record<string, unknown>; now?: () => number } = {},
): Promise<string> {
  if (auth.kind === "static") {
    const token = auth.tokens[user];
    if (!token) throw new Error(`the target's static auth has no token for user ${user}`);
    return token;
  }
  const iat = Math.floor((opts.now ?? Date.now)() / 1000);
  let jwt = new SignJWT({ ...(opts.rooms ? { rooms: opts.rooms } : {}), ...opts.claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(user)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (opts.ttlSeconds ?? 12 * 3600));
  if (auth.issuer) jwt = jwt.setIssuer(auth.issuer);
  if (auth.audience) jwt = jwt.setAudience(auth.audience);
  return jwt.sign(new TextEncoder().encode(auth.secret));
}
