/**
 * The CLI server's container, the same for a fixed server (CliServer, a Deployment) and for the
 * per-user Pods the gateway creates (UserServers renders their template). Pure: no resources.
 */
import type * as pulumi from "@pulumi/pulumi";
import { CLI_HOME_PATH, CLI_PORT, CLI_PROBE_COMMAND, COPILOT_HOME_ENV, COPILOT_HOME_PATH, isSecretEnvName } from "../../images/contract.js";
import { type Container, type EnvVar, type ImagePull, preStopSleep, type ResourceRequirements, RESTRICTED_CONTAINER_SECURITY, TMP_MOUNT } from "./meta.js";

export const DEFAULT_CLI_RESOURCES: ResourceRequirements = {
  // Measured: ~250-290 MB idle, ~420 MB after a few dozen sessions; tools the agent runs add more.
  requests: { cpu: "250m", memory: "512Mi" },
  limits: { cpu: "2", memory: "2Gi" },
};

export const CLI_CONTAINER = "copilot";

export interface CliContainerArgs {
  image: pulumi.Input<string>;
  imagePull?: ImagePull;
  /** `--session-idle-timeout`; 0 = the CLI default (off since 1.0.32). */
  sessionIdleTimeoutSeconds?: number;
  /** Seconds turns in flight get between "stop" and SIGTERM. */
  drainGraceSeconds: number;
  /** Secret env (connection token, GitHub token) as secretKeyRefs. */
  secretEnv: EnvVar[];
  /** Extra non-secret environment (e.g. COPILOT_OFFLINE); secrets are refused. */
  env?: Record<string, string>;
  resources?: ResourceRequirements;
  /** Where the session state lives (COPILOT_HOME or its session-state/ folder). */
  stateMounts: { name: string; mountPath: string; subPath?: string }[];
}

/** Throws when an extra env var looks secret: secrets go through a Kubernetes Secret, never plain env. */
export function checkPlainEnv(owner: string, env: Record<string, string> | undefined): void {
  const refused = Object.keys(env ?? {}).filter((k) => isSecretEnvName(k));
  if (refused.length) throw new Error(`${owner}: env ${refused.join(", ")} looks secret; pass secrets through a Kubernetes Secret, not plain env`);
}

export function cliContainer(a: CliContainerArgs): Container {
  const probe = { exec: { command: [...CLI_PROBE_COMMAND] }, timeoutSeconds: 5 };
  return {
    name: CLI_CONTAINER,
    image: a.image,
    imagePullPolicy: a.imagePull?.policy,
    args: a.sessionIdleTimeoutSeconds ? ["--session-idle-timeout", String(a.sessionIdleTimeoutSeconds)] : [],
    ports: [{ name: "copilot", containerPort: CLI_PORT, protocol: "TCP" }],
    env: [{ name: COPILOT_HOME_ENV, value: COPILOT_HOME_PATH }, ...a.secretEnv, ...Object.entries(a.env ?? {}).map(([name, value]) => ({ name, value }))],
    // The first start on a node also pulls a ~1 GB image; allow two minutes.
    startupProbe: { ...probe, periodSeconds: 2, failureThreshold: 60 },
    readinessProbe: { ...probe, periodSeconds: 10, failureThreshold: 3 },
    livenessProbe: { ...probe, periodSeconds: 20, failureThreshold: 3 },
    lifecycle: preStopSleep(a.drainGraceSeconds),
    resources: a.resources ?? DEFAULT_CLI_RESOURCES,
    securityContext: RESTRICTED_CONTAINER_SECURITY,
    volumeMounts: [...a.stateMounts, TMP_MOUNT, { name: "home", mountPath: CLI_HOME_PATH }],
  };
}
