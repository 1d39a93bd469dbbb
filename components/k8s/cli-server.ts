/**
 * One Copilot CLI server: a single-replica Deployment with its Service, its connection-token
 * Secret and its session-state volume (a claim of its own, or a shared ReadWriteMany claim).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CLI_DATA_PATH, CLI_PORT, CONNECTION_TOKEN_ENV, COPILOT_HOME_PATH } from "../../images/contract.js";
import { GATEWAY_SECRET_ENV } from "../../topology/gateway-config.js";
import { SECRET_CHECKSUM_ANNOTATION, secretChecksum } from "../secrets.js";
import { checkPlainEnv, cliContainer } from "./cli-pod.js";
import {
  type ImagePull,
  type ResourceRequirements,
  type SecretKeyRef,
  hardenedPodTemplate,
  RESTRICTED_CONTAINER_SECURITY,
  scratchVolume,
  secretEnv,
  SERVER_ID_LABEL,
  selectorLabels,
  serviceHost,
  singletonDeploymentSpec,
  standardLabels,
  TENANT_LABEL,
} from "./meta.js";

/** Session state of one server. */
export type CliStorage =
  /**
   * A ReadWriteOnce claim of its own (isolated, shared, collaborative, sticky). `retain` (default
   * true) keeps the claim when the server leaves the stack (fewer servers); a changed storage class
   * applies to new claims only, never replacing one that holds sessions.
   */
  | { sizeGi: number; storageClass?: string; retain?: boolean }
  /** An existing ReadWriteMany claim that every server mounts (shared-storage). */
  | { sharedClaimName: pulumi.Input<string> };

export interface CliServerArgs {
  /** Id in the gateway's backend list: lowercase letters, digits and '-'. */
  serverId: string;
  namespace: string;
  /** Prefix of every Kubernetes name and the app.kubernetes.io/instance label. */
  instance: string;
  image: pulumi.Input<string>;
  imagePull?: ImagePull;
  /** The server's connection token (KitTopology derives it from the secret seed). Always secret. */
  connectionToken: pulumi.Input<string>;
  /** Secret key holding the GitHub token (COPILOT_GITHUB_TOKEN); omitted = none. */
  githubToken?: SecretKeyRef;
  storage: CliStorage;
  resources?: ResourceRequirements;
  /** `--session-idle-timeout`; 0 = the CLI default (off since 1.0.32). */
  sessionIdleTimeoutSeconds?: number;
  /** Seconds turns in flight get between "stop" and SIGTERM. */
  drainGraceSeconds?: number;
  /** Extra non-secret environment (e.g. COPILOT_OFFLINE); secrets are refused. */
  env?: Record<string, string>;
  /** isolated: the user this server belongs to (label only; the gateway enforces routing). */
  tenant?: string;
  /** Other secret values the pod reads (e.g. the GitHub token): a change restarts it, as its own token's does. */
  rolloutSecrets?: pulumi.Input<string | undefined>[];
}

export { DEFAULT_CLI_RESOURCES } from "./cli-pod.js";

/** shared-storage: the pod's own COPILOT_HOME, and the folder of it that the RWX claim provides. */
export const PRIVATE_HOME_VOLUME = "private-home";
export const SESSION_STATE_DIR = "session-state";

/** Key of the connection token in the server's Secret. */
export const CONNECTION_TOKEN_KEY = "connection-token";

export class CliServer extends pulumi.ComponentResource {
  readonly serverId: string;
  readonly tenant?: string;
  /** `host:port` of the Service, as the gateway's backend list wants it. */
  readonly address: string;
  readonly serviceName: string;
  readonly tokenSecret: SecretKeyRef;
  readonly connectionToken: pulumi.Output<string>;
  readonly claimName: pulumi.Output<string>;
  readonly podLabels: Record<string, string>;
  readonly deployment: k8s.apps.v1.Deployment;
  readonly service: k8s.core.v1.Service;

