/**
 * Pure routing functions. Rendezvous (highest-random-weight) hashing pins a user to a server so that
 * adding a server moves only about 1/(N+1) of users; the guide's modulo hash moves most of them.
 */
import { createHash } from "node:crypto";

function weight(serverId: string, key: string): bigint {
  return createHash("sha256").update(serverId).update("\0").update(key).digest().readBigUInt64BE(0);
}

export function rendezvous(key: string, serverIds: readonly string[]): string {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const id of serverIds) {
    const w = weight(id, key);
    if (w > bestWeight || (w === bestWeight && best !== undefined && id < best)) {
      best = id;
      bestWeight = w;
    }
  }
  if (best === undefined) throw new Error("rendezvous: no servers");
  return best;
}

/** The guide's hash: kept only to measure against, and as the switch that shows the test catches it. */
export function moduloHash(key: string, serverIds: readonly string[]): string {
  let hash = 0;
  for (let i = 0; i < key.length; i++) {
    hash = (hash << 5) - hash + key.charCodeAt(i);
    hash |= 0;
  }
  const id = serverIds[Math.abs(hash) % serverIds.length];
  if (id === undefined) throw new Error("moduloHash: no servers");
  return id;
}

/** Fraction of keys whose server changes when going from `before` to `after`. */
export function remapFraction(
  keys: readonly string[],
  before: readonly string[],
  after: readonly string[],
  pick: (key: string, servers: readonly string[]) => string,
): number {
  let moved = 0;
  for (const k of keys) if (pick(k, before) !== pick(k, after)) moved++;
  return keys.length === 0 ? 0 : moved / keys.length;
}
