/**
 * The in-process store (a single replica): records, fair FIFO locks with fencing, small TTL values
 * and leases in memory, optionally journalled to a file so a restarted gateway keeps its registry.
 */
import { loadRegistry, RegistryJournal } from "./registry-journal.js";
import type { LockGrant, SessionRecord, SessionState, Store } from "./store.js";

interface Waiter {
  holder: string;
  /** The TTL this waiter asked for: its grant expires after it. */
  ttlMs: number;
  resolve: (g: LockGrant | null) => void;
  timer: NodeJS.Timeout;
}
interface LockState {
  holder?: { holder: string; fence: number; expiresAt: number; timer: NodeJS.Timeout };
  queue: Waiter[];
}

/**
 * In-process fair locks: waiters are granted in arrival order, on release or expiry. A key's state
 * lives only while the lock is held or waited for (the TTL cleanup takes every record's lock once a
 * pass; keeping each key's state would grow with every session ever created), so fencing tokens come
 * from one counter for all keys: still strictly increasing for each key.
 */
export class MemoryLocks {
  private readonly locks = new Map<string, LockState>();
  private fence = 0;

  /** Keys with a holder or waiters. */
  get size(): number {
    return this.locks.size;
  }

  private state(key: string): LockState {
    let s = this.locks.get(key);
    if (!s) {
      s = { queue: [] };
      this.locks.set(key, s);
    }
    return s;
  }

  /** Forgets a key nobody holds or waits for. */
  private prune(key: string, s: LockState): void {
    if (!s.holder && s.queue.length === 0 && this.locks.get(key) === s) this.locks.delete(key);
  }

  private grantNext(key: string): void {
    const s = this.locks.get(key);
    if (!s) return;
    if (s.holder && s.holder.expiresAt > Date.now()) return;
    if (s.holder) clearTimeout(s.holder.timer);
    s.holder = undefined;
    const next = s.queue.shift();
    if (!next) return this.prune(key, s);
    clearTimeout(next.timer);
    const fence = ++this.fence;
    const grant: LockGrant = { key, holder: next.holder, fence };
    s.holder = { holder: next.holder, fence, expiresAt: Date.now() + next.ttlMs, timer: this.expiryTimer(key, next.ttlMs) };
    next.resolve(grant);
  }

  private expiryTimer(key: string, ttlMs: number): NodeJS.Timeout {
    const t = setTimeout(() => this.grantNext(key), ttlMs + 1);
    t.unref();
    return t;
  }

  acquire(key: string, holder: string, ttlMs: number, waitMs: number): Promise<LockGrant | null> {
    const s = this.state(key);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        holder,
        ttlMs,
        resolve,
        timer: setTimeout(() => {
          const i = s.queue.indexOf(waiter);
          if (i >= 0) s.queue.splice(i, 1);
          this.prune(key, s);
          resolve(null);
        }, waitMs),
      };
      s.queue.push(waiter);
      this.grantNext(key);
    });
  }

  private current(g: LockGrant): LockState["holder"] | undefined {
    const h = this.locks.get(g.key)?.holder;
    return h && h.holder === g.holder && h.fence === g.fence && h.expiresAt > Date.now() ? h : undefined;
  }

  renew(g: LockGrant, ttlMs: number): boolean {
    const h = this.current(g);
    if (!h) return false;
    clearTimeout(h.timer);
    h.expiresAt = Date.now() + ttlMs;
    h.timer = this.expiryTimer(g.key, ttlMs);
    return true;
  }

  release(g: LockGrant): boolean {
    const s = this.locks.get(g.key);
    if (!s?.holder || s.holder.holder !== g.holder || s.holder.fence !== g.fence) return false;
    clearTimeout(s.holder.timer);
    s.holder = undefined;
    this.grantNext(g.key);
    return true;
  }

  validate(g: LockGrant, minRemainingMs: number): boolean {
    const h = this.current(g);
    return h !== undefined && h.expiresAt - Date.now() >= minRemainingMs;
  }

  holder(key: string): string | undefined {
    const h = this.locks.get(key)?.holder;
    return h && h.expiresAt > Date.now() ? h.holder : undefined;
  }
}

export class MemoryStore implements Store {
  readonly kind = "memory" as const;
  async ping(): Promise<void> {}
  private readonly sessions: Map<string, SessionRecord> = new Map();
  private readonly locks = new MemoryLocks();
  private readonly leases = new Map<string, { serverId: string; expiresAt: number }>();
  private readonly kv = new Map<string, { value: string; expiresAt: number }>();
  private saveTimer: NodeJS.Timeout | undefined;

  private readonly journal?: RegistryJournal;
  /** Sessions written since the last flush. */
  private readonly dirty = new Set<string>();

