import { describe, expect, it } from "vitest";
import { ApiError } from "./errors.js";
import type { SessionRecord } from "./store.js";
import { UserQuotas } from "./user-quotas.js";

const rec = (owner: string, kind: SessionRecord["kind"], i: number): SessionRecord => ({ sessionId: `s-${owner}-${i}`, owner, kind, persistent: true, createdAt: 0, lastActiveAt: 0, serverId: "cli-0" });

describe("per-user quotas", () => {
  it("refuses a session past the user's cap with 429 session_quota_exceeded, counting only that user's sessions", async () => {
    const rows = [rec("alice", "session", 1), rec("alice", "session", 2), rec("alice", "chat", 3), rec("bob", "session", 1)];
    const q = new UserQuotas({ maxSessionsPerUser: 2, maxTurnsInFlightPerUser: 1 }, { listSessions: async (u) => rows.filter((r) => r.owner === u) });
    const err = await q.checkNewSession("alice").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect([(err as ApiError).status, (err as ApiError).code, (err as ApiError).headers["retry-after"]]).toEqual([429, "session_quota_exceeded", "60"]);
    await expect(q.checkNewSession("bob")).resolves.toBeUndefined();
  });

  it("holds at most N turns in flight per user, others unaffected, and frees every slot when turns end or fail", async () => {
    const q = new UserQuotas({ maxSessionsPerUser: 10, maxTurnsInFlightPerUser: 2 }, { listSessions: async () => [] });
    const gates: (() => void)[] = [];
    const slow = () => new Promise<string>((resolve) => gates.push(() => resolve("ok")));
    const held = [q.withTurnSlot("alice", slow), q.withTurnSlot("alice", slow)];
    const third = await q.withTurnSlot("alice", slow).catch((e: unknown) => e);
    expect([(third as ApiError).status, (third as ApiError).code, (third as ApiError).headers["retry-after"]]).toEqual([429, "turn_quota_exceeded", "1"]);
    await expect(q.withTurnSlot("bob", async () => "bob served")).resolves.toBe("bob served");
    gates.forEach((g) => g());
    expect(await Promise.all(held)).toEqual(["ok", "ok"]);
    await expect(q.withTurnSlot("alice", async () => { throw new Error("turn failed"); })).rejects.toThrow("turn failed");
    expect(q.busyUsers()).toBe(0); // nothing left behind
    await expect(q.withTurnSlot("alice", async () => "again")).resolves.toBe("again");
  });
});
