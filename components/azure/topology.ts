/**
 * AciTopology: a kit topology on Azure Container Instances, beside Kubernetes' KitTopology.
 *   shared          one group: gateway + CLI side by side (the CLI port never leaves the group)
 *   isolated        a CLI group per static tenant, each with its own share and token
 *   shared-storage  N CLI groups on one Azure Files share; a Redis sidecar (its append-only file on a
 *                   share) holds session records and leases
 * A TLS proxy sidecar (tls-proxy.ts) fronts the gateway, which then listens on loopback only.
 * It takes typed arguments of its own; the stack (stacks/aci.ts) maps its config to them.
 */
import { dirname } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as resources from "@pulumi/azure-native/resources/index.js";
import type { input } from "@pulumi/azure-native/types/index.js";
import { type DeploymentAuth, type DeploymentGateway, type DeploymentLifecycle, gatewaySettings, TOPOLOGIES, type TopologyName } from "../../topology/index.js";
import { deriveSecret } from "../secrets.js";
import { AciCliGroup, cliContainer } from "./cli-group.js";
import { CLI_PORT, GATEWAY_STORE_FILE } from "./contract.js";
import { AciGatewayGroup, type GatewayBackend, REDIS_SIDECAR_URL, redisSidecar } from "./gateway-group.js";
import type { GroupIdentity, GroupNetwork, RegistryCredential, RestartPolicy } from "./group-options.js";
import { AciNetwork } from "./network.js";
import { azureFileVolume, SessionStorage, type ShareSpec, type StorageSku } from "./session-storage.js";
import { type AciTls, type TlsProxy, tlsProxy } from "./tls-proxy.js";

export interface AciTenant {
  user: string;
  /** Quota of the tenant's share; default `storage.shareQuotaGi`. */
  storageGi?: number;
  /** The tenant's own GitHub token; default `githubToken`. */
  githubToken?: pulumi.Input<string>;
}

export interface AciTopologyArgs {
  topology: TopologyName;
  location: string;
  /** An existing resource group; omitted = the component creates one. */
  resourceGroupName?: string;
  /** DNS label of the gateway group (public network); CLI groups append their server id. */
  dnsNameLabel: string;
  /** vnet: every group gets a private IP in `subnetId`, or in a network the component creates. */
  network: { mode: "public" | "vnet"; subnetId?: string; addressPrefix: string; subnetPrefix: string };
  images: { cli: pulumi.Input<string>; gateway: pulumi.Input<string> };
  cli: { cpu: number; memoryGb: number; restartPolicy: RestartPolicy };
  gatewayGroup: { cpu: number; memoryGb: number };
  storage: { sku: StorageSku; shareQuotaGi: number };
  /** CLI servers of shared and shared-storage (isolated has one per tenant). */
  servers: number;
  /** isolated: one CLI group per tenant. */
  tenants: AciTenant[];
  /** shared-storage: Azure Cache for Redis (a secret URL); omitted = a Redis sidecar of `redisImage`. */
  redisUrl?: pulumi.Input<string>;
  redisImage: string;
  identity?: GroupIdentity;
  registry?: RegistryCredential;
  tags: Record<string, string>;
  /** Seed of the generated secrets (connection tokens, JWT secret); see components/secrets.ts. */
  secretSeed: pulumi.Input<string>;
  /** Derived from `secretSeed` when omitted. */
  jwtSecret?: pulumi.Input<string>;
  githubToken?: pulumi.Input<string>;
  providerApiKey?: pulumi.Input<string>;
  /** The gateway's replica id (its logs, its lease holder name). */
  replicaId: string;
  gateway: DeploymentGateway;
  lifecycle: DeploymentLifecycle;
  auth?: DeploymentAuth;
  /** TLS in front of the gateway; none: plain HTTP on 8080, only in a virtual network behind TLS of your own. */
  tls: AciTls;
  /** Image of the TLS proxy; default the official caddy:2. */
  tlsProxyImage?: string;
}

/** Topologies whose CLI servers run in their own container groups (the others run the CLI beside the gateway). */
export function separateCliGroups(topology: TopologyName): boolean {
  return TOPOLOGIES[topology].routing !== "single";
}

