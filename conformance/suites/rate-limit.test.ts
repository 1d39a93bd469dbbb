/**
 * Per-user rate limiting: past `rateLimitPerMinute` a user gets 429 with Retry-After and the JSON
 * error, and other users keep being served. The noisy-neighbour test measures the other users'
 * latency while one user hammers the gateway and is being limited.
 */
import { describe, expect } from "vitest";
import { api, conformance, createSession, recordFigure, send, target, turnOf, user, type ApiResponse } from "../harness.js";

const limit = () => {
  const n = target().settings.rateLimitPerMinute ?? 0;
  if (n <= 0) throw new Error("the target claims rate-limit but its settings have no rateLimitPerMinute");
  return n;
};
/** A generous bound: the claim is "not starved", not a latency target (that is for benchmarks). */
const STARVED_MS = 10_000;

/** Runs `total` calls of `fn`, `concurrency` at a time. */
async function burst<T>(total: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) out[i] = await fn(i);
    }),
  );
  return out;
}

function expectLimited(r: ApiResponse, what: string): void {
  expect(r.status, what).toBe(429);
  const retryAfter = Number(r.headers.get("retry-after"));
  expect(retryAfter, `${what}: Retry-After in seconds`).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect((r.body as { error?: { code?: string; message?: string } }).error?.code, what).toBe("rate_limited");
  expect(typeof (r.body as { error?: { message?: unknown } }).error?.message).toBe("string");
  expect(r.headers.get("x-copilot-server"), `${what}: refused before any CLI work`).toBeNull();
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

describe("rate limiting", () => {
  conformance(["rate-limit"], "past its per-minute limit a user gets 429 with Retry-After and a JSON error; others are unaffected", async () => {
    const noisy = user("noisy");
    const n = limit();
    const answers = await burst(n + 10, 8, () => api("GET", "/v1/sessions", { user: noisy }));
    const ok = answers.filter((r) => r.status === 200).length;
    const limited = answers.filter((r) => r.status === 429);
    // The window is a minute and the burst takes seconds: exactly the limit gets through.
    expect(ok, "requests served within the limit").toBe(n);
    expect(limited.length).toBe(10);
    for (const r of limited) expectLimited(r, "over the limit");
    // The limit is the noisy user's, nobody else's.
    const quiet = await api("GET", "/v1/sessions", { user: user("quiet") });
    expect(quiet.status).toBe(200);
  });

  conformance(["rate-limit", "sessions"], "one noisy user hammering does not starve the others: their latency while it is limited", async () => {
    const others = ["ada", "bo", "cy"].map((n) => user(`neighbour-${n}`));
    const sessions = await Promise.all(others.map((u) => createSession(u)));
    const turns = async (label: string, count: number, from: number) => {
      const ms: number[] = [];
      await Promise.all(
        others.map(async (u, i) => {
          for (let k = 0; k < count; k++) {
            const t0 = performance.now();
            const r = await send(u, sessions[i]!, `${label} ${k}`);
            ms.push(performance.now() - t0);
            expect(r.status, `${u}: ${label} ${k} -> ${r.status} ${r.text.slice(0, 200)}`).toBe(200);
            expect(turnOf(r.body.content).turn).toBe(from + k);
          }
        }),
      );
      return ms;
    };
    const baseline = await turns("baseline", 3, 1);

    // The noisy user spends its budget, then hammers with chats (each would be a real CLI turn).
    const noisy = user("noisy-neighbour");
    const spent = await burst(limit(), 8, () => api("GET", "/v1/sessions", { user: noisy }));
    expect(spent.every((r) => r.status === 200)).toBe(true);
    let hammering = true;
    const hammer: ApiResponse[] = [];
    const t0 = performance.now();
    const noise = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (hammering) hammer.push(await api("POST", "/v1/chat", { user: noisy, json: { prompt: "me me me" }, timeoutMs: 60_000 }));
      }),
    );
    const underNoise = await turns("while limited", 5, 4);
    hammering = false;
    await noise;
    const seconds = (performance.now() - t0) / 1000;

    const served = hammer.filter((r) => r.status !== 429);
    expect(served.map((r) => r.status), "every request past the noisy user's budget is refused").toEqual([]);
    expect(hammer.length, "the noisy user kept hammering throughout").toBeGreaterThanOrEqual(20);
    expectLimited(hammer[0]!, "the noisy user");
    expect(Math.max(...underNoise), "the others are served within a generous bound").toBeLessThan(STARVED_MS);

    recordFigure("noisy neighbour: others' p50 turn latency, baseline", Math.round(percentile(baseline, 50)), "ms");
    recordFigure("noisy neighbour: others' p50 turn latency while one user is limited", Math.round(percentile(underNoise, 50)), "ms");
    recordFigure("noisy neighbour: others' p95 turn latency while one user is limited", Math.round(percentile(underNoise, 95)), "ms", `${underNoise.length} turns of 3 users`);
    recordFigure("noisy neighbour: requests refused with 429", hammer.length, "requests", `${(hammer.length / seconds).toFixed(0)} requests/s from 8 concurrent loops`);
  });
});
