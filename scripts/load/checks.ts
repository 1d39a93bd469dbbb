/**
 * Content checks of the load scenarios, as pure functions. k6 imports this file directly (k6 1.x
 * strips TypeScript types), and the unit tests feed it broken transcripts to prove the checks fail.
 * No k6 or Node imports here.
 */

/** The mock model's marker line: `turn=<N> prompt=<P>` (local/mock-model.ts). */
export interface Marker {
  turn: number;
  prompt: string;
}

export interface Verdict {
  ok: boolean;
  reason: string;
}

const MARKER_RE = /^turn=(\d+) prompt=(.*)$/gm;

/** The last marker line in a reply, or undefined when there is none. */
export function parseMarker(content: unknown): Marker | undefined {
  if (typeof content !== "string") return undefined;
  let last: Marker | undefined;
  for (const m of content.matchAll(MARKER_RE)) last = { turn: Number(m[1]), prompt: m[2]!.trim() };
  return last;
}

const pass: Verdict = { ok: true, reason: "" };

/** A persistent session's reply to its `expectedTurn`-th message, sent with `prompt`. */
export function checkTurn(expectedTurn: number, prompt: string, content: unknown): Verdict {
  const m = parseMarker(content);
  if (!m) return { ok: false, reason: "reply has no turn marker" };
  if (m.prompt !== prompt) return { ok: false, reason: `reply answers prompt "${m.prompt}", sent "${prompt}"` };
  if (m.turn !== expectedTurn) {
    return { ok: false, reason: `turn ${m.turn} where ${expectedTurn} was due: the session history is ${m.turn < expectedTurn ? "lost" : "mixed"}` };
  }
  return pass;
}

/** A whole transcript: reply i must carry turn i+1 and echo prompt i. Returns the first failure. */
export function checkTranscript(prompts: readonly string[], replies: readonly unknown[]): Verdict {
  if (prompts.length !== replies.length) return { ok: false, reason: `${prompts.length} prompts, ${replies.length} replies` };
  for (let i = 0; i < prompts.length; i++) {
    const v = checkTurn(i + 1, prompts[i]!, replies[i]);
    if (!v.ok) return { ok: false, reason: `message ${i + 1}: ${v.reason}` };
  }
  return pass;
}

/** An ephemeral chat starts from an empty history: always turn 1. */
export function checkEphemeral(prompt: string, content: unknown): Verdict {
  return checkTurn(1, prompt, content);
}

/**
 * A room reply: the JSON `turn` must match the marker, and turns seen by one poster in one room
 * must strictly increase (the lock serialises posts; a fork would repeat or reorder turns).
 */
export function checkRoomReply(lastSeenTurn: number, prompt: string, body: { content?: unknown; turn?: unknown }): Verdict {
  const m = parseMarker(body.content);
  if (!m) return { ok: false, reason: "reply has no turn marker" };
  if (m.prompt !== prompt) return { ok: false, reason: `reply answers prompt "${m.prompt}", sent "${prompt}"` };
  if (body.turn !== m.turn) return { ok: false, reason: `body turn ${String(body.turn)} but marker turn ${m.turn}` };
  if (m.turn <= lastSeenTurn) return { ok: false, reason: `turn ${m.turn} after ${lastSeenTurn}: room history forked or reordered` };
  return pass;
}

/** Aggregates of one room over the run, from k6 counters. */
export interface RoomTally {
  /** Posts answered 200. */
  ok: number;
  /** Posts that failed for a reason other than 423 (they may or may not have taken a turn). */
  failed: number;
  maxTurn: number;
  sumTurns: number;
  sumSquares: number;
}

/**
 * Across all posters: the turns answered must be exactly 1..N. Max, sum and sum of squares of the
 * turns seen pin that down (a repeated turn changes the sum of squares even when max and sum fit).
 */
export function checkRoomLinear(t: RoomTally): Verdict {
  if (t.failed > 0) return { ok: false, reason: `${t.failed} posts failed (not 423), so linearity cannot be shown` };
  const n = t.ok;
  if (n === 0) return { ok: false, reason: "no post was answered" };
  const sum = (n * (n + 1)) / 2;
  const squares = (n * (n + 1) * (2 * n + 1)) / 6;
  if (t.maxTurn !== n || t.sumTurns !== sum || t.sumSquares !== squares) {
    return {
      ok: false,
      reason: `${n} answered posts should carry turns 1..${n}; saw max ${t.maxTurn}, sum ${t.sumTurns} (want ${sum}), sum of squares ${t.sumSquares} (want ${squares})`,
    };
  }
  return pass;
}

/** max/mean of per-server counts: 1 is perfect balance; servers with no traffic count as 0. */
export function imbalance(counts: Readonly<Record<string, number>>): number {
  const values = Object.values(counts);
  const total = values.reduce((s, v) => s + v, 0);
  if (values.length === 0 || total === 0) return 0;
  return Math.max(...values) / (total / values.length);
}

/** Least-squares slope of y over x; 0 with fewer than two distinct x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}
