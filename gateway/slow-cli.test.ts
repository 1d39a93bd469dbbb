/**
 * A slow CLI is slow, not dead (found by the streaming benchmark: a CLI holding 250 streams answered
 * a ping 2.5 s late, the health check's 1.5 s timeout dropped the connection, and all 229 turns on it
 * ended 503). A ping that times out now only fails the check; the connection is dropped, and the
 * turns on it end, once it has answered nothing for lifecycle.cliSilenceSeconds. Real CLI, paused
 * with SIGSTOP.
 */
import { describe, expect, it } from "vitest";
import { gatewaySuite } from "../testing/gateway.js";
import type { StaticPool } from "./pool.js";

const AUTH = { authorization: "Bearer alice-token-0123456789" };
const SILENCE_SECONDS = 4;
const suite = gatewaySuite("s".repeat(32), { topology: "shared", lifecycle: { cliSilenceSeconds: SILENCE_SECONDS } });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pauses the CLI for `ms`, running `during` meanwhile; always resumes it. `resumedAt`: when SIGCONT went. */
async function paused<T>(ms: number, during: () => Promise<T>): Promise<{ value: T; resumedAt: number }> {
  const pid = suite.cli.cli.pid;
  process.kill(pid, "SIGSTOP");
  const resume = sleep(ms).then(() => {
    process.kill(pid, "SIGCONT");
    return Date.now();
  });
  try {
    const value = await during();
    return { value, resumedAt: await resume };
  } finally {
    await resume;
  }
}

describe("a CLI that stops answering for a while", () => {
  const backend = () => (suite.gw.pool as StaticPool).all()[0]!;
  const create = async () => (await suite.gw.app.inject({ method: "POST", url: "/v1/sessions", headers: AUTH, payload: {} })).json<{ sessionId: string }>().sessionId;
  const send = (id: string, prompt: string) => suite.gw.app.inject({ method: "POST", url: `/v1/sessions/${id}/messages`, headers: AUTH, payload: { prompt } });

  it("keeps its connection and the turn on it through pauses shorter than the silence limit, though health pings time out", async () => {
    const id = await create();
    expect((await send(id, "one")).statusCode).toBe(200);
    const generation = backend().generation;
    const turn = send(id, "[sleep:500] two");
    await sleep(200);
    const { value: pings } = await paused(3_000, async () => {
      // What the health loop and /readyz do meanwhile: each times out, none drops the connection.
      const results: string[] = [];
      for (let i = 0; i < 2; i++) results.push(await backend().ping(1_000).then(() => "answered", (e: Error) => e.message));
      return results;
    });
    expect(pings).toEqual(["ping timed out after 1000 ms", "ping timed out after 1000 ms"]);
    const r = await turn;
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json<{ content: string }>().content).toContain("turn=2 prompt=[sleep:500] two");
    expect(backend().generation, "the connection was dropped").toBe(generation);
    await backend().ping(1_000);
    expect(backend().silentMs()).toBe(0);
    expect((await suite.gw.app.inject({ method: "DELETE", url: `/v1/sessions/${id}`, headers: AUTH })).statusCode).toBe(204);
  }, 60_000);

  it("ends the turn 503 turn_interrupted once the CLI has answered nothing for the limit, and serves the session again after", async () => {
    const id = await create();
    expect((await send(id, "one")).statusCode).toBe(200);
    const generation = backend().generation;
    const { value: [r, answeredAt], resumedAt } = await paused((SILENCE_SECONDS + 6) * 1000, async () => {
      const answer = await send(id, "[sleep:300] two");
      return [answer, Date.now()] as const;
    });
    // Answered while the CLI was still stopped: the watch gave up on it, the turn did not wait it out.
    expect(answeredAt).toBeLessThan(resumedAt);
    expect(r.statusCode, r.body).toBe(503);
    expect(r.json<{ error: { code: string; message: string } }>().error.code).toBe("turn_interrupted");
    expect(r.json<{ error: { message: string } }>().error.message).toContain("cli-0");
    expect(backend().generation, "the silent connection was not dropped").toBeGreaterThan(generation);
    const again = await send(id, "three");
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json<{ content: string }>().content).toContain("prompt=three");
    // Nothing left: the session deletes, and the CLI no longer lists it (it did before).
    const listed = async () => (await backend().call((c) => c.listSessions())).map((s) => s.sessionId);
    expect(await listed()).toContain(id);
    expect((await suite.gw.app.inject({ method: "DELETE", url: `/v1/sessions/${id}`, headers: AUTH })).statusCode).toBe(204);
    expect(await listed()).not.toContain(id);
  }, 60_000);
});
