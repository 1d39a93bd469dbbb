import { readFileSync } from "node:fs";
import { jwtVerify } from "jose";
import { EnvVar } from "kubernetes-models/v1/EnvVar";
import { PodSecurityContext } from "kubernetes-models/v1/PodSecurityContext";
import { SecurityContext } from "kubernetes-models/v1/SecurityContext";
import { Volume } from "kubernetes-models/v1/Volume";
import { VolumeMount } from "kubernetes-models/v1/VolumeMount";
import { describe, expect, it } from "vitest";
import { runWithMocks, type CapturedResource } from "../../testing/pulumi-mocks.js";
import type { TargetDescriptor } from "../../topology/target.js";
import type { LoadConfig } from "./config.js";
import { bundleScripts, CONFIG_MAP_LIMIT_BYTES, K6_VERSION, LoadTest, type LoadTestArgs } from "./load-test.js";

const secret = "j".repeat(48);
const target: TargetDescriptor = {
  version: 1,
  name: "prod-sticky",
  topology: "sticky",
  platform: "kubernetes",
  gatewayUrls: ["https://copilot.example.com"],
  auth: { kind: "jwt-hs256", secret },
  features: ["sessions", "persistence", "ephemeral-chat", "sticky-routing"],
  settings: { idleTimeoutSeconds: 1800, sessionTtlSeconds: 604800, lockTtlSeconds: 30, lockWaitSeconds: 30, maxSessionsPerServer: 200, cliIdleTimeoutSeconds: 0 },
  servers: [
    { id: "cli-0", address: "cli-0.copilot:4321", connectionToken: "backend-token-0" },
    { id: "cli-1", address: "cli-1.copilot:4321", connectionToken: "backend-token-1" },
  ],
};

async function render(over: Partial<LoadTestArgs> = {}) {
  return runWithMocks(
    async () =>
      new LoadTest("load", {
        namespace: "copilot",
        target: JSON.stringify(target),
        scenario: "chat-ramp",
        runId: "r20260115",
        parallelism: 4,
        gatewayUrls: ["http://copilot-gateway.copilot.svc.cluster.local:8080"],
        ...over,
      }),
    { config: {} },
  );
}

const byType = (rs: CapturedResource[], type: string) => rs.filter((r) => r.type === type);
type Spec = {
  parallelism: number;
  separate: boolean;
  arguments: string;
  cleanup?: string;
  script: { configMap?: { name: string; file: string }; localFile?: string };
  runner: {
    image: string;
    env: { name: string; value?: string; valueFrom?: unknown }[];
    volumes: Record<string, unknown>[];
    volumeMounts: { name: string; mountPath: string }[];
    securityContext: Record<string, unknown>;
    containerSecurityContext: Record<string, unknown>;
  };
  starter: { securityContext: Record<string, unknown>; containerSecurityContext: Record<string, unknown> };
};
const testRunOf = (rs: CapturedResource[]) => {
  const [tr] = byType(rs, "kubernetes:k6.io/v1alpha1:TestRun");
  expect(tr).toBeDefined();
  return { metadata: tr!.inputs.metadata as { name: string; namespace: string }, spec: tr!.inputs.spec as Spec };
};
const envOf = (spec: Spec) => Object.fromEntries(spec.runner.env.map((e) => [e.name, e.value]));

