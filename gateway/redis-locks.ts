/**
 * Fair, fenced turn locks over Redis, handed from one holder to the next waiter in one step.
 *
 * A waiter runs one script: granted at once when the lock is free and nobody queues, else queued in
 * a sorted set ordered by ticket (FIFO across replicas). A release pops the next live waiter, makes
 * it the holder with a new fencing token and LPUSHes the grant onto its replica's inbox list; every
 * replica keeps one connection blocked in BLPOP on its inbox and hands grants to its waiters by id.
 * So the waiter learns it holds the lock from the releaser's own round trip (no retry, no pub/sub
 * hop, no poll), and a replica with any number of waiters uses one blocking connection.
 *
 * Dead parties: a replica with waiters keeps an alive key; a handoff skips waiters of a replica
 * whose key lapsed. A handed-over lock first lives for a short lease that the receiving replica
 * extends on arrival, so a waiter that died in between holds it for seconds, not a whole TTL; a
 * grant for a waiter that already gave up is released at once by its replica. A dead holder's lock
 * expires; replicas with waiters re-check the key when it is due to expire and hand it on.
 * Scripts touch the alive and inbox keys of other replicas (not in KEYS): one Redis, no Cluster.
 */
import { Redis, type RedisOptions } from "ioredis";
import { randomUUID } from "node:crypto";
import type { LockGrant } from "./store.js";

const PREFIX = "csk:";
/** A replica with waiters refreshes its alive key at least every KICK_MAX_MS. */
const ALIVE_MS = 3_000;
const KICK_MAX_MS = 1_000;
/** A lock queue outlives its last live waiter's replica by this much. */
const QUEUE_TTL_MS = 2 * ALIVE_MS;
/** What a handed-over lock lives before its new holder's replica extends it to the full TTL. */
const HANDOFF_LEASE_MS = ALIVE_MS;
const INBOX_TTL_MS = 60_000;
const BLPOP_SECONDS = 1;

export const lockKeys = {
  lock: (key: string) => `${PREFIX}lock:{${key}}`,
  queue: (key: string) => `${PREFIX}lockq:{${key}}`,
  fence: (key: string) => `${PREFIX}fence:{${key}}`,
  ticket: (key: string) => `${PREFIX}ticket:{${key}}`,
  alive: `${PREFIX}alive:`,
  inbox: `${PREFIX}inbox:`,
};

// Every script gets KEYS lock, queue, fence (+ ticket) and ARGV[1..6] as below. A queue member is
// `<replicaId>:<waiter>:<ttlMs>:<holder>`; a grant pushed to an inbox is `<fence>\n<key>\n<member>`.
const HAND_ON = `
-- ARGV: alivePrefix, inboxPrefix, key, replicaId, queueTtlMs, handoffLeaseMs, ...
local function grantNext()
  while true do
    local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
    if not head then return nil end
    redis.call('ZREM', KEYS[2], head)
    local replica, ttl, holder = string.match(head, '^([^:]+):[^:]+:([^:]+):(.*)$')
    if replica and redis.call('EXISTS', ARGV[1] .. replica) == 1 then
      local f = redis.call('INCR', KEYS[3])
      redis.call('SET', KEYS[1], holder .. '|' .. f, 'PX', math.min(tonumber(ttl), tonumber(ARGV[6])))
      return {head, f, replica, ttl}
    end
  end
end
local function push(g)
  local inbox = ARGV[2] .. g[3]
  redis.call('LPUSH', inbox, g[2] .. '\\n' .. ARGV[3] .. '\\n' .. g[1])
  redis.call('PEXPIRE', inbox, ${INBOX_TTL_MS})
end
`;

const ACQUIRE = `${HAND_ON}
-- KEYS: lock, queue, fence, ticket ; ARGV[7..9]: member, ttlMs, holder
redis.call('SET', ARGV[1] .. ARGV[4], '1', 'PX', ${ALIVE_MS})
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('ZCARD', KEYS[2]) == 0 then
  local f = redis.call('INCR', KEYS[3])
  redis.call('SET', KEYS[1], ARGV[9] .. '|' .. f, 'PX', ARGV[8])
  return {f, 0}
end
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
if redis.call('EXISTS', KEYS[1]) == 0 then
  local g = grantNext()
  if g and g[1] == ARGV[7] then
    redis.call('PEXPIRE', KEYS[1], ARGV[8])
    return {g[2], 0}
  end
  if g then push(g) end
end
return {0, redis.call('PTTL', KEYS[1])}`;

