/**
 * Kubernetes guard rails of the kit, as pure functions over rendered objects
 * ({apiVersion, kind, metadata, spec}), wrapped below as CrossGuard policies. The unit tests feed
 * them the objects Pulumi's mocks capture; `pulumi preview --policy-pack components/policy` runs
 * them against a real program.
 */
import type { PolicyPackArgs, ReportViolation, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { CLI_PORT, CLI_PROBE_COMMAND, isSecretEnvName } from "../../images/contract.js";
import { GATEWAY_CONFIG_ENV } from "../../topology/gateway-config.js";
import { COMPONENT_LABEL } from "../k8s/meta.js";
import { DEFAULT_BLOCKED_EGRESS } from "../k8s/network-policies.js";
import { SHARED_STATE_ANNOTATION } from "../k8s/shared-storage-cluster.js";

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered objects are untyped JSON */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
}

interface Workload {
  /** Pod template labels. */
  labels: Record<string, string>;
  spec: any;
  /** Restarted forever (Deployment, StatefulSet, ...) rather than run to completion (Job, CronJob). */
  longRunning: boolean;
  /** Pods that can run at once: several means a mounted ReadWriteOnce claim is a conflict. */
  parallelPods: number;
}

const describe = (obj: KubeObject) => `${obj.kind ?? "object"} ${obj.metadata?.name ?? "(unnamed)"}`;

/** The pod template of a workload object, or undefined for anything else. */
export function workloadOf(obj: KubeObject): Workload | undefined {
  const s = obj.spec ?? {};
  switch (obj.kind) {
    case "Deployment":
    case "StatefulSet":
    case "ReplicaSet":
      return { labels: s.template?.metadata?.labels ?? {}, spec: s.template?.spec ?? {}, longRunning: true, parallelPods: s.replicas ?? 1 };
    case "DaemonSet":
      return { labels: s.template?.metadata?.labels ?? {}, spec: s.template?.spec ?? {}, longRunning: true, parallelPods: Infinity };
    case "Pod":
      return { labels: obj.metadata?.labels ?? {}, spec: s, longRunning: (s.restartPolicy ?? "Always") === "Always", parallelPods: 1 };
    case "Job":
      return { labels: s.template?.metadata?.labels ?? {}, spec: s.template?.spec ?? {}, longRunning: false, parallelPods: s.parallelism ?? 1 };
    case "CronJob": {
      const job = s.jobTemplate?.spec ?? {};
      return { labels: job.template?.metadata?.labels ?? {}, spec: job.template?.spec ?? {}, longRunning: false, parallelPods: job.parallelism ?? 1 };
    }
    default:
      return undefined;
  }
}

function containersOf(w: Workload): { c: any; init: boolean }[] {
  return [...(w.spec.initContainers ?? []).map((c: any) => ({ c, init: true })), ...(w.spec.containers ?? []).map((c: any) => ({ c, init: false }))];
}

const isCliServer = (w: Workload, c: any) =>
  w.labels[COMPONENT_LABEL] === "cli-server" || (c.ports ?? []).some((p: any) => p.containerPort === CLI_PORT);