  /** With `file`, the registry is loaded from and journalled to that file (gateway/registry-journal.ts). */
  constructor(file?: string) {
    if (file) {
      this.sessions = loadRegistry(file);
      this.journal = new RegistryJournal(file, this.sessions);
    }
  }

  private changed(id: string): void {
    if (!this.journal) return;
    this.dirty.add(id);
    // Coalesce bursts of writes; flushed on close.
    this.saveTimer ??= setTimeout(() => this.flush(), 50);
  }

  private flush(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    this.journal?.write(this.dirty, this.sessions);
    this.dirty.clear();
  }

  async createSession(rec: SessionRecord): Promise<boolean> {
    if (this.sessions.has(rec.sessionId)) return false;
    this.sessions.set(rec.sessionId, { ...rec });
    this.changed(rec.sessionId);
    return true;
  }
  async getSession(id: string): Promise<SessionRecord | undefined> {
    const r = this.sessions.get(id);
    return r && { ...r };
  }
  async updateSession(id: string, patch: Partial<SessionRecord>): Promise<void> {
    const r = this.sessions.get(id);
    if (!r) return;
    Object.assign(r, patch);
    this.changed(id);
  }
  async setSessionState(id: string, from: SessionState | undefined, to: SessionState | undefined): Promise<boolean> {
    const r = this.sessions.get(id);
    if (!r || r.state !== from) return false;
    if (to) r.state = to;
    else delete r.state;
    this.changed(id);
    return true;
  }
  async listSessions(owner: string): Promise<SessionRecord[]> {
    return [...this.sessions.values()].filter((r) => r.owner === owner).map((r) => ({ ...r }));
  }
  async allSessions(): Promise<SessionRecord[]> {
    return [...this.sessions.values()].map((r) => ({ ...r }));
  }
  async deleteSession(id: string): Promise<boolean> {
    const had = this.sessions.delete(id);
    if (had) this.changed(id);
    return had;
  }

  async acquireLock(key: string, holder: string, ttlMs: number, waitMs: number): Promise<LockGrant | null> {
    return this.locks.acquire(key, holder, ttlMs, waitMs);
  }
  async renewLock(grant: LockGrant, ttlMs: number): Promise<boolean> {
    return this.locks.renew(grant, ttlMs);
  }
  async releaseLock(grant: LockGrant): Promise<boolean> {
    return this.locks.release(grant);
  }
  async validateLock(grant: LockGrant, minRemainingMs: number): Promise<boolean> {
    return this.locks.validate(grant, minRemainingMs);
  }
  async lockHolder(key: string): Promise<string | undefined> {
    return this.locks.holder(key);
  }

  async kvGet(key: string): Promise<string | undefined> {
    const e = this.kv.get(key);
    if (e && e.expiresAt > Date.now()) return e.value;
    this.kv.delete(key);
    return undefined;
  }
  async kvSetIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    if ((await this.kvGet(key)) !== undefined) return false;
    await this.kvSet(key, value, ttlMs);
    return true;
  }
  async kvSet(key: string, value: string, ttlMs: number): Promise<void> {
    this.kv.set(key, { value, expiresAt: Date.now() + ttlMs });
    // Expired keys nobody reads again must not pile up.
    if (this.kv.size % 256 === 0) for (const [k, e] of this.kv) if (e.expiresAt <= Date.now()) this.kv.delete(k);
  }
  async kvDelete(key: string): Promise<void> {
    this.kv.delete(key);
  }

  private lease(sessionId: string): string | undefined {
    const l = this.leases.get(sessionId);
    if (l && l.expiresAt > Date.now()) return l.serverId;
    this.leases.delete(sessionId);
    return undefined;
  }
  async getLease(sessionId: string): Promise<string | undefined> {
    return this.lease(sessionId);
  }
  async claimLease(sessionId: string, serverId: string, ttlMs: number, replaceServerId?: string): Promise<string> {
    const cur = this.lease(sessionId);
    if (cur === undefined || cur === serverId || cur === replaceServerId) {
      this.leases.set(sessionId, { serverId, expiresAt: Date.now() + ttlMs });
      return serverId;
    }
    return cur;
  }
  async renewLease(sessionId: string, serverId: string, ttlMs: number): Promise<boolean> {
    if (this.lease(sessionId) !== serverId) return false;
    this.leases.set(sessionId, { serverId, expiresAt: Date.now() + ttlMs });
    return true;
  }
  async releaseLease(sessionId: string, serverId: string): Promise<void> {
    if (this.lease(sessionId) === serverId) this.leases.delete(sessionId);
  }

  async close(): Promise<void> {
    this.flush();
  }
}
