/**
 * A stalled store answers fast: Redis paused with SIGSTOP keeps its sockets open and answers
 * nothing. Every route, /readyz included, must answer 503 store_unavailable within the store
 * timeout (2 s by default), and everything must work again, with nothing lost, after SIGCONT.
 */
import { execFileSync } from "node:child_process";
import { describe, expect } from "vitest";
import { api, conformance, createSession, recordFigure, send, target, turnOf, user, waitFor } from "../harness.js";
import { expectNothingLeft } from "../leftovers.js";

// The gateway's default store timeout, plus a loaded machine's slack.
const BOUND_MS = 2_000 + 2_000;

describe("stalled store", () => {
  conformance(["multi-gateway", "process-control"], "Redis paused: every route answers 503 store_unavailable within the bound, and all recovers on resume", async () => {
    const t = target(true);
    const u = user("stall");
    const id = await createSession(u);
    expect((await send(u, id, "before the stall")).status).toBe(200);
    const pid = String(t.store!.pid);
    execFileSync("kill", ["-STOP", pid]);
    const slowest: number[] = [];
    try {
      // The last one is the admin listener's.
      const routes: [string, string, unknown?][] = [
        ["GET", "/v1/sessions"],
        ["POST", "/v1/sessions", {}],
        ["GET", `/v1/sessions/${id}`],
        ["POST", `/v1/sessions/${id}/messages`, { prompt: "during the stall" }],
        ["DELETE", `/v1/sessions/${id}`],
        ["GET", "/readyz"],
      ];
      for (let gateway = 0; gateway < t.gatewayUrls.length; gateway++) {
        const results = await Promise.all(
          routes.map(async ([method, path, json]) => {
            const t0 = Date.now();
            const r = await api<{ error?: { code: string }; store?: { ok: boolean } }>(method, path, { user: u, json, gateway, timeoutMs: 30_000, admin: path === "/readyz" });
            return { what: `${method} ${path} on gateway ${gateway}`, r, ms: Date.now() - t0 };
          }),
        );
        for (const { what, r, ms } of results) {
          expect(r.status, `${what}: ${r.text}`).toBe(503);
          if (what.includes("/readyz")) expect(r.body.store?.ok, what).toBe(false);
          else expect(r.body.error?.code, what).toBe("store_unavailable");
          expect(ms, `${what} took ${ms} ms`).toBeLessThan(BOUND_MS);
          slowest.push(ms);
        }
      }
    } finally {
      execFileSync("kill", ["-CONT", pid]);
    }
    recordFigure("slowest answer with Redis paused", Math.max(...slowest), "ms");
    // Recovery: ready again, and the session kept its history (the stalled turn was never written).
    await waitFor("readyz 200 after SIGCONT", async () => (await api("GET", "/readyz", { admin: true })).status === 200, 30_000, 250);
    const after = await waitFor("the session answers again", async () => {
      const r = await send(u, id, "after the stall");
      return r.status === 200 ? r : undefined;
    }, 30_000, 250);
    expect(turnOf(after.body.content).turn).toBe(2);
    expect((await api("DELETE", `/v1/sessions/${id}`, { user: u })).status).toBe(204);
    await expectNothingLeft(() => target(true));
  }, 120_000, (t) => t.store?.kind === "redis" && t.store.pid !== undefined);
});
