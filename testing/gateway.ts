/**
 * Test fixture: an in-process gateway in front of one offline CLI (testing/local.ts), with static
 * tokens for alice and bob and the mock model; a test passes only the settings it changes.
 */
import { pino, type Logger } from "pino";
import { afterAll, beforeAll } from "vitest";
import { createGateway, type Gateway, type UnsafeSwitches } from "../gateway/server.js";
import { type GatewayConfigInput, parseGatewayConfig } from "../topology/gateway-config.js";
import { MOCK_MODEL, startOfflineCli, type OfflineCli } from "./local.js";

export const TEST_TOKENS = { alice: "alice-token-0123456789", bob: "bob-token-0123456789ab" } as const;

/** A parsed config for unit tests that start no CLI (the server's address is never dialled). */
export function unitConfig(settings: Partial<GatewayConfigInput> = {}) {
  return parseGatewayConfig({
    topology: "shared",
    backends: { kind: "static", servers: [{ id: "cli-0", address: "127.0.0.1:9", tokenEnv: "CLI_TOKEN_CLI_0" }] },
    auth: { kind: "static" },
    logLevel: "silent",
    ...settings,
  });
}

export async function gatewayFor(
  offline: OfflineCli,
  settings: Partial<GatewayConfigInput> = {},
  opts: { env?: Record<string, string>; unsafe?: UnsafeSwitches; log?: Logger } = {},
): Promise<Gateway> {
  const cfg = parseGatewayConfig({
    topology: "shared",
    backends: { kind: "static", servers: [{ id: "cli-0", address: offline.cli.address, tokenEnv: "CLI_TOKEN_CLI_0" }] },
    auth: { kind: "static" },
    model: { name: MOCK_MODEL, providerBaseUrl: offline.modelUrl, providerType: "openai" },
    logLevel: "silent",
    ...settings,
  });
  const env = { GATEWAY_STATIC_TOKENS: JSON.stringify(TEST_TOKENS), CLI_TOKEN_CLI_0: offline.connectionToken, ...opts.env };
  return createGateway(cfg, { env, log: opts.log ?? pino({ level: "silent" }), unsafe: opts.unsafe });
}

/**
 * A suite's offline CLI and the gateway in front of it, started before its tests and stopped after
 * them (gateway first: it drains). Read `cli` and `gw` inside tests, once the suite has started.
 */
export function gatewaySuite(connectionToken: string, settings: Partial<GatewayConfigInput> = {}): { readonly cli: OfflineCli; readonly gw: Gateway } {
  let cli: OfflineCli | undefined;
  let gw: Gateway | undefined;
  beforeAll(async () => {
    cli = await startOfflineCli(connectionToken);
    gw = await gatewayFor(cli, settings);
  }, 120_000);
  afterAll(async () => {
    await gw?.drainAndStop();
    await cli?.stop();
  });
  return {
    get cli() {
      if (!cli) throw new Error("the suite's CLI is not started yet: use it inside a test");
      return cli;
    },
    get gw() {
      if (!gw) throw new Error("the suite's gateway is not started yet: use it inside a test");
      return gw;
    },
  };
}

/** A gateway with no CLI behind it (the configured address answers nothing), for routes that never reach one. */
export function gatewayWithoutCli(settings: Partial<GatewayConfigInput> = {}): Promise<Gateway> {
  return createGateway(unitConfig(settings), {
    env: { GATEWAY_STATIC_TOKENS: JSON.stringify(TEST_TOKENS), CLI_TOKEN_CLI_0: "c".repeat(32) },
    log: pino({ level: "silent" }),
  });
}
