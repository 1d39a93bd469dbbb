/**
 * AciGatewayGroup: the session gateway as an ACI container group. Its backend list is wired from
 * the CLI groups' addresses (FQDN or private IP); the non-secret configuration travels as JSON in
 * GATEWAY_CONFIG and every secret in its own secure env var. Sidecars (the CLI itself for the
 * shared topology, Redis for session leases) share the group's network namespace and reach each
 * other on 127.0.0.1.
 */
import * as pulumi from "@pulumi/pulumi";
import * as containerinstance from "@pulumi/azure-native/containerinstance/index.js";
import type { input } from "@pulumi/azure-native/types/index.js";
import {
  GATEWAY_CONFIG_ENV,
  GATEWAY_SECRET_ENV,
  type GatewayConfig,
  type GatewayConfigInput,
  backendTokenEnv,
  parseGatewayConfig,
} from "../../topology/index.js";
import { GATEWAY_ADMIN_PORT, GATEWAY_PATHS, GATEWAY_PORT } from "./contract.js";
import { type GroupArgs, containerGroupArgs, groupHost } from "./group-options.js";

export interface GatewayBackend {
  id: string;
  /** host:port of the CLI server. */
  address: pulumi.Input<string>;
  /** Secret: the server's connection token, delivered as CLI_TOKEN_<ID>. */
  connectionToken: pulumi.Input<string>;
  /** isolated: the only user routed to this server. */
  user?: string;
}

export interface GatewaySecrets {
  jwtSecret: pulumi.Input<string>;
  redisUrl?: pulumi.Input<string>;
  providerApiKey?: pulumi.Input<string>;
  githubToken?: pulumi.Input<string>;
}

export interface AciGatewayGroupArgs extends GroupArgs {
  /** Everything but the backends, which come from `backends`. Validated with gatewayConfigSchema. */
  config: Omit<GatewayConfigInput, "backends">;
  backends: GatewayBackend[];
  secrets: GatewaySecrets;
  /** Containers that run beside the gateway in the same group. */
  sidecars?: input.containerinstance.ContainerArgs[];
  volumes?: input.containerinstance.VolumeArgs[];
  /** Mounts of `volumes` into the gateway container itself (e.g. the registry snapshot of the memory store). */
  volumeMounts?: input.containerinstance.VolumeMountArgs[];
}

export class AciGatewayGroup extends pulumi.ComponentResource {
  readonly group: containerinstance.ContainerGroup;
  /** The validated configuration the gateway runs with (GATEWAY_CONFIG), defaults filled in. */
  readonly config: pulumi.Output<GatewayConfig>;
  /** http://<fqdn or private IP>:8080 */
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: AciGatewayGroupArgs, opts?: pulumi.ComponentResourceOptions) {
    if (args.backends.length === 0) throw new Error(`AciGatewayGroup ${name}: at least one backend is needed`);
    const ids = new Set(args.backends.map((b) => b.id));
    if (ids.size !== args.backends.length) throw new Error(`AciGatewayGroup ${name}: backend ids must be unique`);
    super("copilot-scale-kit:azure:AciGatewayGroup", name, {}, opts);

    // Addresses are outputs of other groups; the config is rebuilt (and re-validated) when they change.
    this.config = pulumi
      .all(args.backends.map((b) => b.address))
      .apply((addresses) => staticGatewayConfig(args.config, args.backends.map((b, i) => ({ id: b.id, user: b.user, address: addresses[i]! }))));
    const configJson = this.config.apply((c) => JSON.stringify(c));

    const secretEnv = (name: string, value: pulumi.Input<string> | undefined): input.containerinstance.EnvironmentVariableArgs[] =>
      value === undefined ? [] : [{ name, secureValue: value }];
    const env: input.containerinstance.EnvironmentVariableArgs[] = [
      { name: GATEWAY_CONFIG_ENV, value: configJson },
      ...secretEnv(GATEWAY_SECRET_ENV.jwtSecret, args.secrets.jwtSecret),
      ...secretEnv(GATEWAY_SECRET_ENV.redisUrl, args.secrets.redisUrl),
      ...secretEnv(GATEWAY_SECRET_ENV.providerApiKey, args.secrets.providerApiKey),
      ...secretEnv(GATEWAY_SECRET_ENV.githubToken, args.secrets.githubToken),
      ...args.backends.flatMap((b) => secretEnv(backendTokenEnv(b.id), b.connectionToken)),
    ];

    const gateway: input.containerinstance.ContainerArgs = {
      name: "gateway",
      image: args.image,
      // The admin port (probes) is the container's, never the group's public IP's.
      ports: [
        { port: GATEWAY_PORT, protocol: "TCP" },
        { port: GATEWAY_ADMIN_PORT, protocol: "TCP" },
      ],
      environmentVariables: env,
      volumeMounts: args.volumeMounts,
      resources: { requests: { cpu: args.cpu ?? 1, memoryInGB: args.memoryGb ?? 1 } },
      // /readyz?backends=any is 503 while draining or while no CLI backend answers a protocol ping.
      readinessProbe: { httpGet: { path: GATEWAY_PATHS.readiness, port: GATEWAY_ADMIN_PORT, scheme: "http" }, initialDelaySeconds: 5, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
      livenessProbe: { httpGet: { path: GATEWAY_PATHS.liveness, port: GATEWAY_ADMIN_PORT, scheme: "http" }, initialDelaySeconds: 15, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
    };

    // Only the gateway port is exposed; sidecars are reachable on 127.0.0.1 inside the group.
    this.group = new containerinstance.ContainerGroup(
      name,
      containerGroupArgs(args, [GATEWAY_PORT], [gateway, ...(args.sidecars ?? [])], args.volumes),
      { parent: this },
    );
    this.url = pulumi.interpolate`http://${groupHost(args.network, this.group.ipAddress)}:${GATEWAY_PORT}`;
    this.registerOutputs({ url: this.url });
  }
}

/** The gateway configuration for static backends at known addresses, validated against gatewayConfigSchema. */
export function staticGatewayConfig(config: Omit<GatewayConfigInput, "backends">, servers: { id: string; address: string; user?: string }[]): GatewayConfig {
  return parseGatewayConfig({
    ...config,
    port: GATEWAY_PORT,
    admin: { port: GATEWAY_ADMIN_PORT },
    backends: { kind: "static", servers: servers.map((s) => ({ id: s.id, address: s.address, tokenEnv: backendTokenEnv(s.id), user: s.user })) },
  });
}

export const REDIS_SIDECAR_PORT = 6379;
/** The URL the gateway uses to reach a Redis sidecar in its own group. */
export const REDIS_SIDECAR_URL = `redis://127.0.0.1:${REDIS_SIDECAR_PORT}`;

/**
 * Redis beside the gateway for session leases when no external Redis is configured. Bound to
 * loopback, no persistence: leases are short-lived and die with the gateway that holds them.
 */
export function redisSidecar(image: pulumi.Input<string>): input.containerinstance.ContainerArgs {
  const ping = { exec: { command: ["redis-cli", "-p", String(REDIS_SIDECAR_PORT), "ping"] } };
  return {
    name: "redis",
    image,
    // ACI's command replaces the entrypoint: keep the image's, which drops root before starting Redis.
    command: ["docker-entrypoint.sh", "redis-server", "--bind", "127.0.0.1", "--port", String(REDIS_SIDECAR_PORT), "--save", "", "--appendonly", "no"],
    resources: { requests: { cpu: 0.25, memoryInGB: 0.5 } },
    readinessProbe: { ...ping, initialDelaySeconds: 2, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
    livenessProbe: { ...ping, initialDelaySeconds: 10, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
  };
}
