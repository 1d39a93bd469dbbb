/**
 * createRecorded's undo touches only what its own create wrote: an id already recorded (a room's
 * record, another request's create in progress) is refused with a retryable 503 and left alone.
 */
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { Backend } from "./backends.js";
import { MemoryStore } from "./memory-store.js";
import { createRecorded } from "./recorded-create.js";
import type { SessionRecord } from "./store.js";

const rec = (state?: "creating"): SessionRecord => ({ sessionId: "r-lobby", owner: "room:lobby", kind: "room", persistent: true, createdAt: 1, lastActiveAt: 1, ...(state ? { state } : {}) });

describe("a create of an id that is already recorded", () => {
  it.each([["live", undefined], ["being created", "creating"]] as const)("answers 503 and keeps the %s record", async (_, state) => {
    const store = new MemoryStore();
    await store.createSession(rec(state));
    const calls: string[] = [];
    const deps = {
      store,
      pool: {},
      sessions: { create: async () => void calls.push("create"), destroy: async () => void calls.push("destroy") },
      log: pino({ level: "silent" }),
    };
    await expect(createRecorded(deps, { ...rec(), createdAt: 2 }, { id: "cli-0" } as Backend)).rejects.toMatchObject({ status: 503, code: "server_unavailable" });
    await new Promise((r) => setTimeout(r, 20));
    expect(await store.getSession("r-lobby"), "the record that was there").toEqual(rec(state));
    expect(calls, "no CLI call for a create that never started").toEqual([]);
  });
});
