/**
 * The Kubernetes components on their own, under mocks: the arguments they refuse and the objects
 * particular arguments produce. Whole-stack behaviour is tested in stacks/kubernetes.test.ts.
 */
import type * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { type CapturedResource, runWithMocks } from "../../testing/pulumi-mocks.js";
import { deploymentGatewaySchema, deploymentLifecycleSchema } from "../../topology/deployment.js";
import { parseGatewayConfig } from "../../topology/gateway-config.js";
import { CliServer } from "./cli-server.js";
import { Gateway } from "./gateway.js";
import { gatewayRuntime, staticBackend } from "./gateway-runtime.js";
import { IsolatedPerUser } from "./isolated-per-user.js";
import { NetworkPolicies } from "./network-policies.js";
import { Redis } from "./redis.js";
import { SessionCleanup } from "./session-cleanup.js";
import { SharedStorageCluster } from "./shared-storage-cluster.js";
import { StickyCluster } from "./sticky-cluster.js";
import type { KitArgs } from "./topology.js";

/* eslint-disable @typescript-eslint/no-explicit-any -- assertions walk rendered JSON */
const capture = async (program: () => unknown): Promise<CapturedResource[]> =>
  (await runWithMocks(async () => program(), { config: {} })).resources;
const failure = (program: () => unknown): Promise<string> => capture(program).then(() => "no error", (e: Error) => e.message);
const ofKind = (rs: CapturedResource[], kind: string) => rs.filter((r) => r.inputs.kind === kind);
const ownDepSpec = (rs: CapturedResource[]) => ofKind(rs, "Deployment")[0]!.inputs.spec;

const kit = (over: Partial<KitArgs> = {}): KitArgs => ({
  namespace: "ns",
  images: { cli: "cli:1", gateway: "gw:1" },
  gateway: deploymentGatewaySchema.parse({}),
  lifecycle: deploymentLifecycleSchema.parse({}),
  secretSeed: "test-seed-0123456789abcdef0123456789abcdef",
  ...over,
});
const server = (args: Partial<ConstructorParameters<typeof CliServer>[1]> = {}, opts?: pulumi.ComponentResourceOptions) =>
  new CliServer("s", { serverId: "0", namespace: "ns", instance: "copilot", image: "cli:1", connectionToken: "token-0123456789", storage: { sizeGi: 1 }, ...args }, opts);
const runtime = (store: "memory" | "redis", ttl = 3600) =>
  gatewayRuntime({
    image: "gw:1",
    config: { topology: "shared", store, backends: { kind: "static", servers: [staticBackend("0", "a:1")] }, lifecycle: { sessionTtlSeconds: ttl } },
    secrets: { backendTokens: { "0": { name: "t", key: "k" } }, ...(store === "redis" ? { redisUrl: { name: "r", key: "url" } } : {}) },
  });

describe("CliServer", () => {
  it("refuses secret-looking extra env and names that are not DNS labels", async () => {
    expect(await failure(() => server({ env: { COPILOT_OFFLINE: "true", MY_API_KEY: "x" } }))).toMatch(/env MY_API_KEY looks secret/);
    expect(await failure(() => server({ serverId: "x".repeat(60) }))).toMatch(/is not a DNS label/);
  });

  it("owns a ReadWriteOnce claim, or mounts the shared one without creating any", async () => {
    const own = await capture(() => server({ storage: { sizeGi: 3, storageClass: "fast" } }));
    expect(ofKind(own, "PersistentVolumeClaim").map((r) => r.inputs.spec)).toEqual([
      { accessModes: ["ReadWriteOnce"], storageClassName: "fast", resources: { requests: { storage: "3Gi" } } },
    ]);
    const shared = await capture(() => server({ storage: { sharedClaimName: "team-state" } }));
    expect(ofKind(shared, "PersistentVolumeClaim")).toEqual([]);
    const [dep] = ofKind(shared, "Deployment");
    const pod = (dep!.inputs.spec as any).template.spec;
    expect(pod.volumes[0]).toEqual({ name: "state", persistentVolumeClaim: { claimName: "team-state" } });
    // Only session-state/ is on the shared claim; COPILOT_HOME (SQLite, lock files) is the pod's own.
    const mounts = pod.containers[0].volumeMounts;
    expect(mounts).toContainEqual({ name: "private-home", mountPath: "/data/copilot" });
    expect(mounts).toContainEqual({ name: "state", mountPath: "/data/copilot/session-state", subPath: "session-state" });
    expect(pod.volumes).toContainEqual({ name: "private-home", emptyDir: { sizeLimit: "5Gi" } });
    // The shared folder is created by the pod's user before the subPath mount needs it.
    expect(pod.initContainers).toMatchObject([{ command: ["mkdir", "-p", "/data/session-state"], volumeMounts: [{ name: "state", mountPath: "/data" }] }]);
    expect((ownDepSpec(own) as any).template.spec.initContainers).toBeUndefined();
    expect((ownDepSpec(own) as any).template.spec.containers[0].volumeMounts[0]).toEqual({ name: "state", mountPath: "/data" });
  });

  it("puts the given connection token in its Secret and keeps it secret", async () => {
    const rs = await capture(() => server({ connectionToken: "given-token-0123456789" }));
    const [secret] = ofKind(rs, "Secret");
    expect(secret!.inputs.stringData).toEqual({ "connection-token": "given-token-0123456789" });
    expect(secret!.secretPaths).toEqual(["stringData"]);
  });
});

