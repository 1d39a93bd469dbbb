import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mockReply, startMockModel, stripCliMarkup } from "./mock-model.js";

describe("mock model", () => {
  let url = "";
  let close: () => Promise<void>;
  beforeAll(async () => {
    const m = await startMockModel();
    url = m.url;
    close = () => m.app.close();
  });
  afterAll(() => close());

  it("strips the markup the CLI wraps around prompts", () => {
    expect(stripCliMarkup("<current_datetime>2026-01-01</current_datetime>\n\nhi there")).toBe("hi there");
    expect(stripCliMarkup("<a>x</a><b k=\"v\">y</b> keep <c>this</c>")).toBe("keep <c>this</c>");
  });

  it("counts user messages and echoes the last prompt", () => {
    const r = mockReply([
      { role: "system", content: "sys" },
      { role: "user", content: "<current_datetime>t</current_datetime>\n\nfirst" },
      { role: "assistant", content: "x" },
      { role: "user", content: [{ type: "text", text: "second  line\nbreak" }] },
    ]);
    expect(r.text).toContain("turn=2 prompt=second line break");
    expect(r.sleepMs).toBe(0);
    expect(mockReply([{ role: "user", content: "wait [sleep:250]" }]).sleepMs).toBe(250);
  });

  it("counts the replies it is holding back ([sleep:]), and only those", async () => {
    const stats = () => fetch(url.replace(/\/v1$/, "/mock/stats")).then((r) => r.json() as Promise<{ requests: number; holding: number }>);
    const post = (content: string) =>
      fetch(`${url}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ messages: [{ role: "user", content }] }) });
    await (await post("quick")).text();
    expect((await stats()).holding).toBe(0);
    let done = false;
    const held = post("hold [sleep:300]").then((r) => r.text()).finally(() => (done = true));
    let seen = 0;
    while (!done && seen === 0) seen = (await stats()).holding;
    expect(seen).toBe(1);
    await held;
    expect((await stats()).holding).toBe(0);
  });

  it("serves non-streaming completions deterministically", async () => {
    const req = { model: "m", messages: [{ role: "user", content: "hello" }] };
    const post = () =>
      fetch(`${url}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(req) }).then(
        (r) => r.json() as Promise<{ choices: { message: { content: string } }[] }>,
      );
    const [a, b] = await Promise.all([post(), post()]);
    expect(a.choices[0]!.message.content).toContain("turn=1 prompt=hello");
    expect(a.choices[0]!.message.content).toBe(b.choices[0]!.message.content);
  });

  it("streams SSE chunks that add up to the same reply", async () => {
    const res = await fetch(`${url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ stream: true, messages: [{ role: "user", content: "a b c" }] }),
    });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const text = await res.text();
    const events = text.split("\n\n").filter((l) => l.startsWith("data: ") && !l.includes("[DONE]"));
    expect(events.length).toBeGreaterThan(3);
    const joined = events.map((e) => JSON.parse(e.slice(6)).choices[0].delta.content ?? "").join("");
    expect(joined).toContain("turn=1 prompt=a b c");
    expect(text.trim().endsWith("data: [DONE]")).toBe(true);
  });

  it("lists models and delays on [sleep:ms]", async () => {
    const models = (await (await fetch(`${url}/models`)).json()) as { data: { id: string }[] };
    expect(models.data[0]!.id).toBe("mock-model");
    const t0 = Date.now();
    await fetch(`${url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "[sleep:300]" }] }),
    });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it("rejects a request without messages with 400", async () => {
    const res = await fetch(`${url}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(400);
  });
});
