/**
 * isolated with per-user Pods: what the gateway needs to create a CLI server per user on demand
 * (the KubeSpawner model). A namespace of their own, a ServiceAccount for the gateway with a Role
 * there that allows only Pods, claims and Secrets, a ResourceQuota as the hard cap on running
 * servers, a NetworkPolicy that lets a user's Pod reach DNS and the model but no other Pod and no
 * private range, and the Pod template the gateway fills in per user.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CLI_DATA_PATH, CLI_PORT } from "../../images/contract.js";
import type { GatewayConfigInput } from "../../topology/gateway-config.js";
import { CLI_CONTAINER, checkPlainEnv, cliContainer } from "./cli-pod.js";
import { BACKEND_CLIENT_LABEL, hardenedPodTemplate, type ImagePull, INSTANCE_LABEL, PART_OF, type ResourceRequirements, scratchVolume, type SecretKeyRef, standardLabels } from "./meta.js";

/** Address ranges a user's Pod may not reach (Zero to JupyterHub's default): other Pods, Services, the node, metadata. */
export const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"];
export const PRIVATE_RANGES_V6 = ["fc00::/7", "fe80::/10"];

export interface UserServersArgs {
  /** The gateway's namespace (its ServiceAccount lives there). */
  gatewayNamespace: string;
  /** Namespace of the per-user objects. */
  namespace: string;
  /** Create that namespace, restricted Pod Security Standard enforced. */
  createNamespace?: boolean;
  instance: string;
  imagePull?: ImagePull;
  resources?: ResourceRequirements;
  storage: { sizeGi: number; storageClass?: string };
  sessionIdleTimeoutSeconds?: number;
  drainGraceSeconds: number;
  env?: Record<string, string>;
  /** Running per-user servers at most (the gateway refuses more; the ResourceQuota enforces it). */
  maxServers: number;
  claimTtlSeconds: number;
  startTimeoutSeconds?: number;
  /** Private endpoints the CLIs may reach, e.g. an in-cluster model: `{ cidr, port }`. */
  modelEgress?: { cidr: string; port: number }[];
  /** Users without a credentials Secret of their own get this GitHub token; omitted = they get none. */
  sharedGithubToken?: pulumi.Input<string>;
  /** HMAC key of the server ids (names of every per-user object); keep it stable, or users lose their claims. */
  serverIdKey: pulumi.Input<string>;
}

export class UserServers extends pulumi.ComponentResource {
  readonly serviceAccountName: pulumi.Output<string>;
  /** GATEWAY_SERVER_ID_KEY for the gateway. */
  readonly serverIdKey: SecretKeyRef;
  /** The gateway's `backends` (kind kubernetes) without the image, which the runtime adds. */
  readonly backends: Extract<GatewayConfigInput["backends"], { kind: "kubernetes" }>;

  constructor(name: string, args: UserServersArgs, opts?: pulumi.ComponentResourceOptions) {
    super("copilot-scale-kit:k8s:UserServers", name, {}, opts);
    checkPlainEnv("UserServers", args.env);
    const child = { parent: this };
    const namePrefix = `${args.instance}-u`;
    const labels = standardLabels(args.instance, "gateway");
    const ns = args.createNamespace === false
      ? undefined
      : new k8s.core.v1.Namespace(
          `${name}-namespace`,
          {
            metadata: {
              name: args.namespace,
              labels: { "app.kubernetes.io/part-of": PART_OF, "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest" },
            },
          },
          child,
        );
    const inNs = { parent: this, dependsOn: ns ? [ns] : [] };
    const meta = (suffix: string, namespace = args.namespace) => ({ name: `${args.instance}-${suffix}`, namespace, labels });

    const account = new k8s.core.v1.ServiceAccount(`${name}-gateway`, { metadata: meta("gateway", args.gatewayNamespace), automountServiceAccountToken: false }, child);
    const role = new k8s.rbac.v1.Role(
      `${name}-spawner`,
      {
        metadata: meta("spawner"),
        rules: [
          { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "create", "delete", "patch"] },
          { apiGroups: [""], resources: ["persistentvolumeclaims"], verbs: ["get", "list", "create", "delete", "patch"] },
          { apiGroups: [""], resources: ["secrets"], verbs: ["get", "create", "delete"] },
        ],
      },
      inNs,
    );
    new k8s.rbac.v1.RoleBinding(
      `${name}-spawner`,
      {
        metadata: meta("spawner"),
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
        subjects: [{ kind: "ServiceAccount", name: account.metadata.name, namespace: args.gatewayNamespace }],
      },
      inNs,
    );
    // The API server counts Pods atomically, so replicas racing for the last slot cannot exceed it.
    new k8s.core.v1.ResourceQuota(`${name}-servers`, { metadata: meta("user-servers"), spec: { hard: { pods: String(args.maxServers) } } }, inNs);

