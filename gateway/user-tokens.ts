/**
 * Each user's own GitHub token, for the SDK's session-level `gitHubToken` (identity, plan, quota and
 * content exclusion per user, even on a shared CLI). Sources: a folder of per-user files, a
 * Kubernetes Secret per user, or the operator's HTTP hook; cached for `identity.cacheSeconds`.
 * Files and Secrets are named by the keyed user id (`user-<hmac>`, the per-user Pods' naming), so
 * a listing names no user. Tokens never go into a log line or an error message.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { GATEWAY_SECRET_ENV, type IdentityConfig } from "../topology/gateway-config.js";
import { objectNames, USER_GITHUB_TOKEN_KEY } from "../topology/user-pod.js";
import { ApiError, unavailable } from "./errors.js";
import { spawnServerId } from "./spawn-pool.js";

type Env = Record<string, string | undefined>;

/** The owner of a room session: rooms always use the service identity (README: "Whose identity"). */
export const ROOM_OWNER_PREFIX = "room:";

export const identityMissing = () =>
  new ApiError(403, "github_identity_missing", "no GitHub token is configured for you (identity.missing: refuse); ask the operator to add yours");
const identityUnavailable = (why: string) => unavailable("identity_unavailable", `your GitHub token could not be read: ${why}`, 5);

/** One lookup: the token, or undefined when the source has none for this user. */
type Lookup = (user: string) => Promise<{ token?: string; ttlMs?: number }>;

export interface UserTokens {
  /** The token a session of `owner` must carry; undefined = the CLI's own (service) identity. */
  tokenFor(owner: string): Promise<string | undefined>;
}

export function createUserTokens(cfg: IdentityConfig, env: Env, opts: { firstUserTokenForAll?: boolean } = {}): UserTokens {
  if (cfg.source === "none") return { tokenFor: async () => undefined };
  const lookup = lookupFor(cfg, env);
  const cacheMs = cfg.cacheSeconds * 1000;
  const cache = new Map<string, { token?: string; until: number }>();
  let first: string | undefined;
  return {
    async tokenFor(owner) {
      if (owner.startsWith(ROOM_OWNER_PREFIX)) return undefined;
      let hit = cache.get(owner);
      if (!hit || hit.until <= Date.now()) {
        let found: { token?: string; ttlMs?: number };
        try {
          found = await lookup(owner);
        } catch (err) {
          if (err instanceof ApiError) throw err;
          throw identityUnavailable((err as Error).message);
        }
        hit = { token: found.token, until: Date.now() + Math.min(cacheMs, found.ttlMs ?? cacheMs) };
        cache.set(owner, hit);
      }
      if (hit.token === undefined && cfg.missing === "refuse") throw identityMissing();
      // Test switch (its negative control): every session gets the first token ever read.
      if (opts.firstUserTokenForAll && hit.token !== undefined) first ??= hit.token;
      return opts.firstUserTokenForAll ? (first ?? hit.token) : hit.token;
    },
  };
}

function keyOf(env: Env): string {
  const key = env[GATEWAY_SECRET_ENV.serverIdKey];
  if (!key || key.length < 32) {
    throw new Error(`identity.source dir/kubernetes: ${GATEWAY_SECRET_ENV.serverIdKey} (at least 32 characters) keys the per-user file and Secret names`);
  }
  return key;
}

function lookupFor(cfg: Exclude<IdentityConfig, { source: "none" }>, env: Env): Lookup {
  if (cfg.source === "dir") {
    const key = keyOf(env);
    return async (user) => {
      try {
        const token = (await readFile(join(cfg.dir, spawnServerId(user, key)), "utf8")).trim();
        return { token: token || undefined };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
        throw new Error(`reading the user's token file failed (${(err as NodeJS.ErrnoException).code ?? "error"})`);
      }
    };
  }
  if (cfg.source === "kubernetes") {
    const key = keyOf(env);
    // Loaded on first use only: the Kubernetes client costs memory in every gateway that never reads a Secret.
    const read = import("./kube-secrets.js").then((m) => m.secretReader(cfg.namespace));
    read.catch(() => undefined); // a failure surfaces on the first lookup, as identity_unavailable
    return async (user) => {
      const name = objectNames({ namePrefix: cfg.namePrefix }, spawnServerId(user, key)).credentials;
      const token = (await (await read)(name, USER_GITHUB_TOKEN_KEY))?.trim();
      return { token: token || undefined };
    };
  }
  const hookToken = env[GATEWAY_SECRET_ENV.identityHookToken];
  return async (user) => {
    let res: Response;
    try {
      res = await fetch(cfg.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...(hookToken ? { authorization: `Bearer ${hookToken}` } : {}) },
        body: JSON.stringify({ user }),
        signal: AbortSignal.timeout(cfg.timeoutSeconds * 1000),
      });
    } catch (err) {
      throw new Error(`the identity hook did not answer (${(err as Error).name})`);
    }
    if (res.status === 404) return {};
    if (!res.ok) throw new Error(`the identity hook answered HTTP ${res.status}`);
    const body = (await res.json().catch(() => undefined)) as { token?: unknown; expiresInSeconds?: unknown } | undefined;
    if (typeof body?.token !== "string" || !body.token) throw new Error("the identity hook answered without a token");
    const ttl = typeof body.expiresInSeconds === "number" && body.expiresInSeconds > 0 ? body.expiresInSeconds * 1000 : undefined;
    return { token: body.token, ttlMs: ttl };
  };
}