describe("gateway runtime, Gateway and SessionCleanup", () => {
  it("refuse configurations the gateway could not run with", async () => {
    const base = { image: "gw:1", config: { topology: "shared" as const, backends: { kind: "static" as const, servers: [staticBackend("0", "a:1")] } } };
    expect(() => gatewayRuntime({ ...base, secrets: { backendTokens: {} } })).toThrow(/backend 0 has no connection-token Secret/);
    expect(() => gatewayRuntime({ ...base, config: { ...base.config, store: "redis" }, secrets: { backendTokens: { "0": { name: "t", key: "k" } } } })).toThrow(/needs the Redis URL Secret/);
    expect(() => gatewayRuntime({ ...base, config: { ...base.config, backends: { kind: "spawn", cliPath: "c", homeRoot: "h" } }, secrets: { backendTokens: {} } })).toThrow(/"spawn" start local processes; on Kubernetes use static CLI servers or kind kubernetes/);
    expect(await failure(() => new Gateway("g", { namespace: "ns", instance: "c", runtime: runtime("memory"), replicas: 2, jwtSecret: "j" }))).toMatch(/2 replicas need the redis store/);
    expect(await failure(() => new Gateway("g", { namespace: "ns", instance: "c", runtime: runtime("redis"), autoscale: { min: 3, max: 2, cpuPercent: 50 }, jwtSecret: "j" }))).toMatch(/autoscale\.min 3 is above autoscale\.max 2/);
    expect(await failure(() => new SessionCleanup("c", { namespace: "ns", instance: "c", runtime: runtime("memory"), schedule: "* * * * *" }))).toMatch(/needs the redis store/);
    expect(await failure(() => new SessionCleanup("c", { namespace: "ns", instance: "c", runtime: runtime("redis", 0), schedule: "* * * * *" }))).toMatch(/sessionTtlSeconds is 0/);
  });

  it("puts every secret behind a secretKeyRef and the rest in GATEWAY_CONFIG", async () => {
    const rs = await capture(() => new Gateway("g", { namespace: "ns", instance: "c", runtime: runtime("redis"), jwtSecret: "jwt-secret-0123456789abcdef0123456789" }));
    const env: any[] = (ofKind(rs, "Deployment")[0]!.inputs.spec as any).template.spec.containers[0].env;
    expect(env.filter((e) => e.value !== undefined).map((e) => e.name)).toEqual(["GATEWAY_CONFIG"]);
    expect(env.map((e) => e.name)).toEqual(["GATEWAY_CONFIG", "CLI_TOKEN_0", "GATEWAY_REDIS_URL", "GATEWAY_JWT_SECRET"]);
    expect(parseGatewayConfig(JSON.parse(env[0].value))).toMatchObject({ store: "redis" });
    expect(ofKind(rs, "HorizontalPodAutoscaler")).toEqual([]);
    expect(ofKind(rs, "PersistentVolumeClaim")).toEqual([]);
  });
});

describe("Redis", () => {
  it("external: only a Secret holding the URL, marked secret", async () => {
    const rs = await capture(() => new Redis("r", { namespace: "ns", instance: "c", externalUrl: "rediss://:pw@host:6380" }));
    expect(rs.filter((r) => r.type.startsWith("kubernetes:")).map((r) => r.inputs.kind)).toEqual(["Secret"]);
    expect(rs.find((r) => r.inputs.kind === "Secret")!.secretPaths).toEqual(["stringData"]);
  });

  it("in-cluster: the password lives in a mounted config file, never on the command line", async () => {
    const rs = await capture(() => new Redis("r", { namespace: "ns", instance: "c", password: "redis-password-0123456789" }));
    const secret = ofKind(rs, "Secret")[0]!.inputs.stringData as Record<string, string>;
    expect(secret.password).toBe("redis-password-0123456789");
    expect(secret["redis.conf"]).toContain(`requirepass ${secret.password}`);
    expect(secret["redis.conf"]).toContain("maxmemory-policy noeviction");
    const dep = JSON.stringify(ofKind(rs, "Deployment")[0]!.inputs);
    expect(dep).not.toContain(secret.password!);
  });
});

describe("NetworkPolicies", () => {
  it("splits blocked CIDRs by address family, and adds the Redis policy only when asked", async () => {
    const rs = await capture(() => new NetworkPolicies("n", { namespace: "ns", instance: "c", redis: false, blockedEgressCidrs: ["169.254.169.254/32", "100.100.100.200/32", "fd00:ec2::254/128"] }));
    expect(ofKind(rs, "NetworkPolicy")).toHaveLength(1);
    expect((ofKind(rs, "NetworkPolicy")[0]!.inputs.spec as any).egress[0].to).toEqual([
      { ipBlock: { cidr: "0.0.0.0/0", except: ["169.254.169.254/32", "100.100.100.200/32"] } },
      { ipBlock: { cidr: "::/0", except: ["fd00:ec2::254/128"] } },
    ]);
    expect(ofKind(await capture(() => new NetworkPolicies("n", { namespace: "ns", instance: "c", redis: true })), "NetworkPolicy")).toHaveLength(2);
  });
});

