/**
 * The load scenarios: what each needs from a target, and its smoke and full profiles.
 * The k6 scripts (scripts/load/<name>.js) read these parameters from the load config, so the
 * numbers live here once, typed, and the runner and the LoadTest component agree on them.
 */
import { fileURLToPath } from "node:url";
import type { Feature, TargetDescriptor } from "../../topology/index.js";

/** Folder of the k6 scripts. */
export const LOAD_SCRIPTS_DIR = fileURLToPath(new URL(".", import.meta.url));
/** Modules every scenario script imports; with the scenario's own file, all k6 needs to run it. */
export const K6_MODULES = ["k6-lib.js", "checks.ts", "summary.ts"] as const;

export const SCENARIO_NAMES = ["chat-ramp", "ephemeral-burst", "room-contention", "sticky-spread", "soak"] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];
export const PROFILE_NAMES = ["smoke", "full"] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export interface Stage {
  durationS: number;
  target: number;
}

export interface ScenarioNeeds {
  /** Conformance features the target must claim. */
  features: readonly Feature[];
  /** Fewest CLI servers the target must list (spread needs more than one). */
  minServers?: number;
}

/** A profile with everything the runner needs, whatever the scenario. */
export interface ResolvedProfile {
  /** Handed to the k6 script as `config.params`. */
  params: Readonly<Record<string, unknown>>;
  /** Distinct users to mint tokens for. */
  users: number;
  /** Rooms to create names for (room-contention only). */
  rooms: number;
  /** Upper bound of the k6 wall time, graceful stop included. */
  maxDurationS: number;
}

export interface Scenario {
  name: ScenarioName;
  /** The k6 script, relative to scripts/load. */
  file: string;
  summary: string;
  needs: ScenarioNeeds;
  resolve(profile: ProfileName): ResolvedProfile;
}

interface Common {
  /** k6 gracefulStop / gracefulRampDown: how long in-flight turns may finish. */
  gracefulStopS: number;
  /** Thresholds: p95 of one turn, in milliseconds. */
  p95Ms: number;
}

export interface ChatRampParams extends Common {
  stages: Stage[];
  turnsPerSession: number;
  thinkMs: number;
  /**
   * When the target detaches idle sessions within this many seconds, each session pauses past the
   * idle timeout once, mid-way, so its next turn needs a resume: the history check then covers it.
   */
  resumePauseMaxS: number;
}
export interface EphemeralBurstParams extends Common {
  startRate: number;
  /** Arrival rate per second at the end of each stage. */
  stages: Stage[];
  preAllocatedVUs: number;
  maxVUs: number;
  /** Iterations k6 could not start in time (too few VUs), tolerated before the run fails. */
  maxDropped: number;
}
export interface RoomContentionParams extends Common {
  vus: number;
  durationS: number;
  rooms: number;
  thinkMs: number;
  /** Tolerated share of 423 (room lock wait timed out) among room posts. */
  max423Rate: number;
}
export interface StickySpreadParams extends Common {
  vus: number;
  durationS: number;
  /** Each VU owns this many users and cycles through them, so repeats reveal re-routing. */
  usersPerVu: number;
  thinkMs: number;
}
export interface SoakParams extends Common {
  vus: number;
  durationS: number;
  /** Latency is bucketed into windows of this length; the slope is fitted over window medians. */
  windowS: number;
  thinkMs: number;
  /** A session is deleted and replaced after this many turns (the history the CLI replays grows). */
  turnsPerSession: number;
  /** Fail when p50 latency grows faster than this (ms per minute); omitted = report only. */
  maxDriftMsPerMin?: number;
}

const sum = (stages: Stage[]) => stages.reduce((s, x) => s + x.durationS, 0);
const peak = (stages: Stage[]) => Math.max(...stages.map((x) => x.target));

function define<P extends Common>(spec: {
  name: ScenarioName;
  summary: string;
  needs: ScenarioNeeds;
  profiles: Record<ProfileName, P>;
  users(p: P): number;
  rooms?(p: P): number;
  durationS(p: P): number;
}): Scenario {
  return {
    name: spec.name,
    file: `${spec.name}.js`,
    summary: spec.summary,
    needs: spec.needs,
    resolve(profile) {
      const p = spec.profiles[profile];
      return {
        params: p as unknown as Record<string, unknown>,
        users: spec.users(p),
        rooms: spec.rooms?.(p) ?? 0,
        maxDurationS: spec.durationS(p) + p.gracefulStopS,
      };
    },
  };
}

