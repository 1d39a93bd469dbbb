/**
 * collaborative: rooms where many users post to one session on one CLI server. The gateway
 * serializes turns with a fenced lock in Redis, so Redis is always part of it (KitTopology adds it
 * because the topology requires a shared store).
 */
import type * as pulumi from "@pulumi/pulumi";
import { type KitArgs, KitTopology, singleServerPlan } from "./topology.js";

export type CollaborativeArgs = KitArgs;

export class Collaborative extends KitTopology {
  constructor(name: string, args: CollaborativeArgs, opts?: pulumi.ComponentResourceOptions) {
    super(
      "copilot-scale-kit:k8s:Collaborative",
      name,
      "collaborative",
      args,
      () => singleServerPlan(args),
      opts,
    );
    if (!this.redis) throw new Error("Collaborative: room locks need Redis, and none was created");
  }
}
