import { describe, expect, it } from "vitest";
import { resolveOutput, runWithMocks } from "../../testing/pulumi-mocks.js";
import { azureState } from "../../testing/aci-mocks.js";
import { AciNetwork } from "./network.js";

describe("AciNetwork", () => {
  it("creates a network and a subnet delegated to ACI, and keeps the subnet out of the network's inputs", async () => {
    const run = await runWithMocks(
      async () => ({ subnetId: new AciNetwork("net", { resourceGroupName: "rg", location: "westeurope", subnetPrefix: "10.42.8.0/24" }).subnetId }),
      { config: {}, state: azureState },
    );
    const vnet = run.resources.find((r) => r.type === "azure-native:network:VirtualNetwork")!;
    const subnet = run.resources.find((r) => r.type === "azure-native:network:Subnet")!;
    expect(vnet.inputs).toMatchObject({ addressSpace: { addressPrefixes: ["10.42.0.0/16"] }, location: "westeurope" });
    expect(vnet.inputs.subnets).toBeUndefined();
    expect(subnet.inputs).toMatchObject({
      addressPrefix: "10.42.8.0/24",
      virtualNetworkName: expect.stringMatching(/^net/),
      delegations: [{ name: "aci", serviceName: "Microsoft.ContainerInstance/containerGroups" }],
    });
    expect(await resolveOutput(run.exports.subnetId)).toEqual({ value: "net-aci-id", secret: false });
  });
});
