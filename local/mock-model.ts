/**
 * Deterministic OpenAI-compatible mock model for tests and the local platform.
 * Every reply contains `turn=<N> prompt=<P>`: N counts the user messages in the request (this one
 * included), P is the last user message without the markup the CLI wraps around it.
 * `[sleep:<ms>]` in the prompt delays that reply so tests can hold a turn open.
 */
import Fastify, { type FastifyInstance } from "fastify";

export interface MockModelOptions {
  host?: string;
  port?: number;
  /** Added to every reply, in milliseconds. */
  latencyMs?: number;
  modelName?: string;
}

type ContentPart = { type?: string; text?: string };
interface ChatMessage {
  role: string;
  content?: string | ContentPart[] | null;
}

const SLEEP_RE = /\[sleep:(\d{1,6})\]/;
const MAX_SLEEP_MS = 300_000;

function textOf(content: ChatMessage["content"]): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => p.text ?? "").join("");
  return "";
}

/** Strips the leading `<tag>…</tag>` blocks (e.g. <current_datetime>) that the CLI prepends to prompts. */
export function stripCliMarkup(text: string): string {
  let rest = text;
  for (;;) {
    const m = /^\s*<([a-zA-Z_][\w-]*)(?:\s[^>]*)?>[\s\S]*?<\/\1>/.exec(rest);
    if (!m) break;
    rest = rest.slice(m[0].length);
  }
  return rest.trim();
}

export function mockReply(messages: ChatMessage[]): { text: string; sleepMs: number } {
  const users = messages.filter((m) => m.role === "user");
  const last = users.at(-1);
  const prompt = last ? stripCliMarkup(textOf(last.content)) : "";
  const sleep = SLEEP_RE.exec(prompt);
  const sleepMs = sleep ? Math.min(Number(sleep[1]), MAX_SLEEP_MS) : 0;
  // One line, whitespace folded, so the marker line is stable and easy to parse.
  const flat = prompt.replace(/\s+/g, " ");
  return { text: `Mock model reply.\nturn=${users.length} prompt=${flat}`, sleepMs };
}

/** Splits text into small deltas, keeping whitespace, so streaming clients see several chunks. */
function chunks(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [text];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function buildMockModel(opts: MockModelOptions = {}): FastifyInstance {
  const modelName = opts.modelName ?? "mock-model";
  const latencyMs = opts.latencyMs ?? 0;
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
  let requests = 0;
  /** Replies being delayed now (latency or [sleep:]): turns a benchmark holds open. */
  let holding = 0;

  app.get("/v1/models", async () => ({
    object: "list",
    data: [{ id: modelName, object: "model", created: 0, owned_by: "copilot-scale-kit" }],
  }));

  app.get("/mock/stats", async () => ({ requests, holding }));

  app.post<{ Body: { model?: string; messages?: ChatMessage[]; stream?: boolean } }>(
    "/v1/chat/completions",
    async (req, reply) => {
      requests++;
      const body = req.body ?? {};
      if (!Array.isArray(body.messages)) {
        return reply.code(400).send({ error: { message: "messages must be an array", type: "invalid_request_error" } });
      }
      const { text, sleepMs } = mockReply(body.messages);
      if (latencyMs + sleepMs > 0) {
        holding++;
        await sleep(latencyMs + sleepMs).finally(() => holding--);
      }
      const model = body.model ?? modelName;
      const id = `chatcmpl-mock-${requests}`;
      const created = 0;
      const usage = { prompt_tokens: body.messages.length, completion_tokens: chunks(text).length, total_tokens: 0 };
      usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
      if (!body.stream) {
        return {
          id,
          object: "chat.completion",
          created,
          model,
          choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
          usage,
        };
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
      const base = { id, object: "chat.completion.chunk", created, model };
      const send = (obj: unknown) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
      send({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] });
      for (const piece of chunks(text)) {
        send({ ...base, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] });
      }
      send({ ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage });
      res.end("data: [DONE]\n\n");
    },
  );
  return app;
}

export async function startMockModel(opts: MockModelOptions = {}): Promise<{ app: FastifyInstance; url: string; port: number }> {
  const app = buildMockModel(opts);
  await app.listen({ host: opts.host ?? "127.0.0.1", port: opts.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return { app, port, url: `http://${opts.host ?? "127.0.0.1"}:${port}/v1` };
}
