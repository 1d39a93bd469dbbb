/**
 * The soak's invariant checker (pure): compares every request the load driver logged with every
 * session's and room's history as the CLI holds it, plus what was left behind, and lists each
 * violation. It cannot pass on empty input: no acknowledged turn at all is a violation.
 */
import type { Leftovers } from "../../conformance/leftovers.js";

/** One request of the load driver, as its k6 script logs it (one JSON line each). */
export interface DriverRecord {
  op: "create" | "send" | "delete" | "chat" | "room";
  /** Session id (create: the id answered; send, delete: the session) or room name. */
  id?: string;
  prompt?: string;
  /** HTTP status; 0 when no answer came (connection reset, timeout). */
  status: number;
  /** `error.code` of a JSON error answer. */
  code?: string;
  /** The error answer's message (for the report). */
  message?: string;
  /** k6's transport error when there was no answer. */
  error?: string;
  /** 200 answers: the turn the reply states (rooms: the JSON `turn`; sessions and chats: the marker). */
  turn?: number;
  /** Rooms: the turn of the mock model's marker, which must equal `turn`. */
  markerTurn?: number;
  /** The prompt the reply's marker says it answered. */
  replyPrompt?: string;
  /** When the answer came, how long it took (ms) and the replica (host:port): for diagnosis only. */
  at?: string;
  ms?: number;
  gw?: string;
}

/** A persisted history event as the SDK's getEvents returns it. */
export interface HistoryEvent {
  id: string;
  parentId: string | null;
  type: string;
  content?: string;
}

/** A session's history read from its CLI: its events, "not found", or the reason it could not be read. */
export type History = { events: HistoryEvent[] } | { missing: true } | { error: string };

export const VIOLATION_KINDS = [
  "no-acknowledged-turns",
  "server-error",
  "silence",
  "unreadable-history",
  "ack-missing",
  "ack-duplicated",
  "fork",
  "turn-mismatch",
  "turn-not-linear",
  "foreign-prompt",
  "orphan-session",
  "record-without-session",
  "held-lock",
  "stray-lease",
  "process-left",
] as const;
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

export interface Violation {
  kind: ViolationKind;
  /** The session, room, request or resource it concerns. */
  subject: string;
  detail: string;
}

/**
 * The 503 codes the gateway documents (README, "Status codes the API uses"): a client is told to
 * retry. Any other 5xx is a violation: 500 internal, 502 cli_error/no_reply/turn_interrupted, 504.
 */
export const DOCUMENTED_503_CODES: ReadonlySet<string> = new Set(["server_unavailable", "server_full", "draining", "store_unavailable", "turn_interrupted", "issuer_unavailable"]);

export interface SoakVerdict {
  violations: Violation[];
  figures: {
    requests: number;
    /** Requests by `status` or `status code`. */
    byStatus: Record<string, number>;
    acknowledged: { sessionTurns: number; roomTurns: number; chats: number; creates: number; deletes: number };
    sessionsChecked: number;
    roomsChecked: number;
    /** Prompts in a history that were sent but not acknowledged (an interrupted turn that was written). */
    writtenNotAcknowledged: number;
  };
}

/** Room records are the CLI session `r-<room>`. */
export const roomSessionId = (room: string) => `r-${room}`;

interface Ack {
  prompt: string;
  turn: number;
  markerTurn?: number;
  replyPrompt?: string;
}

/** Fork check and the user prompts in history order. */
function readHistory(subject: string, h: { events: HistoryEvent[] }, out: Violation[]): string[] {
  const children = new Map<string | null, string[]>();
  for (const e of h.events) children.set(e.parentId, [...(children.get(e.parentId) ?? []), e.id]);
  for (const [parent, kids] of children) {
    if (kids.length > 1) out.push({ kind: "fork", subject, detail: `${kids.length} events share the parent ${parent ?? "(none: several roots)"}: ${kids.join(", ")}` });
  }
  return h.events.filter((e) => e.type === "user.message").map((e) => e.content ?? "");
}

