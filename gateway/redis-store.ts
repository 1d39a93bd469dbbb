/**
 * The Redis store (ioredis), for several gateway replicas: ownership records, fair fenced locks
 * (redis-locks.ts: handed from holder to next waiter in one step) and session leases. Every
 * check-and-set is one Lua script, so it is atomic across replicas.
 */
import { Redis, type RedisOptions } from "ioredis";
import { defineLockScripts, RedisLocks, type LockScripts } from "./redis-locks.js";
import type { LockGrant, SessionRecord, SessionState, Store } from "./store.js";

const PREFIX = "csk:";

const CLAIM_LEASE = `
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur == ARGV[1] or (ARGV[3] ~= '' and cur == ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
return cur`;

const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const k = {
  session: (id: string) => `${PREFIX}session:${id}`,
  owner: (user: string) => `${PREFIX}owner:${user}`,
  all: `${PREFIX}sessions`,
  lease: (id: string) => `${PREFIX}lease:${id}`,
  kv: (key: string) => `${PREFIX}kv:${key}`,
};

type Scripts = LockScripts & {
  claimLease(lease: string, serverId: string, ttlMs: number, replace: string): Promise<string>;
  releaseLeaseIf(lease: string, serverId: string): Promise<number>;
};

export class RedisStore implements Store {
  readonly kind = "redis" as const;
  private readonly redis: Redis & Scripts;
  private readonly locks: RedisLocks;

  constructor(url: string, opts: RedisOptions = {}) {
    const base: RedisOptions = { maxRetriesPerRequest: 2, enableOfflineQueue: true, connectTimeout: 5_000, ...opts };
    this.redis = defineLockScripts(new Redis(url, base)) as Redis & Scripts;
    this.redis.defineCommand("claimLease", { numberOfKeys: 1, lua: CLAIM_LEASE });
    this.redis.defineCommand("releaseLeaseIf", { numberOfKeys: 1, lua: RELEASE_LEASE });
    this.locks = new RedisLocks(this.redis, url, base);
    // Errors surface on the calls; the connection objects must not crash the process.
    this.redis.on("error", () => undefined);
  }

  /** Resolves once the command connection is up, or rejects with the reason (startup check). */
  async ready(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        await this.redis.ping();
        return;
      } catch (err) {
        last = err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    throw new Error(`redis not reachable: ${(last as Error)?.message ?? "timeout"}`);
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async createSession(rec: SessionRecord): Promise<boolean> {
    const ok = await this.redis.set(k.session(rec.sessionId), JSON.stringify(rec), "NX");
    if (ok !== "OK") return false;
    await this.redis.multi().sadd(k.owner(rec.owner), rec.sessionId).sadd(k.all, rec.sessionId).exec();
    return true;
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const raw = await this.redis.get(k.session(id));
    return raw ? (JSON.parse(raw) as SessionRecord) : undefined;
  }

  async updateSession(id: string, patch: Partial<SessionRecord>): Promise<void> {
    // Optimistic: WATCH the record so a concurrent update is retried, not lost.
    for (let attempt = 0; attempt < 10; attempt++) {
      await this.redis.watch(k.session(id));
      const raw = await this.redis.get(k.session(id));
      if (!raw) {
        await this.redis.unwatch();
        return;
      }
      const next = { ...(JSON.parse(raw) as SessionRecord), ...patch };
      const res = await this.redis.multi().set(k.session(id), JSON.stringify(next)).exec();
      if (res) return;
    }
    throw new Error(`could not update session ${id}: too much contention`);
  }

  async setSessionState(id: string, from: SessionState | undefined, to: SessionState | undefined): Promise<boolean> {
    // WATCH as in updateSession: the compare and the set are one step against concurrent writers.
    for (let attempt = 0; attempt < 10; attempt++) {
      await this.redis.watch(k.session(id));
      const raw = await this.redis.get(k.session(id));
      const rec = raw ? (JSON.parse(raw) as SessionRecord) : undefined;
      if (!rec || rec.state !== from) {
        await this.redis.unwatch();
        return false;
      }
      const { state: _, ...rest } = rec;
      const res = await this.redis.multi().set(k.session(id), JSON.stringify(to ? { ...rest, state: to } : rest)).exec();
      if (res) return true;
    }
    throw new Error(`could not update session ${id}: too much contention`);
  }

  private async many(ids: string[]): Promise<SessionRecord[]> {
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map(k.session));
    return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as SessionRecord);
  }

  async listSessions(owner: string): Promise<SessionRecord[]> {
    return this.many(await this.redis.smembers(k.owner(owner)));
  }

  async allSessions(): Promise<SessionRecord[]> {
    return this.many(await this.redis.smembers(k.all));
  }

  async deleteSession(id: string): Promise<boolean> {
    const rec = await this.getSession(id);
    if (!rec) return false;
    const res = await this.redis.multi().del(k.session(id)).srem(k.owner(rec.owner), id).srem(k.all, id).exec();
    return Boolean(res?.[0]?.[1]);
  }

  acquireLock(key: string, holder: string, ttlMs: number, waitMs: number): Promise<LockGrant | null> {
    return this.locks.acquire(key, holder, ttlMs, waitMs);
  }
  renewLock(g: LockGrant, ttlMs: number): Promise<boolean> {
    return this.locks.renew(g, ttlMs);
  }
  releaseLock(g: LockGrant): Promise<boolean> {
    return this.locks.release(g);
  }
  validateLock(g: LockGrant, minRemainingMs: number): Promise<boolean> {
    return this.locks.validate(g, minRemainingMs);
  }
  lockHolder(key: string): Promise<string | undefined> {
    return this.locks.holder(key);
  }

  async kvSetIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(k.kv(key), value, "PX", ttlMs, "NX")) === "OK";
  }
  async kvGet(key: string): Promise<string | undefined> {
    return (await this.redis.get(k.kv(key))) ?? undefined;
  }
  async kvSet(key: string, value: string, ttlMs: number): Promise<void> {
    await this.redis.set(k.kv(key), value, "PX", ttlMs);
  }
  async kvDelete(key: string): Promise<void> {
    await this.redis.del(k.kv(key));
  }

  async getLease(sessionId: string): Promise<string | undefined> {
    return (await this.redis.get(k.lease(sessionId))) ?? undefined;
  }

  async claimLease(sessionId: string, serverId: string, ttlMs: number, replaceServerId?: string): Promise<string> {
    return this.redis.claimLease(k.lease(sessionId), serverId, ttlMs, replaceServerId ?? "");
  }

  async renewLease(sessionId: string, serverId: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.renewLock(k.lease(sessionId), serverId, ttlMs)) === 1;
  }

  async releaseLease(sessionId: string, serverId: string): Promise<void> {
    await this.redis.releaseLeaseIf(k.lease(sessionId), serverId);
  }

  async close(): Promise<void> {
    this.locks.close();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
