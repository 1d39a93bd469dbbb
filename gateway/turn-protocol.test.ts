import type { CopilotSession } from "@github/copilot-sdk";
import { describe, expect, it } from "vitest";
import { lastPromptUnanswered, sendAndAwaitOwnTurn } from "./turn-protocol.js";

type Event = { type: string; data: Record<string, unknown> };

/** A session whose send() first replays the tail of another replica's turn, then answers this prompt. */
function roomSession(before: Event[], own: (prompt: string) => Event[]) {
  const handlers = new Set<(e: Event) => void>();
  return {
    on: (h: (e: Event) => void) => (handlers.add(h), () => handlers.delete(h)),
    send: async ({ prompt }: { prompt: string }) => {
      setImmediate(() => [...before, ...own(prompt)].forEach((e) => handlers.forEach((h) => h(e))));
    },
  } as unknown as CopilotSession;
}

describe("sendAndAwaitOwnTurn", () => {
  it("ignores the end of a previous holder's turn and returns this prompt's reply", async () => {
    const previous = [
      { type: "assistant.message", data: { content: "their reply" } },
      { type: "session.idle", data: {} },
    ];
    const s = roomSession(previous, (p) => [
      { type: "user.message", data: { content: p } },
      { type: "assistant.message", data: { content: "my reply" } },
      { type: "session.idle", data: {} },
    ]);
    expect(await sendAndAwaitOwnTurn(s, "mine", 5_000)).toBe("my reply");
  });

  it("reports an abort of its own turn", async () => {
    const s = roomSession([], (p) => [
      { type: "user.message", data: { content: p } },
      { type: "abort", data: { reason: "user" } },
    ]);
    await expect(sendAndAwaitOwnTurn(s, "mine", 5_000)).rejects.toThrow("user");
  });
});

describe("lastPromptUnanswered", () => {
  const user = (content: string) => ({ type: "user.message", data: { content } });
  const reply = { type: "assistant.message", data: { content: "ok" } };
  const events = (...e: unknown[]) => e as Parameters<typeof lastPromptUnanswered>[0];

  it("is true only when the prompt is the last user message and no reply follows it", () => {
    expect(lastPromptUnanswered(events(user("a"), reply, user("b")), "b")).toBe(true);
    expect(lastPromptUnanswered(events(user("a"), reply, user("b"), reply), "b")).toBe(false);
    expect(lastPromptUnanswered(events(user("b"), reply, user("a")), "b")).toBe(false);
    expect(lastPromptUnanswered(events(), "b")).toBe(false);
  });
});
