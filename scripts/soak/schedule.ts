/**
 * The soak's fault schedule and profiles: a pure function of a seed (fast-check's seeded
 * generator, without its bias toward small values), so a failing soak replays with `--seed N`.
 */
import fc from "fast-check";

export const FAULT_KINDS = [
  "cli-sigkill",
  "cli-sigstop",
  "cli-unwritable",
  "gateway-sigkill",
  "gateway-sigstop",
  "gateway-sigterm",
  "redis-sigkill",
  "redis-sigstop",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  /** Wait after the previous fault was scheduled. */
  gapMs: number;
  kind: FaultKind;
  /** Gateway replica for gateway faults (modulo the replica count). */
  replica: number;
  /** How long a pause (SIGSTOP) or an unwritable state lasts. */
  holdMs: number;
}

export interface SoakProfile {
  name: "soak" | "ci";
  /** Seconds of load (and faults); k6 then lets requests in flight finish. */
  loadS: number;
  gracefulStopS: number;
  vus: { sessions: number; rooms: number; chats: number };
  turnsPerSession: number;
  /** Every Nth session of a VU is deleted at its end. */
  deleteEvery: number;
  /** A delete answered with an error is retried this often (pausing Retry-After, at most 3 s). */
  deleteAttempts: number;
  rooms: number;
  thinkMs: number;
  /** A request with no answer for this long is a violation (silence). */
  requestTimeoutS: number;
  gapMs: { min: number; max: number };
  holdMs: { min: number; max: number };
  /** The run fails with fewer faults injected. */
  minFaults: number;
}

const base = {
  gracefulStopS: 30,
  vus: { sessions: 4, rooms: 3, chats: 2 },
  turnsPerSession: 8,
  deleteEvery: 2,
  deleteAttempts: 15,
  rooms: 3,
  thinkMs: 200,
  requestTimeoutS: 60,
  holdMs: { min: 1_000, max: 4_000 },
};

export const PROFILES: Readonly<Record<SoakProfile["name"], SoakProfile>> = {
  // 10 minutes of load, a fault every 1.5-6.5 s (4 s on average): about 150 scheduled.
  soak: { ...base, name: "soak", loadS: 600, gapMs: { min: 1_500, max: 6_500 }, minFaults: 100 },
  // CI: within 3 minutes all told (start, 100 s of load, settling, histories, stop).
  ci: { ...base, name: "ci", loadS: 90, gracefulStopS: 20, gapMs: { min: 1_000, max: 4_000 }, minFaults: 15 },
};

/** Enough faults to cover the load at the shortest gap; the injector stops when the load ends. */
export function faultSchedule(seed: number, profile: SoakProfile): Fault[] {
  const fault = fc.record({
    gapMs: fc.integer(profile.gapMs),
    kind: fc.constantFrom(...FAULT_KINDS),
    replica: fc.nat({ max: 15 }),
    holdMs: fc.integer(profile.holdMs),
  });
  const count = Math.ceil((profile.loadS * 1000) / profile.gapMs.min);
  return fc.sample(fc.noBias(fault), { seed, numRuns: count });
}

/** A fresh seed when none is given (printed, so the run replays). */
export const newSeed = () => Math.floor(Math.random() * 2 ** 31);
