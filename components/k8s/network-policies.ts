/**
 * NetworkPolicies: only backend clients (the gateway and its cleanup job) may reach CLI servers and
 * Redis, and CLI pods cannot reach the cloud metadata address (node credentials live there).
 * They take effect only where the CNI enforces NetworkPolicy (Calico, Cilium, Azure NPM, ...).
 */
import { isIPv6 } from "node:net";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CLI_PORT } from "../../images/contract.js";
import { BACKEND_CLIENT_LABEL, INSTANCE_LABEL, selectorLabels, standardLabels } from "./meta.js";
import { REDIS_PORT } from "./redis.js";

/** Instance metadata endpoints: AWS/Azure/GCP/OpenStack (IPv4) and AWS (IPv6). */
export const DEFAULT_BLOCKED_EGRESS = ["169.254.169.254/32", "fd00:ec2::254/128"];

export interface NetworkPoliciesArgs {
  namespace: string;
  instance: string;
  /** An in-cluster Redis runs and gets an ingress policy. */
  redis: boolean;
  /** CIDRs CLI pods may not reach. */
  blockedEgressCidrs?: string[];
}

export class NetworkPolicies extends pulumi.ComponentResource {
  constructor(name: string, args: NetworkPoliciesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("copilot-scale-kit:k8s:NetworkPolicies", name, {}, opts);
    const blocked = args.blockedEgressCidrs ?? DEFAULT_BLOCKED_EGRESS;
    const clients = [{ podSelector: { matchLabels: { [BACKEND_CLIENT_LABEL]: "true", [INSTANCE_LABEL]: args.instance } } }];
    const meta = (suffix: string) => ({
      name: `${args.instance}-${suffix}`,
      namespace: args.namespace,
      labels: standardLabels(args.instance, "cli-server"),
    });
    // ipBlock.except must lie inside cidr, so each address family gets its own block.
    const allExcept = (family: "v4" | "v6") => {
      const except = blocked.filter((c) => isIPv6(c.split("/")[0]!) === (family === "v6"));
      return { ipBlock: { cidr: family === "v6" ? "::/0" : "0.0.0.0/0", ...(except.length ? { except } : {}) } };
    };

    new k8s.networking.v1.NetworkPolicy(
      `${args.instance}-cli-servers`,
      {
        metadata: meta("cli-servers"),
        spec: {
          podSelector: { matchLabels: selectorLabels(args.instance, "cli-server") },
          policyTypes: ["Ingress", "Egress"],
          ingress: [{ from: clients, ports: [{ protocol: "TCP", port: CLI_PORT }] }],
          // The model provider, GitHub and tools need the internet; the metadata service is refused.
          egress: [{ to: [allExcept("v4"), allExcept("v6")] }],
        },
      },
      { parent: this },
    );

    if (args.redis) {
      new k8s.networking.v1.NetworkPolicy(
        `${args.instance}-redis`,
        {
          metadata: { ...meta("redis"), labels: standardLabels(args.instance, "redis") },
          spec: {
            podSelector: { matchLabels: selectorLabels(args.instance, "redis") },
            policyTypes: ["Ingress"],
            ingress: [{ from: clients, ports: [{ protocol: "TCP", port: REDIS_PORT }] }],
          },
        },
        { parent: this },
      );
    }
    this.registerOutputs({});
  }
}
