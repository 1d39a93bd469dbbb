/**
 * Slow clients cannot hold the gateway: Node's header, request and keep-alive timeouts, an idle
 * socket timeout, requests per socket and a connection cap, from `http.*` of the gateway config.
 */
import type { Server } from "node:http";
import type { GatewayConfig } from "../topology/gateway-config.js";

type HttpLimits = GatewayConfig["http"];

/** Idle socket timeout: longer than the longest turn, so a quiet non-streaming turn is not cut. */
export function connectionTimeoutMs(cfg: GatewayConfig): number {
  return (cfg.http.connectionTimeoutSeconds ?? cfg.lifecycle.turnTimeoutSeconds + 60) * 1000;
}

/** Options Fastify passes to its http.Server. */
export function fastifyLimits(cfg: GatewayConfig) {
  const h = cfg.http;
  return {
    connectionTimeout: connectionTimeoutMs(cfg),
    requestTimeout: h.requestTimeoutSeconds * 1000,
    keepAliveTimeout: h.keepAliveTimeoutSeconds * 1000,
    maxRequestsPerSocket: h.maxRequestsPerSocket,
  };
}

/** What Fastify does not set: the header deadline, how often Node checks it, and the connection cap. */
export function applyServerLimits(server: Server, h: HttpLimits): void {
  server.headersTimeout = h.headersTimeoutSeconds * 1000;
  // Node checks both deadlines only this often (default 30 s): a trickler would outlive the timeout.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(1000, h.headersTimeoutSeconds * 500);
  server.maxConnections = h.maxConnections;
}