describe("topologies", () => {
  it("refuse plans they cannot carry", async () => {
    expect(await failure(() => new IsolatedPerUser("i", { ...kit(), tenants: [] }))).toMatch(/at least one tenant/);
    expect(await failure(() => new IsolatedPerUser("i", { ...kit(), tenants: [{ user: "a" }, { user: "a" }] }))).toMatch(/duplicate server ids t-[0-9a-f]{12}, t-[0-9a-f]{12}/);
    expect(await failure(() => new StickyCluster("s", { ...kit(), servers: 0 }))).toMatch(/servers must be a positive integer/);
    expect(await failure(() => new SharedStorageCluster("s", { ...kit(), servers: 2, sharedStorage: { storageClass: "" } }))).toMatch(/must name a ReadWriteMany storage class/);
  });

  it("an external Redis URL replaces the in-cluster Redis and its NetworkPolicy", async () => {
    const rs = await capture(() => new SharedStorageCluster("s", { ...kit(), servers: 2, sharedStorage: { storageClass: "nfs" }, redis: { externalUrl: "redis://x:6379" } }));
    expect(ofKind(rs, "Deployment").map((r) => (r.inputs.metadata as any).name).sort()).toEqual(["copilot-cli-0", "copilot-cli-1", "copilot-gateway"]);
    expect(ofKind(rs, "NetworkPolicy").map((r) => (r.inputs.metadata as any).name)).toEqual(["copilot-cli-servers"]);
    expect(rs.filter((r) => r.type.startsWith("copilot-scale-kit:k8s:")).map((r) => r.type.split(":").at(-1)).sort()).toEqual(
      ["CliServer", "CliServer", "Gateway", "NetworkPolicies", "Redis", "SessionCleanup", "SharedStorageCluster"],
    );
  });
});

describe("derived secrets", () => {
  const secretsOf = async (seed: string) => {
    const rs = await capture(() => new StickyCluster("s", { ...kit({ secretSeed: seed }), servers: 2 }));
    return Object.fromEntries(ofKind(rs, "Secret").map((r) => [(r.inputs.metadata as any).name, r.inputs.stringData]));
  };

  it("derive every token and the JWT secret from the seed: distinct per purpose, stable per seed, all secret", async () => {
    const a = await secretsOf("seed-A-0123456789abcdef0123456789abcdef");
    const tokens = [a["copilot-cli-0-token"]["connection-token"], a["copilot-cli-1-token"]["connection-token"], a["copilot-gateway-auth"]["jwt-secret"]];
    expect(tokens.every((t: string) => /^[0-9a-f]{64}$/.test(t))).toBe(true);
    expect(new Set(tokens).size).toBe(3);
    expect(await secretsOf("seed-A-0123456789abcdef0123456789abcdef")).toEqual(a);
    const b = await secretsOf("seed-B-0123456789abcdef0123456789abcdef");
    expect(b["copilot-cli-0-token"]["connection-token"]).not.toBe(tokens[0]);
  });
});

describe("secret rotation", () => {
  const checksums = async (over: Partial<KitArgs>) => {
    const rs = await capture(() => new SharedStorageCluster("s", { ...kit(over), servers: 2, sharedStorage: { storageClass: "nfs" } }));
    return Object.fromEntries(
      ofKind(rs, "Deployment").map((r) => [(r.inputs.metadata as any).name, (r.inputs.spec as any).template.metadata.annotations?.["copilot-scale-kit.io/secret-checksum"]]),
    );
  };

  it("a new seed or GitHub token changes the pod templates that read them, so the pods roll", async () => {
    const a = await checksums({ secretSeed: "seed-A-0123456789abcdef0123456789abcdef" });
    expect(Object.keys(a).sort()).toEqual(["copilot-cli-0", "copilot-cli-1", "copilot-gateway", "copilot-redis"]);
    expect(Object.values(a).every((v) => typeof v === "string" && /^[0-9a-f]{16}$/.test(v))).toBe(true);
    expect(await checksums({ secretSeed: "seed-A-0123456789abcdef0123456789abcdef" })).toEqual(a);
    const b = await checksums({ secretSeed: "seed-B-0123456789abcdef0123456789abcdef" });
    for (const name of Object.keys(a)) expect(b[name], name).not.toBe(a[name]);
    const token = await checksums({ secretSeed: "seed-A-0123456789abcdef0123456789abcdef", githubToken: "ghp_rotated0123456789" });
    expect(token["copilot-cli-0"]).not.toBe(a["copilot-cli-0"]);
    expect(token["copilot-gateway"]).not.toBe(a["copilot-gateway"]);
    expect(token["copilot-redis"]).toBe(a["copilot-redis"]);
  });
});