export interface AciServerPlan {
  id: string;
  user?: string;
  /** Share the server's COPILOT_HOME lives on. */
  shareId: string;
}

/** Which CLI servers exist and which share each one mounts: shared exactly when the topology shares state. */
export function planServers(args: Pick<AciTopologyArgs, "topology" | "servers" | "tenants" | "storage">): { servers: AciServerPlan[]; shares: ShareSpec[] } {
  const quota = args.storage.shareQuotaGi;
  if (TOPOLOGIES[args.topology].routing === "per-user") {
    const servers = args.tenants.map((t) => ({ id: `user-${t.user}`, user: t.user, shareId: `user-${t.user}` }));
    const shares = args.tenants.map((t) => ({ id: `user-${t.user}`, quotaGi: t.storageGi ?? quota }));
    return { servers, shares };
  }
  const shared = TOPOLOGIES[args.topology].sharedState;
  const servers = Array.from({ length: args.servers }, (_, i) => ({ id: `cli-${i}`, shareId: shared ? "shared" : `cli-${i}` }));
  const shares = shared ? [{ id: "shared", quotaGi: quota }] : servers.map((s) => ({ id: s.shareId, quotaGi: quota }));
  return { servers, shares };
}

export class AciTopology extends pulumi.ComponentResource {
  readonly gateway: AciGatewayGroup;
  /** The CLI servers as the gateway reaches them. */
  readonly backends: (GatewayBackend & { address: pulumi.Output<string> })[];
  readonly store: "memory" | "redis";
  /** auth hs256 only. */
  readonly jwtSecret?: pulumi.Input<string>;

