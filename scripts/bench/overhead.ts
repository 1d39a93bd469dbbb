/**
 * Gateway overhead: per-turn latency through the gateway (HTTP, auth, store, its SDK client) next to
 * a direct SDK call against the same CLI server, interleaved in one run (alternating which goes
 * first), so both see the same machine load and the same growth of session history.
 */
import { CopilotClient, RuntimeConnection, type SessionConfig } from "@github/copilot-sdk";
import { parseMarker } from "../load/checks.js";
import { GatewayClient, withPlatform } from "./harness.js";
import { summarize, type Summary } from "./stats.js";

export interface OverheadResult {
  turns: number;
  gatewayMs: Summary;
  directMs: Summary;
  /** gateway p50 / direct p50. */
  p50Ratio: number;
  p99Ratio: number;
  /**
   * Median of (gateway − direct) over the turn pairs. Turn latency here is bimodal (≈ 75 and
   * ≈ 110–130 ms clusters), so a ratio of medians can jump between clusters; the paired delta is
   * the steadier estimate of what the gateway adds.
   */
  pairedDeltaP50Ms?: number;
}

/** `gatewayNodeFlags`: instead of the image's (a run comparing Node settings). */
export async function measureOverhead(turns = 150, warmup = 5, gatewayNodeFlags?: readonly string[]): Promise<OverheadResult> {
  return withPlatform({ topology: "shared", gatewayNodeFlags }, async (platform, target) => {
    const server = target.servers[0]!;
    const { model } = platform.gatewayConfig(0, 0).config;
    const gw = await GatewayClient.forUser(target, "bench-overhead");
    const gwSession = await gw.createSession();

    const client = new CopilotClient({ connection: RuntimeConnection.forUri(server.address, { connectionToken: server.connectionToken }) });
    await client.start();
    // The same session settings the gateway uses (gateway/sessions.ts), so only the path differs.
    const config = {
      sessionId: `bench-direct-${Date.now()}`,
      streaming: true,
      model: model?.name,
      provider: model?.providerBaseUrl ? { type: model.providerType ?? "openai", baseUrl: model.providerBaseUrl } : undefined,
      onPermissionRequest: () => ({ kind: "denied-no-approval-rule-and-could-not-request-from-user" as const }),
    } as SessionConfig;
    const direct = await client.createSession(config);
    try {
      const gatewayMs: number[] = [];
      const directMs: number[] = [];
      let turn = 0;
      const viaGateway = async () => gw.send(gwSession, `g${turn}`);
      const viaSdk = async () => (await direct.sendAndWait({ prompt: `d${turn}` }, 120_000))?.data.content;
      const timed = async (fn: () => Promise<string | undefined>, into: number[] | undefined) => {
        const t0 = performance.now();
        const content = await fn();
        const ms = performance.now() - t0;
        // Both paths must have run a real turn with the full history.
        if (parseMarker(content)?.turn !== turn) throw new Error(`overhead bench: turn ${turn} answered ${JSON.stringify(content)}`);
        into?.push(ms);
      };
      for (turn = 1; turn <= warmup + turns; turn++) {
        const keep = turn > warmup;
        const pair: [() => Promise<void>, () => Promise<void>] = [
          () => timed(viaGateway, keep ? gatewayMs : undefined),
          () => timed(viaSdk, keep ? directMs : undefined),
        ];
        if (turn % 2) pair.reverse();
        for (const step of pair) await step();
      }
      const g = summarize(gatewayMs);
      const d = summarize(directMs);
      const deltas = gatewayMs.map((v, i) => v - directMs[i]!);
      return { turns, gatewayMs: g, directMs: d, p50Ratio: g.p50 / d.p50, p99Ratio: g.p99 / d.p99, pairedDeltaP50Ms: summarize(deltas).p50 };
    } finally {
      await direct.disconnect().catch(() => undefined);
      await client.forceStop().catch(() => undefined);
    }
  });
}
