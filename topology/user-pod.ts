/**
 * The Kubernetes objects of one per-user server (backends.kind kubernetes), derived from the
 * gateway config alone (pure): the gateway creates them, the stack tests validate them. Its Pod,
 * its state claim and its connection-token Secret. Names and labels carry only the keyed
 * server id, never the user id.
 */
import type { V1PersistentVolumeClaim, V1Pod, V1Secret } from "@kubernetes/client-node";
import { GATEWAY_SECRET_ENV, type GatewayConfig } from "./gateway-config.js";

export type KubeBackends = Extract<GatewayConfig["backends"], { kind: "kubernetes" }>;

export const SERVER_ID_LABEL = "copilot-scale-kit.io/server-id";
export const COMPONENT_LABEL = "app.kubernetes.io/component";
export const INSTANCE_LABEL = "app.kubernetes.io/instance";
export const USER_SERVER_COMPONENT = "user-server";
/** When a replica last used the server (on the Pod) or the state (on the claim), ISO 8601. */
export const LAST_USED_ANNOTATION = "copilot-scale-kit.io/last-used";
export const TOKEN_KEY = "connection-token";
/** Key of a user's own GitHub token in `<name>-credentials`, the Secret an operator creates per user. */
export const USER_GITHUB_TOKEN_KEY = "github-token";
/** The CLI reads its connection token from here (images/contract.ts CONNECTION_TOKEN_ENV). */
const CONNECTION_TOKEN_ENV = "COPILOT_CONNECTION_TOKEN";
const STATE_VOLUME = "state";

export interface UserServerNames {
  pod: string;
  claim: string;
  token: string;
  credentials: string;
}

export function objectNames(spec: Pick<KubeBackends, "namePrefix">, serverId: string): UserServerNames {
  const pod = `${spec.namePrefix}-${serverId}`;
  return { pod, claim: `${pod}-state`, token: `${pod}-token`, credentials: `${pod}-credentials` };
}

export function userServerLabels(spec: Pick<KubeBackends, "namePrefix">, serverId: string): Record<string, string> {
  return { [COMPONENT_LABEL]: USER_SERVER_COMPONENT, [INSTANCE_LABEL]: spec.namePrefix, [SERVER_ID_LABEL]: serverId };
}

/** Selects every per-user object of this deployment. */
export function userServerSelector(spec: Pick<KubeBackends, "namePrefix">): string {
  return `${COMPONENT_LABEL}=${USER_SERVER_COMPONENT},${INSTANCE_LABEL}=${spec.namePrefix}`;
}

export function tokenSecret(spec: KubeBackends, serverId: string, token: string): V1Secret {
  const names = objectNames(spec, serverId);
  return {
    metadata: { name: names.token, namespace: spec.namespace, labels: userServerLabels(spec, serverId) },
    type: "Opaque",
    stringData: { [TOKEN_KEY]: token },
  };
}

export function stateClaim(spec: KubeBackends, serverId: string, now: Date): V1PersistentVolumeClaim {
  const names = objectNames(spec, serverId);
  return {
    metadata: { name: names.claim, namespace: spec.namespace, labels: userServerLabels(spec, serverId), annotations: { [LAST_USED_ANNOTATION]: now.toISOString() } },
    spec: {
      accessModes: ["ReadWriteOnce"],
      storageClassName: spec.storage.storageClass,
      resources: { requests: { storage: `${spec.storage.sizeGi}Gi` } },
    },
  };
}

/** Where the CLI's GitHub token comes from: the user's own Secret, the deployment's (if allowed), or none. */
export type CredentialSource = "user" | "shared" | "none";

export function userPod(spec: KubeBackends, serverId: string, credential: CredentialSource, now: Date): V1Pod {
  const names = objectNames(spec, serverId);
  const template = structuredClone(spec.podTemplate) as V1Pod & KubeBackends["podTemplate"];
  const podSpec = template.spec!;
  const cli = podSpec.containers.find((c) => c.name === spec.container);
  if (!cli) throw new Error(`backends.podTemplate has no container named ${spec.container} (backends.container)`);
  if (!spec.image) throw new Error("backends.image is not set: the CLI image per-user Pods run");
  cli.image = spec.image;
  const github =
    credential === "user"
      ? { name: names.credentials, key: USER_GITHUB_TOKEN_KEY }
      : credential === "shared" && spec.sharedCredential
        ? { name: spec.sharedCredential.secretName, key: spec.sharedCredential.key }
        : undefined;
  cli.env = [
    ...(cli.env ?? []).filter((e) => e.name !== CONNECTION_TOKEN_ENV && e.name !== GATEWAY_SECRET_ENV.githubToken),
    { name: CONNECTION_TOKEN_ENV, valueFrom: { secretKeyRef: { name: names.token, key: TOKEN_KEY } } },
    ...(github ? [{ name: GATEWAY_SECRET_ENV.githubToken, valueFrom: { secretKeyRef: github } }] : []),
  ];
  podSpec.volumes = [
    ...(podSpec.volumes ?? []).filter((v) => v.name !== STATE_VOLUME),
    { name: STATE_VOLUME, persistentVolumeClaim: { claimName: names.claim } },
  ];
  // A crashed CLI restarts in place (same address); the gateway deletes the Pod to cull it.
  podSpec.restartPolicy = "Always";
  return {
    metadata: {
      name: names.pod,
      namespace: spec.namespace,
      labels: { ...template.metadata?.labels, ...userServerLabels(spec, serverId) },
      annotations: { ...template.metadata?.annotations, [LAST_USED_ANNOTATION]: now.toISOString() },
    },
    spec: podSpec,
  };
}

export function isReady(pod: V1Pod | undefined): boolean {
  return pod?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true && !!pod.status?.podIP && !pod.metadata?.deletionTimestamp;
}

export function lastUsed(obj: { metadata?: { annotations?: Record<string, string> } } | undefined): number {
  const at = Date.parse(obj?.metadata?.annotations?.[LAST_USED_ANNOTATION] ?? "");
  return Number.isNaN(at) ? 0 : at;
}
