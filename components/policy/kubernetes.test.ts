/**
 * The Kubernetes policy rules against the objects Pulumi's mocks captured from real stacks: clean
 * as rendered, and each rule catches its invariant broken in a copy of those objects.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { runKubernetesStack } from "../../testing/kubernetes.js";
import {
  checkCliNetworkIsolation,
  checkKubernetesObjects,
  checkNonRoot,
  checkNoPlaintextSecrets,
  checkProbes,
  checkResourceLimits,
  checkServiceSelectors,
  checkSharedClaimsRwx,
  checkSharedStateRwx,
  type KubeObject,
  KUBERNETES_RESOURCE_RULES,
  KUBERNETES_STACK_RULES,
  kubernetesPolicies,
} from "./kubernetes.js";

/* eslint-disable @typescript-eslint/no-explicit-any -- mutating rendered JSON */

let prod: KubeObject[];
let rooms: KubeObject[];
beforeAll(async () => {
  prod = (await runKubernetesStack("prod", { secrets: ["githubToken", "redisUrl"] })).kube.map((r) => r.obj);
  rooms = (await runKubernetesStack("collaborative", { secrets: ["githubToken"] })).kube.map((r) => r.obj);
});

/** A deep copy of the objects, with `mutate` applied to the first one `pick` selects. */
function mutated(objs: KubeObject[], pick: (o: KubeObject) => boolean, mutate: (o: any) => void): { all: KubeObject[]; changed: KubeObject } {
  const all = structuredClone(objs);
  const changed = all.find(pick);
  if (!changed) throw new Error("nothing to mutate");
  mutate(changed);
  return { all, changed };
}
const isCliDeployment = (o: KubeObject) => o.kind === "Deployment" && o.spec.template.metadata.labels["app.kubernetes.io/component"] === "cli-server";
const isGateway = (o: KubeObject) => o.kind === "Deployment" && o.spec.template.metadata.labels["app.kubernetes.io/component"] === "gateway";
const container = (o: any, i = 0) => o.spec.template.spec.containers[i];