describe("LoadTest", () => {
  it("registers a k6-operator TestRun with scripts in one ConfigMap and the load config in a Secret", async () => {
    const { resources, exports } = await render();
    expect(resources.some((r) => r.type === "copilot-scale-kit:k8s:LoadTest")).toBe(true);
    expect(exports.scriptSource).toBe("configMap");

    const [cm, ...more] = byType(resources, "kubernetes:core/v1:ConfigMap");
    expect(more).toHaveLength(0);
    const data = cm!.inputs.data as Record<string, string>;
    expect(Object.keys(data).sort()).toEqual(["chat-ramp.js", "checks.ts", "k6-lib.js", "summary.ts"]);
    expect(data["chat-ramp.js"]).toContain("turn number rises by one per message");

    const { metadata, spec } = testRunOf(resources);
    expect(metadata).toMatchObject({ name: "load-r20260115", namespace: "copilot" });
    expect(spec.parallelism).toBe(4);
    expect(spec.script).toEqual({ configMap: { name: (cm!.inputs.metadata as { name: string }).name, file: "chat-ramp.js" } });
    expect(spec.runner.image).toBe(`grafana/k6:${K6_VERSION}`);
    expect(spec.arguments).toBe("--tag testid=r20260115");
    expect(spec.cleanup).toBeUndefined();

    // The runners read the config from the mounted Secret and know they are one of several.
    const env = envOf(spec);
    expect(env).toMatchObject({ LOAD_CONFIG: "/etc/copilot-load/config.json", LOAD_DISTRIBUTED: "1" });
    // Each runner tags its samples with its pod name (downward API), so remote-written series stay apart.
    expect(spec.runner.env.find((e) => e.name === "LOAD_RUNNER")?.valueFrom).toEqual({ fieldRef: { fieldPath: "metadata.name" } });
    const mount = spec.runner.volumeMounts.find((m) => m.mountPath === "/etc/copilot-load")!;
    const volume = spec.runner.volumes.find((v) => v.name === mount.name) as { secret: { secretName: string } };
    const [sec] = byType(resources, "kubernetes:core/v1:Secret");
    expect(volume.secret.secretName).toBe((sec!.inputs.metadata as { name: string }).name);
    // Marked secret (the engine may report the envelope on stringData or on the key).
    expect(sec!.secretPaths.some((p) => "stringData.config.json".startsWith(p))).toBe(true);
    const cfg = JSON.parse((sec!.inputs.stringData as Record<string, string>)["config.json"]!) as LoadConfig;
    expect(cfg).toMatchObject({ scenario: "chat-ramp", profile: "full", runId: "r20260115", servers: ["cli-0", "cli-1"] });
    expect(cfg.gatewayUrls).toEqual(["http://copilot-gateway.copilot.svc.cluster.local:8080"]);
    expect(cfg.users).toHaveLength(200);
    const { payload } = await jwtVerify(cfg.users[199]!.token, new TextEncoder().encode(secret));
    expect(payload.sub).toBe("load-r20260115-u199");

    // Nothing secret outside the Secret: no tokens in the ConfigMap or the TestRun.
    const visible = JSON.stringify([cm!.inputs, testRunOf(resources)]);
    for (const s of [secret, cfg.users[0]!.token, "backend-token-0"]) expect(visible).not.toContain(s);
  });

  it("renders runner pod fields that are valid Kubernetes objects and run restricted", async () => {
    const { spec } = testRunOf((await render()).resources);
    for (const v of spec.runner.volumes) expect(() => new Volume(v as never).validate()).not.toThrow();
    for (const m of spec.runner.volumeMounts) expect(() => new VolumeMount(m).validate()).not.toThrow();
    for (const e of spec.runner.env) expect(() => new EnvVar(e as never).validate()).not.toThrow();
    expect(() => new PodSecurityContext(spec.runner.securityContext as never).validate()).not.toThrow();
    expect(() => new SecurityContext(spec.runner.containerSecurityContext as never).validate()).not.toThrow();
    expect(spec.runner.securityContext).toMatchObject({ runAsNonRoot: true });
    expect(spec.runner.containerSecurityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    // The starter pod too: a restricted namespace refuses a pod without these.
    expect(() => new PodSecurityContext(spec.starter.securityContext as never).validate()).not.toThrow();
    expect(spec.starter.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(spec.starter.containerSecurityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    // Writable /tmp for handleSummary under a read-only root.
    expect(spec.runner.volumeMounts.map((m) => m.mountPath)).toContain("/tmp");
    expect(envOf(spec).LOAD_REPORT_DIR).toMatch(/^\/tmp\//);
  });

  it("remote-writes to Prometheus with native histograms so runners' percentiles can be merged", async () => {
    const { spec } = testRunOf((await render({ prometheus: { remoteWriteUrl: "http://prom.monitoring:9090/api/v1/write" }, parallelism: 1, cleanupAfterRun: true })).resources);
    expect(spec.arguments).toBe("--tag testid=r20260115 --out experimental-prometheus-rw");
    expect(envOf(spec)).toMatchObject({
      K6_PROMETHEUS_RW_SERVER_URL: "http://prom.monitoring:9090/api/v1/write",
      K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM: "true",
      LOAD_DISTRIBUTED: "0",
    });
    expect(spec.cleanup).toBe("post");
  });

  it("moves scripts larger than one ConfigMap into a projected volume of several", async () => {
    const corpus = "prompt line\n".repeat(Math.ceil((1.5 * CONFIG_MAP_LIMIT_BYTES) / 12) / 2);
    const { resources, exports } = await render({ extraFiles: { "corpus-a.txt": corpus, "corpus-b.txt": corpus } });
    expect(exports.scriptSource).toBe("volume");
    const cms = byType(resources, "kubernetes:core/v1:ConfigMap");
    expect(cms.length).toBeGreaterThanOrEqual(2);
    const all: Record<string, string> = {};
    for (const cm of cms) {
      const data = cm.inputs.data as Record<string, string>;
      const size = Object.entries(data).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
      expect(size).toBeLessThanOrEqual(CONFIG_MAP_LIMIT_BYTES);
      Object.assign(all, data);
    }
    expect(Object.keys(all).sort()).toEqual(["chat-ramp.js", "checks.ts", "corpus-a.txt", "corpus-b.txt", "k6-lib.js", "summary.ts"]);
    const { spec } = testRunOf(resources);
    expect(spec.script).toEqual({ localFile: "/load-scripts/chat-ramp.js" });
    const vol = spec.runner.volumes.find((v) => v.name === "load-scripts") as { projected: { sources: { configMap: { name: string } }[] } };
    expect(vol.projected.sources.map((s) => s.configMap.name).sort()).toEqual(cms.map((c) => (c.inputs.metadata as { name: string }).name).sort());
    expect(spec.runner.volumeMounts).toContainEqual({ name: "load-scripts", mountPath: "/load-scripts", readOnly: true });
  });

  it("refuses bad arguments with the key and the fix", () => {
    const args = { namespace: "n", target: "{}", scenario: "soak" as const, runId: "r1" };
    expect(() => new LoadTest("x", { ...args, parallelism: 0 })).toThrow(/parallelism must be an integer >= 1/);
    expect(() => new LoadTest("x", { ...args, runId: "Run_1" })).toThrow(/runId "Run_1" must be/);
    expect(() => bundleScripts("soak", { "k6-lib.js": "x" })).toThrow(/would replace a kit script/);
    expect(() => bundleScripts("soak", { "a/b.txt": "x" })).toThrow(/must be a flat file name/);
    expect(() => bundleScripts("soak", { "big.txt": "x".repeat(CONFIG_MAP_LIMIT_BYTES) })).toThrow(/big.txt is \d+ bytes, more than one ConfigMap holds/);
  });

  it("pins the same k6 as scripts/install-k6.sh", () => {
    const script = readFileSync(new URL("../install-k6.sh", import.meta.url), "utf8");
    expect(script).toContain(`K6_VERSION="v${K6_VERSION}"`);
  });
});
