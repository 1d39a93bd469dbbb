/**
 * Runs the real stacks/index.ts for every Kubernetes stack file under Pulumi mocks and checks what
 * each topology must and must not render. Every object is validated against the Kubernetes schema.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { checkKubernetesObjects, type KubeObject } from "../components/policy/kubernetes.js";
import { CLI_PORT, CLI_PROBE_COMMAND, isSecretEnvName } from "../images/contract.js";
import { tenantServerId } from "../components/k8s/isolated-per-user.js";
import { BACKEND_CLIENT_LABEL, COMPONENT_LABEL, TENANT_LABEL } from "../components/k8s/meta.js";
import { gatewayConfigSchema, GATEWAY_CONFIG_ENV, PROFILES, parseTarget, type TargetDescriptor } from "../topology/index.js";
import { userPod } from "../topology/user-pod.js";
import { SECRET_CONFIG_KEYS } from "./kubernetes.js";
import { resolveOutput } from "../testing/pulumi-mocks.js";
import { secretNeedles } from "../topology/secret-scan.js";
import { listStackFiles, STACKS_DIR } from "../testing/stack-files.js";
import { type KubeResource, type KubernetesRun, MOCK_LB_IP, runKubernetesStack, TEST_SECRETS, validateKubeObject } from "../testing/kubernetes.js";

/* eslint-disable @typescript-eslint/no-explicit-any -- assertions walk rendered JSON */

/** Secrets each stack is run with (as `pulumi config set --secret` would provide them). */
const STACK_SECRETS: Record<string, (keyof typeof TEST_SECRETS)[]> = {
  dev: ["githubToken"],
  staging: ["githubToken"],
  prod: ["githubToken", "redisUrl"],
  isolated: ["githubToken", "jwtSecret"],
  collaborative: ["githubToken", "providerApiKey"],
  // The one-node cluster of `npm run cluster` (npm run test:cluster deploys these for real).
  "local-shared": [],
  "local-sticky": [],
  "local-shared-storage": [],
  "local-collaborative": [],
  "local-isolated": [],
  // local-shared behind an Ingress with TLS (stacks/exposure.test.ts checks what it adds).
  "local-exposure": [],
};

const kind = (run: KubernetesRun, k: string) => run.kube.filter((r) => r.obj.kind === k);
const podSpec = (r: KubeResource): any => r.obj.spec.template.spec;
const role = (r: KubeResource): string | undefined => r.obj.spec?.template?.metadata?.labels?.[COMPONENT_LABEL];
const cliDeployments = (run: KubernetesRun) => kind(run, "Deployment").filter((d) => role(d) === "cli-server");
const gatewayDeployment = (run: KubernetesRun) => kind(run, "Deployment").find((d) => role(d) === "gateway")!;
const claimsOf = (r: KubeResource): string[] =>
  (podSpec(r).volumes ?? []).map((v: any) => v.persistentVolumeClaim?.claimName).filter(Boolean);
const pvc = (run: KubernetesRun, name: string) => kind(run, "PersistentVolumeClaim").find((p) => p.obj.metadata?.name === name);
const envOf = (r: KubeResource, container = 0): any[] => podSpec(r).containers[container].env ?? [];
const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

function gatewayConfig(run: KubernetesRun) {
  const env = envOf(gatewayDeployment(run)).find((e) => e.name === GATEWAY_CONFIG_ENV);
  return gatewayConfigSchema.parse(JSON.parse(env.value));
}

async function targetOf(run: KubernetesRun): Promise<{ target: TargetDescriptor; secret: boolean }> {
  const { value, secret } = await resolveOutput(run.run.exports.target);
  return { target: parseTarget(JSON.parse(value)), secret };
}

describe("Kubernetes stack files", () => {
  it("are exactly the ones this suite runs", () => {
    const files = listStackFiles(STACKS_DIR).filter((f) => f.config["copilot-scale-kit:platform"] === "kubernetes");
    expect(files.map((f) => f.stack).sort()).toEqual(Object.keys(STACK_SECRETS).sort());
    // Secret keys may only appear as `secure:` ciphertext (pulumi config set --secret), never plain.
    for (const f of files) {
      const plain = Object.keys(f.config).filter((k) => SECRET_CONFIG_KEYS.some((s) => k === `copilot-scale-kit:${s}`));
      expect(plain, `${f.path} holds a secret in plain text`).toEqual([]);
    }
  });
});

