/**
 * The five deployment topologies of the guide, as typed values.
 * Pure data: imported by the gateway, the local platform, the Pulumi stacks and the conformance suite.
 */
export const TOPOLOGY_NAMES = ["isolated", "shared", "collaborative", "sticky", "shared-storage"] as const;
export type TopologyName = (typeof TOPOLOGY_NAMES)[number];

export const PLATFORM_NAMES = ["local", "kubernetes", "aci"] as const;
export type PlatformName = (typeof PLATFORM_NAMES)[number];

/** How the gateway picks a CLI server for a request. */
export type RoutingMode =
  | "per-user" // each user owns a server (spawned or statically assigned)
  | "single" // one server for everyone
  | "rendezvous" // users pinned by highest-random-weight hashing; no state sharing
  | "least-loaded"; // any server, guarded by a session lease in the store

/** Routing over N interchangeable servers: the topologies that scale out by adding one. */
export const MULTI_SERVER_ROUTING: readonly RoutingMode[] = ["rendezvous", "least-loaded"];

export interface Topology {
  readonly name: TopologyName;
  readonly summary: string;
  readonly routing: RoutingMode;
  /** Number of CLI servers when the user does not say (per-user topologies grow on demand). */
  readonly defaultServers: number;
  /** All servers mount one state directory (RWX volume / Azure Files share). */
  readonly sharedState: boolean;
  /** A shared store (Redis) is required, even with one gateway replica, on real platforms. */
  readonly requiresSharedStore: boolean;
  /** Rooms (POST /v1/rooms/:room/messages) are served. */
  readonly rooms: boolean;
  /** Platforms that can carry the topology honestly. */
  readonly platforms: readonly PlatformName[];
}

export const TOPOLOGIES: Readonly<Record<TopologyName, Topology>> = {
  isolated: {
    name: "isolated",
    summary: "A CLI server per user: own process, own COPILOT_HOME, own connection token.",
    routing: "per-user",
    defaultServers: 0,
    sharedState: false,
    requiresSharedStore: false,
    rooms: false,
    platforms: ["local", "kubernetes", "aci"],
  },
  shared: {
    name: "shared",
    summary: "One CLI server; the gateway keeps per-user session ownership.",
    routing: "single",
    defaultServers: 1,
    sharedState: false,
    requiresSharedStore: false,
    rooms: false,
    platforms: ["local", "kubernetes", "aci"],
  },
  collaborative: {
    name: "collaborative",
    summary: "Shared rooms: many users post to one session, serialized by a fenced lock.",
    routing: "single",
    defaultServers: 1,
    sharedState: false,
    requiresSharedStore: true,
    rooms: true,
    platforms: ["local", "kubernetes"],
  },
  sticky: {
    name: "sticky",
    summary: "N CLI servers, each with its own state; users pinned by rendezvous hashing.",
    routing: "rendezvous",
    defaultServers: 3,
    sharedState: false,
    requiresSharedStore: false,
    rooms: false,
    platforms: ["local", "kubernetes"],
  },
  "shared-storage": {
    name: "shared-storage",
    summary: "N CLI servers on one state directory; a session lease keeps one writer per session.",
    routing: "least-loaded",
    defaultServers: 2,
    sharedState: true,
    requiresSharedStore: true,
    rooms: false,
    platforms: ["local", "kubernetes", "aci"],
  },
};

export function isTopologyName(value: string): value is TopologyName {
  return (TOPOLOGY_NAMES as readonly string[]).includes(value);
}
