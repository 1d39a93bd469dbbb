/**
 * sticky: N CLI servers, each with its own ReadWriteOnce state volume; the gateway pins each user
 * to one server by rendezvous hashing, so no state is shared between servers.
 */
import type * as pulumi from "@pulumi/pulumi";
import { type KitArgs, KitTopology } from "./topology.js";

export interface StickyClusterArgs extends KitArgs {
  servers: number;
}

export class StickyCluster extends KitTopology {
  constructor(name: string, args: StickyClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super(
      "copilot-scale-kit:k8s:StickyCluster",
      name,
      "sticky",
      args,
      () => {
        if (!Number.isInteger(args.servers) || args.servers < 1) throw new Error(`StickyCluster: servers must be a positive integer, got ${args.servers}`);
        return Array.from({ length: args.servers }, (_, i) => ({
          id: String(i),
          storage: { sizeGi: args.cli?.storageGi ?? 10, storageClass: args.cli?.storageClass, retain: args.cli?.retainState },
        }));
      },
      opts,
    );
  }
}
