/**
 * Gateway overhead: per-turn latency through the gateway (HTTP, auth, store, its SDK client) next to
 * a direct SDK call against the same CLI server, interleaved in one run (rotating which goes
 * first), so all see the same machine load and the same growth of session history. Two direct
 * paths: the SDK as shipped (Nagle's algorithm on its TCP connection), and the same SDK with
 * TCP_NODELAY as the gateway runs it (gateway/backends.ts disableNagle): the first is what a user
 * of the bare SDK gets, the second shows the gateway's own cost.
 */
import { CopilotClient, RuntimeConnection, type CopilotSession, type SessionConfig } from "@github/copilot-sdk";
import { disableNagle } from "../../gateway/backends.js";
import { parseMarker } from "../load/checks.js";
import { GatewayClient, withPlatform } from "./harness.js";
import { summarize, type Summary } from "./stats.js";

export interface OverheadResult {
  turns: number;
  gatewayMs: Summary;
  directMs: Summary;
  /** The direct SDK with TCP_NODELAY on its connection, as the gateway's own client. */
  directNoDelayMs?: Summary;
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

    const connect = async (noDelay: boolean) => {
      const c = new CopilotClient({ connection: RuntimeConnection.forUri(server.address, { connectionToken: server.connectionToken }) });
      await c.start();
      if (noDelay && !disableNagle(c)) throw new Error("overhead bench: the SDK client has no socket to set TCP_NODELAY on");
      return c;
    };
    const client = await connect(false);
    const tuned = await connect(true);
    const sessions: CopilotSession[] = [];
    // The same session settings the gateway uses (gateway/sessions.ts), so only the path differs.
    const config = {
      sessionId: `bench-direct-${Date.now()}`,
      streaming: true,
      model: model?.name,
      provider: model?.providerBaseUrl ? { type: model.providerType ?? "openai", baseUrl: model.providerBaseUrl } : undefined,
      onPermissionRequest: () => ({ kind: "denied-no-approval-rule-and-could-not-request-from-user" as const }),
    } as SessionConfig;
    try {
      const direct = await client.createSession(config);
      sessions.push(direct);
      const directTuned = await tuned.createSession({ ...config, sessionId: `${config.sessionId}-nodelay` });
      sessions.push(directTuned);
      const gatewayMs: number[] = [];
      const directMs: number[] = [];
      const directNoDelayMs: number[] = [];
      let turn = 0;
      const viaGateway = async () => gw.send(gwSession, `g${turn}`);
      const viaSdk = async () => (await direct.sendAndWait({ prompt: `d${turn}` }, 120_000))?.data.content;
      const viaTunedSdk = async () => (await directTuned.sendAndWait({ prompt: `n${turn}` }, 120_000))?.data.content;
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
        const steps = [
          () => timed(viaGateway, keep ? gatewayMs : undefined),
          () => timed(viaSdk, keep ? directMs : undefined),
          () => timed(viaTunedSdk, keep ? directNoDelayMs : undefined),
        ];
        for (let i = 0; i < steps.length; i++) await steps[(i + turn) % steps.length]!();
      }
      const g = summarize(gatewayMs);
      const d = summarize(directMs);
      const deltas = gatewayMs.map((v, i) => v - directMs[i]!);
      return { turns, gatewayMs: g, directMs: d, directNoDelayMs: summarize(directNoDelayMs), p50Ratio: g.p50 / d.p50, p99Ratio: g.p99 / d.p99, pairedDeltaP50Ms: summarize(deltas).p50 };
    } finally {
      for (const s of sessions) await s.disconnect().catch(() => undefined);
      await client.forceStop().catch(() => undefined);
      await tuned.forceStop().catch(() => undefined);
    }
  });
}
