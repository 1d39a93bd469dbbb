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

/** Pod-template annotation whose value changes with the secrets a pod reads, so a rotation rolls it. */
export const SECRET_CHECKSUM_ANNOTATION = "copilot-scale-kit.io/secret-checksum";

/**
 * A short hash of secret values: not itself secret (it reveals nothing usable), so it may sit in a
 * pod template. Kubernetes does not restart pods when a Secret they read through env changes.
 */
export function secretChecksum(values: pulumi.Input<string | undefined>[]): pulumi.Output<string> {
  return pulumi.unsecret(
    pulumi.all(values).apply((vs) => createHmac("sha256", "copilot-scale-kit/rollout").update(vs.map((v) => v ?? "").join("\0")).digest("hex").slice(0, 16)),
  );
}
