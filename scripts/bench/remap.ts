/**
 * Remap fraction: the share of users whose server changes when a 5th server joins 4, under the
 * gateway's rendezvous hashing and under the guide's modulo hash (gateway/routing.ts).
 * Ideal for rendezvous: 1/5 of users move (only those the new server wins).
 */
import { moduloHash, remapFraction, rendezvous } from "../../gateway/routing.js";

export interface RemapResult {
  users: number;
  from: number;
  to: number;
  rendezvous: number;
  modulo: number;
  /** The least any scheme can move: the new server's fair share. */
  ideal: number;
}

export function measureRemap(users = 10_000, from = 4, to = 5): RemapResult {
  const keys = Array.from({ length: users }, (_, i) => `user-${i}`);
  const servers = (n: number) => Array.from({ length: n }, (_, i) => `cli-${i}`);
  return {
    users,
    from,
    to,
    rendezvous: remapFraction(keys, servers(from), servers(to), rendezvous),
    modulo: remapFraction(keys, servers(from), servers(to), moduloHash),
    ideal: (to - from) / to,
  };
}
