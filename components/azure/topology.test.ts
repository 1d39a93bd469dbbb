import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { deploymentGatewaySchema, deploymentLifecycleSchema } from "../../topology/deployment.js";
import { azureCall, azureState } from "../../testing/aci-mocks.js";
import { resolveOutput, runWithMocks } from "../../testing/pulumi-mocks.js";
import { AciTopology, type AciTopologyArgs } from "./topology.js";

type Container = { name: string; environmentVariables?: { name: string; secureValue?: string }[] };

const base: AciTopologyArgs = {
  topology: "shared-storage",
  location: "westeurope",
  dnsNameLabel: "copilot-test",
  network: { mode: "vnet", addressPrefix: "10.42.0.0/16", subnetPrefix: "10.42.0.0/24" },
  images: { cli: "acr.example.io/cli:1", gateway: "acr.example.io/gateway:1" },
  cli: { cpu: 1, memoryGb: 2, restartPolicy: "Always" },
  gatewayGroup: { cpu: 1, memoryGb: 1 },
  storage: { sku: "Standard_LRS", shareQuotaGi: 100 },
  servers: 2,
  tenants: [],
  redisImage: "redis:7.4-alpine",
  tls: { mode: "none" },
  tags: {},
  secretSeed: pulumi.secret("seed-0123456789abcdef0123456789abcdef"),
  githubToken: pulumi.secret("ghp_stackWideToken0123456789"),
  replicaId: "aci-test",
  gateway: deploymentGatewaySchema.parse({}),
  lifecycle: deploymentLifecycleSchema.parse({}),
};

async function build(over: Partial<AciTopologyArgs>) {
  const run = await runWithMocks(async () => {
    const kit = new AciTopology("copilot", { ...base, ...over });
    return { store: pulumi.output(kit.store), ids: pulumi.output(kit.backends.map((b) => b.id)) };
  }, { config: {}, state: azureState, call: azureCall });
  const groups = run.resources.filter((r) => r.type === "azure-native:containerinstance:ContainerGroup");
  const containers = (name: string) => groups.find((g) => g.name === name)!.inputs.containers as Container[];
  const token = (c: Container) => c.environmentVariables?.find((e) => e.name === "COPILOT_GITHUB_TOKEN")?.secureValue;
  return { run, groups, containers, token, store: (await resolveOutput(run.exports.store)).value, ids: (await resolveOutput(run.exports.ids)).value };
}

describe("AciTopology", () => {
  it("shared-storage: a CLI group per server on one share, and a Redis sidecar beside the gateway", async () => {
    const { run, groups, containers, store, ids } = await build({});
    expect(store).toBe("redis");
    expect(ids).toEqual(["cli-0", "cli-1"]);
    expect(groups.map((g) => g.name).sort()).toEqual(["cli-cli-0", "cli-cli-1", "gateway"]);
    // One session share for both servers, and the Redis sidecar's own.
    expect(run.resources.filter((r) => r.type === "azure-native:storage:FileShare")).toHaveLength(2);
    expect(containers("gateway").map((c) => c.name)).toContain("redis");
  });

  it("isolated: one group and share per tenant, each with the tenant's own GitHub token or the stack-wide one", async () => {
    const { run, containers, token, store } = await build({
      topology: "isolated",
      tenants: [{ user: "alice", githubToken: pulumi.secret("ghp_aliceOwnToken0123456789") }, { user: "bob" }],
    });
    expect(store).toBe("memory");
    // The tenants' shares and the gateway's own registry share.
    expect(run.resources.filter((r) => r.type === "azure-native:storage:FileShare")).toHaveLength(3);
    expect(token(containers("cli-user-alice")[0]!)).toBe("ghp_aliceOwnToken0123456789");
    expect(token(containers("cli-user-bob")[0]!)).toBe("ghp_stackWideToken0123456789");
  });
});
