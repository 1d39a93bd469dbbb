import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { gatewayConfigSchema } from "../../topology/index.js";
import { resolveOutput, runWithMocks } from "../../testing/pulumi-mocks.js";
import { azureState } from "../../testing/aci-mocks.js";
import { recordLeafSecrets } from "../../testing/leaf-secrets.js";
import { AciGatewayGroup, type AciGatewayGroupArgs, staticGatewayConfig, redisSidecar } from "./gateway-group.js";

type Env = { name: string; value?: string; secureValue?: string };
const base: AciGatewayGroupArgs = {
  resourceGroupName: "rg",
  location: "westeurope",
  image: "acr.example.io/gateway:1",
  network: { kind: "public", dnsNameLabel: "copilot-dev" },
  config: { topology: "shared-storage", store: "redis", lifecycle: { idleTimeoutSeconds: 60 } },
  backends: [
    { id: "cli-0", address: pulumi.output("cli0.example.azurecontainer.io:4321"), connectionToken: pulumi.secret("token-zero-0123456789") },
    { id: "cli-1", address: "cli1.example.azurecontainer.io:4321", connectionToken: pulumi.secret("token-one-0123456789") },
  ],
  secrets: { jwtSecret: pulumi.secret("jwt-secret-0123456789-0123456789-0123456789"), redisUrl: pulumi.secret("redis://127.0.0.1:6379") },
  sidecars: [redisSidecar("redis:7.4-alpine")],
};

async function build(args: Partial<AciGatewayGroupArgs>) {
  const recorder = recordLeafSecrets();
  try {
    const run = await runWithMocks(async () => ({ url: new AciGatewayGroup("gateway", { ...base, ...args }).url }), { config: {}, state: azureState });
    const group = run.resources.find((r) => r.type === "azure-native:containerinstance:ContainerGroup")!;
    return { group, url: await resolveOutput(run.exports.url), leaf: recorder.paths.get(`${group.type}/${group.name}`)! };
  } finally {
    recorder.restore();
  }
}

describe("AciGatewayGroup", () => {
  it("wires the backends into GATEWAY_CONFIG and each token into its own secure env var", async () => {
    const { group, leaf } = await build({});
    const [gateway, redis] = group.inputs.containers as { name: string; environmentVariables: Env[] }[];
    const env = gateway!.environmentVariables;
    const config = gatewayConfigSchema.parse(JSON.parse(env.find((e) => e.name === "GATEWAY_CONFIG")!.value!));
    expect(config.port).toBe(8080);
    expect(config.lifecycle.idleTimeoutSeconds).toBe(60);
    expect(config.backends).toEqual({
      kind: "static",
      servers: [
        { id: "cli-0", address: "cli0.example.azurecontainer.io:4321", tokenEnv: "CLI_TOKEN_CLI_0" },
        { id: "cli-1", address: "cli1.example.azurecontainer.io:4321", tokenEnv: "CLI_TOKEN_CLI_1" },
      ],
    });
    expect(env.filter((e) => e.secureValue !== undefined).map((e) => [e.name, e.secureValue])).toEqual([
      ["GATEWAY_JWT_SECRET", "jwt-secret-0123456789-0123456789-0123456789"],
      ["GATEWAY_REDIS_URL", "redis://127.0.0.1:6379"],
      ["CLI_TOKEN_CLI_0", "token-zero-0123456789"],
      ["CLI_TOKEN_CLI_1", "token-one-0123456789"],
    ]);
    expect(leaf.filter((p) => p.startsWith("containers.0.")).sort()).toEqual(
      [1, 2, 3, 4].map((i) => `containers.0.environmentVariables.${i}.secureValue`),
    );
    expect(redis!.name).toBe("redis");
  });

  it("exposes only the gateway port and probes /healthz and /readyz on the admin port, which the group does not expose", async () => {
    const { group, url } = await build({});
    expect(group.inputs.ipAddress).toMatchObject({ type: "Public", ports: [{ port: 8080, protocol: "TCP" }] });
    const [gateway] = group.inputs.containers as Record<string, unknown>[];
    expect(gateway).toMatchObject({
      livenessProbe: { httpGet: { path: "/healthz", port: 9090, scheme: "http" } },
      readinessProbe: { httpGet: { path: "/readyz?backends=any", port: 9090, scheme: "http" } },
    });
    expect(url).toEqual({ value: expect.stringMatching(/^http:\/\/copilot-dev\.[0-9a-f]+\.westeurope\.azurecontainer\.io:8080$/), secret: false });
  });

  it("refuses an invalid backend list or address", async () => {
    await expect(build({ backends: [] })).rejects.toThrow(/at least one backend/);
    const dup = { id: "cli-0", address: "a:1", connectionToken: "t" };
    await expect(build({ backends: [dup, dup] })).rejects.toThrow(/backend ids must be unique/);
    expect(() => staticGatewayConfig(base.config, [{ id: "cli-0", address: "no port" }])).toThrow(/invalid gateway config:\s+backends\.servers\.0\.address: must be host:port/);
    expect(() => staticGatewayConfig({ ...base.config, topology: "nope" as never }, [{ id: "cli-0", address: "a:1" }])).toThrow(/topology/);
  });

  it("runs Redis on loopback only, with probes and without persistence", () => {
    const redis = redisSidecar("redis:7.4-alpine");
    expect(redis.command).toEqual(["docker-entrypoint.sh", "redis-server", "--bind", "127.0.0.1", "--port", "6379", "--save", "", "--appendonly", "no"]);
    expect(redis.ports).toBeUndefined();
    expect(redis.livenessProbe).toMatchObject({ exec: { command: ["redis-cli", "-p", "6379", "ping"] } });
    expect(redis.readinessProbe).toMatchObject({ exec: { command: ["redis-cli", "-p", "6379", "ping"] } });
  });
});
