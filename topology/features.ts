/**
 * Conformance features and profiles, after the Kubernetes Gateway API conformance suite:
 * tests declare the features they need, a target claims features, profiles group features.
 */
import type { TopologyName } from "./topologies.js";

/** The core API every topology serves: sessions, and the client API (history, abort, models, Idempotency-Key, the OpenAPI document). */
export const CORE_API = [
  "sessions",
  "session-isolation",
  "persistence",
  "ephemeral-chat",
  "streaming",
  "bad-input",
  "readiness",
  "metrics",
  "history",
  "abort",
  "models",
  "idempotency",
  "openapi",
] as const;
const LIFECYCLE = ["idle-detach", "session-ttl", "eviction", "drain"] as const;
// Claimed only when a per-user limit is configured (http.rateLimitPerMinute > 0), and a per-user
// turn cap small enough to observe against a small server (user-quotas: one user holding its
// maximum of slow turns does not slow the others, the noisy-neighbour test). user-identity: each
// user's sessions carry their own GitHub token (identity.source set; locally with --user-tokens-dir).
const PROTECTION = ["rate-limit", "user-quotas", "user-identity"] as const;
const PLATFORM = ["multi-gateway", "restart-gateway", "process-control"] as const;

export const FEATURES = [
  ...CORE_API,
  // topology mechanisms
  "per-user-cli",
  "cli-culling",
  "rooms",
  "room-lock",
  "sticky-routing",
  "session-lease",
  /** Every CLI server has a home of its own: no database or lock file is open in two CLI processes. */
  "private-homes",
  ...LIFECYCLE,
  ...PROTECTION,
  ...PLATFORM,
] as const;
export type Feature = (typeof FEATURES)[number];

export interface Profile {
  readonly topology: TopologyName;
  readonly core: readonly Feature[];
  readonly extended: readonly Feature[];
}


export const PROFILES: Readonly<Record<TopologyName, Profile>> = {
  shared: { topology: "shared", core: CORE_API, extended: [...LIFECYCLE, ...PROTECTION, ...PLATFORM] },
  isolated: {
    topology: "isolated",
    core: [...CORE_API, "per-user-cli"],
    extended: ["cli-culling", ...LIFECYCLE, ...PROTECTION, ...PLATFORM],
  },
  collaborative: {
    topology: "collaborative",
    core: [...CORE_API, "rooms", "room-lock"],
    extended: [...LIFECYCLE, ...PROTECTION, ...PLATFORM],
  },
  sticky: {
    topology: "sticky",
    core: [...CORE_API, "sticky-routing"],
    extended: [...LIFECYCLE, ...PROTECTION, ...PLATFORM],
  },
  "shared-storage": {
    topology: "shared-storage",
    core: [...CORE_API, "session-lease"],
    // Extended until the Kubernetes and ACI components lay homes out the same way (issue 13).
    extended: ["private-homes", ...LIFECYCLE, ...PROTECTION, ...PLATFORM],
  },
};
