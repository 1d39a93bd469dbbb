/**
 * Shared building blocks of the Kubernetes components: labels, the restricted security profile,
 * resource defaults and secret references. Plain functions, no resources.
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { IMAGE_UID, TMP_PATH } from "../../images/contract.js";
import { COMPONENT_LABEL, INSTANCE_LABEL } from "../../topology/user-pod.js";

export type ResourceRequirements = k8s.types.input.core.v1.ResourceRequirements;
export type EnvVar = k8s.types.input.core.v1.EnvVar;
export type Container = k8s.types.input.core.v1.Container;
export type PodSpec = k8s.types.input.core.v1.PodSpec;

export const PART_OF = "copilot-scale-kit";
// The gateway's Pod spawner selects by the same labels: one definition, in topology/.
export { COMPONENT_LABEL, INSTANCE_LABEL, SERVER_ID_LABEL } from "../../topology/user-pod.js";
export const TENANT_LABEL = "copilot-scale-kit.io/tenant";
/** Pods that may open connections to CLI servers and Redis (the gateway and its cleanup job). */
export const BACKEND_CLIENT_LABEL = "copilot-scale-kit.io/backend-client";

export type ComponentRole = "cli-server" | "gateway" | "redis" | "session-cleanup";

const APP_NAMES: Record<ComponentRole, string> = {
  "cli-server": "copilot-cli",
  gateway: "copilot-gateway",
  redis: "redis",
  "session-cleanup": "copilot-gateway",
};

/** Labels that select a role's pods within one deployment of the kit (`instance` = name prefix). */
export function selectorLabels(instance: string, role: ComponentRole): Record<string, string> {
  return { "app.kubernetes.io/name": APP_NAMES[role], [INSTANCE_LABEL]: instance, [COMPONENT_LABEL]: role };
}

/** The recommended app.kubernetes.io/* labels, plus any extra ones. */
export function standardLabels(instance: string, role: ComponentRole, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...selectorLabels(instance, role),
    "app.kubernetes.io/part-of": PART_OF,
    "app.kubernetes.io/managed-by": "pulumi",
    ...extra,
  };
}

/** Pod-level half of the "restricted" Pod Security Standard. */
export function restrictedPodSecurity(uid = IMAGE_UID, gid = uid): k8s.types.input.core.v1.PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: gid,
    // Volumes become writable by the image user without running anything as root.
    fsGroup: gid,
    fsGroupChangePolicy: "OnRootMismatch",
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** Container-level half of the "restricted" Pod Security Standard, with a read-only root. */
export const RESTRICTED_CONTAINER_SECURITY: k8s.types.input.core.v1.SecurityContext = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  privileged: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

/** Writable scratch under a read-only root filesystem. */
export function scratchVolume(name: string, sizeLimit = "1Gi"): k8s.types.input.core.v1.Volume {
  return { name, emptyDir: { sizeLimit } };
}
export const TMP_MOUNT = { name: "tmp", mountPath: TMP_PATH };

/** A Kubernetes Secret key, as env `valueFrom.secretKeyRef` wants it. */
export interface SecretKeyRef {
  name: pulumi.Input<string>;
  key: string;
}

export function secretEnv(name: string, ref: SecretKeyRef): EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } } };
}

/** Image pull settings shared by every pod of the kit. */
export interface ImagePull {
  policy?: "Always" | "IfNotPresent" | "Never";
  /** Names of docker-registry Secrets in the namespace. */
  secrets?: string[];
}

export function imagePullSecrets(pull: ImagePull | undefined): { name: string }[] | undefined {
  return pull?.secrets?.length ? pull.secrets.map((name) => ({ name })) : undefined;
}

/** In-cluster DNS name of a Service. */
export function serviceHost(name: string, namespace: string): string {
  return `${name}.${namespace}.svc.cluster.local`;
}

/** A preStop hook that holds SIGTERM back for `seconds` (the image has coreutils `sleep`). */
export function preStopSleep(seconds: number): k8s.types.input.core.v1.Lifecycle {
  return { preStop: { exec: { command: ["sleep", String(seconds)] } } };
}

/**
 * A pod template with the kit's hardening: the restricted security context, no service-account
 * token unless the pod names a ServiceAccount (only a gateway that creates per-user Pods talks to
 * the API server) and no Service env links (they would clutter env).
 */
export function hardenedPodTemplate(
  labels: Record<string, string>,
  pod: Omit<PodSpec, "securityContext" | "automountServiceAccountToken" | "enableServiceLinks" | "imagePullSecrets"> & {
    imagePull?: ImagePull;
    uid?: number;
    gid?: number;
  },
  annotations?: Record<string, pulumi.Input<string>>,
): k8s.types.input.core.v1.PodTemplateSpec {
  const { imagePull, uid, gid, ...spec } = pod;
  return {
    metadata: { labels, ...(annotations ? { annotations } : {}) },
    spec: {
      automountServiceAccountToken: spec.serviceAccountName !== undefined,
      enableServiceLinks: false,
      securityContext: restrictedPodSecurity(uid, gid),
      imagePullSecrets: imagePullSecrets(imagePull),
      ...spec,
    },
  };
}

/** One pod that owns a ReadWriteOnce volume: Recreate, so old and new never run at once. */
export function singletonDeploymentSpec(
  selector: Record<string, string>,
  template: k8s.types.input.core.v1.PodTemplateSpec,
): k8s.types.input.apps.v1.DeploymentSpec {
  return { replicas: 1, strategy: { type: "Recreate" }, selector: { matchLabels: selector }, template };
}
