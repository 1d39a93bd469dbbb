/**
 * shared: one CLI server for everyone; the gateway keeps per-user session ownership.
 */
import type * as pulumi from "@pulumi/pulumi";
import { type KitArgs, KitTopology, singleServerPlan } from "./topology.js";

export type SharedCliArgs = KitArgs;

export class SharedCli extends KitTopology {
  constructor(name: string, args: SharedCliArgs, opts?: pulumi.ComponentResourceOptions) {
    super(
      "copilot-scale-kit:k8s:SharedCli",
      name,
      "shared",
      args,
      () => singleServerPlan(args),
      opts,
    );
  }
}
