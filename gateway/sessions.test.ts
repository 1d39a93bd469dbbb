import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { fakeCli } from "../testing/fake-cli.js";
import { unitConfig } from "../testing/gateway.js";
import { createMetrics } from "./metrics.js";
import { CliDeleteFailed, SessionManager, type DeleteReason } from "./sessions.js";
import { MemoryStore } from "./memory-store.js";

const log = pino({ level: "silent" });
const flush = () => new Promise((r) => setImmediate(r));

async function manager(lifecycle: Record<string, number> = {}) {
  const metrics = createMetrics();
  const store = new MemoryStore();
  const sessions = new SessionManager(unitConfig({ lifecycle: lifecycle as never }), metrics, log, store);
  sessions.turnWatch = false; // the fake connection never dies
  const cli = fakeCli();
  const record = (id: string) => store.createSession({ sessionId: id, owner: "alice", kind: "session", persistent: true, createdAt: 0, lastActiveAt: 0, serverId: "cli-0" });
  const deleted = async (reason: DeleteReason) => (await metrics.sessionsDeleted.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
  return { sessions, store, cli, metrics, record, deleted };
}

describe("SessionManager: capacity", () => {
  it("evicts the least recently used idle session when a server is full", async () => {
    const { sessions, cli, metrics } = await manager({ maxSessionsPerServer: 2 });
    await sessions.create(cli.backend, "s-1", { persistent: true, owner: "alice" });
    await sessions.create(cli.backend, "s-2", { persistent: true, owner: "alice" });
    await new Promise((r) => setTimeout(r, 5)); // so the turn's activity is later than s-2's create
    await sessions.turn("s-1", cli.backend, "hi", { persistent: true, owner: "alice", kind: "session" }); // s-2 is now the older
    await sessions.create(cli.backend, "s-3", { persistent: true, owner: "alice" });
    expect([sessions.isAttached("s-1"), sessions.isAttached("s-2"), sessions.isAttached("s-3")]).toEqual([true, false, true]);
    expect((await metrics.evictions.get()).values[0]?.value).toBe(1);
    expect(sessions.loadOn("cli-0")).toBe(2);
  });

  it("refuses with 503 server_full when every session on the server has a turn in flight", async () => {
    const { sessions, cli } = await manager({ maxSessionsPerServer: 1 });
    await sessions.create(cli.backend, "s-1", { persistent: true, owner: "alice" });
    cli.hold = true;
    const turn = sessions.turn("s-1", cli.backend, "busy", { persistent: true, owner: "alice", kind: "session" });
    await flush();
    await expect(sessions.create(cli.backend, "s-2", { persistent: true, owner: "alice" })).rejects.toMatchObject({ status: 503, code: "server_full" });
    cli.release();
    expect((await turn).content).toBe("echo: busy");
    expect(sessions.lastActivityOn("cli-0")).toMatchObject({ inflight: 0, count: 1 });
  });
});

describe("SessionManager: turns", () => {
  it("runs turns on one session one at a time, and resumes a detached session for its turn", async () => {
    const { sessions, cli } = await manager();
    await sessions.create(cli.backend, "s-1", { persistent: true, owner: "alice" });
    await sessions.detach("s-1", "idle");
    cli.hold = true;
    const turns = [1, 2, 3].map((n) => sessions.turn("s-1", cli.backend, `p${n}`, { persistent: true, owner: "alice", kind: "session" }));
    await flush();
    expect(sessions.isBusy("s-1")).toBe(true);
    cli.release();
    // Each later turn is sent only after the earlier one answered; release again for those.
    const answers: string[] = [];
    for (const t of turns) {
      cli.release();
      answers.push((await t).content);
      cli.hold = true;
    }
    expect(answers).toEqual(["echo: p1", "echo: p2", "echo: p3"]);
    expect(cli.maxConcurrentOnOne).toBe(1);
    expect(cli.calls.filter((c) => c.startsWith("resume"))).toEqual(["resume s-1"]);
    expect(sessions.isBusy("s-1")).toBe(false);
    expect(sessions.inflight).toBe(0);
  });

  it("sweeps idle sessions: persistent ones are detached, ephemeral ones returned for destroy()", async () => {
    const { sessions, cli } = await manager({ idleTimeoutSeconds: 60 });
    await sessions.create(cli.backend, "s-kept", { persistent: true, owner: "alice" });
    await sessions.create(cli.backend, "s-gone", { persistent: false, owner: "alice" });
    expect(await sessions.sweepIdle(Date.now())).toEqual([]);
    expect(await sessions.sweepIdle(Date.now() + 61_000)).toEqual(["s-gone"]);
    expect(sessions.isAttached("s-kept")).toBe(false);
    expect(cli.onDisk.has("s-kept")).toBe(true);
  });
});

describe("SessionManager.destroy: the one deletion path", () => {
  it("detaches, deletes the CLI state, then the record, then counts it", async () => {
    const { sessions, store, cli, record, deleted } = await manager();
    await sessions.create(cli.backend, "s-1", { persistent: true, owner: "alice" });
    await record("s-1");
    await sessions.destroy("s-1", cli.backend, "api");
    expect(cli.calls.slice(-2)).toEqual(["disconnect s-1", "delete s-1"]);
    expect(sessions.isAttached("s-1")).toBe(false);
    expect(cli.onDisk.has("s-1")).toBe(false);
    expect(await store.getSession("s-1")).toBeUndefined();
    expect(await deleted("api")).toBe(1);
  });

  it("keeps the record and counts nothing when the CLI fails the delete (TTL cleanup retries)", async () => {
    const { sessions, store, cli, record, deleted } = await manager();
    await sessions.create(cli.backend, "s-1", { persistent: true, owner: "alice" });
    await record("s-1");
    cli.failDelete.set("s-1", "EACCES: permission denied");
    await expect(sessions.destroy("s-1", cli.backend, "ttl")).rejects.toBeInstanceOf(CliDeleteFailed);
    expect(await store.getSession("s-1")).toBeDefined();
    expect(await deleted("ttl")).toBe(0);
  });

  it("treats state already gone from the CLI as deleted, and needs no CLI when none holds the session", async () => {
    const { sessions, store, cli, record, deleted } = await manager();
    await record("s-gone");
    await sessions.destroy("s-gone", cli.backend, "ttl");
    await record("s-nowhere");
    await sessions.destroy("s-nowhere", undefined, "idle-ephemeral");
    expect(await store.allSessions()).toEqual([]);
    expect([await deleted("ttl"), await deleted("idle-ephemeral")]).toEqual([1, 1]);
  });

  it("an undo keeps the record when the CLI delete fails (the reconciler finishes from it), removes it when it succeeds, and is not counted", async () => {
    const { sessions, store, cli, record, metrics } = await manager();
    await sessions.create(cli.backend, "s-1", { persistent: true, owner: "alice" });
    await record("s-1");
    cli.failDelete.set("s-1", "boom");
    await expect(sessions.destroy("s-1", cli.backend, "undo")).rejects.toBeInstanceOf(CliDeleteFailed);
    await flush();
    expect(await store.getSession("s-1"), "dropping it would leave a CLI session nothing can find").toBeDefined();
    cli.failDelete.delete("s-1");
    await sessions.destroy("s-1", cli.backend, "undo");
    await flush();
    expect(await store.getSession("s-1")).toBeUndefined();
    expect(cli.onDisk.has("s-1")).toBe(false);
    expect((await metrics.sessionsDeleted.get()).values).toEqual([]);
  });

  it("an orphan has no record: the store is not touched", async () => {
    const { sessions, store, cli, record, deleted } = await manager();
    await sessions.create(cli.backend, "s-orphan", { persistent: true, owner: "alice" });
    await record("s-orphan"); // stands for a record written since the reconciler's check
    await sessions.destroy("s-orphan", cli.backend, "orphan");
    expect(cli.onDisk.has("s-orphan")).toBe(false);
    expect(await store.getSession("s-orphan")).toBeDefined();
    expect(await deleted("orphan")).toBe(1);
  });
});