const RELEASE = `${HAND_ON}
-- ARGV[7]: the holder's value
if redis.call('GET', KEYS[1]) ~= ARGV[7] then return 0 end
redis.call('DEL', KEYS[1])
local g = grantNext()
if g then push(g) end
return 1`;

/** A replica's periodic check of a key it waits on: stay alive, keep the queue, hand on an expired lock. */
const KICK = `${HAND_ON}
redis.call('SET', ARGV[1] .. ARGV[4], '1', 'PX', ${ALIVE_MS})
redis.call('PEXPIRE', KEYS[2], ARGV[5])
if redis.call('EXISTS', KEYS[1]) == 0 then
  local g = grantNext()
  if g then push(g) end
end
return redis.call('PTTL', KEYS[1])`;

const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

const VALIDATE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then return 0 end
return 1`;

type Scripts = {
  lockAcquire(lock: string, q: string, fence: string, ticket: string, ...argv: (string | number)[]): Promise<[number, number]>;
  lockRelease(lock: string, q: string, fence: string, ...argv: (string | number)[]): Promise<number>;
  lockKick(lock: string, q: string, fence: string, ...argv: (string | number)[]): Promise<number>;
  renewLock(lock: string, value: string, ttlMs: number): Promise<number>;
  validateLock(lock: string, value: string, minMs: number): Promise<number>;
};
export type LockScripts = Redis & Scripts;

interface Waiter {
  key: string;
  holder: string;
  ttlMs: number;
  resolve: (g: LockGrant | null) => void;
}

/** Registers the lock scripts on a command connection (the lease scripts reuse RENEW). */
export function defineLockScripts(redis: Redis): LockScripts {
  redis.defineCommand("lockAcquire", { numberOfKeys: 4, lua: ACQUIRE });
  redis.defineCommand("lockRelease", { numberOfKeys: 3, lua: RELEASE });
  redis.defineCommand("lockKick", { numberOfKeys: 3, lua: KICK });
  redis.defineCommand("renewLock", { numberOfKeys: 1, lua: RENEW });
  redis.defineCommand("validateLock", { numberOfKeys: 1, lua: VALIDATE });
  return redis as LockScripts;
}

export class RedisLocks {
  readonly replicaId = randomUUID();
  /** Created with the first wait: one BLPOP connection per replica, whatever the number of waiters. */
  private blocker: Redis | undefined;
  private readonly waiters = new Map<string, Waiter>();
  /** Keys this replica waits on, with the timer of their next check. */
  private readonly watched = new Map<string, { count: number; timer?: NodeJS.Timeout }>();
  private seq = 0;
  private closed = false;

  constructor(
    private readonly redis: LockScripts,
    private readonly url: string,
    private readonly opts: RedisOptions,
  ) {}

  private argv(key: string): (string | number)[] {
    return [lockKeys.alive, lockKeys.inbox, key, this.replicaId, QUEUE_TTL_MS, HANDOFF_LEASE_MS];
  }
  private keys(key: string): [string, string, string] {
    return [lockKeys.lock(key), lockKeys.queue(key), lockKeys.fence(key)];
  }

  async acquire(key: string, holder: string, ttlMs: number, waitMs: number): Promise<LockGrant | null> {
    const member = `${this.replicaId}:${++this.seq}:${ttlMs}:${holder}`;
    // Registered before queueing: a grant may be pushed before the script returns (it waits in the
    // inbox list until the listener takes it).
    const granted = new Promise<LockGrant | null>((resolve) => this.waiters.set(member, { key, holder, ttlMs, resolve }));
    let fence: number, pttl: number;
    try {
      [fence, pttl] = await this.redis.lockAcquire(...this.keys(key), lockKeys.ticket(key), ...this.argv(key), member, ttlMs, holder);
    } catch (err) {
      this.waiters.delete(member);
      throw err;
    }
    if (fence > 0) {
      this.waiters.delete(member);
      return { key, holder, fence: Number(fence) };
    }
    this.listen();
    this.watch(key, pttl);
    const timer = setTimeout(() => this.take(member)?.resolve(null), waitMs);
    try {
      const grant = await granted;
      if (!grant) await this.redis.zrem(lockKeys.queue(key), member).catch(() => undefined);
      return grant;
    } finally {
      clearTimeout(timer);
      this.waiters.delete(member);
      this.unwatch(key);
    }
  }

  renew(g: LockGrant, ttlMs: number): Promise<boolean> {
    return this.redis.renewLock(lockKeys.lock(g.key), `${g.holder}|${g.fence}`, ttlMs).then((n) => n === 1);
  }

  release(g: LockGrant): Promise<boolean> {
    return this.redis.lockRelease(...this.keys(g.key), ...this.argv(g.key), `${g.holder}|${g.fence}`).then((n) => n === 1);
  }

  validate(g: LockGrant, minRemainingMs: number): Promise<boolean> {
    return this.redis.validateLock(lockKeys.lock(g.key), `${g.holder}|${g.fence}`, minRemainingMs).then((n) => n === 1);
  }

  async holder(key: string): Promise<string | undefined> {
    const v = await this.redis.get(lockKeys.lock(key));
    return v ? v.slice(0, v.lastIndexOf("|")) : undefined;
  }

  /** Removes a waiter as it is answered, so a grant and a timeout cannot both claim it. */
  private take(member: string): Waiter | undefined {
    const w = this.waiters.get(member);
    this.waiters.delete(member);
    return w;
  }

  /** A grant from the inbox: hand it to its waiter, or give it back when that waiter is gone. */
  private deliver(item: string): void {
    const [fence, key, member] = splitGrant(item);
    const w = this.take(member);
    const holder = w?.holder ?? member.split(":").slice(3).join(":");
    const grant = { key, holder, fence };
    if (!w) {
      void this.release(grant).catch(() => undefined);
      return;
    }
    // Sent before the waiter's next command on this connection (its fencing check), so that check
    // already sees the full TTL.
    if (w.ttlMs > HANDOFF_LEASE_MS) void this.renew(grant, w.ttlMs).catch(() => undefined);
    w.resolve(grant);
  }

  private listen(): void {
    if (this.blocker || this.closed) return;
    // Its own connection: BLPOP blocks every other command on it. No command timeout (a BLPOP
    // legitimately waits); ioredis bounds the blocking call itself.
    const blocker = new Redis(this.url, { ...this.opts, commandTimeout: undefined, blockingTimeout: BLPOP_SECONDS * 1000 + 2_000 });
    blocker.on("error", () => undefined);
    this.blocker = blocker;
    const inbox = `${lockKeys.inbox}${this.replicaId}`;
    void (async () => {
      while (!this.closed) {
        try {
          const got = await blocker.blpop(inbox, BLPOP_SECONDS);
          if (got) this.deliver(got[1]);
        } catch {
          if (this.closed || blocker.status === "end") return;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    })();
  }

  private watch(key: string, pttl: number): void {
    const w = this.watched.get(key) ?? { count: 0 };
    w.count++;
    this.watched.set(key, w);
    if (!w.timer) this.scheduleKick(key, pttl);
  }

  private unwatch(key: string): void {
    const w = this.watched.get(key);
    if (!w || --w.count > 0) return;
    clearTimeout(w.timer);
    this.watched.delete(key);
  }

  /** Checks `key` again when its lock is due to expire (a holder that died), at least every KICK_MAX_MS. */
  private scheduleKick(key: string, pttl: number): void {
    const w = this.watched.get(key);
    if (!w || this.closed) return;
    const delay = Math.min(KICK_MAX_MS, Math.max(10, pttl >= 0 ? pttl + 5 : 10));
    w.timer = setTimeout(() => {
      this.redis.lockKick(...this.keys(key), ...this.argv(key)).then(
        (next) => this.scheduleKick(key, Number(next)),
        () => this.scheduleKick(key, KICK_MAX_MS),
      );
    }, delay);
    w.timer.unref();
  }

  close(): void {
    this.closed = true;
    // Waiters still queued give up now (their timers would otherwise keep the process alive), and
    // leave the queue before the connection closes: sent ahead of the store's QUIT.
    for (const [member, w] of [...this.waiters]) {
      void this.redis.zrem(lockKeys.queue(w.key), member).catch(() => undefined);
      this.take(member)?.resolve(null);
    }
    for (const w of this.watched.values()) clearTimeout(w.timer);
    this.watched.clear();
    this.blocker?.disconnect();
  }
}

function splitGrant(item: string): [number, string, string] {
  const a = item.indexOf("\n");
  const b = item.indexOf("\n", a + 1);
  return [Number(item.slice(0, a)), item.slice(a + 1, b), item.slice(b + 1)];
}
