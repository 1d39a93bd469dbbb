/**
 * The store behind ownership, locks and session leases. One interface, two implementations:
 * in-process (this file; the default for a single replica, optionally snapshotted to a file so a
 * restarted gateway keeps its registry) and Redis (redis-store.ts) for several replicas.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export interface SessionRecord {
  sessionId: string;
  /** The user who owns it; rooms are owned by no user (`room:<name>`); "chat" = an ephemeral /v1/chat session. */
  owner: string;
  kind: "session" | "room" | "chat";
  persistent: boolean;
  model?: string;
  createdAt: number;
  lastActiveAt: number;
  /** The CLI server whose state holds the session (fixed for per-user and sticky routing). */
  serverId?: string;
}

export interface Store {
  readonly kind: "memory" | "redis";
  /** Adds a record; false when the id is taken. */
  createSession(rec: SessionRecord): Promise<boolean>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  updateSession(id: string, patch: Partial<Omit<SessionRecord, "sessionId" | "owner" | "kind">>): Promise<void>;
  listSessions(owner: string): Promise<SessionRecord[]>;
  allSessions(): Promise<SessionRecord[]>;
  deleteSession(id: string): Promise<boolean>;
  close(): Promise<void>;
}

export class MemoryStore implements Store {
  readonly kind = "memory" as const;
  private sessions = new Map<string, SessionRecord>();
  private saveTimer: NodeJS.Timeout | undefined;

  /** With `file`, the registry is loaded from and saved to that JSON file (atomic rename). */
  constructor(private readonly file?: string) {
    if (file) {
      try {
        const rows = JSON.parse(readFileSync(file, "utf8")) as SessionRecord[];
        for (const r of rows) this.sessions.set(r.sessionId, r);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`cannot load store file ${file}: ${(err as Error).message}`);
      }
    }
  }

  private changed(): void {
    if (!this.file || this.saveTimer) return;
    // Coalesce bursts of writes; flushed on close.
    this.saveTimer = setTimeout(() => this.flush(), 50);
  }

  private flush(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    if (!this.file) return;
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify([...this.sessions.values()]));
    renameSync(tmp, this.file);
  }

  async createSession(rec: SessionRecord): Promise<boolean> {
    if (this.sessions.has(rec.sessionId)) return false;
    this.sessions.set(rec.sessionId, { ...rec });
    this.changed();
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
    this.changed();
  }
  async listSessions(owner: string): Promise<SessionRecord[]> {
    return [...this.sessions.values()].filter((r) => r.owner === owner).map((r) => ({ ...r }));
  }
  async allSessions(): Promise<SessionRecord[]> {
    return [...this.sessions.values()].map((r) => ({ ...r }));
  }
  async deleteSession(id: string): Promise<boolean> {
    const had = this.sessions.delete(id);
    if (had) this.changed();
    return had;
  }
  async close(): Promise<void> {
    if (this.saveTimer || this.file) this.flush();
  }
}
