/**
 * The SDK session config every gateway session is created or resumed with: its id, the model
 * (the session's own or the configured one), the BYOK provider, the tool permission policy, and
 * the owner's own GitHub token (user-tokens.ts). BYOK keys and tokens are never persisted in
 * session state, so a resume must pass them again.
 */
import type { SessionConfig } from "@github/copilot-sdk";
import type { GatewayConfig } from "../topology/gateway-config.js";
import type { SessionRecord } from "./store.js";

/** How a session is opened (created or resumed); `owner` is its record's owner, whose GitHub token it carries. */
export interface OpenOptions {
  model?: string;
  persistent: boolean;
  owner: string;
}

/** A record's open options: its model, persistence and owner (never the requester's identity). */
export const openOptionsOf = (rec: Pick<SessionRecord, "model" | "persistent" | "owner">): OpenOptions => ({ model: rec.model, persistent: rec.persistent, owner: rec.owner });

export function sessionConfigFor(cfg: Pick<GatewayConfig, "model" | "toolPermissions">, id: string, model: string | undefined, providerApiKey?: string, gitHubToken?: string): SessionConfig {
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
  if (gitHubToken !== undefined) config.gitHubToken = gitHubToken;
  return config;
}
