/**
 * The CLI servers behind this gateway and how a request picks one, by topology routing mode.
 */
import { TOPOLOGIES, type GatewayConfig, type RoutingMode } from "../topology/index.js";
import { Backend } from "./backends.js";
import { ApiError, unavailable } from "./errors.js";
import { rendezvous } from "./routing.js";
import type { SessionRecord } from "./store.js";

export interface BackendPool {
  readonly mode: RoutingMode;
  /** Servers that must answer a ping for the replica to be ready. */
  all(): Backend[];
  byId(id: string): Backend | undefined;
  /** The server a new session of this user goes to. */
  forNewSession(user: string): Promise<Backend>;
  /** The server that serves an existing session. */
  forSession(rec: SessionRecord, user: string): Promise<Backend>;
  close(): Promise<void>;
}

/** Fixed servers from config: shared, collaborative, sticky, shared-storage, isolated with static tenants. */
export class StaticPool implements BackendPool {
  readonly mode: RoutingMode;
  private readonly backends: Backend[];
  private readonly ids: string[];

  constructor(
    cfg: GatewayConfig,
    tokenOf: (envName: string) => string,
    private readonly loadOf: (backendId: string) => number,
    /** Test switch: route sticky users with the guide's modulo hash instead of rendezvous. */
    private readonly pick: (key: string, ids: readonly string[]) => string = rendezvous,
  ) {
    if (cfg.backends.kind !== "static") throw new Error("StaticPool needs static backends");
    this.mode = TOPOLOGIES[cfg.topology].routing;
    this.backends = cfg.backends.servers.map((s) => new Backend({ id: s.id, address: s.address, user: s.user }, tokenOf(s.tokenEnv)));
    this.ids = this.backends.map((b) => b.id);
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
      case "least-loaded": {
        let best = this.first();
        for (const b of this.backends) if (this.loadOf(b.id) < this.loadOf(best.id)) best = b;
        return best;
      }
      case "per-user": {
        const own = this.backends.find((b) => b.info.user === user);
        if (!own) throw new ApiError(403, "no_server_for_user", "no CLI server is provisioned for this user");
        return own;
      }
    }
  }

  async forSession(rec: SessionRecord, user: string): Promise<Backend> {
    if (this.mode === "least-loaded") return this.forNewSession(user);
    const b = rec.serverId ? this.byId(rec.serverId) : undefined;
    if (!b) throw unavailable("server_unavailable", `CLI server ${rec.serverId ?? "(none)"} that holds this session is not configured`, 5);
    return b;
  }

  async close(): Promise<void> {
    await Promise.all(this.backends.map((b) => b.close()));
  }
}
