/**
 * The CLI servers behind this gateway and how a request picks one, by topology routing mode.
 */
import { TOPOLOGIES, type GatewayConfig, type RoutingMode } from "../topology/index.js";
import { Backend } from "./backends.js";
import { ApiError, unavailable } from "./errors.js";
import type { Metrics } from "./metrics.js";
import { rendezvous } from "./routing.js";
import type { SessionRecord, Store } from "./store.js";

export interface BackendPool {
  readonly mode: RoutingMode;
  /** Servers that must answer a ping for the replica to be ready. */
  all(): Backend[];
  byId(id: string): Backend | undefined;
  /** The server a new session of this user goes to. */
  forNewSession(user: string): Promise<Backend>;
  /** The server that serves an existing session. */
  forSession(rec: SessionRecord, user: string): Promise<Backend>;
  /** Records a ping result, so routing can avoid a dead server. */
  markHealth?(id: string, ok: boolean): void;
  /** Takes the lease of a session just created on `backend` (shared-storage). */
  claimNew?(sessionId: string, backend: Backend): Promise<void>;
  close(): Promise<void>;
}

/** Session leases for least-loaded routing (shared-storage): one server has a session open at a time. */
export interface LeaseOptions {
  store: Store;
  metrics: Metrics;
  ttlMs: number;
  /** Test switch: no lease; each replica prefers its own server, as independent load balancers would. */
  disabled?: boolean;
  replicaIndex: number;
}

/** Fixed servers from config: shared, collaborative, sticky, shared-storage, isolated with static tenants. */
export class StaticPool implements BackendPool {
  readonly mode: RoutingMode;
  private readonly backends: Backend[];
  private readonly ids: string[];
  /** Servers that failed their last ping; least-loaded routing avoids them while others answer. */
  private readonly down = new Set<string>();

  constructor(
    cfg: GatewayConfig,
    tokenOf: (envName: string) => string,
    private readonly loadOf: (backendId: string) => number,
    /** Rendezvous by default; the guide's modulo hash only as a test switch. */
    private readonly pick: (key: string, ids: readonly string[]) => string = rendezvous,
    private readonly leases?: LeaseOptions,
  ) {
    if (cfg.backends.kind !== "static") throw new Error("StaticPool needs static backends");
    this.mode = TOPOLOGIES[cfg.topology].routing;
    const silenceLimitMs = cfg.lifecycle.cliSilenceSeconds * 1000;
    this.backends = cfg.backends.servers.map((s) => new Backend({ id: s.id, address: s.address, user: s.user }, tokenOf(s.tokenEnv), { silenceLimitMs }));
    this.ids = this.backends.map((b) => b.id);
  }

  /** Records a ping result (readiness, health loop, failed turns). */
  markHealth(id: string, ok: boolean): void {
    if (ok) this.down.delete(id);
    else this.down.add(id);
  }

  /** Pings every server and updates the health set; used by the background health loop. */
  async refreshHealth(): Promise<void> {
    await Promise.all(
      this.backends.map(async (b) => {
        try {
          await b.ping(1_500);
          this.markHealth(b.id, true);
        } catch {
          this.markHealth(b.id, false);
        }
      }),
    );
  }

  private leastLoaded(exclude?: string): Backend {
    const others = this.backends.filter((b) => b.id !== exclude);
    const healthy = others.filter((b) => !this.down.has(b.id));
    // Health is advice: when every other server looks down, try one anyway rather than refuse.
    const candidates = healthy.length > 0 ? healthy : others;
    if (candidates.length === 0) throw unavailable("no_healthy_server", "no other CLI server is available", 2);
    // Ties go to a different server per replica, so replicas spread out.
    const offset = this.leases?.replicaIndex ?? 0;
    let best = candidates[offset % candidates.length]!;
    for (const b of candidates) if (this.loadOf(b.id) < this.loadOf(best.id)) best = b;
    return best;
  }

  /** shared-storage: the lease holder if it is healthy, else a healthy server takes the lease over. */
  private async leased(sessionId: string): Promise<Backend> {
    const l = this.leases!;
    if (l.disabled) return this.leastLoaded();
    const current = await l.store.getLease(sessionId);
    const holder = current ? this.byId(current) : undefined;
    if (holder && !this.down.has(holder.id)) {
      await l.store.claimLease(sessionId, holder.id, l.ttlMs);
      return holder;
    }
    const next = this.leastLoaded(holder?.id);
    const got = await l.store.claimLease(sessionId, next.id, l.ttlMs, holder?.id);
    if (got !== next.id) return this.byId(got) ?? next;
    if (holder) l.metrics.leaseMoves.inc();
    return next;
  }

  all(): Backend[] {
    return this.backends;
  }

  byId(id: string): Backend | undefined {
    return this.backends.find((b) => b.id === id);
  }

  private first(): Backend {
    return this.backends[0]!;
  }

  async forNewSession(user: string): Promise<Backend> {
    switch (this.mode) {
      case "single":
        return this.first();
      case "rendezvous":
        return this.byId(this.pick(user, this.ids))!;
      case "least-loaded":
        return this.leastLoaded();
      case "per-user": {
        const own = this.backends.find((b) => b.info.user === user);
        if (!own) throw new ApiError(403, "no_server_for_user", "no CLI server is provisioned for this user");
        return own;
      }
    }
  }

  async forSession(rec: SessionRecord, _user: string): Promise<Backend> {
    if (this.mode === "least-loaded") return this.leases ? this.leased(rec.sessionId) : this.leastLoaded();
    const b = rec.serverId ? this.byId(rec.serverId) : undefined;
    if (!b) throw unavailable("server_unavailable", `CLI server ${rec.serverId ?? "(none)"} that holds this session is not configured`, 5);
    return b;
  }

  /** Claims the lease of a session just created on `backend` (shared-storage). */
  async claimNew(sessionId: string, backend: Backend): Promise<void> {
    if (this.leases && !this.leases.disabled) await this.leases.store.claimLease(sessionId, backend.id, this.leases.ttlMs);
  }

  /** Keeps the leases of sessions attached here; false for a lease another server has taken. */
  async renewLease(sessionId: string, backendId: string): Promise<boolean> {
    if (!this.leases || this.leases.disabled) return true;
    return (await this.leases.store.claimLease(sessionId, backendId, this.leases.ttlMs)) === backendId;
  }

  async close(): Promise<void> {
    await Promise.all(this.backends.map((b) => b.close()));
  }
}
