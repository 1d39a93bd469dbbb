/**
 * What every topology component shares: the composition (its arguments are kit-args.ts) of CLI servers, the
 * shared store, the gateway, the TTL cleanup and the NetworkPolicies. Each topology (one file each)
 * only decides its CLI servers and their storage.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  type GatewayConfigInput,
  gatewayIdentity,
  gatewaySettings,
  TOPOLOGIES,
  type TopologyName,
} from "../../topology/index.js";
import { deriveSecret } from "../secrets.js";
import { CliServer, type CliStorage } from "./cli-server.js";
import { Gateway } from "./gateway.js";
import { IdentityAccess } from "./identity-access.js";
import { type GatewayRuntime, gatewayRuntime, staticBackend } from "./gateway-runtime.js";
import { type SecretKeyRef, standardLabels } from "./meta.js";
import { NetworkPolicies } from "./network-policies.js";
import { Redis } from "./redis.js";
import { SessionCleanup } from "./session-cleanup.js";
import { UserServers } from "./user-servers.js";
import type { KitArgs } from "./kit-args.js";

export type { KitArgs, PerUserOptions } from "./kit-args.js";

/** One CLI server a topology wants. */
export interface ServerPlan {
  id: string;
  storage: CliStorage;
  /** isolated: the user routed to this server. */
  tenant?: string;
}

/** shared and collaborative: one server on a ReadWriteOnce volume of its own. */
export function singleServerPlan(args: KitArgs): ServerPlan[] {
  return [{ id: "0", storage: { sizeGi: args.cli?.storageGi ?? 10, storageClass: args.cli?.storageClass, retain: args.cli?.retainState } }];
}

/** Where the gateway keeps its registry when a single memory-store replica runs. */
export const GATEWAY_STORE_FILE = "/var/lib/copilot-gateway/registry.json";

export abstract class KitTopology extends pulumi.ComponentResource {
  readonly topology: TopologyName;
  readonly instance: string;
  readonly servers: CliServer[];
  readonly gateway: Gateway;
  readonly redis?: Redis;
  readonly cleanup?: SessionCleanup;
  readonly userServers?: UserServers;
  /** The gateway's validated configuration, as the pods read it. */
  readonly runtime: GatewayRuntime;