  constructor(name: string, args: AciTopologyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("copilot-scale-kit:azure:AciTopology", name, {}, opts);
    // Created at the stack's root before this component existed: aliases keep their URNs.
    const child = { parent: this, aliases: [{ parent: pulumi.rootStackResource }] };
    const { tags } = args;
    const resourceGroupName: pulumi.Input<string> =
      args.resourceGroupName ?? new resources.ResourceGroup("copilot", { location: args.location, tags }, child).name;
    const base = { resourceGroupName, location: args.location };

    let subnetId: pulumi.Input<string> | undefined;
    if (args.network.mode === "vnet") {
      subnetId =
        args.network.subnetId ??
        new AciNetwork("copilot-net", { ...base, addressPrefix: args.network.addressPrefix, subnetPrefix: args.network.subnetPrefix, tags }, child).subnetId;
    }
    const networkFor = (label: string): GroupNetwork =>
      subnetId !== undefined ? { kind: "private", subnetId } : { kind: "public", dnsNameLabel: label };
    const groupOptions = { identity: args.identity, registry: args.registry };

    const plan = planServers(args);
    const store = TOPOLOGIES[args.topology].requiresSharedStore ? "redis" : "memory";
    const { tls } = args;
    if (tls.mode === "acme" && subnetId !== undefined) {
      throw new Error("AciTopology: tls acme needs a public DNS name; in a virtual network give a certificate for your own host name (tls certificate)");
    }
    if (tls.mode === "none" && subnetId === undefined) {
      throw new Error("AciTopology: a public gateway without TLS would take bearer tokens in clear text; use tls acme or certificate");
    }
    // Small shares of their own: the memory store's registry, Redis' append-only file, the ACME account and certificates.
    const small = (id: string): ShareSpec => ({ id, quotaGi: args.storage.sku.startsWith("Premium") ? 100 : 1 });
    const redisSidecarUsed = store === "redis" && !args.redisUrl;
    const gatewayShare = store === "memory" ? small("gateway") : undefined;
    const extraShares = [gatewayShare, redisSidecarUsed ? small("redis") : undefined, tls.mode === "acme" ? small("tls-proxy") : undefined].filter((x): x is ShareSpec => x !== undefined);
    const storage = new SessionStorage("copilot-state", {
      ...base,
      shares: [...plan.shares, ...extraShares],
      sku: args.storage.sku,
      tags,
    }, child);

    const backends: (GatewayBackend & { address: pulumi.Output<string> })[] = [];
    const sidecars: input.containerinstance.ContainerArgs[] = [];
    const volumes: input.containerinstance.VolumeArgs[] = [];
    const gatewayMounts: input.containerinstance.VolumeMountArgs[] = [];
    if (gatewayShare) {
      volumes.push(azureFileVolume("gateway-state", storage.share(gatewayShare.id)));
      gatewayMounts.push({ name: "gateway-state", mountPath: dirname(GATEWAY_STORE_FILE) });
    }
    const tenantToken = new Map(args.tenants.map((t) => [t.user, t.githubToken]));
    for (const server of plan.servers) {
      const connectionToken = deriveSecret(args.secretSeed, `aci/cli/${server.id}/connection-token`);
      const githubToken = server.user ? (tenantToken.get(server.user) ?? args.githubToken) : args.githubToken;
      if (separateCliGroups(args.topology)) {
        const group = new AciCliGroup(`cli-${server.id}`, {
          ...base,
          ...groupOptions,
          network: networkFor(`${args.dnsNameLabel}-${server.id}`.slice(0, 63)),
          tags: subnetId === undefined ? { ...tags, "copilot-scale-kit/public-cli": "acknowledged" } : tags,
          image: args.images.cli,
          connectionToken,
          githubToken,
          state: storage.share(server.shareId),
          sharedSessionState: TOPOLOGIES[args.topology].sharedState,
          cpu: args.cli.cpu,
          memoryGb: args.cli.memoryGb,
          restartPolicy: args.cli.restartPolicy,
        }, child);
        backends.push({ id: server.id, user: server.user, address: group.address, connectionToken });
      } else {
        // One server: it runs beside the gateway, reachable on loopback only.
        const volumeName = `home-${server.id}`;
        sidecars.push(cliContainer({ image: args.images.cli, connectionToken, githubToken, volumeName, cpu: args.cli.cpu, memoryGb: args.cli.memoryGb }));
        volumes.push(azureFileVolume(volumeName, storage.share(server.shareId)));
        backends.push({ id: server.id, user: server.user, address: pulumi.output(`127.0.0.1:${CLI_PORT}`), connectionToken });
      }
    }

    let redisUrl: pulumi.Input<string> | undefined;
    if (store === "redis") {
      if (args.redisUrl) redisUrl = args.redisUrl;
      else {
        // Session records (ownership) live here too: they survive a restart in the append-only file.
        volumes.push(azureFileVolume("redis-data", storage.share("redis")));
        sidecars.push(redisSidecar(args.redisImage, "redis-data"));
        redisUrl = pulumi.secret(REDIS_SIDECAR_URL);
      }
    }

    let front: TlsProxy | undefined;
    if (tls.mode === "acme") {
      front = tlsProxy({
        image: args.tlsProxyImage,
        site: { mode: "acme", dnsNameLabel: args.dnsNameLabel, location: args.location, email: tls.email },
        dataVolume: azureFileVolume("tls-proxy-data", storage.share("tls-proxy")),
      });
    } else if (tls.mode === "certificate") {
      front = tlsProxy({ image: args.tlsProxyImage, site: { mode: "certificate", host: tls.host }, certificate: { cert: tls.certificate, key: tls.privateKey } });
    }

    // OIDC needs no shared secret: none is made, and the group gets none.
    const jwtSecret = (args.auth?.kind ?? "hs256") === "hs256" ? (args.jwtSecret ?? deriveSecret(args.secretSeed, "aci/gateway/jwt-secret")) : undefined;
    this.gateway = new AciGatewayGroup("gateway", {
      ...base,
      ...groupOptions,
      network: networkFor(args.dnsNameLabel),
      tags,
      image: args.images.gateway,
      config: {
        topology: args.topology,
        replicaId: args.replicaId,
        store,
        ...(store === "memory" ? { storeFile: GATEWAY_STORE_FILE } : {}),
        ...gatewaySettings(args),
      },
      backends,
      secrets: { jwtSecret, redisUrl, providerApiKey: args.providerApiKey, githubToken: args.githubToken },
      sidecars,
      volumes,
      volumeMounts: gatewayMounts,
      front,
      cpu: args.gatewayGroup.cpu,
      memoryGb: args.gatewayGroup.memoryGb,
    }, child);
    this.backends = backends;
    this.store = store;
    this.jwtSecret = jwtSecret;
    this.registerOutputs({ gatewayUrl: this.gateway.url });
  }
}