/** Restricted Pod Security Standard essentials: non-root, no escalation, no capabilities. */
export function checkNonRoot(obj: KubeObject): string[] {
  const w = workloadOf(obj);
  if (!w) return [];
  const pod = w.spec.securityContext ?? {};
  const out: string[] = [];
  if (w.spec.hostNetwork || w.spec.hostPID || w.spec.hostIPC) out.push(`${describe(obj)}: must not share the host's network, PID or IPC namespace`);
  for (const { c } of containersOf(w)) {
    const sc = c.securityContext ?? {};
    const where = `${describe(obj)}: container ${c.name}`;
    if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) out.push(`${where} must set runAsNonRoot: true`);
    if ((sc.runAsUser ?? pod.runAsUser) === 0) out.push(`${where} must not run as uid 0`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${where} must set allowPrivilegeEscalation: false`);
    if (sc.privileged === true) out.push(`${where} must not be privileged`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) out.push(`${where} must drop ALL capabilities`);
    const seccomp = sc.seccompProfile?.type ?? pod.seccompProfile?.type;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") out.push(`${where} must use the RuntimeDefault seccomp profile`);
  }
  return out;
}

/**
 * Long-running containers need readiness and liveness probes; a CLI server's must be the protocol
 * probe, since the server speaks raw JSON-RPC and a TCP connect or HTTP GET proves nothing.
 */
export function checkProbes(obj: KubeObject): string[] {
  const w = workloadOf(obj);
  if (!w?.longRunning) return [];
  const out: string[] = [];
  for (const { c, init } of containersOf(w)) {
    if (init) continue;
    const where = `${describe(obj)}: container ${c.name}`;
    for (const kind of ["readinessProbe", "livenessProbe"] as const) {
      const probe = c[kind];
      if (!probe) {
        out.push(`${where} has no ${kind}`);
      } else if (isCliServer(w, c) && probe.exec?.command?.[0] !== CLI_PROBE_COMMAND[0]) {
        out.push(`${where}: ${kind} of a CLI server must exec ${CLI_PROBE_COMMAND[0]} (a TCP or HTTP check does not speak the protocol)`);
      }
    }
  }
  return out;
}

/** Requests for scheduling and a memory limit (a leaking CLI must not take the node down). */
export function checkResourceLimits(obj: KubeObject): string[] {
  const w = workloadOf(obj);
  if (!w) return [];
  const out: string[] = [];
  for (const { c } of containersOf(w)) {
    const r = c.resources ?? {};
    const missing = [
      r.requests?.cpu ? undefined : "requests.cpu",
      r.requests?.memory ? undefined : "requests.memory",
      r.limits?.memory ? undefined : "limits.memory",
    ].filter(Boolean);
    if (missing.length) out.push(`${describe(obj)}: container ${c.name} must set resources ${missing.join(", ")}`);
  }
  return out;
}

const SECRET_KEY = /secret|password|passwd|token|api[-_]?key|credential|private[-_]?key|connection[-_]?string/i;

/** Keys in a JSON document that hold a secret-looking string (names ending in Env are references). */
function secretKeysIn(value: unknown, path: string[] = []): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => secretKeysIn(v, [...path, String(i)]));
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) =>
    typeof v === "string" && SECRET_KEY.test(k) && !k.endsWith("Env") ? [[...path, k].join(".")] : secretKeysIn(v, [...path, k]),
  );
}

/** Secrets come from Secret objects (secretKeyRef), never from literal env values or config text. */
export function checkNoPlaintextSecrets(obj: KubeObject): string[] {
  const out: string[] = [];
  if (obj.kind === "ConfigMap") {
    for (const key of Object.keys(obj.data ?? {})) {
      if (SECRET_KEY.test(key) || isSecretEnvName(key)) out.push(`${describe(obj)}: key ${key} looks secret; put it in a Secret`);
    }
    return out;
  }
  const w = workloadOf(obj);
  if (!w) return out;
  for (const { c } of containersOf(w)) {
    const where = `${describe(obj)}: container ${c.name}`;
    for (const e of c.env ?? []) {
      if (e.value !== undefined && isSecretEnvName(e.name)) out.push(`${where}: env ${e.name} is a literal; take it from a Secret with valueFrom.secretKeyRef`);
      if (e.name === GATEWAY_CONFIG_ENV && typeof e.value === "string") {
        let parsed: unknown;
        try {
          parsed = JSON.parse(e.value);
        } catch {
          out.push(`${where}: ${GATEWAY_CONFIG_ENV} is not JSON`);
        }
        for (const key of secretKeysIn(parsed)) out.push(`${where}: ${GATEWAY_CONFIG_ENV} holds ${key}; secrets travel in their own env vars`);
      }
    }
    const argv = [...(c.command ?? []), ...(c.args ?? [])].join(" ");
    if (/--(password|token|secret|api-key)[= ]\S/i.test(argv)) out.push(`${where}: a secret is passed on the command line, where ps shows it`);
  }
  return out;
}

/** The claim every shared-storage server mounts must be ReadWriteMany. */
export function checkSharedStateRwx(obj: KubeObject): string[] {
  if (obj.kind !== "PersistentVolumeClaim" || obj.metadata?.annotations?.[SHARED_STATE_ANNOTATION] !== "true") return [];
  const modes: string[] = obj.spec?.accessModes ?? [];
  return modes.length === 1 && modes[0] === "ReadWriteMany" ? [] : [`${describe(obj)}: shared session state needs accessModes [ReadWriteMany], got [${modes.join(", ")}]`];
}

/** Stack rule: a claim that several pods mount at once must be ReadWriteMany. */
export function checkSharedClaimsRwx(objs: KubeObject[]): string[] {
  const mounts = new Map<string, { pods: number; by: string[] }>();
  for (const obj of objs) {
    const w = workloadOf(obj);
    if (!w) continue;
    for (const v of w.spec.volumes ?? []) {
      const claim = v.persistentVolumeClaim?.claimName;
      if (typeof claim !== "string") continue;
      const m = mounts.get(claim) ?? { pods: 0, by: [] };
      m.pods += w.parallelPods;
      m.by.push(describe(obj));
      mounts.set(claim, m);
    }
  }
  const out: string[] = [];
  for (const pvc of objs.filter((o) => o.kind === "PersistentVolumeClaim")) {
    const m = mounts.get(pvc.metadata?.name ?? "");
    const modes: string[] = pvc.spec?.accessModes ?? [];
    if (m && m.pods > 1 && !modes.includes("ReadWriteMany")) {
      out.push(`${describe(pvc)} is mounted by ${m.pods} pods (${m.by.join(", ")}) but is not ReadWriteMany`);
    }
  }
  return out;
}

const selects = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Stack rule: every Service with a selector reaches the pods of some workload in the stack. */
export function checkServiceSelectors(objs: KubeObject[]): string[] {
  const podLabels = objs.map(workloadOf).filter((w) => w?.longRunning).map((w) => w!.labels);
  return objs
    .filter((o) => o.kind === "Service" && o.spec?.selector && Object.keys(o.spec.selector).length > 0)
    .filter((svc) => !podLabels.some((labels) => selects(svc.spec.selector, labels)))
    .map((svc) => `${describe(svc)}: selector ${JSON.stringify(svc.spec.selector)} matches no pod template`);
}

/**
 * Stack rule: every CLI server pod is behind a NetworkPolicy that admits only selected pods and
 * refuses egress to the cloud metadata endpoint.
 */
export function checkCliNetworkIsolation(objs: KubeObject[]): string[] {
  const policies = objs.filter((o) => o.kind === "NetworkPolicy");
  const out: string[] = [];
  for (const obj of objs) {
    const w = workloadOf(obj);
    if (!w?.longRunning || w.labels[COMPONENT_LABEL] !== "cli-server") continue;
    const mine = policies.filter((p) => selects(p.spec?.podSelector?.matchLabels ?? {}, w.labels));
    const ingress = mine.filter((p) => (p.spec?.policyTypes ?? ["Ingress"]).includes("Ingress"));
    const open = ingress.some((p) => (p.spec?.ingress ?? []).some((r: any) => !r.from?.length || r.from.some((f: any) => f.ipBlock || !f.podSelector)));
    if (ingress.length === 0 || open) out.push(`${describe(obj)}: CLI servers must only admit selected pods (the gateway) through a NetworkPolicy`);
    const egress = mine.filter((p) => (p.spec?.policyTypes ?? []).includes("Egress"));
    const blocked = egress.length > 0 && egress.every((p) => (p.spec?.egress ?? []).every((r: any) =>
      (r.to ?? []).length > 0 && (r.to ?? []).every((t: any) => !t.ipBlock || t.ipBlock.cidr.includes(":") || (t.ipBlock.except ?? []).includes(DEFAULT_BLOCKED_EGRESS[0])),
    ));
    if (!blocked) out.push(`${describe(obj)}: CLI servers must not reach the metadata endpoint ${DEFAULT_BLOCKED_EGRESS[0]} (NetworkPolicy egress)`);
  }
  return out;
}

export interface KubernetesRule {
  name: string;
  description: string;
  check: (obj: KubeObject) => string[];
}
export interface KubernetesStackRule {
  name: string;
  description: string;
  check: (objs: KubeObject[]) => string[];
}

export const KUBERNETES_RESOURCE_RULES: readonly KubernetesRule[] = [
  { name: "k8s-non-root", description: "Containers run as non-root, without privilege escalation or capabilities.", check: checkNonRoot },
  { name: "k8s-probes-present", description: "Long-running containers have readiness and liveness probes; CLI servers use the protocol probe.", check: checkProbes },
  { name: "k8s-no-plaintext-secrets", description: "Secrets come from Secret objects, never literal env values, config JSON or argv.", check: checkNoPlaintextSecrets },
  { name: "k8s-resource-limits", description: "Containers request CPU and memory and limit memory.", check: checkResourceLimits },
  { name: "k8s-shared-state-rwx", description: "The shared session-state claim is ReadWriteMany.", check: checkSharedStateRwx },
];
export const KUBERNETES_STACK_RULES: readonly KubernetesStackRule[] = [
  { name: "k8s-shared-claims-rwx", description: "A claim mounted by several pods at once is ReadWriteMany.", check: checkSharedClaimsRwx },
  { name: "k8s-service-selectors", description: "Every Service selects the pods of a workload in the stack.", check: checkServiceSelectors },
  { name: "k8s-cli-network-isolation", description: "Only selected pods reach CLI servers; CLI servers cannot reach the metadata endpoint.", check: checkCliNetworkIsolation },
];

/** Every violation of every rule over a set of objects, as `rule: message`. */
export function checkKubernetesObjects(objs: KubeObject[]): string[] {
  return [
    ...objs.flatMap((o) => KUBERNETES_RESOURCE_RULES.flatMap((r) => r.check(o).map((m) => `${r.name}: ${m}`))),
    ...KUBERNETES_STACK_RULES.flatMap((r) => r.check(objs).map((m) => `${r.name}: ${m}`)),
  ];
}

const isKubernetes = (type: string) => type.startsWith("kubernetes:");
const report = (messages: string[], reportViolation: ReportViolation) => messages.forEach((m) => reportViolation(m));

/** The rules as CrossGuard policies, for components/policy/index.ts. */
export const kubernetesPolicies: PolicyPackArgs["policies"] = [
  ...KUBERNETES_RESOURCE_RULES.map(
    (rule): ResourceValidationPolicy => ({
      name: rule.name,
      description: rule.description,
      enforcementLevel: "mandatory",
      validateResource: (args, reportViolation) => {
        if (isKubernetes(args.type)) report(rule.check(args.props as KubeObject), reportViolation);
      },
    }),
  ),
  ...KUBERNETES_STACK_RULES.map(
    (rule): StackValidationPolicy => ({
      name: rule.name,
      description: rule.description,
      enforcementLevel: "mandatory",
      validateStack: (args, reportViolation) => {
        report(rule.check(args.resources.filter((r) => isKubernetes(r.type)).map((r) => r.props as KubeObject)), reportViolation);
      },
    }),
  ),
];
