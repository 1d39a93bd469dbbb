/**
 * User names chosen by where rendezvous hashing pins them (pure): the sticky benchmarks give every
 * CLI server the same number of users, or keep a server free of load, instead of measuring how
 * evenly a handful of names happens to hash.
 */

/**
 * `want[serverId]` names per server, each pinned there by `pick` (the gateway's routing function
 * over `serverIds`), taken in order from `${prefix}-0`, `${prefix}-1`, …
 */
export function pinnedUsers(
  prefix: string,
  serverIds: readonly string[],
  want: Readonly<Record<string, number>>,
  pick: (key: string, ids: readonly string[]) => string,
): Record<string, string[]> {
  const out: Record<string, string[]> = Object.fromEntries(Object.keys(want).map((id) => [id, []]));
  for (const id of Object.keys(want)) if (!serverIds.includes(id)) throw new Error(`pinnedUsers: ${id} is not one of ${serverIds.join(", ")}`);
  const missing = () => Object.entries(want).some(([id, n]) => out[id]!.length < n);
  // Rendezvous gives each server about 1/N of names, so this ends; the bound only guards a bad `pick`.
  const limit = 1000 * (Object.values(want).reduce((a, b) => a + b, 0) + 1) * serverIds.length;
  for (let k = 0; missing(); k++) {
    if (k > limit) throw new Error(`pinnedUsers: no ${JSON.stringify(want)} within ${limit} names`);
    const name = `${prefix}-${k}`;
    const list = out[pick(name, serverIds)];
    if (list && list.length < want[pick(name, serverIds)]!) list.push(name);
  }
  return out;
}
