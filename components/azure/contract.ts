/**
 * The image contracts the ACI components rely on: images/contract.ts, plus what only ACI needs.
 */
export {
  CLI_PORT,
  CLI_PROBE_COMMAND,
  CONNECTION_TOKEN_ENV,
  COPILOT_HOME_ENV,
  COPILOT_HOME_PATH,
  GATEWAY_ADMIN_PORT,
  GATEWAY_PATHS,
  GATEWAY_PORT,
  isSecretEnvName,
} from "../../images/contract.js";

/** memory store: where the gateway snapshots its session registry (the same path as on Kubernetes). */
export const GATEWAY_STORE_FILE = "/var/lib/copilot-gateway/registry.json";