/** Checks one session's or room's acknowledged turns against its history. */
function checkConversation(subject: string, acks: Ack[], sent: Set<string>, history: History | undefined, rooms: boolean, out: Violation[]): number {
  if (!history || "error" in history || "missing" in history) {
    const why = !history ? "not read" : "error" in history ? history.error : "the CLI has no such session";
    out.push({ kind: "unreadable-history", subject, detail: `${acks.length} acknowledged turn(s), but the history is unavailable: ${why}` });
    return 0;
  }
  const prompts = readHistory(subject, history, out);
  const acked = new Set(acks.map((a) => a.prompt));
  for (const a of acks) {
    const at = prompts.flatMap((p, i) => (p === a.prompt ? [i + 1] : []));
    if (at.length === 0) out.push({ kind: "ack-missing", subject, detail: `acknowledged turn ${a.turn} (${JSON.stringify(a.prompt)}) is not in the history of ${prompts.length} turns` });
    else if (at.length > 1) out.push({ kind: "ack-duplicated", subject, detail: `${JSON.stringify(a.prompt)} is in the history ${at.length} times, at turns ${at.join(", ")}` });
    else if (at[0] !== a.turn) out.push({ kind: "turn-mismatch", subject, detail: `${JSON.stringify(a.prompt)} was acknowledged as turn ${a.turn} but is turn ${at[0]} of the history` });
    if (a.replyPrompt !== undefined && a.replyPrompt !== a.prompt) out.push({ kind: "turn-mismatch", subject, detail: `the reply to ${JSON.stringify(a.prompt)} answers ${JSON.stringify(a.replyPrompt)}` });
    if (a.markerTurn !== undefined && a.markerTurn !== a.turn) out.push({ kind: "turn-mismatch", subject, detail: `turn ${a.turn} answered with the model's turn ${a.markerTurn}` });
  }
  // Sessions: one sender after another, so acknowledged turns rise in acknowledgement order.
  // Rooms: many posters at once, so only distinctness holds; positions above pin them to 1..N.
  const turns = acks.map((a) => a.turn);
  const linear = rooms ? new Set(turns).size === turns.length : turns.every((t, i) => i === 0 || t > turns[i - 1]!);
  if (!linear) out.push({ kind: "turn-not-linear", subject, detail: `acknowledged turns ${turns.join(",")}` });
  let writtenOnly = 0;
  const seen = new Set<string>();
  for (const p of prompts) {
    if (!sent.has(p)) out.push({ kind: "foreign-prompt", subject, detail: `the history holds ${JSON.stringify(p)}, which was never sent to it` });
    else if (!acked.has(p) && !seen.has(p)) writtenOnly++;
    else if (!acked.has(p)) out.push({ kind: "ack-duplicated", subject, detail: `unacknowledged ${JSON.stringify(p)} was written more than once` });
    seen.add(p);
  }
  return writtenOnly;
}

const inc = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);