  protected constructor(
    type: string,
    name: string,
    topology: TopologyName,
    args: KitArgs,
    /** Creates the topology's own resources (parented to it) and names its servers. */
    plan: (self: KitTopology, instance: string) => ServerPlan[],
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(type, name, {}, opts);
    const instance = args.instance ?? "copilot";
    const child = { parent: this };
    this.topology = topology;
    this.instance = instance;
    const perUser = args.perUser;
    if (perUser && TOPOLOGIES[topology].routing !== "per-user") throw new Error(`${topology}: perUser applies to the isolated topology only`);
    const plans = perUser ? [] : plan(this, instance);
    const ids = plans.map((p) => p.id);
    if (ids.length === 0 && !perUser) throw new Error(`${topology}: no CLI servers planned`);
    if (new Set(ids).size !== ids.length) throw new Error(`${topology}: duplicate server ids ${ids.join(", ")}`);

    const credentials = this.credentials(args, instance);
    // Each server waits for the one before it, so an image change rolls them one at a time (the
    // provider awaits each Deployment's rollout) and the others keep serving meanwhile.
    this.servers = [];
    for (const p of plans) {
      const previous = this.servers.at(-1);
      this.servers.push(
        new CliServer(
          `${instance}-cli-${p.id}`,
          {
            serverId: p.id,
            connectionToken: deriveSecret(args.secretSeed, `${instance}/cli/${p.id}/connection-token`),
            namespace: args.namespace,
            instance,
            image: args.images.cli,
            imagePull: args.imagePull,
            githubToken: credentials.githubToken,
            storage: p.storage,
            resources: args.cli?.resources,
            sessionIdleTimeoutSeconds: args.cli?.sessionIdleTimeoutSeconds,
            drainGraceSeconds: args.lifecycle.drainGraceSeconds,
            env: args.cli?.env,
            tenant: p.tenant,
            rolloutSecrets: [args.githubToken, args.providerApiKey],
          },
          { parent: this, dependsOn: previous ? [previous.deployment] : [] },
        ),
      );
    }

    const maxReplicas = args.gateway.autoscale?.max ?? args.gateway.replicas;
    const useRedis = TOPOLOGIES[topology].requiresSharedStore || maxReplicas > 1;
    const redisPassword = deriveSecret(args.secretSeed, `${instance}/redis/password`);
    if (useRedis) {
      const { externalUrl, ...inCluster } = args.redis ?? {};
      this.redis = new Redis(
        `${instance}-redis`,
        externalUrl !== undefined
          ? { namespace: args.namespace, instance, externalUrl }
          : {
              namespace: args.namespace,
              instance,
              password: redisPassword,
              imagePull: args.imagePull,
              storageClass: args.cli?.storageClass,
              ...inCluster,
            },
        child,
      );
    }

    // Keys users' object names: per-user Pods' and per-user identity Secrets' (scripts/user-credentials.ts).
    const serverIdKey = deriveSecret(args.secretSeed, `${instance}/gateway/server-id-key`);
    if (perUser) {
      this.userServers = new UserServers(
        `${instance}-user-servers`,
        {
          gatewayNamespace: args.namespace,
          namespace: perUser.namespace ?? `${args.namespace}-users`,
          createNamespace: perUser.createNamespace,
          instance,
          imagePull: args.imagePull,
          resources: args.cli?.resources,
          storage: { sizeGi: args.cli?.storageGi ?? 10, storageClass: args.cli?.storageClass },
          sessionIdleTimeoutSeconds: args.cli?.sessionIdleTimeoutSeconds,
          drainGraceSeconds: args.lifecycle.drainGraceSeconds,
          env: args.cli?.env,
          maxServers: perUser.maxServers,
          claimTtlSeconds: perUser.claimTtlSeconds,
          startTimeoutSeconds: perUser.startTimeoutSeconds,
          modelEgress: perUser.modelEgress,
          sharedGithubToken: perUser.sharedCredential ? args.githubToken : undefined,
          serverIdKey,
        },
        child,
      );
    }
    const identity = args.identity?.source === "none" ? undefined : args.identity;
    if (identity && perUser) throw new Error("identity: per-user Pods already run on their user's own credentials (perUser); set identity.source none");
    const identityAccess = identity
      ? new IdentityAccess(
          `${instance}-identity`,
          {
            instance,
            namespace: args.namespace,
            source: identity.source,
            secretsNamespace: identity.source === "kubernetes" ? identity.namespace : undefined,
            serverIdKey,
            hookToken: identity.source === "http" ? args.identityHookToken : undefined,
          },
          child,
        )
      : undefined;
    const settings = gatewaySettings(args);
    const config: GatewayConfigInput = {
      topology,
      backends: this.userServers?.backends ?? { kind: "static", servers: plans.map((p, i) => staticBackend(p.id, this.servers[i]!.address, p.tenant)) },
      store: useRedis ? "redis" : "memory",
      ...(useRedis ? {} : { storeFile: GATEWAY_STORE_FILE }),
      ...settings,
      ...(identity ? { identity: gatewayIdentity(identity, args.namespace) } : {}),
      // Fixed servers are never culled; per-user Pods are, after this much idleness.
      lifecycle: { ...settings.lifecycle, cliIdleTimeoutSeconds: perUser?.idleCullSeconds ?? 0 },
    };
    this.runtime = gatewayRuntime({
      image: args.images.gateway,
      imagePull: args.imagePull,
      config,
      cliImage: perUser ? args.images.cli : undefined,
      secrets: {
        backendTokens: Object.fromEntries(this.servers.map((s) => [s.serverId, s.tokenSecret])),
        redisUrl: this.redis?.url,
        githubToken: credentials.githubToken,
        providerApiKey: credentials.providerApiKey,
        serverIdKey: this.userServers?.serverIdKey ?? identityAccess?.serverIdKey,
        identityHookToken: identityAccess?.hookToken,
      },
    });

    this.gateway = new Gateway(
      `${instance}-gateway`,
      {
        namespace: args.namespace,
        instance,
        runtime: this.runtime,
        // OIDC needs no shared secret: none is made, and no pod gets one.
        jwtSecret: (args.auth?.kind ?? "hs256") === "hs256" ? (args.gateway.jwtSecret ?? deriveSecret(args.secretSeed, `${instance}/gateway/jwt-secret`)) : undefined,
        rolloutSecrets: [
          ...this.servers.map((s) => s.connectionToken),
          ...(useRedis ? [args.redis?.externalUrl ?? redisPassword] : []),
          args.githubToken,
          args.providerApiKey,
        ],
        replicas: args.gateway.replicas,
        autoscale: args.gateway.autoscale,
        serviceType: args.gateway.serviceType,
        loadBalancer: args.gateway.loadBalancer,
        exposure: args.gateway.exposure,
        serviceMonitor: args.gateway.serviceMonitor,
        resources: args.gateway.resources,
        stateStorage: { storageClass: args.cli?.storageClass },
        serviceAccountName: this.userServers?.serviceAccountName ?? identityAccess?.serviceAccountName,
      },
      child,
    );

    // Per-user servers exist only while the gateway runs them, so its own TTL loop cleans their sessions.
    if (useRedis && args.lifecycle.sessionTtlSeconds > 0 && !perUser) {
      this.cleanup = new SessionCleanup(
        `${instance}-session-cleanup`,
        { namespace: args.namespace, instance, runtime: this.runtime, schedule: args.lifecycle.cleanupSchedule, resources: args.cleanupResources },
        child,
      );
    }

    new NetworkPolicies(
      `${instance}-network-policies`,
      { namespace: args.namespace, instance, redis: this.redis !== undefined && !this.redis.external, blockedEgressCidrs: args.blockedEgressCidrs },
      child,
    );
    this.registerOutputs({ gatewayUrl: this.gateway.url, servers: this.servers.map((s) => s.address) });
  }

  /** One Secret for the optional GitHub token and provider key, shared by servers and gateway. */
  private credentials(args: KitArgs, instance: string): { githubToken?: SecretKeyRef; providerApiKey?: SecretKeyRef } {
    const data: Record<string, pulumi.Input<string>> = {};
    if (args.githubToken !== undefined) data["github-token"] = pulumi.secret(args.githubToken);
    if (args.providerApiKey !== undefined) data["provider-api-key"] = pulumi.secret(args.providerApiKey);
    if (Object.keys(data).length === 0) return {};
    const name = `${instance}-credentials`;
    const secret = new k8s.core.v1.Secret(
      name,
      { metadata: { name, namespace: args.namespace, labels: standardLabels(instance, "gateway") }, type: "Opaque", stringData: data },
      { parent: this },
    );
    const ref = (key: string): SecretKeyRef | undefined => (key in data ? { name: secret.metadata.name, key } : undefined);
    return { githubToken: ref("github-token"), providerApiKey: ref("provider-api-key") };
  }
}
