/**
 * A session's history as a client renders it: the CLI's events reduced to user and assistant
 * messages, oldest first, paged by cursor. Each user message says whether its turn was answered,
 * aborted, or not (running, or interrupted after the prompt was written: what a client checks
 * after `turn_interrupted` before it resends).
 */
import type { SessionEvent } from "@github/copilot-sdk";
import type { z } from "zod";
import type { historyMessage, historyPage } from "./api-schemas.js";
import { badRequest } from "./errors.js";

type Message = z.infer<typeof historyMessage>;
type Page = z.infer<typeof historyPage>;

/** User and assistant messages of the main agent, as the CLI recorded them. */
export function messagesOf(events: readonly SessionEvent[]): Message[] {
  const out: Message[] = [];
  let lastUser: Message | undefined;
  for (const e of events) {
    // Sub-agents' and transient events are not the conversation.
    if (e.agentId || e.ephemeral) continue;
    if (e.type === "user.message") {
      lastUser = { id: e.id, role: "user", content: e.data.content, createdAt: e.timestamp, status: "unanswered" };
      out.push(lastUser);
    } else if (e.type === "assistant.message") {
      // A tool-call step carries no text; the reply is the message that does.
      if (!e.data.content) continue;
      out.push({ id: e.id, role: "assistant", content: e.data.content, createdAt: e.timestamp });
      if (lastUser) lastUser.status = "answered";
    } else if (e.type === "abort" && lastUser && lastUser.status === "unanswered") {
      lastUser.status = "aborted";
    }
  }
  return out;
}

/** One page after the cursor (a message id from an earlier page); an unknown cursor is 400. */
export function pageOf(messages: readonly Message[], limit: number, after?: string): Page {
  let start = 0;
  if (after !== undefined) {
    const i = messages.findIndex((m) => m.id === after);
    if (i < 0) throw badRequest("after: not a message id of this session (use the nextCursor of the previous page)", "invalid_cursor");
    start = i + 1;
  }
  const page = messages.slice(start, start + limit);
  const more = start + limit < messages.length;
  return { messages: page, nextCursor: more ? page.at(-1)!.id : null };
}
