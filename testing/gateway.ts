/**
 * Test fixture: an in-process gateway in front of one offline CLI (testing/local.ts), with static
 * tokens for alice and bob and the mock model; a test passes only the settings it changes.
 */
import { pino, type Logger } from "pino";
import { createGateway, type Gateway, type UnsafeSwitches } from "../gateway/server.js";
import { type GatewayConfigInput, parseGatewayConfig } from "../topology/gateway-config.js";
import { MOCK_MODEL, type OfflineCli } from "./local.js";

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
