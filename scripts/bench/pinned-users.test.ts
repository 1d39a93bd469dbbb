import { describe, expect, it } from "vitest";
import { rendezvous } from "../../gateway/routing.js";
import { pinnedUsers } from "./pinned-users.js";

describe("pinnedUsers", () => {
  const ids = ["cli-0", "cli-1", "cli-2"];

  it("gives each server the asked number of names, each pinned there by the routing", () => {
    const users = pinnedUsers("u", ids, { "cli-0": 5, "cli-1": 5, "cli-2": 5 }, rendezvous);
    for (const id of ids) {
      expect(users[id]).toHaveLength(5);
      for (const name of users[id]!) expect(rendezvous(name, ids)).toBe(id);
    }
    expect(new Set(Object.values(users).flat()).size).toBe(15);
  });

  it("can leave a server without users (it gets none and takes none)", () => {
    const users = pinnedUsers("u", ids, { "cli-0": 3, "cli-1": 3 }, rendezvous);
    expect(Object.keys(users)).toEqual(["cli-0", "cli-1"]);
    expect(Object.values(users).flat().some((n) => rendezvous(n, ids) === "cli-2")).toBe(false);
  });

  it("refuses a server the routing does not know, and a routing that never picks it", () => {
    expect(() => pinnedUsers("u", ids, { "cli-9": 1 }, rendezvous)).toThrow(/not one of/);
    expect(() => pinnedUsers("u", ids, { "cli-2": 1 }, () => "cli-0")).toThrow(/within/);
  });
});
