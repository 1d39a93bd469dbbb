import { describe, expect, it } from "vitest";
import { checkEphemeral, checkRoomLinear, checkRoomReply, checkTranscript, checkTurn, imbalance, parseMarker, slope } from "./checks.js";
import { mockReply } from "../../local/mock-model.js";

/** Replies the real mock model gives for a session whose history the CLI replays in full. */
function healthyTranscript(prompts: string[]): string[] {
  return prompts.map((_, i) => mockReply(prompts.slice(0, i + 1).map((content) => ({ role: "user", content }))).text);
}

describe("chat-ramp history check", () => {
  const prompts = ["u1-s0-m1", "u1-s0-m2", "u1-s0-m3", "u1-s0-m4"];

  it("accepts a session whose turn numbers rise by one per message", () => {
    expect(checkTranscript(prompts, healthyTranscript(prompts))).toEqual({ ok: true, reason: "" });
  });

  it("fails when a resume is dropped and the session restarts from an empty history", () => {
    const replies = healthyTranscript(prompts);
    // After a dropped resume the CLI sees only the new message: turn=1 again.
    replies[2] = mockReply([{ role: "user", content: prompts[2]! }]).text;
    const v = checkTranscript(prompts, replies);
    expect(v.ok).toBe(false);
    expect(v.reason).toMatch(/message 3: turn 1 where 3 was due: the session history is lost/);
  });

  it("fails when another session's history is mixed in (turn too high)", () => {
    expect(checkTurn(2, "p", "turn=5 prompt=p").reason).toMatch(/history is mixed/);
  });

  it("fails when the reply answers another prompt, or has no marker", () => {
    expect(checkTurn(1, "mine", "turn=1 prompt=theirs").ok).toBe(false);
    expect(checkTurn(1, "mine", "no marker here").reason).toBe("reply has no turn marker");
    expect(checkTurn(1, "mine", undefined).ok).toBe(false);
  });

  it("reads the last marker line", () => {
    expect(parseMarker("Mock model reply.\nturn=7 prompt=a b")).toEqual({ turn: 7, prompt: "a b" });
    expect(checkEphemeral("x", "turn=2 prompt=x").ok).toBe(false);
  });
});

describe("room checks", () => {
  it("requires the JSON turn to match the marker and to rise per poster", () => {
    expect(checkRoomReply(0, "p", { content: "turn=1 prompt=p", turn: 1 }).ok).toBe(true);
    expect(checkRoomReply(3, "p", { content: "turn=3 prompt=p", turn: 3 }).reason).toMatch(/forked or reordered/);
    expect(checkRoomReply(0, "p", { content: "turn=2 prompt=p", turn: 1 }).reason).toMatch(/body turn 1 but marker turn 2/);
  });

  const tally = (turns: number[]) => ({
    ok: turns.length,
    failed: 0,
    maxTurn: Math.max(...turns),
    sumTurns: turns.reduce((s, t) => s + t, 0),
    sumSquares: turns.reduce((s, t) => s + t * t, 0),
  });

  it("accepts turns 1..N in any order across posters", () => {
    expect(checkRoomLinear(tally([3, 1, 4, 2, 5])).ok).toBe(true);
  });

  it("catches a fork: a repeated turn that keeps max and sum (only the sum of squares differs)", () => {
    // {1,1,4,4} vs {1,2,3,4}: same max (4) and sum (10).
    const v = checkRoomLinear(tally([1, 4, 1, 4]));
    expect(v.ok).toBe(false);
    expect(v.reason).toMatch(/sum of squares 34 \(want 30\)/);
  });

  it("catches a lost turn and refuses to judge when posts failed", () => {
    expect(checkRoomLinear(tally([1, 2, 4])).ok).toBe(false);
    expect(checkRoomLinear({ ...tally([1, 2]), failed: 1 }).reason).toMatch(/1 posts failed/);
  });
});

describe("spread and drift figures", () => {
  it("imbalance is max over mean", () => {
    expect(imbalance({ a: 10, b: 10, c: 10 })).toBe(1);
    expect(imbalance({ a: 20, b: 10, c: 0 })).toBe(2);
    expect(imbalance({})).toBe(0);
  });

  it("slope is the least-squares fit", () => {
    expect(slope([{ x: 0, y: 100 }, { x: 1, y: 110 }, { x: 2, y: 120 }])).toBeCloseTo(10);
    expect(slope([{ x: 0, y: 5 }])).toBe(0);
  });
});
