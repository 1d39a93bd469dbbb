/**
 * What the kit's two images promise to whoever runs them (Kubernetes, ACI, docker run).
 * images/*\/Dockerfile implement it; components/k8s/images.test.ts checks the Dockerfiles against it.
 */
import { GATEWAY_SECRET_ENV } from "../topology/gateway-config.js";

/** Non-root user and group of both images (a high id that matches no host account). */
export const IMAGE_UID = 10001;

/** CLI image: `copilot --headless --host 0.0.0.0 --port 4321 --no-auto-update --no-auto-login`. */
export const CLI_PORT = 4321;
export const CLI_SERVER_FLAGS: readonly string[] = ["--headless", "--host", "0.0.0.0", "--port", String(CLI_PORT), "--no-auto-update", "--no-auto-login"];
/** Where the state volume is mounted; COPILOT_HOME lives on it. */
export const CLI_DATA_PATH = "/data";
export const COPILOT_HOME_PATH = "/data/copilot";
export const COPILOT_HOME_ENV = "COPILOT_HOME";
export const CONNECTION_TOKEN_ENV = "COPILOT_CONNECTION_TOKEN";
/** HOME of the image user: writable scratch for tools the agent runs (git, npm). */
export const CLI_HOME_PATH = "/home/copilot";
/**
 * Protocol-level health check (gateway/probe.ts bundled): SDK ping with COPILOT_CONNECTION_TOKEN,
 * exit 1 on failure. The server speaks raw JSON-RPC over TCP, so a TCP connect proves nothing.
 */
export const CLI_PROBE_COMMAND: readonly string[] = ["copilot-probe", "--address", `127.0.0.1:${CLI_PORT}`, "--timeout-ms", "3000"];

/** Gateway image: `node /app/gateway.js <serve|cleanup>`, the API on 8080, probes and metrics on the admin port 9090. */
export const GATEWAY_PORT = 8080;
/** /healthz, /readyz and /metrics: for probes and scrapers only, never behind a public Service. */
export const GATEWAY_ADMIN_PORT = 9090;
export const GATEWAY_ENTRY = "/app/gateway.js";
/**
 * Node flags of the gateway (the image's ENTRYPOINT and the local platform). A 1 MiB semi-space
 * keeps V8's young generation at 2 MiB instead of letting request churn grow it to 32 MiB: the
 * gateway's live heap is small and short-lived garbage is most of what it allocates
 * (docs/benchmarks.md: RSS at 10,000 sessions and GC time per session, with and without, same run).
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=1"];
export const GATEWAY_COMMANDS = { serve: "serve", cleanup: "cleanup" } as const;
/** Readiness in orchestrators: ready while at least one CLI server answers (one restarting pod must not drain every gateway). */
export const GATEWAY_PATHS = { liveness: "/healthz", readiness: "/readyz?backends=any", metrics: "/metrics" } as const;

/** Writable scratch both images need under a read-only root filesystem. */
export const TMP_PATH = "/tmp";

const SECRET_ENV_NAMES: ReadonlySet<string> = new Set<string>([CONNECTION_TOKEN_ENV, ...Object.values(GATEWAY_SECRET_ENV)]);
const SECRET_ENV_PATTERN = /^CLI_TOKEN_|TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|CREDENTIAL|REDIS_URL|REDISCLI_AUTH/;

/** True for env vars that carry secrets: they must come from a secret store, never a literal value. */
export function isSecretEnvName(name: string): boolean {
  return SECRET_ENV_NAMES.has(name) || SECRET_ENV_PATTERN.test(name.toUpperCase());
}
