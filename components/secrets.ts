/**
 * Secrets derived from one seed the operator sets (`pulumi config set --secret
 * copilot-scale-kit:secretSeed "$(openssl rand -hex 32)"`): each connection token, the JWT secret
 * and the Redis password is HMAC-SHA256(seed, purpose). The program then needs no random provider
 * (none can be built from the package registries), values are stable across `pulumi up`, and
 * rotating the seed rotates every derived secret at once.
 */
import { createHmac } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

export function deriveSecret(seed: pulumi.Input<string>, purpose: string): pulumi.Output<string> {
  return pulumi.secret(pulumi.output(seed).apply((s) => createHmac("sha256", s).update(`copilot-scale-kit/${purpose}`).digest("hex")));
}
