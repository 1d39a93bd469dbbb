/** shared-storage: N CLI servers on one state directory; a session lease keeps one writer per session. */
import { describe, expect } from "vitest";
import { api, conformance, createSession, recordFigure, send, target, turnOf, user, waitFor } from "../harness.js";
import { expectNothingLeft } from "../leftovers.js";

describe("shared storage", () => {
  conformance(["session-lease", "process-control"], "a session created on one server continues on another with its history", async () => {
    const u = user("mover");
    const id = await createSession(u);
    const first = await send(u, id, "first");
    const from = first.headers.get("x-copilot-server")!;
    const server = target(true).servers.find((s) => s.id === from)!;
    process.kill(server.pid!, "SIGSTOP");
    try {
      await waitFor("readyz reports the paused server", async () => {
        const r = await api<{ servers: { server: string; ok: boolean }[] }>("GET", "/readyz", { admin: true });
        return r.body.servers?.some((s) => s.server === from && !s.ok);
      }, 20_000, 200);
      const second = await send(u, id, "second");
      expect(second.status, second.text).toBe(200);
      expect(second.headers.get("x-copilot-server")).not.toBe(from);
      expect(turnOf(second.body.content)).toEqual({ turn: 2, prompt: "second" });
    } finally {
      process.kill(server.pid!, "SIGCONT");
    }
    await expectNothingLeft(() => target(true));
  });

  conformance(["session-lease", "process-control"], "after the serving CLI is killed, the next message succeeds on a survivor with the turn count intact", async () => {
    const u = user("survivor");
    const id = await createSession(u);
    await send(u, id, "one");
    const two = await send(u, id, "two");
    const from = two.headers.get("x-copilot-server")!;
    const server = target(true).servers.find((s) => s.id === from)!;
    process.kill(server.pid!, "SIGKILL");
    const t0 = Date.now();
    const three = await send(u, id, "three");
    recordFigure("shared-storage: CLI SIGKILL to next turn served", (Date.now() - t0) / 1000, "s");
    expect(three.status, three.text).toBe(200);
    expect(three.headers.get("x-copilot-server")).not.toBe(from);
    expect(turnOf(three.body.content)).toEqual({ turn: 3, prompt: "three" });
    await waitFor("the killed server is back", async () => (await api("GET", "/readyz", { admin: true })).status === 200, 60_000, 250);
    await expectNothingLeft(() => target(true));
  });

  conformance(["session-lease", "multi-gateway"], "concurrent messages to one session through different gateway replicas never fork it", async () => {
    const u = user("forker");
    const gateways = target().gatewayUrls.length;
    const id = await createSession(u);
    const replies = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const prompt = `concurrent ${i}`;
        const r = await api<{ content: string }>("POST", `/v1/sessions/${id}/messages`, { user: u, json: { prompt }, gateway: i % gateways });
        return { prompt, status: r.status, content: r.body.content, text: r.text };
      }),
    );
    for (const r of replies) {
      expect(r.status, r.text).toBe(200);
      expect(turnOf(r.content).prompt).toBe(r.prompt);
    }
    const turns = replies.map((r) => turnOf(r.content).turn).sort((a, b) => a - b);
    expect(turns).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // And the history stays linear afterwards, whichever replica serves.
    for (let g = 0; g < gateways; g++) {
      const next = await send(u, id, `after ${g}`, g);
      expect(turnOf(next.body.content).turn).toBe(9 + g);
    }
  });
});
