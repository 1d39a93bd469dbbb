/**
 * AciCliGroup: one Copilot CLI server as an ACI container group. COPILOT_HOME lives on an Azure
 * Files share, tokens arrive as secure values, and the protocol probe (copilot-probe, an SDK ping)
 * backs both liveness and readiness because the CLI speaks raw TCP, not HTTP.
 */
import * as pulumi from "@pulumi/pulumi";
import * as containerinstance from "@pulumi/azure-native/containerinstance/index.js";
import type { input } from "@pulumi/azure-native/types/index.js";
import {
  CLI_PORT,
  CLI_PROBE_COMMAND,
  CONNECTION_TOKEN_ENV,
  COPILOT_HOME_ENV,
  COPILOT_HOME_PATH,
} from "./contract.js";
import { GATEWAY_SECRET_ENV } from "../../topology/index.js";
import { type GroupArgs, containerGroupArgs, groupHost } from "./group-options.js";
import { type ShareRef, azureFileVolume } from "./session-storage.js";

export interface CliContainerArgs {
  image: pulumi.Input<string>;
  /** Secret: the server rejects clients without it. */
  connectionToken: pulumi.Input<string>;
  /** Secret, optional: GitHub auth for GitHub-hosted models. */
  githubToken?: pulumi.Input<string>;
  /** Name of the volume (in the same group) that holds COPILOT_HOME. */
  volumeName: string;
  /**
   * shared-storage: the share volume mounted as COPILOT_HOME/session-state only, while
   * `volumeName` (then an emptyDir) holds the rest of the home: no SQLite file or server-wide lock
   * on Azure Files (docs/shared-storage.md).
   */
  sessionStateVolume?: string;
  /** Default 1 vCPU. */
  cpu?: number;
  /** Default 2 GB (measured RSS ≈ 420 MB after a few dozen sessions; headroom for tools). */
  memoryGb?: number;
  /** Default "copilot-cli". */
  name?: string;
}

/** The CLI container spec; also used as a sidecar beside the gateway for the shared topology. */
export function cliContainer(args: CliContainerArgs): input.containerinstance.ContainerArgs {
  const env: input.containerinstance.EnvironmentVariableArgs[] = [
    { name: COPILOT_HOME_ENV, value: COPILOT_HOME_PATH },
    { name: CONNECTION_TOKEN_ENV, secureValue: args.connectionToken },
  ];
  if (args.githubToken !== undefined) env.push({ name: GATEWAY_SECRET_ENV.githubToken, secureValue: args.githubToken });
  return {
    name: args.name ?? "copilot-cli",
    image: args.image,
    ports: [{ port: CLI_PORT, protocol: "TCP" }],
    environmentVariables: env,
    resources: { requests: { cpu: args.cpu ?? 1, memoryInGB: args.memoryGb ?? 2 } },
    volumeMounts: [
      { name: args.volumeName, mountPath: COPILOT_HOME_PATH },
      ...(args.sessionStateVolume ? [{ name: args.sessionStateVolume, mountPath: `${COPILOT_HOME_PATH}/session-state` }] : []),
    ],
    // Cold start is ~0.65 s, but the Azure Files mount and image pull come first.
    readinessProbe: { exec: { command: [...CLI_PROBE_COMMAND] }, initialDelaySeconds: 5, periodSeconds: 10, timeoutSeconds: 10, failureThreshold: 3 },
    livenessProbe: { exec: { command: [...CLI_PROBE_COMMAND] }, initialDelaySeconds: 30, periodSeconds: 30, timeoutSeconds: 10, failureThreshold: 3 },
  };
}

export interface AciCliGroupArgs extends GroupArgs {
  connectionToken: pulumi.Input<string>;
  githubToken?: pulumi.Input<string>;
  /** The Azure Files share mounted at COPILOT_HOME. */
  state: ShareRef;
  /** shared-storage: the share holds only session-state/; COPILOT_HOME is the group's own (emptyDir). */
  sharedSessionState?: boolean;
}

export class AciCliGroup extends pulumi.ComponentResource {
  readonly group: containerinstance.ContainerGroup;
  /** host:port the gateway dials: the group's FQDN (public) or private IP. */
  readonly address: pulumi.Output<string>;

  constructor(name: string, args: AciCliGroupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("copilot-scale-kit:azure:AciCliGroup", name, {}, opts);
    const volumeName = "copilot-home";
    const shared = args.sharedSessionState === true;
    const container = cliContainer({
      image: args.image,
      connectionToken: args.connectionToken,
      githubToken: args.githubToken,
      volumeName,
      ...(shared ? { sessionStateVolume: "session-state" } : {}),
      cpu: args.cpu,
      memoryGb: args.memoryGb,
    });
    const volumes = shared
      ? [{ name: volumeName, emptyDir: {} }, azureFileVolume("session-state", args.state)]
      : [azureFileVolume(volumeName, args.state)];
    this.group = new containerinstance.ContainerGroup(
      name,
      containerGroupArgs(args, [CLI_PORT], [container], volumes),
      { parent: this },
    );
    this.address = pulumi.interpolate`${groupHost(args.network, this.group.ipAddress)}:${CLI_PORT}`;
    this.registerOutputs({ address: this.address });
  }
}
