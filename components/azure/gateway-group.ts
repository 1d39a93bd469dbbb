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
import type { TlsProxy } from "./tls-proxy.js";

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
  /** auth hs256 only. */
  jwtSecret?: pulumi.Input<string>;
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
  /** TLS in front (tls-proxy.ts): the group exposes its ports only, and the gateway listens on loopback. */
  front?: TlsProxy;
}

export class AciGatewayGroup extends pulumi.ComponentResource {
  readonly group: containerinstance.ContainerGroup;
  /** The validated configuration the gateway runs with (GATEWAY_CONFIG), defaults filled in. */
  readonly config: pulumi.Output<GatewayConfig>;
  /** https://<site> behind the TLS proxy; else http://<fqdn or private IP>:8080 */
  readonly url: pulumi.Output<string>;

  constructor(name: string, args: AciGatewayGroupArgs, opts?: pulumi.ComponentResourceOptions) {
    if (args.backends.length === 0) throw new Error(`AciGatewayGroup ${name}: at least one backend is needed`);
    const ids = new Set(args.backends.map((b) => b.id));
    if (ids.size !== args.backends.length) throw new Error(`AciGatewayGroup ${name}: backend ids must be unique`);
    super("copilot-scale-kit:azure:AciGatewayGroup", name, {}, opts);

    const front = args.front;
    // Addresses are outputs of other groups; the config is rebuilt (and re-validated) when they change.
    this.config = pulumi
      .all(args.backends.map((b) => b.address))
      .apply((addresses) => staticGatewayConfig(front ? { ...args.config, ...LOOPBACK_BEHIND_PROXY } : args.config, args.backends.map((b, i) => ({ id: b.id, user: b.user, address: addresses[i]! }))));
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

    // Only the gateway port (or the TLS proxy's) is exposed; sidecars are reachable on 127.0.0.1 inside the group.
    const containers = [gateway, ...(front ? [front.container] : []), ...(args.sidecars ?? [])];
    const volumes = [...(args.volumes ?? []), ...(front?.volumes ?? [])];
    this.group = new containerinstance.ContainerGroup(
      name,
      containerGroupArgs(args, front ? front.ports : [GATEWAY_PORT], containers, front ? volumes : args.volumes),
      { parent: this },
    );
    const host = groupHost(args.network, this.group.ipAddress);
    this.url = front ? (front.url ? pulumi.output(front.url) : pulumi.interpolate`https://${host}`) : pulumi.interpolate`http://${host}:${GATEWAY_PORT}`;
    this.registerOutputs({ url: this.url });
  }
}

/** Behind the TLS proxy the API listens on loopback only; probes still reach the admin port, which the group does not expose. */
const LOOPBACK_BEHIND_PROXY = { host: "127.0.0.1", admin: { host: "0.0.0.0" } } as const;

/** The gateway configuration for static backends at known addresses, validated against gatewayConfigSchema. */
export function staticGatewayConfig(config: Omit<GatewayConfigInput, "backends">, servers: { id: string; address: string; user?: string }[]): GatewayConfig {
  return parseGatewayConfig({
    ...config,
    port: GATEWAY_PORT,
    admin: { ...config.admin, port: GATEWAY_ADMIN_PORT },
    backends: { kind: "static", servers: servers.map((s) => ({ id: s.id, address: s.address, tokenEnv: backendTokenEnv(s.id), user: s.user })) },
  });
}

export const REDIS_SIDECAR_PORT = 6379;
/** The URL the gateway uses to reach a Redis sidecar in its own group. */
export const REDIS_SIDECAR_URL = `redis://127.0.0.1:${REDIS_SIDECAR_PORT}`;

/** Where the Redis sidecar keeps its append-only file: an Azure Files share, outside the image's /data (whose entrypoint chowns it). */
export const REDIS_DATA_PATH = "/var/lib/redis-aof";

/**
 * Redis beside the gateway when no external Redis is configured, bound to loopback. It holds the
 * session records (who owns which session) besides the leases, so with `dataVolume` it appends
 * every write to a file on that volume (fsync every second) and a restarted group keeps them.
 */
export function redisSidecar(image: pulumi.Input<string>, dataVolume?: pulumi.Input<string>): input.containerinstance.ContainerArgs {
  const ping = { exec: { command: ["redis-cli", "-p", String(REDIS_SIDECAR_PORT), "ping"] } };
  return {
    name: "redis",
    image,
    // ACI's command replaces the entrypoint: keep the image's, which drops root before starting Redis.
    command: [
      "docker-entrypoint.sh",
      "redis-server",
      "--bind",
      "127.0.0.1",
      "--port",
      String(REDIS_SIDECAR_PORT),
      "--save",
      "",
      ...(dataVolume ? ["--appendonly", "yes", "--appendfsync", "everysec", "--dir", REDIS_DATA_PATH] : ["--appendonly", "no"]),
    ],
    ...(dataVolume ? { volumeMounts: [{ name: dataVolume, mountPath: REDIS_DATA_PATH }] } : {}),
    resources: { requests: { cpu: 0.25, memoryInGB: 0.5 } },
    readinessProbe: { ...ping, initialDelaySeconds: 2, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
    livenessProbe: { ...ping, initialDelaySeconds: 10, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
  };
}