export function checkSoak(input: { records: DriverRecord[]; histories: ReadonlyMap<string, History>; leftovers: Leftovers }): SoakVerdict {
  const v: Violation[] = [];
  const byStatus: Record<string, number> = {};
  const acknowledged = { sessionTurns: 0, roomTurns: 0, chats: 0, creates: 0, deletes: 0 };
  // Per conversation (session id, or r-<room>): acknowledged turns and every prompt sent to it.
  const convs = new Map<string, { room: boolean; acks: Ack[]; sent: Set<string> }>();
  const deleted = new Set<string>();
  const attempted = new Set<DriverRecord["op"]>();
  const conv = (id: string, room: boolean) => {
    if (!convs.has(id)) convs.set(id, { room, acks: [], sent: new Set() });
    return convs.get(id)!;
  };

  input.records.forEach((r, i) => {
    const subject = `${r.op} #${i}${r.id ? ` ${r.id}` : ""}`;
    inc(byStatus, r.code ? `${r.status} ${r.code}` : String(r.status));
    attempted.add(r.op);
    if (r.status >= 500 && !(r.status === 503 && r.code && DOCUMENTED_503_CODES.has(r.code))) {
      v.push({ kind: "server-error", subject, detail: `HTTP ${r.status} ${r.code ?? "(no error code)"} is not a documented 503: ${r.message ?? ""}` });
    }
    if (r.status === 0 && /timeout/i.test(r.error ?? "")) v.push({ kind: "silence", subject, detail: `no answer: ${r.error}` });
    if ((r.op === "send" || r.op === "room") && r.id && r.prompt !== undefined) {
      const c = conv(r.op === "room" ? roomSessionId(r.id) : r.id, r.op === "room");
      c.sent.add(r.prompt);
      if (r.status === 200) {
        c.acks.push({ prompt: r.prompt, turn: r.turn ?? -1, markerTurn: r.markerTurn, replyPrompt: r.replyPrompt });
        if (r.op === "room") acknowledged.roomTurns++;
        else acknowledged.sessionTurns++;
      }
    }
    if (r.op === "chat" && r.status === 200) {
      acknowledged.chats++;
      if (r.turn !== 1 || r.replyPrompt !== r.prompt) {
        v.push({ kind: "turn-mismatch", subject, detail: `an ephemeral chat must answer turn 1 of its own prompt ${JSON.stringify(r.prompt)}; got turn ${r.turn} of ${JSON.stringify(r.replyPrompt)}` });
      }
    }
    if (r.op === "create" && r.status === 201) acknowledged.creates++;
    if (r.op === "delete" && r.id && (r.status === 204 || r.status === 404)) {
      if (r.status === 204) acknowledged.deletes++;
      deleted.add(r.id);
    }
  });

  const total = acknowledged.sessionTurns + acknowledged.roomTurns + acknowledged.chats;
  if (total === 0) v.push({ kind: "no-acknowledged-turns", subject: "run", detail: `${input.records.length} requests, none acknowledged: nothing was checked` });
  else {
    const perOp = { send: acknowledged.sessionTurns, room: acknowledged.roomTurns, chat: acknowledged.chats } as const;
    for (const [op, n] of Object.entries(perOp)) {
      if (attempted.has(op as DriverRecord["op"]) && n === 0) v.push({ kind: "no-acknowledged-turns", subject: op, detail: `${op} requests were made but none was acknowledged` });
    }
  }

  let writtenNotAcknowledged = 0;
  let sessionsChecked = 0;
  let roomsChecked = 0;
  for (const [id, c] of convs) {
    // A deleted session's history is gone with it; whether the CLI still holds it is a leftover check.
    if (c.acks.length === 0 || (!c.room && deleted.has(id))) continue;
    writtenNotAcknowledged += checkConversation(id, c.acks, c.sent, input.histories.get(id), c.room, v);
    if (c.room) roomsChecked++;
    else sessionsChecked++;
  }

  const l = input.leftovers;
  for (const s of l.orphanSessions) v.push({ kind: "orphan-session", subject: s, detail: "a CLI session that no record owns" });
  for (const s of l.recordsWithoutSession) v.push({ kind: "record-without-session", subject: s, detail: "a record whose CLI session does not exist" });
  for (const s of l.heldLocks) v.push({ kind: "held-lock", subject: s, detail: "held or queued after the load stopped" });
  for (const s of l.strayLeases) v.push({ kind: "stray-lease", subject: s, detail: "a lease with no session record or live server behind it" });
  for (const s of l.processes) v.push({ kind: "process-left", subject: s, detail: "still running after the platform stopped" });

  return {
    violations: v,
    figures: { requests: input.records.length, byStatus, acknowledged, sessionsChecked, roomsChecked, writtenNotAcknowledged },
  };
}

/** Counts of violations by kind, every kind listed (0 included) for the report. */
export function countByKind(violations: Violation[]): Record<ViolationKind, number> {
  const out = Object.fromEntries(VIOLATION_KINDS.map((k) => [k, 0])) as Record<ViolationKind, number>;
  for (const x of violations) out[x.kind]++;
  return out;
}