describe.each(Object.keys(STACK_SECRETS))("stack %s", (stack) => {
  let run: KubernetesRun;
  let target: TargetDescriptor;
  beforeAll(async () => {
    run = await runKubernetesStack(stack, { secrets: STACK_SECRETS[stack] });
    const t = await targetOf(run);
    expect(t.secret).toBe(true);
    target = t.target;
  });

  it("renders only objects that pass the Kubernetes OpenAPI schema", () => {
    expect(run.kube.length).toBeGreaterThan(10);
    for (const r of run.kube) validateKubeObject(r);
  });

  it("passes every rule of the policy pack", () => {
    expect(checkKubernetesObjects(run.kube.map((r) => r.obj))).toEqual([]);
  });

  it("creates the namespace under the restricted Pod Security Standard", () => {
    const namespaces = kind(run, "Namespace");
    // Per-user Pods (isolated without tenants) get a namespace of their own.
    expect(namespaces).toHaveLength(gatewayConfig(run).backends.kind === "kubernetes" ? 2 : 1);
    for (const ns of namespaces) expect(ns.obj.metadata?.labels?.["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    const namespaced = run.kube.filter((r) => r.obj.kind !== "Namespace");
    expect(new Set(namespaced.map((r) => r.obj.metadata?.namespace))).toEqual(new Set(namespaces.map((ns) => ns.obj.metadata!.name)));
  });

  it("probes every long-running container; CLI servers with the protocol probe", () => {
    for (const d of kind(run, "Deployment")) {
      for (const c of podSpec(d).containers) {
        expect(c.readinessProbe, `${d.name}/${c.name} readiness`).toBeDefined();
        expect(c.livenessProbe, `${d.name}/${c.name} liveness`).toBeDefined();
        if (role(d) === "cli-server") {
          expect(c.readinessProbe.exec.command).toEqual(CLI_PROBE_COMMAND);
          expect(c.livenessProbe.exec.command).toEqual(CLI_PROBE_COMMAND);
          expect(c.lifecycle.preStop.exec.command[0]).toBe("sleep");
          expect(podSpec(d).terminationGracePeriodSeconds).toBeGreaterThan(Number(c.lifecycle.preStop.exec.command[1]));
        }
      }
    }
  });

  it("keeps every secret in Secrets: secretKeyRef in pods, nothing in plain text anywhere else", async () => {
    // With the parts that are secrets alone: a Redis URL's password must not leak outside its Secret either.
    const secrets = secretNeedles(
      [
        target.auth.kind === "jwt-hs256" ? target.auth.secret : "",
        ...target.servers.map((s) => s.connectionToken),
        ...STACK_SECRETS[stack]!.map((k) => TEST_SECRETS[k]),
        ...kind(run, "Secret").flatMap((s) => Object.values((s.obj as any).stringData ?? {}) as string[]),
      ],
      16,
    ).filter((s) => !s.includes("\n"));
    expect(secrets.length).toBeGreaterThan(target.servers.length);
    for (const r of run.kube) {
      if (r.obj.kind === "Secret") {
        expect(r.secretPaths, `${r.name} data must be marked secret`).toContain("stringData");
        continue;
      }
      const text = JSON.stringify(r.obj);
      for (const s of secrets) expect(text.includes(s), `${r.type} ${r.name} contains a secret`).toBe(false);
      for (const d of [r].filter((x) => x.obj.kind === "Deployment" || x.obj.kind === "CronJob")) {
        const spec = d.obj.kind === "CronJob" ? (d.obj.spec as any).jobTemplate.spec.template.spec : podSpec(d);
        for (const e of spec.containers.flatMap((c: any) => c.env ?? [])) {
          if (isSecretEnvName(e.name)) expect(e.valueFrom?.secretKeyRef, `${d.name} env ${e.name}`).toBeDefined();
        }
      }
    }
    const outputs = JSON.stringify([(await resolveOutput(run.run.exports.gatewayUrl)).value, (await resolveOutput(run.run.exports.servers)).value]);
    for (const s of secrets) expect(outputs.includes(s)).toBe(false);
  });

  it("points every Service at the pods of exactly one Deployment", () => {
    for (const svc of kind(run, "Service")) {
      const selector = (svc.obj.spec as any).selector;
      const matching = kind(run, "Deployment").filter((d) => selects(selector, d.obj.spec.template.metadata.labels));
      // The gateway's admin Service (probes' and scrapers' port) selects the gateway's pods too.
      expect(matching.map((d) => d.obj.metadata?.name), `Service ${svc.name}`).toEqual([svc.obj.metadata?.name?.replace(/-admin$/, "")]);
      expect(selects(selector, matching[0]!.obj.spec.selector.matchLabels) || selects(matching[0]!.obj.spec.selector.matchLabels, selector)).toBe(true);
    }
  });

  it("keeps readiness and metrics off the public Service: probes and the scrape annotation use the admin port, which only the ClusterIP admin Service carries", () => {
    const gw = gatewayDeployment(run);
    const container = podSpec(gw).containers[0];
    const admin = container.ports.find((p: any) => p.name === "admin");
    expect(admin.containerPort).toBe(gatewayConfig(run).admin.port);
    for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) expect(container[probe].httpGet.port, probe).toBe("admin");
    expect(gw.obj.spec.template.metadata.annotations["prometheus.io/port"]).toBe(String(admin.containerPort));
    const services = kind(run, "Service").filter((s) => s.obj.metadata?.labels?.[COMPONENT_LABEL] === "gateway");
    const publicService = services.find((s) => !s.obj.metadata!.name!.endsWith("-admin"))!;
    const adminService = services.find((s) => s.obj.metadata!.name!.endsWith("-admin"))!;
    expect((publicService.obj.spec as any).ports.map((p: any) => [p.name, p.targetPort])).toEqual([["http", "http"]]);
    expect((adminService.obj.spec as any).type).toBe("ClusterIP");
    expect((adminService.obj.spec as any).ports.map((p: any) => [p.name, p.port])).toEqual([["admin", admin.containerPort]]);
    expect(target.adminUrls).toEqual([`http://${adminService.obj.metadata!.name}.${adminService.obj.metadata!.namespace}.svc.cluster.local:${admin.containerPort}`]);
  });

  it("lets only gateway pods reach CLI servers and Redis, and blocks the metadata endpoint", () => {
    // Per-user Pods have a policy of their own (see "per-user Pods" below).
    if (cliDeployments(run).length === 0) return expect(gatewayConfig(run).backends.kind).toBe("kubernetes");
    const policies = kind(run, "NetworkPolicy");
    const cliPolicy = policies.find((p) => selects((p.obj.spec as any).podSelector.matchLabels, podSpecLabels(cliDeployments(run)[0]!)))!;
    expect(cliPolicy).toBeDefined();
    for (const d of cliDeployments(run)) expect(selects((cliPolicy.obj.spec as any).podSelector.matchLabels, podSpecLabels(d))).toBe(true);
    const spec = cliPolicy.obj.spec as any;
    expect(spec.policyTypes).toEqual(["Ingress", "Egress"]);
    expect(spec.ingress).toHaveLength(1);
    expect(spec.ingress[0].ports).toEqual([{ protocol: "TCP", port: CLI_PORT }]);
    const from = spec.ingress[0].from[0].podSelector.matchLabels;
    expect(from[BACKEND_CLIENT_LABEL]).toBe("true");
    // The only pods that carry the client label are the gateway's and the cleanup job's.
    const clients = [...kind(run, "Deployment"), ...kind(run, "CronJob")].filter((w) => selects(from, podSpecLabels(w)));
    expect(new Set(clients.map((w) => podSpecLabels(w)[COMPONENT_LABEL]))).toEqual(new Set(kind(run, "CronJob").length ? ["gateway", "session-cleanup"] : ["gateway"]));
    expect(spec.egress[0].to[0].ipBlock).toEqual({ cidr: "0.0.0.0/0", except: ["169.254.169.254/32"] });

    const redisPods = kind(run, "Deployment").filter((d) => role(d) === "redis");
    const redisPolicy = policies.find((p) => redisPods.some((d) => selects((p.obj.spec as any).podSelector.matchLabels, podSpecLabels(d))));
    expect(Boolean(redisPolicy)).toBe(redisPods.length > 0);
    if (redisPolicy) expect((redisPolicy.obj.spec as any).ingress[0].from[0].podSelector.matchLabels).toEqual(from);
  });

  it("configures the gateway with every CLI server and its token Secret", () => {
    const cfg = gatewayConfig(run);
    const env = envOf(gatewayDeployment(run));
    const secretsByName = new Map(kind(run, "Secret").map((s) => [s.obj.metadata!.name!, (s.obj as any).stringData]));
    expect(cfg.backends.kind).toBe(cliDeployments(run).length > 0 ? "static" : "kubernetes");
    if (cfg.backends.kind !== "static") return expect(target.servers).toEqual([]);
    const services = new Set(kind(run, "Service").map((s) => `${s.obj.metadata!.name}.${s.obj.metadata!.namespace}.svc.cluster.local:${CLI_PORT}`));
    expect(cfg.backends.servers).toHaveLength(cliDeployments(run).length);
    for (const b of cfg.backends.servers) {
      expect(services.has(b.address), b.address).toBe(true);
      const ref = env.find((e) => e.name === b.tokenEnv)?.valueFrom?.secretKeyRef;
      const token = secretsByName.get(ref.name)?.[ref.key];
      expect(token).toBe(target.servers.find((s) => s.id === b.id)?.connectionToken);
    }
    expect(env.some((e) => e.name === "GATEWAY_REDIS_URL")).toBe(cfg.store === "redis");
    expect(target.store?.kind).toBe(cfg.store);
    const jwt = env.find((e) => e.name === "GATEWAY_JWT_SECRET").valueFrom.secretKeyRef;
    expect(target.auth).toMatchObject({ kind: "jwt-hs256", secret: secretsByName.get(jwt.name)[jwt.key] });
  });

  it("exports a conformance target for the topology, with server tokens and no extras it cannot serve", async () => {
    expect(target.platform).toBe("kubernetes");
    // The stack files use production lifecycle values (minutes, days), which no test can wait out;
    // a per-user rate limit is observable at any setting.
    const { rateLimitPerMinute } = gatewayConfig(run).http;
    // Per-user Pods culled within a test's patience claim cli-culling.
    const culling = gatewayConfig(run).lifecycle.cliIdleTimeoutSeconds;
    expect(target.features).toEqual([
      ...PROFILES[target.topology].core,
      ...(rateLimitPerMinute > 0 ? ["rate-limit"] : []),
      ...(culling > 0 && culling <= 30 ? ["cli-culling"] : []),
    ]);
    expect(target.settings).toMatchObject({ maxSessionsPerServer: gatewayConfig(run).lifecycle.maxSessionsPerServer, bodyLimitBytes: 256 * 1024, rateLimitPerMinute });
    expect(target.servers.map((s) => s.id)).toEqual(cliDeployments(run).map((d) => podSpecLabels(d)["copilot-scale-kit.io/server-id"]));
    expect((await resolveOutput(run.run.exports.gatewayUrl)).value).toBe(target.gatewayUrls[0]);
  });
});

const podSpecLabels = (r: KubeResource): Record<string, string> =>
  r.obj.kind === "CronJob" ? (r.obj.spec as any).jobTemplate.spec.template.metadata.labels : r.obj.spec.template.metadata.labels;

describe("what each topology must and must not have", () => {
  const runs = new Map<string, KubernetesRun>();
  const get = async (stack: string) => {
    if (!runs.has(stack)) runs.set(stack, await runKubernetesStack(stack, { secrets: STACK_SECRETS[stack] }));
    return runs.get(stack)!;
  };

  it("dev (shared): one server on its own RWO volume, a single memory-store gateway with its registry on a volume, no Redis", async () => {
    const run = await get("dev");
    expect(cliDeployments(run)).toHaveLength(1);
    const cfg = gatewayConfig(run);
    expect(cfg).toMatchObject({ topology: "shared", store: "memory" });
    expect(cfg.storeFile).toMatch(/^\/var\/lib\/copilot-gateway\//);
    expect(kind(run, "Deployment").filter((d) => role(d) === "redis")).toEqual([]);
    expect(kind(run, "CronJob")).toEqual([]);
    const gw = gatewayDeployment(run);
    expect((gw.obj.spec as any).strategy.type).toBe("Recreate");
    expect(claimsOf(gw).map((c) => pvc(run, c)?.obj.spec.accessModes)).toEqual([["ReadWriteOnce"]]);
    expect(pvc(run, claimsOf(cliDeployments(run)[0]!)[0]!)?.obj.spec.accessModes).toEqual(["ReadWriteOnce"]);
    for (const d of kind(run, "Deployment")) expect(podSpec(d).containers[0].imagePullPolicy).toBe("Never");
    expect((await resolveOutput(run.run.exports.gatewayUrl)).value).toBe("http://127.0.0.1:8080");
  });

  it("staging (sticky): one RWO volume per server, never shared, and a LoadBalancer URL", async () => {
    const run = await get("staging");
    const servers = cliDeployments(run);
    expect(servers).toHaveLength(3);
    const claims = servers.map((d) => claimsOf(d));
    expect(claims.every((c) => c.length === 1)).toBe(true);
    expect(new Set(claims.flat()).size).toBe(3);
    for (const c of claims.flat()) expect(pvc(run, c)?.obj.spec.accessModes).toEqual(["ReadWriteOnce"]);
    expect(gatewayConfig(run).topology).toBe("sticky");
    expect(podSpec(servers[0]!).containers[0].args).toEqual(["--session-idle-timeout", "3600"]);
    expect((await resolveOutput(run.run.exports.gatewayUrl)).value).toBe(`http://${MOCK_LB_IP}:8080`);
  });

  it("prod (shared-storage): every server on one RWX claim of the configured class, 3 gateways on an external Redis, TTL cleanup", async () => {
    const run = await get("prod");
    const servers = cliDeployments(run);
    expect(servers).toHaveLength(4);
    const claims = new Set(servers.flatMap((d) => claimsOf(d)));
    expect(claims.size).toBe(1);
    const shared = pvc(run, [...claims][0]!)!;
    expect(shared.obj.spec).toMatchObject({ accessModes: ["ReadWriteMany"], storageClassName: "azurefile-csi-premium" });
    // No per-server state volumes: the only claims are the shared one.
    expect(kind(run, "PersistentVolumeClaim").map((p) => p.obj.metadata?.name)).toEqual([shared.obj.metadata?.name]);
    expect(gatewayConfig(run)).toMatchObject({ topology: "shared-storage", store: "redis" });
    const gw = gatewayDeployment(run);
    expect(gw.obj.spec).toMatchObject({ replicas: 3, strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0 } } });
    expect(podSpec(gw).topologySpreadConstraints).toHaveLength(1);
    expect(kind(run, "Deployment").filter((d) => role(d) === "redis")).toEqual([]);
    const redisSecret = kind(run, "Secret").find((s) => s.obj.metadata?.name === "copilot-redis");
    expect((redisSecret?.obj as any).stringData.url).toBe(TEST_SECRETS.redisUrl);
    const [cron] = kind(run, "CronJob");
    const job = (cron!.obj.spec as any).jobTemplate.spec.template.spec;
    expect(cron!.obj.spec).toMatchObject({ schedule: "*/10 * * * *", concurrencyPolicy: "Forbid" });
    expect(job.containers[0].args).toEqual(["cleanup"]);
    expect(job.containers[0].env).toEqual(envOf(gw).filter((e) => e.name !== "GATEWAY_JWT_SECRET"));
    expect(kind(run, "PodDisruptionBudget")[0]?.obj.spec).toMatchObject({ maxUnavailable: 1 });
  });

  it("isolated: a server, a volume and a token Secret per tenant, and the gateway routes each tenant to its own", async () => {
    const run = await get("isolated");
    const servers = cliDeployments(run);
    expect(servers.map((d) => podSpecLabels(d)[TENANT_LABEL])).toEqual(["alice", "bob", "carol"]);
    expect(servers.map((d) => pvc(run, claimsOf(d)[0]!)?.obj.spec.resources.requests.storage)).toEqual(["5Gi", "10Gi", "20Gi"]);
    const tokenSecrets = servers.map((d) => envOf(d).find((e) => e.name === "COPILOT_CONNECTION_TOKEN").valueFrom.secretKeyRef.name);
    expect(new Set(tokenSecrets).size).toBe(3);
    const { target } = await targetOf(run);
    expect(new Set(target.servers.map((s) => s.connectionToken)).size).toBe(3);
    expect(target.servers.map((s) => s.user)).toEqual(["alice", "bob", "carol"]);
    const cfg = gatewayConfig(run);
    const tenants = ["alice", "bob", "carol"];
    expect(cfg.backends.kind === "static" && cfg.backends.servers.map((s) => [s.id, s.user])).toEqual(tenants.map((t) => [tenantServerId(t), t]));
    // Server ids reach headers and metric labels: never the user id.
    for (const s of target.servers) expect(tenants.some((t) => s.id.includes(t))).toBe(false);
    expect(target.auth).toMatchObject({ secret: TEST_SECRETS.jwtSecret });
    expect(servers.map((d) => d.obj.metadata?.name)).toEqual(tenants.map((t) => `iso-cli-${tenantServerId(t)}`));
    for (const d of servers) expect(envOf(d).find((e) => e.name === "COPILOT_GITHUB_TOKEN")?.valueFrom?.secretKeyRef).toBeDefined();
  });

  it("collaborative: an in-cluster Redis behind its NetworkPolicy, and an autoscaled gateway", async () => {
    const run = await get("collaborative");
    expect(cliDeployments(run)).toHaveLength(1);
    expect(gatewayConfig(run)).toMatchObject({ topology: "collaborative", store: "redis", lifecycle: { lockTtlSeconds: 60, lockWaitSeconds: 45 } });
    const [redis] = kind(run, "Deployment").filter((d) => role(d) === "redis");
    expect(redis).toBeDefined();
    expect(podSpec(redis!).containers[0].command).toEqual(["redis-server", "/etc/redis/redis.conf"]);
    expect(pvc(run, claimsOf(redis!)[0]!)?.obj.spec.resources.requests.storage).toBe("2Gi");
    const [hpa] = kind(run, "HorizontalPodAutoscaler");
    expect(hpa?.obj.spec).toMatchObject({ minReplicas: 2, maxReplicas: 4, scaleTargetRef: { name: "copilot-gateway" } });
    expect((hpa?.obj.spec as any).metrics[0].resource.target.averageUtilization).toBe(60);
    expect(gatewayDeployment(run).obj.spec.replicas).toBeUndefined();
    expect(envOf(gatewayDeployment(run)).find((e) => e.name === "GATEWAY_PROVIDER_API_KEY")?.valueFrom?.secretKeyRef).toBeDefined();
    // Only the gateway needs the provider key, but it comes from the shared credentials Secret.
    expect(envOf(cliDeployments(run)[0]!).some((e) => e.name === "GATEWAY_PROVIDER_API_KEY")).toBe(false);
  });

  it("claims the lifecycle features only with settings a conformance run can wait out", async () => {
    const lifecycle = '{"idleTimeoutSeconds":20,"sessionTtlSeconds":25,"maxSessionsPerServer":5}';
    const run = await runKubernetesStack("dev", { secrets: ["githubToken"], config: { "copilot-scale-kit:lifecycle": lifecycle } });
    const { target } = await targetOf(run);
    expect(target.features).toEqual([...PROFILES.shared.core, "idle-detach", "session-ttl", "eviction"]);
    expect(target.settings).toMatchObject({ idleTimeoutSeconds: 20, sessionTtlSeconds: 25, maxSessionsPerServer: 5 });
    expect(gatewayConfig(run).lifecycle).toMatchObject({ idleTimeoutSeconds: 20, sessionTtlSeconds: 25, maxSessionsPerServer: 5 });
  });

  it("builds and pushes both images when asked, and runs the pushed digests", async () => {
    const k8sSection = JSON.stringify({ namespace: "copilot-staging", build: { push: true, platforms: ["linux/amd64"] } });
    const run = await runKubernetesStack("staging", { secrets: STACK_SECRETS.staging, config: { "copilot-scale-kit:kubernetes": k8sSection } });
    const images = run.run.resources.filter((r) => r.type === "docker-build:index:Image");
    expect(images.map((r) => [r.inputs.tags, (r.inputs.dockerfile as any).location.replace(/.*\/images\//, "images/"), r.inputs.push])).toEqual([
      [["ghcr.io/your-org/copilot-cli:1.0.102"], "images/cli/Dockerfile", true],
      [["ghcr.io/your-org/copilot-gateway:0.1.0"], "images/gateway/Dockerfile", true],
    ]);
    expect((images[0]!.inputs.context as any).location).toBe(STACKS_DIR.replace(/\/stacks$/, ""));
    for (const d of cliDeployments(run)) expect(podSpec(d).containers[0].image).toMatch(/^ghcr\.io\/your-org\/copilot-cli:1\.0\.102@sha256:[0-9a-f]{64}$/);
    expect(podSpec(gatewayDeployment(run)).containers[0].image).toMatch(/^ghcr\.io\/your-org\/copilot-gateway:0\.1\.0@sha256:/);
    for (const r of run.kube) validateKubeObject(r);

    const local = await runKubernetesStack("dev", { secrets: ["githubToken"], config: { "copilot-scale-kit:kubernetes": JSON.stringify({ build: { push: false } }) } });
    const localImages = local.run.resources.filter((r) => r.type === "docker-build:index:Image");
    expect(localImages.map((r) => r.inputs.exports)).toEqual([[{ docker: {} }], [{ docker: {} }]]);
    expect(podSpec(gatewayDeployment(local)).containers[0].image).toBe("copilot-scale-kit/gateway:dev");
  });

  it("targets a named kubeconfig context, and an existing namespace when asked", async () => {
    const k8sSection = JSON.stringify({ context: "kind-copilot", createNamespace: false, namespace: "team-a" });
    const run = await runKubernetesStack("dev", { secrets: ["githubToken"], config: { "copilot-scale-kit:kubernetes": k8sSection } });
    const provider = run.run.resources.find((r) => r.type === "pulumi:providers:kubernetes");
    expect(provider?.inputs.context).toBe("kind-copilot");
    expect(kind(run, "Namespace")).toEqual([]);
    expect(new Set(run.kube.map((r) => r.obj.metadata?.namespace))).toEqual(new Set(["team-a"]));
    const kubeCustom = run.run.resources.filter((r) => r.type.startsWith("kubernetes:"));
    expect(kubeCustom.length).toBeGreaterThanOrEqual(10);
    expect(kubeCustom.filter((r) => !r.provider?.includes("pulumi:providers:kubernetes::kubernetes"))).toEqual([]);
  });

  it("adds Redis as soon as the gateway has more than one replica", async () => {
    const run = await runKubernetesStack("dev", { secrets: ["githubToken"], config: { "copilot-scale-kit:gateway": '{"replicas":2}' } });
    expect(gatewayConfig(run)).toMatchObject({ store: "redis" });
    expect(gatewayConfig(run).storeFile).toBeUndefined();
    expect(kind(run, "Deployment").filter((d) => role(d) === "redis")).toHaveLength(1);
    expect(envOf(gatewayDeployment(run)).find((e) => e.name === "GATEWAY_REDIS_URL")?.valueFrom?.secretKeyRef?.key).toBe("url");
    expect(checkKubernetesObjects(run.kube.map((r) => r.obj as KubeObject))).toEqual([]);
  });
});

describe("config errors name the key and the fix", () => {
  const fails = (stack: string, config: Record<string, string>) =>
    runKubernetesStack(stack, { config, secrets: STACK_SECRETS[stack] }).then(
      () => "no error",
      (err: Error) => err.message,
    );

  it("shared-storage without a ReadWriteMany class", async () => {
    const msg = await fails("prod", { "copilot-scale-kit:kubernetes": JSON.stringify({ namespace: "copilot" }) });
    expect(msg).toMatch(/copilot-scale-kit:kubernetes\.sharedStorageClass: shared-storage needs a ReadWriteMany storage class/);
    expect(msg).toMatch(/pulumi config set --path 'copilot-scale-kit:kubernetes\.sharedStorageClass'/);
  });

  it("a misspelled key in the kubernetes section, and an unknown top-level key", async () => {
    expect(await fails("dev", { "copilot-scale-kit:kubernetes": '{"namespce":"x"}' })).toMatch(/copilot-scale-kit:kubernetes.namespce: unknown key \(fix: correct or remove kubernetes.namespce/);
    expect(await fails("dev", { "copilot-scale-kit:redis": '{"externl":true}' })).toMatch(/copilot-scale-kit:redis.externl: unknown key/);
    expect(await fails("dev", { "copilot-scale-kit:lifecycle": '{"idleTimeoutSecond":5}' })).toMatch(/copilot-scale-kit:lifecycle.idleTimeoutSecond: unknown key/);
    expect(await fails("dev", { "copilot-scale-kit:gateway": '{"autoscale":{"min":1,"max":2,"cpu":50}}' })).toMatch(/copilot-scale-kit:gateway.autoscale.cpu: unknown key/);
    expect(await fails("dev", { "copilot-scale-kit:gatway": "{}" })).toMatch(/unknown stack config copilot-scale-kit:gatway/);
  });

  it("per-user claims that would die before their sessions, and tenants on another topology", async () => {
    const perUser = { namespace: "kit-isolated", perUser: { claimTtlSeconds: 60 } };
    expect(await fails("local-isolated", { "copilot-scale-kit:kubernetes": JSON.stringify(perUser), "copilot-scale-kit:lifecycle": '{"sessionTtlSeconds":3600}' })).toMatch(
      /copilot-scale-kit:kubernetes\.perUser\.claimTtlSeconds: a claim must outlive its sessions: at least lifecycle\.sessionTtlSeconds \(3600\)/,
    );
    expect(await fails("local-isolated", { "copilot-scale-kit:kubernetes": JSON.stringify({ perUser: { maxServer: 3 } }) })).toMatch(/copilot-scale-kit:kubernetes\.perUser\.maxServer: unknown key/);
    expect(await fails("dev", { "copilot-scale-kit:tenants": '[{"user":"a"}]' })).toMatch(/tenants apply only to the isolated topology/);
  });

  it("an external Redis without its URL secret", async () => {
    const msg = await runKubernetesStack("prod", { secrets: ["githubToken"] }).then(() => "", (e: Error) => e.message);
    expect(msg).toMatch(/copilot-scale-kit:redisUrl is not set \(fix: pulumi config set --secret copilot-scale-kit:redisUrl/);
  });

  it("no model access: neither a GitHub token nor a BYOK provider", async () => {
    const msg = await runKubernetesStack("dev", { secrets: [] }).then(() => "", (e: Error) => e.message);
    expect(msg).toMatch(/no model access: set copilot-scale-kit:githubToken .*pulumi config set --secret copilot-scale-kit:githubToken/);
    const byok = await runKubernetesStack("dev", { secrets: ["providerApiKey"], config: { "copilot-scale-kit:gateway": '{"providerBaseUrl":"https://models.example.net/v1","providerType":"azure"}' } });
    expect(gatewayConfig(byok).model).toMatchObject({ providerBaseUrl: "https://models.example.net/v1", providerType: "azure" });
  });

  it("no secret seed", async () => {
    const msg = await runKubernetesStack("dev", { noSeed: true }).then(() => "", (e: Error) => e.message);
    expect(msg).toMatch(/copilot-scale-kit:secretSeed is not set: .* \(fix: pulumi config set --secret copilot-scale-kit:secretSeed "\$\(openssl rand -hex 32\)"\)/);
    const short = await runKubernetesStack("dev", { noSeed: true, config: { "copilot-scale-kit:secretSeed": "short" } }).then(() => "", (e: Error) => e.message);
    expect(short).toMatch(/copilot-scale-kit:secretSeed is shorter than 32 characters/);
  });

  it("more than one server for shared", async () => {
    expect(await fails("dev", { "copilot-scale-kit:servers": "3" })).toMatch(/copilot-scale-kit:servers: shared runs exactly one CLI server/);
  });
});

describe("per-user Pods (isolated without tenants: local-isolated)", () => {
  let run: KubernetesRun;
  let cfg: ReturnType<typeof gatewayConfig>;
  beforeAll(async () => {
    run = await runKubernetesStack("local-isolated", { secrets: STACK_SECRETS["local-isolated"] });
    cfg = gatewayConfig(run);
  });
  const usersNs = "kit-isolated-users";

  it("gives the gateway a Pod template, the CLI image, the cap and the cull timeout, and no fixed CLI server", () => {
    expect(cliDeployments(run)).toEqual([]);
    expect(cfg.backends).toMatchObject({ kind: "kubernetes", namespace: usersNs, namePrefix: "copilot-u", image: "localhost/copilot-cli:local", maxServers: 22, claimTtlSeconds: 0 });
    expect(cfg.lifecycle.cliIdleTimeoutSeconds).toBe(15);
    expect(cfg.store).toBe("redis");
    // The gateway's own TTL loop cleans per-user sessions; no CronJob could reach the Pods.
    expect(kind(run, "CronJob")).toEqual([]);
  });

  it("renders, with the gateway's per-user additions, a valid Pod under the restricted standard, with only the user's own secrets", () => {
    if (cfg.backends.kind !== "kubernetes") throw new Error("not per-user");
    const pod = userPod(cfg.backends, "user-0123456789abcdef", "user", new Date(0));
    validateKubeObject({ type: "kubernetes:core/v1:Pod", name: "user pod", obj: { apiVersion: "v1", kind: "Pod", ...pod } as unknown as KubeObject });
    const spec = pod.spec!;
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    const cli = spec.containers[0]!;
    expect(cli.image).toBe("localhost/copilot-cli:local");
    expect(cli.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem: true });
    expect(cli.readinessProbe?.exec?.command).toEqual(CLI_PROBE_COMMAND);
    const secretRefs = (cli.env ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => [e.name, e.valueFrom!.secretKeyRef!.name]);
    expect(secretRefs).toEqual([
      ["COPILOT_CONNECTION_TOKEN", "copilot-u-user-0123456789abcdef-token"],
      ["COPILOT_GITHUB_TOKEN", "copilot-u-user-0123456789abcdef-credentials"],
    ]);
    expect(spec.volumes?.find((v) => v.name === "state")?.persistentVolumeClaim?.claimName).toBe("copilot-u-user-0123456789abcdef-state");
    expect(pod.metadata?.labels?.["copilot-scale-kit.io/server-id"]).toBe("user-0123456789abcdef");
    // Without a Secret of their own, a user gets no GitHub token unless the stack allows the shared one.
    expect((userPod(cfg.backends, "user-0123456789abcdef", "none", new Date(0)).spec!.containers[0]!.env ?? []).map((e) => e.name)).not.toContain("COPILOT_GITHUB_TOKEN");
  });

  it("lets the gateway's ServiceAccount manage Pods, claims and Secrets in the users' namespace only, and caps the Pods with a quota", () => {
    const gw = gatewayDeployment(run);
    expect(podSpec(gw).serviceAccountName).toBe("copilot-gateway");
    expect(podSpec(gw).automountServiceAccountToken).toBe(true);
    for (const d of kind(run, "Deployment").filter((x) => x !== gw)) expect(podSpec(d).automountServiceAccountToken, d.name).toBe(false);
    const [roleObj] = kind(run, "Role");
    expect(roleObj!.obj.metadata?.namespace).toBe(usersNs);
    const rules = (roleObj!.obj as any).rules as { resources: string[]; verbs: string[] }[];
    expect(rules.flatMap((r) => r.resources).sort()).toEqual(["persistentvolumeclaims", "pods", "secrets"]);
    expect(rules.find((r) => r.resources.includes("secrets"))!.verbs).not.toContain("list");
    expect(kind(run, "ClusterRole")).toEqual([]);
    const [binding] = kind(run, "RoleBinding");
    expect((binding!.obj as any).subjects).toEqual([{ kind: "ServiceAccount", name: "copilot-gateway", namespace: "kit-isolated" }]);
    const [quota] = kind(run, "ResourceQuota");
    expect((quota!.obj as any).spec.hard).toEqual({ pods: "22" });
    expect(quota!.obj.metadata?.namespace).toBe(usersNs);
  });

  it("lets a user's Pod be reached by the gateway alone and reach only DNS, the model and the public internet", () => {
    const policy = kind(run, "NetworkPolicy").find((p) => p.obj.metadata?.namespace === usersNs)!;
    const spec = policy.obj.spec as any;
    expect(spec.podSelector.matchLabels).toEqual({ "app.kubernetes.io/component": "user-server", "app.kubernetes.io/instance": "copilot-u" });
    expect(spec.policyTypes).toEqual(["Ingress", "Egress"]);
    expect(spec.ingress).toEqual([
      {
        from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kit-isolated" } }, podSelector: { matchLabels: { [BACKEND_CLIENT_LABEL]: "true", "app.kubernetes.io/instance": "copilot" } } }],
        ports: [{ protocol: "TCP", port: CLI_PORT }],
      },
    ]);
    expect(spec.egress[0]).toEqual({ ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] });
    expect(spec.egress[1]).toEqual({ to: [{ ipBlock: { cidr: "10.244.0.1/32" } }], ports: [{ protocol: "TCP", port: 11435 }] });
    expect(spec.egress[2].to[0].ipBlock).toEqual({ cidr: "0.0.0.0/0", except: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"] });
  });
});