  constructor(name: string, args: CliServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("copilot-scale-kit:k8s:CliServer", name, {}, opts);
    const drainGrace = args.drainGraceSeconds ?? 60;
    checkPlainEnv(`CliServer ${args.serverId}`, args.env);
    const k8sName = `${args.instance}-cli-${args.serverId}`;
    if (!/^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/.test(k8sName)) {
      throw new Error(`CliServer name ${k8sName} is not a DNS label (at most 63 lowercase letters, digits and '-'); shorten the prefix or the server id`);
    }

    const selector = { ...selectorLabels(args.instance, "cli-server"), [SERVER_ID_LABEL]: args.serverId };
    const labels = standardLabels(args.instance, "cli-server", {
      [SERVER_ID_LABEL]: args.serverId,
      ...(args.tenant ? { [TENANT_LABEL]: args.tenant } : {}),
    });
    const meta = (suffix = "") => ({ name: `${k8sName}${suffix}`, namespace: args.namespace, labels });
    const child = { parent: this };

    // Mocks and stack outputs must see it as secret even before the engine says so.
    this.connectionToken = pulumi.secret(args.connectionToken);
    const secret = new k8s.core.v1.Secret(
      `${k8sName}-token`,
      { metadata: meta("-token"), type: "Opaque", stringData: { [CONNECTION_TOKEN_KEY]: this.connectionToken } },
      child,
    );
    this.tokenSecret = { name: secret.metadata.name, key: CONNECTION_TOKEN_KEY };

    if ("sharedClaimName" in args.storage) {
      this.claimName = pulumi.output(args.storage.sharedClaimName);
    } else {
      const pvc = new k8s.core.v1.PersistentVolumeClaim(
        `${k8sName}-state`,
        {
          metadata: meta("-state"),
          spec: {
            accessModes: ["ReadWriteOnce"],
            storageClassName: args.storage.storageClass,
            resources: { requests: { storage: `${args.storage.sizeGi}Gi` } },
          },
        },
        { ...child, retainOnDelete: args.storage.retain ?? true, ignoreChanges: ["spec.storageClassName"] },
      );
      this.claimName = pvc.metadata.name;
    }

    // shared-storage: COPILOT_HOME (session-store.db, its -wal/-shm, the settings and log locks) is
    // the pod's own; only session-state/ comes from the RWX claim, so no SQLite file or server-wide
    // lock sits on NFS or Azure Files (docs/shared-storage.md). The CLI resumes from that folder alone.
    const shared = "sharedClaimName" in args.storage;
    const stateMounts = shared
      ? [
          { name: PRIVATE_HOME_VOLUME, mountPath: COPILOT_HOME_PATH },
          { name: "state", mountPath: `${COPILOT_HOME_PATH}/${SESSION_STATE_DIR}`, subPath: SESSION_STATE_DIR },
        ]
      : [{ name: "state", mountPath: CLI_DATA_PATH }];
    this.deployment = new k8s.apps.v1.Deployment(
      k8sName,
      {
        metadata: meta(),
        // One process per COPILOT_HOME: the old pod is gone before the new one starts.
        spec: singletonDeploymentSpec(
          selector,
          hardenedPodTemplate(labels, {
            imagePull: args.imagePull,
            // preStop holds SIGTERM back while turns finish; then the CLI gets 10 s to exit.
            terminationGracePeriodSeconds: drainGrace + 10,
            // The kubelet would create a missing subPath folder as root; made here as the pod's user,
            // it is writable by the CLI on any RWX class (local-path, NFS), as the claim's root is today.
            ...(shared
              ? {
                  initContainers: [
                    {
                      name: "session-state-folder",
                      image: args.image,
                      imagePullPolicy: args.imagePull?.policy,
                      command: ["mkdir", "-p", `${CLI_DATA_PATH}/${SESSION_STATE_DIR}`],
                      resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { memory: "64Mi" } },
                      securityContext: RESTRICTED_CONTAINER_SECURITY,
                      volumeMounts: [{ name: "state", mountPath: CLI_DATA_PATH }],
                    },
                  ],
                }
              : {}),
            containers: [
              cliContainer({
                image: args.image,
                imagePull: args.imagePull,
                sessionIdleTimeoutSeconds: args.sessionIdleTimeoutSeconds,
                drainGraceSeconds: drainGrace,
                secretEnv: [
                  secretEnv(CONNECTION_TOKEN_ENV, this.tokenSecret),
                  ...(args.githubToken ? [secretEnv(GATEWAY_SECRET_ENV.githubToken, args.githubToken)] : []),
                ],
                env: args.env,
                resources: args.resources,
                stateMounts,
              }),
            ],
            volumes: [
              { name: "state", persistentVolumeClaim: { claimName: this.claimName } },
              scratchVolume("tmp"),
              scratchVolume("home"),
              ...(shared ? [scratchVolume(PRIVATE_HOME_VOLUME, "5Gi")] : []),
            ],
          }, { [SECRET_CHECKSUM_ANNOTATION]: secretChecksum([this.connectionToken, ...(args.rolloutSecrets ?? [])]) }),
        ),
      },
      child,
    );

    this.service = new k8s.core.v1.Service(
      k8sName,
      {
        metadata: meta(),
        spec: {
          type: "ClusterIP",
          selector,
          ports: [{ name: "copilot", port: CLI_PORT, targetPort: "copilot", protocol: "TCP" }],
        },
      },
      child,
    );

    this.serverId = args.serverId;
    this.tenant = args.tenant;
    this.serviceName = k8sName;
    this.address = `${serviceHost(k8sName, args.namespace)}:${CLI_PORT}`;
    this.podLabels = labels;
    this.registerOutputs({ address: this.address, claimName: this.claimName });
  }
}
