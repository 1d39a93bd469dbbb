import { describe, expect, it } from "vitest";
import { moduloHash, remapFraction, rendezvous } from "./routing.js";

const users = Array.from({ length: 4000 }, (_, i) => `user-${i}`);
const servers = (n: number) => Array.from({ length: n }, (_, i) => `cli-${i}`);

describe("rendezvous hashing", () => {
  it("is stable for the same user", () => {
    for (const u of users.slice(0, 100)) expect(rendezvous(u, servers(4))).toBe(rendezvous(u, servers(4)));
  });

  it("spreads users evenly (each server within 15% of the mean)", () => {
    const counts = new Map<string, number>();
    for (const u of users) counts.set(rendezvous(u, servers(4)), (counts.get(rendezvous(u, servers(4))) ?? 0) + 1);
    for (const c of counts.values()) expect(Math.abs(c - 1000) / 1000).toBeLessThan(0.15);
  });

  it("moves about 1/(N+1) of users when a server is added, where modulo moves most", () => {
    const hrw = remapFraction(users, servers(4), servers(5), rendezvous);
    const mod = remapFraction(users, servers(4), servers(5), moduloHash);
    expect(hrw).toBeLessThan(1 / 5 + 0.03);
    expect(hrw).toBeGreaterThan(1 / 5 - 0.05);
    expect(mod).toBeGreaterThan(0.5);
  });

  it("only moves users onto the new server", () => {
    for (const u of users.slice(0, 500)) {
      const a = rendezvous(u, servers(4));
      const b = rendezvous(u, servers(5));
      if (a !== b) expect(b).toBe("cli-4");
    }
  });
});
