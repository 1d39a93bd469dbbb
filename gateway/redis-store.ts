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

/** A record and its index entries (by owner, all) are written together, so none is ever unindexed. */
const CREATE_RECORD = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('SADD', KEYS[2], ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[2])
  return 1
end
return 0`;

const REPLACE_RECORD = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0`;

/** The owner's index key is read from the record (standalone Redis: the store is not cluster-sharded). */
const DELETE_RECORD = `
redis.call('SREM', KEYS[2], ARGV[1])
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', ARGV[2] .. cjson.decode(raw).owner, ARGV[1])
return 1`;

type Scripts = LockScripts & {
  createRecord(session: string, owner: string, all: string, json: string, id: string): Promise<number>;
  replaceRecord(session: string, expected: string, json: string): Promise<number>;
  deleteRecord(session: string, all: string, id: string, ownerPrefix: string): Promise<number>;
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
    this.redis.defineCommand("createRecord", { numberOfKeys: 3, lua: CREATE_RECORD });
    this.redis.defineCommand("replaceRecord", { numberOfKeys: 1, lua: REPLACE_RECORD });
    this.redis.defineCommand("deleteRecord", { numberOfKeys: 2, lua: DELETE_RECORD });
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
    return (await this.redis.createRecord(k.session(rec.sessionId), k.owner(rec.owner), k.all, JSON.stringify(rec), rec.sessionId)) === 1;
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const raw = await this.redis.get(k.session(id));
    return raw ? (JSON.parse(raw) as SessionRecord) : undefined;
  }

  /**
   * Rewrites a record from its current value, compare-and-set on the whole value, retried on a
   * concurrent write. Not WATCH: callers share the connection, and any other caller's EXEC drops it.
   */
  private async rewrite(id: string, next: (rec: SessionRecord) => SessionRecord | undefined): Promise<boolean> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const raw = await this.redis.get(k.session(id));
      const rec = raw ? next(JSON.parse(raw) as SessionRecord) : undefined;
      if (!raw || !rec) return false;
      if ((await this.redis.replaceRecord(k.session(id), raw, JSON.stringify(rec))) === 1) return true;
    }
    throw new Error(`could not update session ${id}: too much contention`);
  }

  async updateSession(id: string, patch: Partial<SessionRecord>): Promise<void> {
    await this.rewrite(id, (rec) => ({ ...rec, ...patch }));
  }

  setSessionState(id: string, from: SessionState | undefined, to: SessionState | undefined): Promise<boolean> {
    return this.rewrite(id, ({ state, ...rest }) => (state !== from ? undefined : to ? { ...rest, state: to } : rest));
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
    // One command: an undo sent while Redis stalls lands whole, after the write it undoes.
    return (await this.redis.deleteRecord(k.session(id), k.all, id, k.owner(""))) === 1;
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
