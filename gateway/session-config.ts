/**
 * The SDK session config every gateway session is created or resumed with: its id, the model
 * (the session's own or the configured one), the BYOK provider, and the tool permission policy.
 * BYOK keys are never persisted in session state, so a resume must pass them again.
 */
import type { SessionConfig } from "@github/copilot-sdk";
import type { GatewayConfig } from "../topology/gateway-config.js";

export function sessionConfigFor(cfg: Pick<GatewayConfig, "model" | "toolPermissions">, id: string, model: string | undefined, providerApiKey?: string): SessionConfig {
  const m = cfg.model;
  const config: SessionConfig = {
    sessionId: id,
    streaming: true,
    onPermissionRequest: () =>
      cfg.toolPermissions === "approve"
        ? { kind: "approve-once" as const }
        : { kind: "denied-no-approval-rule-and-could-not-request-from-user" as const },
  } as SessionConfig;
  const name = model ?? m.name;
  if (name) config.model = name;
  if (m.providerBaseUrl) {
    config.provider = { type: m.providerType, baseUrl: m.providerBaseUrl, ...(providerApiKey ? { apiKey: providerApiKey } : {}) };
  }
  return config;
}
