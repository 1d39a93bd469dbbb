/**
 * The soak's invariant checker on hand-made histories: a clean run passes, and each kind of
 * violation is detected on its own (so the checker cannot pass vacuously, nor on empty input).
 */
import { describe, expect, it } from "vitest";
import { checkSoak, countByKind, VIOLATION_KINDS, type DriverRecord, type History, type HistoryEvent, type ViolationKind } from "./invariants.js";
import type { Leftovers } from "../../conformance/leftovers.js";

const none: Leftovers = { orphanSessions: [], recordsWithoutSession: [], heldLocks: [], strayLeases: [], processes: [] };

/** A linear history as the CLI persists it: each user message followed by the assistant's turn. */
function history(prompts: string[], opts: { forkAfter?: number } = {}): History {
  const events: HistoryEvent[] = [{ id: "e0", parentId: null, type: "session.start" }];
  let last = "e0";
  prompts.forEach((p, i) => {
    // A fork: this turn hangs off the same parent as the previous one (two writers, one parent).
    const parent = opts.forkAfter !== undefined && i === opts.forkAfter + 1 ? events[events.length - 3]!.id : last;
    events.push({ id: `u${i}`, parentId: parent, type: "user.message", content: p });
    events.push({ id: `a${i}`, parentId: `u${i}`, type: "assistant.message", content: `turn=${i + 1} prompt=${p}` });
    events.push({ id: `t${i}`, parentId: `a${i}`, type: "assistant.turn_end" });
    last = `t${i}`;
  });
  return { events };
}

const send = (id: string, prompt: string, turn: number, status = 200): DriverRecord =>
  status === 200 ? { op: "send", id, prompt, status, turn, replyPrompt: prompt } : { op: "send", id, prompt, status, code: status === 503 ? "server_unavailable" : undefined };
const room = (name: string, prompt: string, turn: number): DriverRecord => ({ op: "room", id: name, prompt, status: 200, turn, markerTurn: turn, replyPrompt: prompt });
const chat = (prompt: string, turn = 1, replyPrompt = prompt): DriverRecord => ({ op: "chat", prompt, status: 200, turn, replyPrompt });

/** A clean run: a session with 3 turns (one 503 retried), a room with two posters, a chat, a deleted session. */
function clean() {
  const records: DriverRecord[] = [
    { op: "create", id: "s-1", status: 201 },
    send("s-1", "p1", 1),
    send("s-1", "p2", 0, 503),
    send("s-1", "p2b", 2),
    send("s-1", "p3", 3),
    room("lobby", "alice-1", 1),
    room("lobby", "bob-1", 2),
    chat("c1"),
    { op: "create", id: "s-2", status: 201 },
    send("s-2", "q1", 1),
    { op: "delete", id: "s-2", status: 204 },
  ];
  const histories = new Map<string, History>([
    ["s-1", history(["p1", "p2b", "p3"])],
    ["r-lobby", history(["alice-1", "bob-1"])],
  ]);
  return { records, histories, leftovers: { ...none } };
}

function kinds(input: ReturnType<typeof clean>): Record<ViolationKind, number> {
  return countByKind(checkSoak(input).violations);
}

/** Only `kind` is reported (at least once), nothing else. */
function expectOnly(input: ReturnType<typeof clean>, kind: ViolationKind): void {
  const counts = kinds(input);
  expect(counts[kind], JSON.stringify(checkSoak(input).violations)).toBeGreaterThan(0);
  for (const k of VIOLATION_KINDS) if (k !== kind) expect(counts[k], `${k}: ${JSON.stringify(checkSoak(input).violations)}`).toBe(0);
}

