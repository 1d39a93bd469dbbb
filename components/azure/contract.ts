/**
 * The image contracts the ACI components rely on (see images/ and gateway/probe.ts).
 * Kept in one place so the components, the stack and the policy rules agree.
 */
import { GATEWAY_SECRET_ENV } from "../../topology/index.js";

/** The CLI image listens here (`copilot --headless --host 0.0.0.0 --port 4321`). */
export const CLI_PORT = 4321;
/** The gateway image listens here. */
export const GATEWAY_PORT = 8080;
/** COPILOT_HOME inside the CLI container: the Azure Files share is mounted here. */
export const COPILOT_HOME_PATH = "/data/copilot";
/** memory store: where the gateway snapshots its session registry (same path as on Kubernetes). */
export const GATEWAY_STORE_FILE = "/var/lib/copilot-gateway/registry.json";
/** The protocol probe shipped in the CLI image; a TCP connect says nothing about the server. */
export const CLI_PROBE_COMMAND: readonly string[] = ["copilot-probe", "--address", `127.0.0.1:${CLI_PORT}`];
/** Env var with the CLI's connection token (the probe reads it too). */
export const CONNECTION_TOKEN_ENV = "COPILOT_CONNECTION_TOKEN";
export const COPILOT_HOME_ENV = "COPILOT_HOME";

/** Env var names that carry secrets: on ACI they must be set with `secureValue`, never `value`. */
const SECRET_ENV_NAMES: ReadonlySet<string> = new Set<string>([CONNECTION_TOKEN_ENV, ...Object.values(GATEWAY_SECRET_ENV)]);
const SECRET_ENV_PATTERN = /(^CLI_TOKEN_)|TOKEN|SECRET|PASSWORD|API_KEY|REDIS_URL/;

export function isSecretEnvName(name: string): boolean {
  return SECRET_ENV_NAMES.has(name) || SECRET_ENV_PATTERN.test(name);
}
