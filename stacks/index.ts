/**
 * The Pulumi program: `pulumi up --stack <env>` builds the topology its stack file names,
 * on the platform it names. Config lives in stacks/Pulumi.<env>.yaml (stackConfigDir).
 */
import { program } from "./program.js";

const deployed = await program();

/** Base URL of the gateway (one per replica set; the Service or DNS name in front of it). */
export const gatewayUrl = deployed.gatewayUrl;
/** The CLI servers the gateway routes to: ids and addresses, no tokens. */
export const servers = deployed.servers;
/** Conformance target descriptor (topology/target.ts); secret: it carries the auth secret and tokens. */
export const target = deployed.target;