describe("Kubernetes policy rules", () => {
  it("find nothing in the rendered stacks", () => {
    expect(prod.length).toBeGreaterThan(15);
    expect(checkKubernetesObjects(prod)).toEqual([]);
    expect(checkKubernetesObjects(rooms)).toEqual([]);
  });

  it("non-root: root uid, a missing runAsNonRoot, escalation and kept capabilities are caught", () => {
    const cases: ((o: any) => void)[] = [
      (o) => (container(o).securityContext.runAsUser = 0),
      (o) => {
        delete container(o).securityContext.runAsNonRoot;
        delete o.spec.template.spec.securityContext.runAsNonRoot;
      },
      (o) => (container(o).securityContext.allowPrivilegeEscalation = true),
      (o) => (container(o).securityContext.capabilities = { drop: ["NET_RAW"] }),
      (o) => (o.spec.template.spec.hostNetwork = true),
    ];
    for (const mutate of cases) expect(checkNonRoot(mutated(prod, isCliDeployment, mutate).changed)).toHaveLength(1);
    const redis = mutated(rooms, (o) => o.kind === "Deployment" && o.metadata?.name === "copilot-redis", (o) => (o.spec.template.spec.securityContext.runAsUser = 0));
    expect(checkNonRoot(redis.changed)[0]).toMatch(/Deployment copilot-redis: container redis must not run as uid 0/);
  });

  it("probes: a removed probe, and a TCP check on a CLI server, are caught", () => {
    const noReadiness = mutated(prod, isCliDeployment, (o) => delete container(o).readinessProbe).changed;
    expect(checkProbes(noReadiness)).toEqual([expect.stringMatching(/container copilot has no readinessProbe/)]);
    const tcp = mutated(prod, isCliDeployment, (o) => (container(o).livenessProbe = { tcpSocket: { port: 4321 } })).changed;
    expect(checkProbes(tcp)).toEqual([expect.stringMatching(/livenessProbe of a CLI server must exec copilot-probe/)]);
    const gateway = mutated(prod, isGateway, (o) => delete container(o).livenessProbe).changed;
    expect(checkProbes(gateway)).toHaveLength(1);
    // Run-to-completion pods are not probed.
    expect(checkProbes(prod.find((o) => o.kind === "CronJob")!)).toEqual([]);
  });

  it("secrets: an inlined token, a secret in the config JSON and one on argv are caught", () => {
    const inlined = mutated(prod, isCliDeployment, (o) => {
      const env = container(o).env.find((e: any) => e.name === "COPILOT_CONNECTION_TOKEN");
      delete env.valueFrom;
      env.value = "0123456789abcdef0123";
    }).changed;
    expect(checkNoPlaintextSecrets(inlined)).toEqual([expect.stringMatching(/env COPILOT_CONNECTION_TOKEN is a literal/)]);
    const inConfig = mutated(prod, isGateway, (o) => {
      const env = container(o).env.find((e: any) => e.name === "GATEWAY_CONFIG");
      env.value = JSON.stringify({ ...JSON.parse(env.value), auth: { kind: "jwt-hs256", secret: "s3cr3t" } });
    }).changed;
    expect(checkNoPlaintextSecrets(inConfig)).toEqual([expect.stringMatching(/GATEWAY_CONFIG holds auth\.secret/)]);
    const argv = mutated(prod, isGateway, (o) => (container(o).args = ["serve", "--token=abc"])).changed;
    expect(checkNoPlaintextSecrets(argv)).toHaveLength(1);
    expect(checkNoPlaintextSecrets({ kind: "ConfigMap", metadata: { name: "c" }, data: { GITHUB_TOKEN: "x" } })).toHaveLength(1);
  });

  it("resource limits: a container without a memory limit or requests is caught", () => {
    const noLimit = mutated(prod, isCliDeployment, (o) => delete container(o).resources.limits.memory).changed;
    expect(checkResourceLimits(noLimit)).toEqual([expect.stringMatching(/must set resources limits\.memory/)]);
    const noRequests = mutated(prod, (o) => o.kind === "CronJob", (o) => delete o.spec.jobTemplate.spec.template.spec.containers[0].resources.requests).changed;
    expect(checkResourceLimits(noRequests)[0]).toMatch(/requests\.cpu, requests\.memory/);
  });

  it("RWX: the shared claim switched to ReadWriteOnce is caught by the resource and the stack rule", () => {
    const { all, changed } = mutated(prod, (o) => o.kind === "PersistentVolumeClaim", (o) => (o.spec.accessModes = ["ReadWriteOnce"]));
    expect(checkSharedStateRwx(changed)).toEqual([expect.stringMatching(/needs accessModes \[ReadWriteMany\], got \[ReadWriteOnce\]/)]);
    expect(checkSharedClaimsRwx(all)).toEqual([expect.stringMatching(/mounted by 4 pods .* but is not ReadWriteMany/)]);
    // Without the annotation the stack rule still catches a claim that several pods mount.
    const unannotated = mutated(all, (o) => o.kind === "PersistentVolumeClaim", (o) => delete o.metadata.annotations);
    expect(checkSharedStateRwx(unannotated.changed)).toEqual([]);
    expect(checkSharedClaimsRwx(unannotated.all)).toHaveLength(1);
  });

  it("a single-replica workload may own a ReadWriteOnce claim, two replicas may not", () => {
    expect(checkSharedClaimsRwx(rooms)).toEqual([]);
    const scaled = mutated(rooms, isCliDeployment, (o) => (o.spec.replicas = 2)).all;
    expect(checkSharedClaimsRwx(scaled)).toEqual([expect.stringMatching(/copilot-cli-0-state is mounted by 2 pods/)]);
  });

  it("Service selectors: a selector that matches no pod template is caught", () => {
    const { all } = mutated(rooms, (o) => o.kind === "Service" && o.metadata?.name === "copilot-gateway", (o) => (o.spec.selector["app.kubernetes.io/instance"] = "other"));
    expect(checkServiceSelectors(all)).toEqual([expect.stringMatching(/Service copilot-gateway: selector .* matches no pod template/)]);
  });

  it("network isolation: open ingress, or egress to the metadata endpoint, is caught", () => {
    const isCliPolicy = (o: KubeObject) => o.kind === "NetworkPolicy" && o.metadata?.name === "copilot-cli-servers";
    const open = mutated(prod, isCliPolicy, (o) => (o.spec.ingress = [{}])).all;
    expect(checkCliNetworkIsolation(open)).toHaveLength(4);
    const leaky = mutated(prod, isCliPolicy, (o) => delete o.spec.egress[0].to[0].ipBlock.except).all;
    expect(checkCliNetworkIsolation(leaky)[0]).toMatch(/must not reach the metadata endpoint 169\.254\.169\.254\/32/);
    const none = prod.filter((o) => !isCliPolicy(o));
    expect(checkCliNetworkIsolation(none)).toHaveLength(8);
  });

  it("are all wrapped as mandatory CrossGuard policies with unique names", () => {
    const names = kubernetesPolicies.map((p) => p.name);
    expect(names).toEqual([...KUBERNETES_RESOURCE_RULES, ...KUBERNETES_STACK_RULES].map((r) => r.name));
    expect(new Set(names).size).toBe(names.length);
    expect(kubernetesPolicies.every((p) => p.enforcementLevel === "mandatory")).toBe(true);
  });
});
