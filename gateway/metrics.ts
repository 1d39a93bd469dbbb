/** Prometheus metrics of the gateway (prom-client). Labels never carry user ids, tokens or prompts. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "copilot_gateway_" });
  const m = {
    registry,
    httpRequests: new Counter({
      name: "copilot_gateway_http_requests_total",
      help: "HTTP requests by route and status",
      labelNames: ["method", "route", "status"] as const,
      registers: [registry],
    }),
    streams: new Counter({
      name: "copilot_gateway_streams_total",
      help: "Streamed (SSE) turns by route and outcome: done, error, or client_gone (the client left before the end)",
      labelNames: ["route", "outcome"] as const,
      registers: [registry],
    }),
    activeSessions: new Gauge({
      name: "copilot_gateway_active_sessions",
      help: "Sessions attached to a CLI server through this replica",
      labelNames: ["server"] as const,
      registers: [registry],
    }),
    inflightTurns: new Gauge({
      name: "copilot_gateway_inflight_turns",
      help: "Turns running now through this replica",
      registers: [registry],
    }),
    turnDuration: new Histogram({
      name: "copilot_gateway_turn_duration_seconds",
      help: "Latency of one turn (prompt to final reply), by server and kind",
      labelNames: ["server", "kind", "outcome"] as const,
      buckets: [0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    detaches: new Counter({
      name: "copilot_gateway_session_detaches_total",
      help: "Sessions detached from their CLI (memory freed, state kept), by reason",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    evictions: new Counter({
      name: "copilot_gateway_evictions_total",
      help: "Idle sessions detached to make room on a full server",
      registers: [registry],
    }),
    sessionsDeleted: new Counter({
      name: "copilot_gateway_sessions_deleted_total",
      help: "Sessions whose state was deleted, by reason",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    backendUp: new Gauge({
      name: "copilot_gateway_backend_up",
      help: "1 while the CLI server answered its last protocol ping",
      labelNames: ["server"] as const,
      registers: [registry],
    }),
    lockWait: new Histogram({
      name: "copilot_gateway_lock_wait_seconds",
      help: "Time a room turn waited for the room lock",
      labelNames: ["outcome"] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    leaseMoves: new Counter({
      name: "copilot_gateway_lease_moves_total",
      help: "Session leases taken over from another server (shared-storage)",
      registers: [registry],
    }),
    culls: new Counter({
      name: "copilot_gateway_cli_culls_total",
      help: "Idle per-user CLI servers drained and stopped",
      registers: [registry],
    }),
    cliSpawns: new Counter({
      name: "copilot_gateway_cli_spawns_total",
      help: "Per-user CLI servers started: first of a user, respawn after a cull, restart after a crash",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    spawnRefusals: new Counter({
      name: "copilot_gateway_cli_spawn_refusals_total",
      help: "New per-user CLI servers refused because backends.maxServers were running (503 server_capacity)",
      registers: [registry],
    }),
    cliSpawnDuration: new Histogram({
      name: "copilot_gateway_cli_spawn_seconds",
      help: "Time from spawning a per-user CLI server to it listening",
      buckets: [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    writeProbes: new Counter({
      name: "copilot_gateway_write_probes_total",
      help: "Readiness write probes this replica ran (a throwaway session created and deleted on the CLI)",
      labelNames: ["server"] as const,
      registers: [registry],
    }),
    drains: new Counter({
      name: "copilot_gateway_drains_total",
      help: "Graceful drains started (SIGTERM)",
      registers: [registry],
    }),
    draining: new Gauge({
      name: "copilot_gateway_draining",
      help: "1 while this replica drains",
      registers: [registry],
    }),
  };
  return m;
}
export type Metrics = ReturnType<typeof createMetrics>;
