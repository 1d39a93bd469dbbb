/**
 * The Kubernetes stack's config errors that need its secrets as well as its config (model access,
 * a JWT secret beside OIDC, per-user identity, an external Redis): each names the key and the fix.
 */
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE } from "./config.js";
import type { KubernetesStackConfig } from "./kubernetes.js";

export function checkSecretsAgainstConfig(cfg: KubernetesStackConfig, secrets: pulumi.Config): void {
  if (secrets.getSecret("githubToken") === undefined && !cfg.gateway.providerBaseUrl) {
    throw new Error(
      `stack ${pulumi.getStack()}: the CLI servers have no model access: set ${CONFIG_NAMESPACE}:githubToken ` +
        `(GitHub-hosted models; fix: pulumi config set --secret ${CONFIG_NAMESPACE}:githubToken <token>) or gateway.providerBaseUrl for a BYOK provider`,
    );
  }
  if (cfg.auth.kind === "oidc" && secrets.getSecret("jwtSecret") !== undefined) {
    throw new Error(
      `${CONFIG_NAMESPACE}:jwtSecret is set but ${CONFIG_NAMESPACE}:auth.kind is oidc: tokens are verified with the provider's keys, and a shared secret would let its holder be any user ` +
        `(fix: pulumi config rm ${CONFIG_NAMESPACE}:jwtSecret)`,
    );
  }
  if (cfg.identity.source !== "none" && cfg.gateway.providerBaseUrl) {
    throw new Error(
      `${CONFIG_NAMESPACE}:identity.source is ${cfg.identity.source} but gateway.providerBaseUrl is set: the CLI refuses a session's GitHub token beside a BYOK provider ` +
        `("Cannot specify both gitHubToken and provider in session.create", CLI 1.0.102) (fix: use GitHub-hosted models, or set identity.source none)`,
    );
  }
  if (cfg.identity.source === "http" && secrets.getSecret("identityHookToken") === undefined) {
    throw new Error(
      `${CONFIG_NAMESPACE}:identity.source is http but ${CONFIG_NAMESPACE}:identityHookToken is not set: the hook would hand any caller users' tokens ` +
        `(fix: pulumi config set --secret ${CONFIG_NAMESPACE}:identityHookToken <token your hook checks>)`,
    );
  }
  if (cfg.redis.external && secrets.getSecret("redisUrl") === undefined) {
    throw new Error(
      `${CONFIG_NAMESPACE}:redis.external is true but ${CONFIG_NAMESPACE}:redisUrl is not set ` +
        `(fix: pulumi config set --secret ${CONFIG_NAMESPACE}:redisUrl rediss://:<password>@<host>:6380/0)`,
    );
  }
}
