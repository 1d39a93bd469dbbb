/**
 * Session capacity of the CLI servers this replica uses: how many sessions each holds or is
 * opening (least-loaded routing, culling idle per-user servers), and a reservation before a
 * session is opened that evicts the least recently used idle one, or refuses with 503 server_full.
 */
import type { Backend } from "./backends.js";
import { unavailable } from "./errors.js";

/** What capacity reads of an attached session. */
export interface Occupant {
  id: string;
  backend: Backend;
  lastActive: number;
  inflight: number;
}

export class Capacity {
  /** Sessions being opened per backend, so capacity checks count them. */
  private readonly opening = new Map<string, number>();

  constructor(
    private readonly attached: ReadonlyMap<string, Occupant>,
    private readonly maxPerServer: () => number,
    /** Detaches an idle session to make room (counted as an eviction). */
    private readonly evict: (id: string) => Promise<void>,
  ) {}

  attachedOn(backendId: string): number {
    let n = 0;
    for (const a of this.attached.values()) if (a.backend.id === backendId) n++;
    return n;
  }

  /** Load for least-loaded routing: sessions attached plus sessions being opened on the backend. */
  loadOn(backendId: string): number {
    return this.attachedOn(backendId) + (this.opening.get(backendId) ?? 0);
  }

  /** Last activity (ms) of the sessions attached to a backend; used to cull idle per-user servers. */
  lastActivityOn(backendId: string): { inflight: number; lastActive: number; count: number } {
    // Sessions being created or resumed count as work in flight too.
    let inflight = this.opening.get(backendId) ?? 0;
    let lastActive = 0;
    let count = 0;
    for (const a of this.attached.values()) {
      if (a.backend.id !== backendId) continue;
      count++;
      inflight += a.inflight;
      lastActive = Math.max(lastActive, a.lastActive);
    }
    return { inflight, lastActive, count };
  }

  /** Makes room on a backend: detach its least recently used idle session, or refuse with 503. */
  async reserve(backend: Backend): Promise<void> {
    const max = this.maxPerServer();
    while (this.loadOn(backend.id) >= max) {
      let victim: Occupant | undefined;
      for (const a of this.attached.values()) {
        if (a.backend.id !== backend.id || a.inflight > 0) continue;
        if (!victim || a.lastActive < victim.lastActive) victim = a;
      }
      if (!victim) {
        throw unavailable("server_full", `CLI server ${backend.id} has ${max} sessions with turns in flight; retry later`, 2);
      }
      await this.evict(victim.id);
    }
    this.opening.set(backend.id, (this.opening.get(backend.id) ?? 0) + 1);
  }

  /** Ends a reservation (the session is attached now, or its open failed). */
  release(backend: Backend): void {
    const n = (this.opening.get(backend.id) ?? 1) - 1;
    if (n <= 0) this.opening.delete(backend.id);
    else this.opening.set(backend.id, n);
  }
}
