/**
 * Streaming at scale: `concurrency` SSE turns at once through one gateway replica, each on its own
 * persistent session, beside as many direct SDK turns on the same CLI server at the same moment (so
 * both see the same load), with the mock model waiting `modelDelayMs` before it answers. Measures
 * time to the first delta on each path, the gateway's RSS and CPU over the window, and that every
 * stream ended with its `done` event (none lost).
 */
import { CopilotClient, RuntimeConnection, type CopilotSession, type SessionConfig } from "@github/copilot-sdk";
import { mintToken } from "../../topology/tokens.js";
import { cpuSecondsOf, GatewayClient, memoryOf, pool, withPlatform } from "./harness.js";
import { summarize, type Summary } from "./stats.js";

export interface StreamingResult {
  concurrency: number;
  modelDelayMs: number;
  /** Time from sending the turn to its first delta. */
  gatewayFirstDeltaMs: Summary;
  directFirstDeltaMs: Summary;
  /** gateway p50 − direct p50. */
  addedP50Ms: number;
  lostStreams: number;
  gatewayRssMiB: { before: number; peak: number };
  /** Gateway CPU seconds over the window, per turn. */
  gatewayCpuMsPerTurn: number;
}

/** One SSE turn through the gateway: ms to the first delta event, and whether `done` arrived. */
async function gatewayStream(base: string, token: string, id: string, prompt: string): Promise<{ firstMs: number; done: boolean }> {
  const t0 = performance.now();
  const res = await fetch(`${base}/v1/sessions/${id}/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ prompt }),
  });
  let firstMs = NaN;
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(chunk, { stream: true });
    if (Number.isNaN(firstMs) && text.includes("event: delta")) firstMs = performance.now() - t0;
  }
  return { firstMs, done: res.status === 200 && text.includes("event: done") };
}

/** One direct SDK turn: ms to the first delta, and whether the turn ended idle. */
async function directStream(session: CopilotSession, prompt: string): Promise<{ firstMs: number; done: boolean }> {
  const t0 = performance.now();
  let firstMs = NaN;
  const off = session.on((event) => {
    if (event.type === "assistant.message_delta" && Number.isNaN(firstMs)) firstMs = performance.now() - t0;
  });
  try {
    const reply = await session.sendAndWait({ prompt }, 300_000);
    return { firstMs, done: reply !== undefined };
  } finally {
    off();
  }
}

export async function measureStreaming(concurrency = 1_000, modelDelayMs = 200): Promise<StreamingResult> {
  return withPlatform({ topology: "shared", maxSessionsPerServer: concurrency + 20, modelLatencyMs: modelDelayMs }, async (platform, target) => {
    const server = target.servers[0]!;
    const gatewayPid = target.gateways![0]!.pid;
    const { model } = platform.gatewayConfig(0, 0).config;
    const users = Math.max(1, Math.ceil(concurrency / 50));
    const tokens = await Promise.all(Array.from({ length: users }, (_, i) => mintToken(target.auth, `bench-stream-${i}`)));
    const clients = await Promise.all(Array.from({ length: users }, (_, i) => GatewayClient.forUser(target, `bench-stream-${i}`)));
    const gwSessions: string[] = new Array<string>(concurrency);
    await pool(concurrency, 8, async (i) => {
      gwSessions[i] = await clients[i % users]!.createSession();
    });
    const client = new CopilotClient({ connection: RuntimeConnection.forUri(server.address, { connectionToken: server.connectionToken }) });
    await client.start();
    const config = (i: number) =>
      ({
        sessionId: `bench-stream-direct-${Date.now()}-${i}`,
        streaming: true,
        model: model?.name,
        provider: model?.providerBaseUrl ? { type: model.providerType ?? "openai", baseUrl: model.providerBaseUrl } : undefined,
        onPermissionRequest: () => ({ kind: "denied-no-approval-rule-and-could-not-request-from-user" as const }),
      }) as SessionConfig;
    const direct: CopilotSession[] = new Array<CopilotSession>(concurrency);
    try {
      await pool(concurrency, 8, async (i) => {
        direct[i] = await client.createSession(config(i));
      });
      // Warm both paths (attach, JIT) with one turn each on a few sessions.
      await Promise.all([gatewayStream(clients[0]!.base, tokens[0]!, gwSessions[0]!, "warm"), directStream(direct[0]!, "warm")]);
      const rssBefore = memoryOf(gatewayPid).rssMiB;
      let peak = rssBefore;
      const sampler = setInterval(() => (peak = Math.max(peak, memoryOf(gatewayPid).rssMiB)), 200);
      const cpu0 = cpuSecondsOf(gatewayPid);
      const viaGateway = gwSessions.map((id, i) => gatewayStream(clients[i % users]!.base, tokens[i % users]!, id, `s${i}`));
      const viaSdk = direct.map((s, i) => directStream(s, `d${i}`));
      const [g, d] = await Promise.all([Promise.all(viaGateway), Promise.all(viaSdk)]);
      const cpu = cpuSecondsOf(gatewayPid) - cpu0;
      clearInterval(sampler);
      const gatewayFirstDeltaMs = summarize(g.map((r) => r.firstMs).filter(Number.isFinite));
      const directFirstDeltaMs = summarize(d.map((r) => r.firstMs).filter(Number.isFinite));
      return {
        concurrency,
        modelDelayMs,
        gatewayFirstDeltaMs,
        directFirstDeltaMs,
        addedP50Ms: gatewayFirstDeltaMs.p50 - directFirstDeltaMs.p50,
        lostStreams: g.filter((r) => !r.done || !Number.isFinite(r.firstMs)).length,
        gatewayRssMiB: { before: rssBefore, peak },
        gatewayCpuMsPerTurn: (cpu * 1000) / concurrency,
      };
    } finally {
      await Promise.all(direct.filter(Boolean).map((s) => s.disconnect().catch(() => undefined)));
      await client.forceStop().catch(() => undefined);
    }
  });
}
