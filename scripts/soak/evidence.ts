/**
 * Evidence for a soak's leftover records: each record as the store holds it (state, times, server)
 * and whether the store's index lists it, which the reconciler and TTL cleanup read. For diagnosis.
 */
import { Redis } from "ioredis";
import { REDIS_KEYS, storeUrlOf } from "../../conformance/leftovers.js";
import type { TargetDescriptor } from "../../topology/index.js";

export interface RecordEvidence {
  id: string;
  record: unknown;
  /** Listed in the store's index of all sessions (`csk:sessions`). */
  indexed: boolean;
}

export async function recordEvidence(t: TargetDescriptor, ids: string[]): Promise<RecordEvidence[]> {
  const url = storeUrlOf(t);
  if (!url || ids.length === 0) return [];
  const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    return await Promise.all(
      ids.map(async (id) => {
        const raw = await redis.get(`${REDIS_KEYS.session}${id}`);
        return { id, record: raw ? (JSON.parse(raw) as unknown) : null, indexed: (await redis.sismember(REDIS_KEYS.all, id)) === 1 };
      }),
    );
  } finally {
    redis.disconnect();
  }
}