describe("soak invariant checker", () => {
  it("passes a clean run and counts what it checked", () => {
    const r = checkSoak(clean());
    expect(r.violations).toEqual([]);
    expect(r.figures.acknowledged).toEqual({ sessionTurns: 4, roomTurns: 2, chats: 1, creates: 2, deletes: 1 });
    expect(r.figures.sessionsChecked).toBe(1);
    expect(r.figures.roomsChecked).toBe(1);
    expect(r.figures.byStatus["503 server_unavailable"]).toBe(1);
  });

  it("fails on empty input and on a run with no acknowledged turn", () => {
    expectOnly({ records: [], histories: new Map(), leftovers: { ...none } }, "no-acknowledged-turns");
    expectOnly({ records: [send("s-1", "p1", 0, 503)], histories: new Map(), leftovers: { ...none } }, "no-acknowledged-turns");
  });

  it("fails when a kind of traffic was driven but never acknowledged", () => {
    const x = clean();
    x.records = x.records.filter((r) => r.op !== "chat").concat({ op: "chat", prompt: "c9", status: 503, code: "draining" });
    expectOnly(x, "no-acknowledged-turns");
  });

  it("detects an acknowledged turn missing from the history", () => {
    const x = clean();
    x.histories.set("s-1", history(["p1", "p2b"]));
    expectOnly(x, "ack-missing");
  });

  it("detects an acknowledged turn written twice", () => {
    const x = clean();
    x.histories.set("s-1", history(["p1", "p2b", "p2b", "p3"]));
    expect(kinds(x)["ack-duplicated"]).toBeGreaterThan(0);
  });

  it("detects a forked history", () => {
    const x = clean();
    x.histories.set("s-1", history(["p1", "p2b", "p3"], { forkAfter: 1 }));
    expectOnly(x, "fork");
  });

  it("detects a turn number that is not the prompt's place in the history", () => {
    const x = clean();
    x.records[3] = send("s-1", "p2b", 3);
    x.records[4] = send("s-1", "p3", 4);
    expect(kinds(x)["turn-mismatch"]).toBe(2);
  });

  it("detects a reply that answers another prompt, and a room turn the model numbered differently", () => {
    const x = clean();
    x.records[1] = { ...send("s-1", "p1", 1), replyPrompt: "someone else's" };
    x.records[5] = { ...room("lobby", "alice-1", 1), markerTurn: 2 };
    expectOnly(x, "turn-mismatch");
    expect(kinds(x)["turn-mismatch"]).toBe(2);
  });

  it("detects acknowledged session turns that do not rise", () => {
    const x = clean();
    // The same history order, acknowledged out of order: p3 before p2b.
    x.records = [x.records[0]!, send("s-1", "p1", 1), send("s-1", "p3", 3), send("s-1", "p2b", 2), ...x.records.slice(5)];
    expectOnly(x, "turn-not-linear");
  });

  it("detects two room posters acknowledged with the same turn", () => {
    const x = clean();
    x.records[6] = room("lobby", "bob-1", 1);
    const counts = kinds(x);
    expect(counts["turn-not-linear"]).toBe(1);
    expect(counts["turn-mismatch"]).toBe(1);
  });

  it("detects a room history that is not 1..N (a prompt at a turn no poster sent)", () => {
    const x = clean();
    x.histories.set("r-lobby", history(["alice-1", "intruder", "bob-1"]));
    x.records[6] = room("lobby", "bob-1", 3);
    expectOnly(x, "foreign-prompt");
  });

  it("detects an unreadable history of a session with acknowledged turns", () => {
    const x = clean();
    x.histories.set("s-1", { error: "Failed to load session events" });
    expectOnly(x, "unreadable-history");
    x.histories.set("s-1", { missing: true });
    expectOnly(x, "unreadable-history");
  });

  it("allows the documented 503s and flags every other 5xx and a silent request", () => {
    const x = clean();
    x.records.push({ op: "send", id: "s-1", prompt: "px", status: 503, code: "store_unavailable" });
    expect(checkSoak(x).violations).toEqual([]);
    for (const bad of [
      { status: 500, code: "internal" },
      { status: 502, code: "cli_error" },
      { status: 503, code: "no_healthy_server" },
      { status: 503 },
      { status: 504, code: "turn_timeout" },
    ]) {
      const y = clean();
      y.records.push({ op: "send", id: "s-1", prompt: "px", ...bad });
      expectOnly(y, "server-error");
    }
    const z = clean();
    z.records.push({ op: "chat", prompt: "cz", status: 0, error: "request timeout" });
    expectOnly(z, "silence");
  });

  it("detects an ephemeral chat that is not turn 1 of its own prompt", () => {
    const x = clean();
    x.records[7] = chat("c1", 2);
    expectOnly(x, "turn-mismatch");
  });

  it("reports each kind of leftover", () => {
    const cases: [keyof Leftovers, ViolationKind][] = [
      ["orphanSessions", "orphan-session"],
      ["recordsWithoutSession", "record-without-session"],
      ["heldLocks", "held-lock"],
      ["strayLeases", "stray-lease"],
      ["processes", "process-left"],
    ];
    for (const [field, kind] of cases) {
      const x = clean();
      x.leftovers = { ...none, [field]: ["thing"] };
      expectOnly(x, kind);
    }
  });
});
