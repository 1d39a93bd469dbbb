/**
 * The authenticator a replica's config asks for (static tokens, HS256 JWTs, or an OIDC provider),
 * with its secrets from the environment: secrets never come from GATEWAY_CONFIG, and tokens too
 * short to be secrets are refused.
 */
import { GATEWAY_SECRET_ENV, type GatewayConfig } from "../topology/gateway-config.js";
import { jwtAuthenticator, oidcAuthenticator, staticAuthenticator, type Authenticator } from "./auth.js";

export type Env = Record<string, string | undefined>;

export function requireEnv(env: Env, name: string, why: string): string {
  const v = env[name];
  if (!v) throw new Error(`environment variable ${name} is required (${why})`);
  return v;
}

/** Secrets never come from GATEWAY_CONFIG; tokens that are too short to be secrets are refused. */
export function createAuthenticator(cfg: GatewayConfig, env: Env, unsafe: { "no-token-lifetime"?: boolean } = {}): Authenticator {
  if (cfg.auth.kind === "static") {
    const raw = requireEnv(env, GATEWAY_SECRET_ENV.staticTokens, "auth.kind is static");
    let tokens: Record<string, string>;
    try {
      tokens = JSON.parse(raw) as Record<string, string>;
    } catch {
      throw new Error(`${GATEWAY_SECRET_ENV.staticTokens} must be a JSON object {"user":"token"}`);
    }
    return staticAuthenticator(tokens);
  }
  const { issuer, audience, roomsClaim, userClaim, maxTokenLifetimeSeconds, clockToleranceSeconds } = cfg.auth;
  const rules = {
    issuer,
    audience,
    roomsClaim,
    userClaim,
    maxLifetimeSeconds: maxTokenLifetimeSeconds,
    clockToleranceSeconds,
    unsafeNoLifetimeLimit: unsafe["no-token-lifetime"],
  };
  if (cfg.auth.kind === "oidc") {
    // The schema guarantees both for oidc.
    return oidcAuthenticator({ ...rules, issuer: issuer!, audience: audience!, jwksUri: cfg.auth.jwksUri, algorithms: cfg.auth.algorithms });
  }
  const secret = requireEnv(env, GATEWAY_SECRET_ENV.jwtSecret, "auth.kind is jwt-hs256");
  if (secret.length < 32) throw new Error(`${GATEWAY_SECRET_ENV.jwtSecret} must have at least 32 characters`);
  return jwtAuthenticator({ ...rules, secret });
}
