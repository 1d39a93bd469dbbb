/**
 * Readiness's write probe, shared across replicas through the store: a ping answers even with a full
 * or read-only disk, so readiness creates and deletes a throwaway session on each CLI. Every replica
 * doing that for every CLI on every readiness check would cost replicas × CLIs sessions per interval;
 * instead one replica claims the CLI's probe for the interval (set-if-absent with a TTL), runs it and
 * stores the result, and the others read that result. So each CLI sees at most one probe session per
 * interval, however many replicas there are.
 */
import type { Backend } from "./backends.js";
import type { Metrics } from "./metrics.js";
import type { Store } from "./store.js";

export const WRITE_PROBE_EVERY_MS = 5_000;
const key = (serverId: string) => `write-probe:${serverId}`;

export interface WriteProbeDeps {
  store: Store;
  metrics: Metrics;
  everyMs?: number;
  /** Test switch: every replica probes on its own (the per-replica cache only), as before. */
  unshared?: boolean;
}

export async function checkWritableShared(b: Backend, probeId: string, deps: WriteProbeDeps): Promise<void> {
  const everyMs = deps.everyMs ?? WRITE_PROBE_EVERY_MS;
  const probe = async (ms: number) => {
    const ran = await b.checkWritable(probeId, ms);
    if (ran) deps.metrics.writeProbes.inc({ server: b.id });
  };
  if (deps.unshared) return probe(everyMs);
  let claimed: boolean;
  try {
    claimed = await deps.store.kvSetIfAbsent(key(b.id), "running", everyMs);
  } catch {
    return probe(everyMs); // the store is failing (readiness reports it): fall back to this replica's own probe
  }
  if (claimed) {
    try {
      await probe(0);
      await deps.store.kvSet(key(b.id), "ok", everyMs).catch(() => undefined);
    } catch (err) {
      await deps.store.kvSet(key(b.id), `error:${(err as Error).message}`, everyMs).catch(() => undefined);
      throw err;
    }
    return;
  }
  // Another replica probed this CLI within the interval (or is probing it now): its result stands.
  const result = await deps.store.kvGet(key(b.id)).catch(() => undefined);
  if (result?.startsWith("error:")) throw new Error(result.slice("error:".length));
}