export const SCENARIOS: Readonly<Record<ScenarioName, Scenario>> = {
  "chat-ramp": define<ChatRampParams>({
    name: "chat-ramp",
    summary: "Ramping users holding multi-turn persistent sessions; turn numbers must rise by one per message.",
    needs: { features: ["sessions", "persistence"] },
    profiles: {
      smoke: {
        stages: [
          { durationS: 4, target: 2 },
          { durationS: 12, target: 4 },
          { durationS: 4, target: 0 },
        ],
        turnsPerSession: 4,
        thinkMs: 200,
        resumePauseMaxS: 5,
        gracefulStopS: 10,
        p95Ms: 5000,
      },
      full: {
        stages: [
          { durationS: 120, target: 50 },
          { durationS: 300, target: 200 },
          { durationS: 300, target: 200 },
          { durationS: 60, target: 0 },
        ],
        turnsPerSession: 10,
        thinkMs: 2000,
        resumePauseMaxS: 60,
        gracefulStopS: 60,
        p95Ms: 10000,
      },
    },
    users: (p) => peak(p.stages),
    durationS: (p) => sum(p.stages),
  }),
  "ephemeral-burst": define<EphemeralBurstParams>({
    name: "ephemeral-burst",
    summary: "Arrival-rate bursts of one-shot POST /v1/chat calls.",
    needs: { features: ["ephemeral-chat"] },
    profiles: {
      smoke: {
        startRate: 1,
        stages: [
          { durationS: 6, target: 3 },
          { durationS: 8, target: 3 },
          { durationS: 3, target: 0 },
        ],
        preAllocatedVUs: 6,
        maxVUs: 12,
        maxDropped: 5,
        gracefulStopS: 10,
        p95Ms: 5000,
      },
      full: {
        startRate: 5,
        stages: [
          { durationS: 60, target: 50 },
          { durationS: 300, target: 50 },
          { durationS: 30, target: 100 },
          { durationS: 60, target: 100 },
          { durationS: 30, target: 0 },
        ],
        preAllocatedVUs: 100,
        maxVUs: 1000,
        maxDropped: 100,
        gracefulStopS: 60,
        p95Ms: 10000,
      },
    },
    users: (p) => p.maxVUs,
    durationS: (p) => sum(p.stages),
  }),
  "room-contention": define<RoomContentionParams>({
    name: "room-contention",
    summary: "Many users posting to a few rooms; room turn numbers must run 1..N and 423s stay rare.",
    needs: { features: ["rooms", "room-lock"] },
    profiles: {
      smoke: { vus: 8, durationS: 15, rooms: 2, thinkMs: 100, max423Rate: 0.05, gracefulStopS: 10, p95Ms: 10000 },
      full: { vus: 100, durationS: 600, rooms: 5, thinkMs: 1000, max423Rate: 0.02, gracefulStopS: 60, p95Ms: 30000 },
    },
    users: (p) => p.vus,
    rooms: (p) => p.rooms,
    durationS: (p) => p.durationS,
  }),
  "sticky-spread": define<StickySpreadParams>({
    name: "sticky-spread",
    summary: "Per-server counts from x-copilot-server: every user stays on one server, imbalance reported.",
    needs: { features: ["sticky-routing"], minServers: 2 },
    profiles: {
      smoke: { vus: 6, durationS: 15, usersPerVu: 5, thinkMs: 100, gracefulStopS: 10, p95Ms: 5000 },
      full: { vus: 50, durationS: 600, usersPerVu: 20, thinkMs: 500, gracefulStopS: 60, p95Ms: 10000 },
    },
    users: (p) => p.vus * p.usersPerVu,
    durationS: (p) => p.durationS,
  }),
  soak: define<SoakParams>({
    name: "soak",
    summary: "Long sessions over time; the slope of p50 latency is reported (CLI drift, copilot-cli #2755).",
    needs: { features: ["sessions", "persistence"] },
    profiles: {
      smoke: { vus: 3, durationS: 20, windowS: 4, thinkMs: 300, turnsPerSession: 1000, gracefulStopS: 10, p95Ms: 5000 },
      full: {
        vus: 20,
        durationS: 4 * 3600,
        windowS: 300,
        thinkMs: 5000,
        turnsPerSession: 200,
        gracefulStopS: 60,
        p95Ms: 10000,
        maxDriftMsPerMin: 5,
      },
    },
    users: (p) => p.vus,
    durationS: (p) => p.durationS,
  }),
};

export function isScenarioName(value: string): value is ScenarioName {
  return (SCENARIO_NAMES as readonly string[]).includes(value);
}
export function isProfileName(value: string): value is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(value);
}

/** Why the target cannot serve the scenario, or undefined when it can. */
export function unsupportedReason(scenario: Scenario, target: TargetDescriptor): string | undefined {
  const label = `target ${target.name ?? "(unnamed)"} (topology ${target.topology}, platform ${target.platform})`;
  const missing = scenario.needs.features.filter((f) => !target.features.includes(f));
  if (missing.length > 0) {
    return `scenario ${scenario.name} needs feature(s) ${missing.join(", ")}, which ${label} does not claim`;
  }
  const min = scenario.needs.minServers ?? 0;
  if (target.servers.length < min) {
    return `scenario ${scenario.name} needs at least ${min} CLI servers; ${label} lists ${target.servers.length}`;
  }
  return undefined;
}
