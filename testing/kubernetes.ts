/**
 * Runs a Kubernetes stack file through the real stacks/index.ts under mocks, and validates the
 * objects it renders against the Kubernetes OpenAPI schema (kubernetes-models).
 */
import { join } from "node:path";
import { Deployment } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { CronJob } from "kubernetes-models/batch/v1";
import { Ingress, NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { Certificate } from "@kubernetes-models/cert-manager/cert-manager.io/v1";
import { HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { Role, RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { ConfigMap, Namespace, PersistentVolumeClaim, Pod, ResourceQuota, Secret, Service, ServiceAccount } from "kubernetes-models/v1";
import type { KubeObject } from "../components/policy/kubernetes.js";
import { CONFIG_NAMESPACE } from "../stacks/config.js";
import type { StackOutputs } from "../stacks/outputs.js";
import { type CapturedResource, type MockRun, runWithMocks } from "./pulumi-mocks.js";
import { importStackProgram, loadStackFile, STACKS_DIR } from "./stack-files.js";


/** Values for the secret config keys; stack files never hold them. */
export const TEST_SECRETS = {
  secretSeed: "TEST-secret-seed-0123456789abcdef0123456789abcdef",
  githubToken: "ghp_TESTgithubToken0123456789abcdefABCDEF",
  redisUrl: "rediss://:TESTredisPassword42@redis.example.net:6380/0",
  jwtSecret: "TEST-jwt-secret-from-config-0123456789abcdef",
  providerApiKey: "sk-TESTproviderKey0123456789",
  identityHookToken: "TEST-identity-hook-token-0123456789abcdef",
} as const;

/** The load balancer address mocks report for LoadBalancer Services. */
export const MOCK_LB_IP = "203.0.113.10";

export interface KubeResource {
  type: string;
  name: string;
  obj: KubeObject;
  secretPaths: string[];
}

export interface KubernetesRun {
  run: MockRun<StackOutputs>;
  kube: KubeResource[];
}

/**
 * Runs stacks/Pulumi.<stack>.yaml through a fresh stacks/index.ts (the program runs at module
 * evaluation, so every run imports it anew).
 */
export async function runKubernetesStack(
  stack: string,
  opts: { secrets?: (keyof typeof TEST_SECRETS)[]; config?: Record<string, string>; noSeed?: boolean } = {},
): Promise<KubernetesRun> {
  const file = loadStackFile(join(STACKS_DIR, `Pulumi.${stack}.yaml`));
  // Every stack needs the seed (as `pulumi config set --secret` gives it); `noSeed` shows the error without it.
  const keys = opts.noSeed ? (opts.secrets ?? []) : ["secretSeed" as const, ...(opts.secrets ?? [])];
  const secrets = Object.fromEntries(keys.map((k) => [`${CONFIG_NAMESPACE}:${k}`, TEST_SECRETS[k]]));
  const run = await runWithMocks(importStackProgram, {
    config: { ...file.config, ...secrets, ...opts.config },
    secretKeys: Object.keys(secrets),
    stack,
    state: (r) =>
      r.type === "kubernetes:core/v1:Service" && (r.inputs.spec as { type?: string } | undefined)?.type === "LoadBalancer"
        ? { status: { loadBalancer: { ingress: [{ ip: MOCK_LB_IP }] } } }
        : undefined,
  });
  return { run, kube: kubeResources(run.resources) };
}

export function kubeResources(resources: CapturedResource[]): KubeResource[] {
  return resources
    .filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("kubernetes:index"))
    .map((r) => ({ type: r.type, name: r.name, obj: r.inputs as KubeObject, secretPaths: r.secretPaths }));
}

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "kubernetes:core/v1:Namespace": Namespace,
  "kubernetes:core/v1:Secret": Secret,
  "kubernetes:core/v1:ConfigMap": ConfigMap,
  "kubernetes:core/v1:Service": Service,
  "kubernetes:core/v1:PersistentVolumeClaim": PersistentVolumeClaim,
  "kubernetes:apps/v1:Deployment": Deployment,
  "kubernetes:batch/v1:CronJob": CronJob,
  "kubernetes:policy/v1:PodDisruptionBudget": PodDisruptionBudget,
  "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "kubernetes:networking.k8s.io/v1:NetworkPolicy": NetworkPolicy,
  "kubernetes:networking.k8s.io/v1:Ingress": Ingress,
  // Custom resources of the exposure options: cert-manager, Gateway API, Prometheus Operator.
  "kubernetes:cert-manager.io/v1:Certificate": Certificate,
  "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute": HTTPRoute,
  "kubernetes:monitoring.coreos.com/v1:ServiceMonitor": ServiceMonitor,
  "kubernetes:core/v1:ServiceAccount": ServiceAccount,
  "kubernetes:core/v1:ResourceQuota": ResourceQuota,
  "kubernetes:rbac.authorization.k8s.io/v1:Role": Role,
  "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": RoleBinding,
  // Not a Pulumi resource: the per-user Pods the gateway creates from its template.
  "kubernetes:core/v1:Pod": Pod,
};

/** Throws when the object breaks the Kubernetes OpenAPI schema, or its kind has no validator here. */
export function validateKubeObject(r: Pick<KubeResource, "type" | "name" | "obj">): void {
  const Model = MODELS[r.type];
  if (!Model) throw new Error(`${r.type} ${r.name}: no schema validator registered in testing/kubernetes.ts`);
  try {
    new Model(r.obj as never).validate();
  } catch (err) {
    throw new Error(`${r.type} ${r.name} is not a valid Kubernetes object: ${(err as Error).message}`);
  }
}
