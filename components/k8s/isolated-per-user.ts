/**
 * isolated: one CLI server per user. With `perUser`, the gateway creates each user's Pod on demand
 * (UserServers); with static tenants, each tenant gets a fixed server with its own state volume
 * and connection-token Secret. Either way the gateway routes a user only to their own server.
 */
import { createHash } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import { type KitArgs, KitTopology } from "./topology.js";

export interface IsolatedPerUserArgs extends KitArgs {
  tenants: { user: string; storageGi?: number }[];
}

/**
 * A tenant's server id: stable for the user but opaque, because server ids reach response headers
 * and metric labels, which must not carry user ids.
 */
export function tenantServerId(user: string): string {
  return `t-${createHash("sha256").update(user).digest("hex").slice(0, 12)}`;
}

export class IsolatedPerUser extends KitTopology {
  constructor(name: string, args: IsolatedPerUserArgs, opts?: pulumi.ComponentResourceOptions) {
    if (args.perUser && args.tenants.length > 0) throw new Error("IsolatedPerUser: either static tenants or perUser, not both");
    super(
      "copilot-scale-kit:k8s:IsolatedPerUser",
      name,
      "isolated",
      args,
      () => {
        if (args.tenants.length === 0) throw new Error("IsolatedPerUser: at least one tenant is needed, or perUser for a Pod per user on demand");
        return args.tenants.map((t) => ({
          id: tenantServerId(t.user),
          tenant: t.user,
          storage: { sizeGi: t.storageGi ?? args.cli?.storageGi ?? 10, storageClass: args.cli?.storageClass, retain: args.cli?.retainState },
        }));
      },
      opts,
    );
  }
}
