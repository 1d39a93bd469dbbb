/**
 * The Pulumi program as a function: builds the topology its stack config names, on the platform it
 * names. stacks/index.ts runs it for the Pulumi CLI; the Automation API runs the same function as an
 * inline program (scripts/cluster/engine.ts), since no Node language host is served here.
 */
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE } from "./config.js";
import type { StackOutputs } from "./outputs.js";

export async function program(): Promise<StackOutputs> {
  const platform = new pulumi.Config(CONFIG_NAMESPACE).get("platform");
  if (platform !== "kubernetes" && platform !== "aci") {
    throw new Error(
      `stack config ${CONFIG_NAMESPACE}:platform is ${JSON.stringify(platform)}; it must be "kubernetes" or "aci" ` +
        `(fix: pulumi config set ${CONFIG_NAMESPACE}:platform kubernetes)`,
    );
  }
  return platform === "kubernetes" ? (await import("./kubernetes.js")).deployKubernetes() : (await import("./aci.js")).deployAci();
}
