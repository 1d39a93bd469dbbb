/**
 * AciTopology: a kit topology on Azure Container Instances, beside Kubernetes' KitTopology.
 *   shared          one group: gateway + CLI side by side (the CLI port never leaves the group)
 *   isolated        a CLI group per static tenant, each with its own share and token
 *   shared-storage  N CLI groups on one Azure Files share; a Redis sidecar holds the session leases
 * It takes typed arguments of its own; the stack (stacks/aci.ts) maps its config to them.
 */
import { dirname } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as resources from "@pulumi/azure-native/resources/index.js";
import type { input } from "@pulumi/azure-native/types/index.js";
import { type DeploymentGateway, type DeploymentLifecycle, gatewaySettings, TOPOLOGIES, type TopologyName } from "../../topology/index.js";
import { deriveSecret } from "../secrets.js";
import { AciCliGroup, cliContainer } from "./cli-group.js";
import { CLI_PORT, GATEWAY_STORE_FILE } from "./contract.js";
import { AciGatewayGroup, type GatewayBackend, REDIS_SIDECAR_URL, redisSidecar } from "./gateway-group.js";
import type { GroupIdentity, GroupNetwork, RegistryCredential, RestartPolicy } from "./group-options.js";
import { AciNetwork } from "./network.js";
import { azureFileVolume, SessionStorage, type ShareSpec, type StorageSku } from "./session-storage.js";

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
  if (args.topology === "isolated") {
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
  readonly jwtSecret: pulumi.Input<string>;

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
    // memory store: the gateway's session registry survives a container restart on its own small share.
    const gatewayShare: ShareSpec | undefined = store === "memory" ? { id: "gateway", quotaGi: args.storage.sku.startsWith("Premium") ? 100 : 1 } : undefined;
    const storage = new SessionStorage("copilot-state", {
      ...base,
      shares: gatewayShare ? [...plan.shares, gatewayShare] : plan.shares,
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
          sharedSessionState: args.topology === "shared-storage",
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
        sidecars.push(redisSidecar(args.redisImage));
        redisUrl = pulumi.secret(REDIS_SIDECAR_URL);
      }
    }

    const jwtSecret = args.jwtSecret ?? deriveSecret(args.secretSeed, "aci/gateway/jwt-secret");
    this.gateway = new AciGatewayGroup("gateway", {
      ...base,
      ...groupOptions,
      network: networkFor(args.dnsNameLabel),
      tags,
      image: args.images.gateway,
      config: {
        topology: args.topology,
        replicaId: args.replicaId,
        auth: { kind: "jwt-hs256" },
        store,
        ...(store === "memory" ? { storeFile: GATEWAY_STORE_FILE } : {}),
        ...gatewaySettings(args),
      },
      backends,
      secrets: { jwtSecret, redisUrl, providerApiKey: args.providerApiKey, githubToken: args.githubToken },
      sidecars,
      volumes,
      volumeMounts: gatewayMounts,
      cpu: args.gatewayGroup.cpu,
      memoryGb: args.gatewayGroup.memoryGb,
    }, child);
    this.backends = backends;
    this.store = store;
    this.jwtSecret = jwtSecret;
    this.registerOutputs({ gatewayUrl: this.gateway.url });
  }
}
