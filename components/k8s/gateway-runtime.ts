/**
 * What a gateway-image container needs to run, shared by the Gateway Deployment and the
 * SessionCleanup CronJob: the validated non-secret config (GATEWAY_CONFIG) and every secret as a
 * secretKeyRef, never as a literal.
 */
import * as pulumi from "@pulumi/pulumi";
import {
  backendTokenEnv,
  GATEWAY_CONFIG_ENV,
  GATEWAY_SECRET_ENV,
  type GatewayConfig,
  type GatewayConfigInput,
  parseGatewayConfig,
} from "../../topology/gateway-config.js";
import { type EnvVar, type ImagePull, type SecretKeyRef, secretEnv } from "./meta.js";

export interface GatewaySecretRefs {
  /** Connection token of each static backend, by backend id. */
  backendTokens: Record<string, SecretKeyRef>;
  /** Required when the store is redis. */
  redisUrl?: SecretKeyRef;
  githubToken?: SecretKeyRef;
  providerApiKey?: SecretKeyRef;
  /** Per-user backends and per-user identity: the key of the server ids (GATEWAY_SERVER_ID_KEY). */
  serverIdKey?: SecretKeyRef;
  /** identity.source http: the bearer token for the operator's hook. */
  identityHookToken?: SecretKeyRef;
}

export interface GatewayRuntime {
  image: pulumi.Input<string>;
  imagePull?: ImagePull;
  /** Parsed and defaulted: exactly what the gateway will read. */
  config: GatewayConfig;
  /** GATEWAY_CONFIG plus the shared secrets (the JWT secret is the Gateway's own). */
  env: EnvVar[];
}

export function gatewayRuntime(args: {
  image: pulumi.Input<string>;
  imagePull?: ImagePull;
  config: GatewayConfigInput;
  secrets: GatewaySecretRefs;
  /** backends.kind kubernetes: the image of the per-user Pods, added to the rendered config. */
  cliImage?: pulumi.Input<string>;
}): GatewayRuntime {
  const config = parseGatewayConfig(args.config);
  if (config.backends.kind === "spawn") {
    throw new Error('gateway backends "spawn" start local processes; on Kubernetes use static CLI servers or kind kubernetes (a Pod per user)');
  }
  const backends = config.backends;
  const rendered =
    backends.kind === "kubernetes"
      ? pulumi.output(args.cliImage ?? backends.image).apply((image) => {
          if (!image) throw new Error("gatewayRuntime: backends.kind kubernetes needs cliImage");
          return JSON.stringify({ ...config, backends: { ...backends, image } });
        })
      : JSON.stringify(config);
  const env: EnvVar[] = [{ name: GATEWAY_CONFIG_ENV, value: rendered }];
  for (const server of backends.kind === "static" ? backends.servers : []) {
    const ref = args.secrets.backendTokens[server.id];
    if (!ref) throw new Error(`gateway backend ${server.id} has no connection-token Secret`);
    env.push(secretEnv(server.tokenEnv, ref));
  }
  if (config.store === "redis") {
    if (!args.secrets.redisUrl) throw new Error("the gateway's redis store needs the Redis URL Secret");
    env.push(secretEnv(GATEWAY_SECRET_ENV.redisUrl, args.secrets.redisUrl));
  }
  if (args.secrets.githubToken) env.push(secretEnv(GATEWAY_SECRET_ENV.githubToken, args.secrets.githubToken));
  if (args.secrets.providerApiKey) env.push(secretEnv(GATEWAY_SECRET_ENV.providerApiKey, args.secrets.providerApiKey));
  if (backends.kind === "kubernetes" || config.identity.source === "kubernetes") {
    if (!args.secrets.serverIdKey) throw new Error(`${backends.kind === "kubernetes" ? "per-user backends" : "identity.source kubernetes"} needs the server-id key Secret (GATEWAY_SERVER_ID_KEY)`);
    env.push(secretEnv(GATEWAY_SECRET_ENV.serverIdKey, args.secrets.serverIdKey));
  }
  if (args.secrets.identityHookToken) env.push(secretEnv(GATEWAY_SECRET_ENV.identityHookToken, args.secrets.identityHookToken));
  return { image: args.image, imagePull: args.imagePull, config, env };
}

/** A static backend entry for a CLI server, with the conventional token env var. */
export function staticBackend(id: string, address: string, user?: string) {
  return { id, address, tokenEnv: backendTokenEnv(id), ...(user ? { user } : {}) };
}
