/**
 * AciNetwork: a virtual network with one subnet delegated to ACI, for deployments that keep the
 * CLI servers off the internet. Every group in it gets a private IP only: ACI gives a group in a
 * virtual network no public IP and no DNS label, so clients reach the gateway from inside the
 * network (peering, VPN) or through Application Gateway.
 */
import * as pulumi from "@pulumi/pulumi";
import * as network from "@pulumi/azure-native/network/index.js";

export interface AciNetworkArgs {
  resourceGroupName: pulumi.Input<string>;
  location: pulumi.Input<string>;
  /** Default 10.42.0.0/16. */
  addressPrefix?: string;
  /** Default 10.42.0.0/24: room for ~250 container groups. */
  subnetPrefix?: string;
  tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export const ACI_DELEGATION = "Microsoft.ContainerInstance/containerGroups";

export class AciNetwork extends pulumi.ComponentResource {
  readonly vnet: network.VirtualNetwork;
  readonly subnet: network.Subnet;
  readonly subnetId: pulumi.Output<string>;

  constructor(name: string, args: AciNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("copilot-scale-kit:azure:AciNetwork", name, {}, opts);
    const addressPrefix = args.addressPrefix ?? "10.42.0.0/16";
    const subnetPrefix = args.subnetPrefix ?? "10.42.0.0/24";

    this.vnet = new network.VirtualNetwork(
      name,
      {
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        addressSpace: { addressPrefixes: [addressPrefix] },
        tags: args.tags,
      },
      // The subnet is its own resource; an update of the network must not drop it.
      { parent: this, ignoreChanges: ["subnets"] },
    );
    this.subnet = new network.Subnet(
      `${name}-aci`,
      {
        resourceGroupName: args.resourceGroupName,
        virtualNetworkName: this.vnet.name,
        addressPrefix: subnetPrefix,
        delegations: [{ name: "aci", serviceName: ACI_DELEGATION }],
      },
      { parent: this },
    );
    this.subnetId = this.subnet.id;
    this.registerOutputs({ subnetId: this.subnetId });
  }
}
