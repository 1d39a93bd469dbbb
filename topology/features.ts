/**
 * Conformance features and profiles, after the Kubernetes Gateway API conformance suite:
 * tests declare the features they need, a target claims features, profiles group features.
 */
import type { TopologyName } from "./topologies.js";

export const FEATURES = [
  // core API, every topology
  "sessions",
  "session-isolation",
  "persistence",
  "ephemeral-chat",
  "streaming",
  "bad-input",
  "readiness",
  "metrics",
  // topology mechanisms
  "per-user-cli",
  "cli-culling",
  "rooms",
  "room-lock",
  "sticky-routing",
  "session-lease",
  // lifecycle
  "idle-detach",
  "session-ttl",
  "eviction",
  "drain",
  // platform capabilities
  "multi-gateway",
  "restart-gateway",
  "process-control",
] as const;
export type Feature = (typeof FEATURES)[number];

export interface Profile {
  readonly topology: TopologyName;
  readonly core: readonly Feature[];
  readonly extended: readonly Feature[];
}

const CORE_API: readonly Feature[] = [
  "sessions",
  "session-isolation",
  "persistence",
  "ephemeral-chat",
  "streaming",
  "bad-input",
  "readiness",
  "metrics",
];
const LIFECYCLE: readonly Feature[] = ["idle-detach", "session-ttl", "eviction", "drain"];
const PLATFORM: readonly Feature[] = ["multi-gateway", "restart-gateway", "process-control"];

export const PROFILES: Readonly<Record<TopologyName, Profile>> = {
  shared: { topology: "shared", core: CORE_API, extended: [...LIFECYCLE, ...PLATFORM] },
  isolated: {
    topology: "isolated",
    core: [...CORE_API, "per-user-cli"],
    extended: ["cli-culling", ...LIFECYCLE, ...PLATFORM],
  },
  collaborative: {
    topology: "collaborative",
    core: [...CORE_API, "rooms", "room-lock"],
    extended: [...LIFECYCLE, ...PLATFORM],
  },
  sticky: {
    topology: "sticky",
    core: [...CORE_API, "sticky-routing"],
    extended: [...LIFECYCLE, ...PLATFORM],
  },
  "shared-storage": {
    topology: "shared-storage",
    core: [...CORE_API, "session-lease"],
    extended: [...LIFECYCLE, ...PLATFORM],
  },
};