    const userPods = { matchLabels: { "app.kubernetes.io/component": "user-server", [INSTANCE_LABEL]: namePrefix } };
    const except = (cidr: string, ranges: string[]) => ({ ipBlock: { cidr, except: ranges } });
    new k8s.networking.v1.NetworkPolicy(
      `${name}-user-servers`,
      {
        metadata: meta("user-servers"),
        spec: {
          podSelector: userPods,
          policyTypes: ["Ingress", "Egress"],
          ingress: [
            {
              from: [
                {
                  namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": args.gatewayNamespace } },
                  podSelector: { matchLabels: { [BACKEND_CLIENT_LABEL]: "true", [INSTANCE_LABEL]: args.instance } },
                },
              ],
              ports: [{ protocol: "TCP", port: CLI_PORT }],
            },
          ],
          egress: [
            { ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] },
            ...(args.modelEgress ?? []).map((m) => ({ to: [{ ipBlock: { cidr: m.cidr } }], ports: [{ protocol: "TCP", port: m.port }] })),
            // GitHub, a hosted model and the tools' registries are on the internet; nothing private is.
            { to: [except("0.0.0.0/0", PRIVATE_RANGES), except("::/0", PRIVATE_RANGES_V6)] },
          ],
        },
      },
      inNs,
    );

    const template = hardenedPodTemplate(
      {},
      {
        imagePull: args.imagePull,
        terminationGracePeriodSeconds: args.drainGraceSeconds + 10,
        containers: [
          cliContainer({
            image: "",
            imagePull: args.imagePull,
            sessionIdleTimeoutSeconds: args.sessionIdleTimeoutSeconds,
            drainGraceSeconds: args.drainGraceSeconds,
            secretEnv: [],
            env: args.env,
            resources: args.resources,
            stateMounts: [{ name: "state", mountPath: CLI_DATA_PATH }],
          }),
        ],
        volumes: [scratchVolume("tmp"), scratchVolume("home")],
      },
    );

    // A Pod reads Secrets of its own namespace only, so the shared token gets a copy here.
    const shared = `${args.instance}-shared-credentials`;
    if (args.sharedGithubToken !== undefined) {
      new k8s.core.v1.Secret(shared, { metadata: meta("shared-credentials"), type: "Opaque", stringData: { "github-token": pulumi.secret(args.sharedGithubToken) } }, inNs);
    }

    const idKey = new k8s.core.v1.Secret(
      `${name}-server-ids`,
      { metadata: meta("server-ids", args.gatewayNamespace), type: "Opaque", stringData: { key: pulumi.secret(args.serverIdKey) } },
      child,
    );
    this.serverIdKey = { name: idKey.metadata.name, key: "key" };
    this.serviceAccountName = account.metadata.name;
    this.backends = {
      kind: "kubernetes",
      namespace: args.namespace,
      namePrefix,
      // Plain values only (no Outputs above), so the template serialises as it is.
      podTemplate: JSON.parse(JSON.stringify(template)) as { spec: { containers: { name: string }[] } },
      container: CLI_CONTAINER,
      port: CLI_PORT,
      storage: args.storage,
      claimTtlSeconds: args.claimTtlSeconds,
      maxServers: args.maxServers,
      ...(args.startTimeoutSeconds ? { startTimeoutSeconds: args.startTimeoutSeconds } : {}),
      ...(args.sharedGithubToken !== undefined ? { sharedCredential: { secretName: shared, key: "github-token" } } : {}),
    };
    this.registerOutputs({ serviceAccountName: this.serviceAccountName });
  }
}
