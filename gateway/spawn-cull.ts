/**
 * Culling idle per-user CLI servers: one with no turn in flight and no request for the idle timeout
 * (on this replica, and on the others when the spawner can tell) is drained and stopped; the next
 * request starts it again on the same home.
 */
import type { SessionManager } from "./sessions.js";
import type { Spawner } from "./spawner.js";
import type { Slot } from "./spawn-supervisor.js";

export interface CullDeps {
  sessions: Pick<SessionManager, "lastActivityOn">;
  spawner: Pick<Spawner, "touch" | "usedElsewhereWithin">;
  idleMs: number;
  now: () => number;
  /** Drains and stops one slot's server (SlotSupervisor.stop with cull). */
  stop: (slot: Slot) => Promise<void>;
}

/** Stops every idle server among `slots`, together; returns how many. */
export async function cullIdleSlots(slots: Slot[], deps: CullDeps): Promise<number> {
  // Stopped together: a Pod takes seconds to go, and twenty of them in turn would take minutes.
  const stops: Promise<void>[] = [];
  for (const slot of slots) {
    const run = slot.running;
    if (!run || slot.dead || slot.starting || slot.stopping) continue;
    const activity = deps.sessions.lastActivityOn(slot.id);
    const last = Math.max(slot.lastUsed, activity.lastActive, run.startedAt);
    if (activity.inflight > 0 || deps.now() - last < deps.idleMs) {
      // Tell the other replicas, which cull by the same rule: the real last use, or now while a turn runs.
      deps.spawner.touch?.(slot.id, activity.inflight > 0 ? deps.now() : last);
      continue;
    }
    if (deps.spawner.usedElsewhereWithin) {
      if (await deps.spawner.usedElsewhereWithin(slot.id, deps.idleMs)) continue;
      // A request may have come in while we asked.
      if (slot.running !== run || slot.starting || slot.stopping || deps.now() - slot.lastUsed < deps.idleMs) continue;
      if (deps.sessions.lastActivityOn(slot.id).inflight > 0) continue;
    }
    stops.push(deps.stop(slot));
  }
  await Promise.all(stops);
  return stops.length;
}
