/**
 * The Redis store (ioredis), for several gateway replicas: ownership records, fair fenced locks and
 * session leases. Every check-and-set is one Lua script, so it is atomic across replicas.
 *
 * Locks: waiters take a ticket (INCR) and wait in a sorted set ordered by ticket; only the head
 * may take the lock, so waiters are served in arrival order across replicas. A waiter keeps a
 * heartbeat key alive; a dead replica's waiters are pruned from the queue head. A release publishes
 * the id of the next waiter, so exactly that waiter wakes at once (no thundering herd); a short poll
 * covers lost messages, pruned heads and expiries.
 * Each acquisition INCRs a fence counter; the lock value is `holder|fence`.
 */
import { randomUUID } from "node:crypto";
import { Redis, type RedisOptions } from "ioredis";
import type { LockGrant, SessionRecord, Store } from "./store.js";

const PREFIX = "csk:";
const RELEASE_CHANNEL = `${PREFIX}lock-released`;
const HEARTBEAT_MS = 3_000;
/** A lock queue outlives its last live waiter's heartbeat by this much (waiters renew it every second). */
const QUEUE_TTL_MS = 2 * HEARTBEAT_MS;
const POLL_MS = 25;

const TRY_ACQUIRE = `
-- KEYS: lock, queue, fence ; ARGV: waiterId, holder, ttlMs, heartbeatPrefix
while true do
  local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not head then break end
  if redis.call('EXISTS', ARGV[4] .. head) == 1 then break end
  redis.call('ZREM', KEYS[2], head)
end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
if head ~= ARGV[1] then return 0 end
local fence = redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[1], ARGV[2] .. '|' .. fence, 'PX', ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', ARGV[4] .. ARGV[1])
return fence`;

const RELEASE = `
-- KEYS: lock, queue ; ARGV: value, channel
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if head then redis.call('PUBLISH', ARGV[2], head) end
  return 1
end
return 0`;

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

const VALIDATE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then return 0 end
return 1`;

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
  lock: (key: string) => `${PREFIX}lock:{${key}}`,
  queue: (key: string) => `${PREFIX}lockq:{${key}}`,
  fence: (key: string) => `${PREFIX}fence:{${key}}`,
  ticket: (key: string) => `${PREFIX}ticket:{${key}}`,
  heartbeat: `${PREFIX}waiter:`,
  lease: (id: string) => `${PREFIX}lease:${id}`,
  kv: (key: string) => `${PREFIX}kv:${key}`,
};

type Scripts = {
  tryAcquire(lock: string, queue: string, fence: string, waiterId: string, holder: string, ttlMs: number, hb: string): Promise<number>;
  releaseLock(lock: string, queue: string, value: string, channel: string): Promise<number>;
  renewLock(lock: string, value: string, ttlMs: number): Promise<number>;
  validateLock(lock: string, value: string, minMs: number): Promise<number>;
  claimLease(lease: string, serverId: string, ttlMs: number, replace: string): Promise<string>;
  releaseLeaseIf(lease: string, serverId: string): Promise<number>;
};

export class RedisStore implements Store {
  readonly kind = "redis" as const;
  private readonly redis: Redis & Scripts;
  private readonly sub: Redis;
  /** Local waiters by waiter id, woken when a release names them as the next in line. */
  private readonly wakers = new Map<string, () => void>();

  constructor(url: string, opts: RedisOptions = {}) {
    const base: RedisOptions = { maxRetriesPerRequest: 2, enableOfflineQueue: true, connectTimeout: 5_000, ...opts };
    this.redis = new Redis(url, base) as Redis & Scripts;
    this.sub = new Redis(url, base);
    this.redis.defineCommand("tryAcquire", { numberOfKeys: 3, lua: TRY_ACQUIRE });
    this.redis.defineCommand("releaseLock", { numberOfKeys: 2, lua: RELEASE });
    this.redis.defineCommand("renewLock", { numberOfKeys: 1, lua: RENEW });
    this.redis.defineCommand("validateLock", { numberOfKeys: 1, lua: VALIDATE });
    this.redis.defineCommand("claimLease", { numberOfKeys: 1, lua: CLAIM_LEASE });
    this.redis.defineCommand("releaseLeaseIf", { numberOfKeys: 1, lua: RELEASE_LEASE });
    void this.sub.subscribe(RELEASE_CHANNEL).catch(() => undefined);
    this.sub.on("message", (_channel: string, waiterId: string) => {
      this.wakers.get(waiterId)?.();
    });
    // Errors surface on the calls; the connection objects must not crash the process.
    this.redis.on("error", () => undefined);
    this.sub.on("error", () => undefined);
  }

  /** Resolves once both connections are up, or rejects with the reason (startup check). */
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

  async acquireLock(key: string, holder: string, ttlMs: number, waitMs: number): Promise<LockGrant | null> {
    const waiterId = `${holder}:${randomUUID()}`;
    const ticket = await this.redis.incr(k.ticket(key));
    // The queue lives while some waiter heartbeats it: a waiter that died (its replica killed, its
    // clean-up lost to a stalled Redis) is not kept for good when nobody takes this lock again.
    await this.redis.multi().zadd(k.queue(key), ticket, waiterId).pexpire(k.queue(key), QUEUE_TTL_MS).set(`${k.heartbeat}${waiterId}`, "1", "PX", HEARTBEAT_MS).exec();
    const deadline = Date.now() + waitMs;
    let lastBeat = Date.now();
    // Registered for the whole wait: a wake-up that lands while a try is in flight is not lost.
    let woken = false;
    let resume: (() => void) | undefined;
    this.wakers.set(waiterId, () => {
      woken = true;
      resume?.();
    });
    try {
      for (;;) {
        woken = false;
        const fence = Number(await this.redis.tryAcquire(k.lock(key), k.queue(key), k.fence(key), waiterId, holder, ttlMs, k.heartbeat));
        if (fence > 0) return { key, holder, fence };
        const left = deadline - Date.now();
        if (left <= 0) return null;
        if (Date.now() - lastBeat > HEARTBEAT_MS / 3) {
          await this.redis.multi().set(`${k.heartbeat}${waiterId}`, "1", "PX", HEARTBEAT_MS).pexpire(k.queue(key), QUEUE_TTL_MS).exec();
          lastBeat = Date.now();
        }
        if (woken) continue;
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, Math.min(POLL_MS, left));
          function done() {
            clearTimeout(t);
            resolve();
          }
          resume = done;
        });
        resume = undefined;
      }
    } finally {
      this.wakers.delete(waiterId);
      await this.redis.multi().zrem(k.queue(key), waiterId).del(`${k.heartbeat}${waiterId}`).exec().catch(() => undefined);
    }
  }

  async renewLock(g: LockGrant, ttlMs: number): Promise<boolean> {
    return (await this.redis.renewLock(k.lock(g.key), `${g.holder}|${g.fence}`, ttlMs)) === 1;
  }

  async releaseLock(g: LockGrant): Promise<boolean> {
    return (await this.redis.releaseLock(k.lock(g.key), k.queue(g.key), `${g.holder}|${g.fence}`, RELEASE_CHANNEL)) === 1;
  }

  async validateLock(g: LockGrant, minRemainingMs: number): Promise<boolean> {
    return (await this.redis.validateLock(k.lock(g.key), `${g.holder}|${g.fence}`, minRemainingMs)) === 1;
  }

  async lockHolder(key: string): Promise<string | undefined> {
    const v = await this.redis.get(k.lock(key));
    return v ? v.slice(0, v.lastIndexOf("|")) : undefined;
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
    this.sub.disconnect();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
