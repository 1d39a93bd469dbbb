/**
 * The Pulumi program: `pulumi up --stack <env>` builds the topology its stack file names,
 * on the platform it names. Config lives in stacks/Pulumi.<env>.yaml (stackConfigDir).
 */
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE } from "./config.js";

const platform = new pulumi.Config(CONFIG_NAMESPACE).get("platform");
if (platform !== "kubernetes" && platform !== "aci") {
  throw new Error(
    `stack config ${CONFIG_NAMESPACE}:platform is ${JSON.stringify(platform)}; it must be "kubernetes" or "aci" ` +
      `(fix: pulumi config set ${CONFIG_NAMESPACE}:platform kubernetes)`,
  );
}

const deployed =
  platform === "kubernetes"
    ? await (await import("./kubernetes.js")).deployKubernetes()
    : await (await import("./aci.js")).deployAci();

/** Base URL of the gateway (one per replica set; the Service or DNS name in front of it). */
export const gatewayUrl = deployed.gatewayUrl;
/** The CLI servers the gateway routes to: ids and addresses, no tokens. */
export const servers = deployed.servers;
/** Conformance target descriptor (topology/target.ts); secret: it carries the auth secret and tokens. */
export const target = deployed.target;
