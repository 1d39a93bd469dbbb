/**
 * Azure Container Instances stack: reads and validates the stack config (the topologies ACI can
 * carry honestly: shared, isolated, shared-storage), maps it to the AciTopology component
 * (components/azure/topology.ts), and returns the common stack outputs with the target descriptor.
 * ACI has one IP per group, no load balancer and no session affinity, so sticky is refused with
 * the Azure service that fits instead, and the gateway runs as exactly one group.
 */
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { AciTopology, CLI_PORT, separateCliGroups } from "../components/azure/index.js";
import { aciTls, aciTlsSchema, tlsIssues, tlsMode } from "./aci-tls.js";
import {
  deployedFeatures,
  TARGET_VERSION,
  TOPOLOGIES,
  type TargetDescriptor,
  targetSettings,
  type TopologyName,
  parseTarget,
} from "../topology/index.js";
import {
  CONFIG_NAMESPACE,
  commonStackSchema,
  readStackConfig,
  requireSecretSeed,
  SECRET_SEED_KEY,
  serverCount,
} from "./config.js";
import type { StackOutputs } from "./outputs.js";

const DNS_LABEL = /^[a-z][a-z0-9-]{1,50}[a-z0-9]$/;

export const aciSectionSchema = z.strictObject({
  /** Azure region, e.g. westeurope. */
  location: z.string().min(1),
  /** An existing resource group; omitted = the stack creates one. */
  resourceGroupName: z.string().min(1).optional(),
  /** DNS label of the gateway group (public network); CLI groups append their server id. Default: copilot-<stack>. */
  dnsNameLabel: z.string().regex(DNS_LABEL, "3-52 characters: lowercase letters, digits and '-', starting with a letter").optional(),
  network: z
    .strictObject({
      /**
       * public: groups get public IPs and DNS labels. vnet: every group gets a private IP in a subnet
       * delegated to ACI (no public IP or DNS label is possible there).
       */
      mode: z.enum(["public", "vnet"]).default("public"),
      /** vnet: an existing delegated subnet; omitted = the stack creates the network. */
      subnetId: z.string().min(1).optional(),
      addressPrefix: z.string().default("10.42.0.0/16"),
      subnetPrefix: z.string().default("10.42.0.0/24"),
      /**
       * public, with separate CLI groups (isolated, shared-storage): their raw TCP port 4321 is then
       * on the internet, guarded only by the connection token and without TLS. Test deployments only.
       */
      exposeCliPublicly: z.boolean().default(false),
    })
    .prefault({}),
  cli: z
    .strictObject({
      cpu: z.number().positive().max(4).default(1),
      memoryGb: z.number().positive().max(16).default(2),
      restartPolicy: z.enum(["Always", "OnFailure", "Never"]).default("Always"),
    })
    .prefault({}),
  gatewayGroup: z
    .strictObject({ cpu: z.number().positive().max(4).default(1), memoryGb: z.number().positive().max(16).default(1) })
    .prefault({}),
  storage: z
    .strictObject({
      sku: z.enum(["Standard_LRS", "Standard_ZRS", "Premium_LRS", "Premium_ZRS"]).default("Standard_LRS"),
      /** Quota of each share in GiB (tenants may set their own storageGi). Premium needs >= 100. */
      shareQuotaGi: z.number().int().min(1).max(102400).default(100),
    })
    .prefault({}),
  /** TLS in front of the gateway (stacks/aci-tls.ts). */
  tls: aciTlsSchema,
  tlsProxyImage: z.string().min(1).default("docker.io/library/caddy:2"),
  /** Image of the Redis sidecar that holds session leases when redis.external is false. */
  redisImage: z.string().min(1).default("docker.io/library/redis:7.4-alpine"),
  /** Optional managed identity for every group (e.g. AcrPull, or Key Vault access for your tools). */
  identity: z
    .strictObject({ systemAssigned: z.boolean().default(false), userAssignedIdentityIds: z.array(z.string().min(1)).default([]) })
    .optional(),
  /** Private registry of the images. Password: secret config registryPassword; or a user-assigned identity with AcrPull. */
  registry: z
    .strictObject({ server: z.string().min(1), username: z.string().min(1).optional(), identityId: z.string().min(1).optional() })
    .optional(),
  tags: z.record(z.string(), z.string()).default({}),
});
export type AciSection = z.infer<typeof aciSectionSchema>;

/** Secret config keys the ACI stack reads with getSecret (never in stack files). */
export const ACI_SECRET_KEYS = [SECRET_SEED_KEY, "githubToken", "tenantGithubTokens", "providerApiKey", "jwtSecret", "redisUrl", "registryPassword", "tlsCertificate", "tlsPrivateKey"] as const;

/** Why a topology the kit knows is not offered on ACI, and what to use instead. */
const NOT_ON_ACI: Partial<Record<TopologyName, string>> = {
  sticky:
    "ACI has no load balancer and no session affinity (one IP per container group). Use Azure Container Apps (sticky sessions) " +
    "or Application Gateway with cookie affinity in front of the CLI servers, or the kubernetes platform",
  collaborative:
    "the topology model does not list ACI for it yet; it needs Redis for the room lock (a sidecar or Azure Cache for Redis). " +
    "Use the kubernetes platform",
};

export const aciStackSchema = commonStackSchema.extend({ aci: aciSectionSchema }).superRefine((cfg, ctx) => {
  const topology = TOPOLOGIES[cfg.topology];
  if (!topology.platforms.includes("aci")) {
    ctx.addIssue({ code: "custom", path: ["topology"], message: `${cfg.topology} is not offered on ACI: ${NOT_ON_ACI[cfg.topology] ?? "see README"}` });
    return;
  }
  if (cfg.platform !== "aci") ctx.addIssue({ code: "custom", path: ["platform"], message: 'must be "aci" for this stack' });
  if (cfg.gateway.replicas !== 1 || cfg.gateway.autoscale) {
    ctx.addIssue({
      code: "custom",
      path: ["gateway", "replicas"],
      message:
        "ACI runs exactly one gateway group: there is no load balancer to spread clients over replicas. Set replicas: 1 and drop autoscale, " +
        "or use the kubernetes platform (or Container Apps) for several replicas",
    });
  }
  if (TOPOLOGIES[cfg.topology].routing === "per-user" && cfg.tenants.length === 0) {
    ctx.addIssue({ code: "custom", path: ["tenants"], message: "isolated on ACI needs static tenants, one CLI group each (e.g. tenants: [{user: alice}])" });
  }
  const ids = cfg.tenants.map((t) => t.user);
  if (new Set(ids).size !== ids.length) ctx.addIssue({ code: "custom", path: ["tenants"], message: "tenant ids must be unique" });
  const net = cfg.aci.network;
  if (net.mode === "public" && separateCliGroups(cfg.topology) && !net.exposeCliPublicly) {
    ctx.addIssue({
      code: "custom",
      path: ["aci", "network", "mode"],
      message:
        `${cfg.topology} runs CLI servers in their own groups; with mode public their TCP port ${CLI_PORT} (no TLS, token only) would be on the internet. ` +
        "Use mode: vnet (private IPs), or set network.exposeCliPublicly: true for a test deployment",
    });
  }
  if (net.mode === "vnet" && net.exposeCliPublicly) {
    ctx.addIssue({ code: "custom", path: ["aci", "network", "exposeCliPublicly"], message: "has no effect with mode vnet; remove it" });
  }
  tlsIssues(cfg.aci, (key, message) => ctx.addIssue({ code: "custom", path: ["aci", "tls", key], message }));
  const pullIdentity = cfg.aci.registry?.identityId;
  if (pullIdentity && !cfg.aci.identity?.userAssignedIdentityIds.includes(pullIdentity)) {
    ctx.addIssue({
      code: "custom",
      path: ["aci", "registry", "identityId"],
      message: "ACI pulls with an identity only when the group carries it: add the same id to aci.identity.userAssignedIdentityIds",
    });
  }
  if (cfg.aci.storage.sku.startsWith("Premium")) {
    const small = [cfg.aci.storage.shareQuotaGi, ...cfg.tenants.map((t) => t.storageGi ?? cfg.aci.storage.shareQuotaGi)].some((q) => q < 100);
    if (small) ctx.addIssue({ code: "custom", path: ["aci", "storage", "shareQuotaGi"], message: "Premium file shares need at least 100 GiB each" });
  }
});
export type AciStackConfig = z.infer<typeof aciStackSchema>;

interface AciSecrets {
  githubToken?: pulumi.Output<string>;
  tenantGithubTokens?: pulumi.Output<Record<string, string>>;
  providerApiKey?: pulumi.Output<string>;
  jwtSecret?: pulumi.Output<string>;
  redisUrl?: pulumi.Output<string>;
  registryPassword?: pulumi.Output<string>;
  tlsCertificate?: pulumi.Output<string>;
  tlsPrivateKey?: pulumi.Output<string>;
}

function readSecrets(cfg: AciStackConfig): AciSecrets {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const secrets: AciSecrets = {
    githubToken: config.getSecret("githubToken"),
    tenantGithubTokens: config.getSecretObject<Record<string, string>>("tenantGithubTokens"),
    providerApiKey: config.getSecret("providerApiKey"),
    jwtSecret: config.getSecret("jwtSecret"),
    redisUrl: config.getSecret("redisUrl"),
    registryPassword: config.getSecret("registryPassword"),
    tlsCertificate: config.getSecret("tlsCertificate"),
    tlsPrivateKey: config.getSecret("tlsPrivateKey"),
  };
  const set = (key: string) => `pulumi config set --secret ${CONFIG_NAMESPACE}:${key} <value>`;
  if (!secrets.githubToken && !secrets.tenantGithubTokens && !cfg.gateway.providerBaseUrl) {
    throw new Error(
      `stack ${pulumi.getStack()}: the CLI servers have no model access: set ${CONFIG_NAMESPACE}:githubToken (GitHub-hosted models; fix: ${set("githubToken")}) ` +
        `or gateway.providerBaseUrl for a BYOK provider`,
    );
  }
  if (cfg.redis.external && !secrets.redisUrl) {
    throw new Error(`stack ${pulumi.getStack()}: redis.external is true but ${CONFIG_NAMESPACE}:redisUrl is not set (fix: ${set("redisUrl")}, e.g. rediss://:<key>@<name>.redis.cache.windows.net:6380)`);
  }
  if (tlsMode(cfg.aci) === "certificate" && (!secrets.tlsCertificate || !secrets.tlsPrivateKey)) {
    const missing = !secrets.tlsCertificate ? "tlsCertificate" : "tlsPrivateKey";
    throw new Error(
      `stack ${pulumi.getStack()}: aci.tls.mode is certificate but ${CONFIG_NAMESPACE}:${missing} is not set ` +
        `(fix: pulumi config set --secret ${CONFIG_NAMESPACE}:tlsCertificate -- "$(cat fullchain.pem)"; pulumi config set --secret ${CONFIG_NAMESPACE}:tlsPrivateKey -- "$(cat privkey.pem)")`,
    );
  }
  if (cfg.auth.kind === "oidc" && secrets.jwtSecret) {
    throw new Error(`stack ${pulumi.getStack()}: ${CONFIG_NAMESPACE}:jwtSecret is set but auth.kind is oidc: a shared secret would let its holder be any user (fix: pulumi config rm ${CONFIG_NAMESPACE}:jwtSecret)`);
  }
  if (cfg.identity.source !== "none") {
    throw new Error(`stack ${pulumi.getStack()}: ${CONFIG_NAMESPACE}:identity.source ${cfg.identity.source} is rendered on Kubernetes only so far; on ACI every session runs on the CLI's own token (fix: set identity.source none, or deploy on Kubernetes)`);
  }
  if (cfg.aci.registry?.username && !secrets.registryPassword) {
    throw new Error(`stack ${pulumi.getStack()}: aci.registry.username is set but ${CONFIG_NAMESPACE}:registryPassword is not (fix: ${set("registryPassword")})`);
  }
  return secrets;
}

/** A tenant's own GitHub token, else the stack-wide one. */
function tenantToken(secrets: AciSecrets, user: string): pulumi.Output<string> | undefined {
  if (!secrets.tenantGithubTokens) return secrets.githubToken;
  const fallback = secrets.githubToken ?? pulumi.output<string | undefined>(undefined);
  return pulumi.secret(
    pulumi.all([secrets.tenantGithubTokens, fallback]).apply(([tokens, shared]) => {
      const token = tokens[user] ?? shared;
      if (!token) throw new Error(`tenant ${user} has no GitHub token: set tenantGithubTokens.${user} or githubToken (pulumi config set --secret --path '${CONFIG_NAMESPACE}:tenantGithubTokens.${user}' <token>)`);
      return token;
    }),
  );
}

export async function deployAci(): Promise<StackOutputs> {
  const cfg = readStackConfig(aciStackSchema, ACI_SECRET_KEYS);
  const secrets = readSecrets(cfg);
  const { aci } = cfg;
  const stack = pulumi.getStack();
  const kit = new AciTopology("copilot", {
    topology: cfg.topology,
    location: aci.location,
    resourceGroupName: aci.resourceGroupName,
    dnsNameLabel: aci.dnsNameLabel ?? `copilot-${stack}`.toLowerCase().replace(/[^a-z0-9-]/g, "-").slice(0, 52),
    network: aci.network,
    images: cfg.images,
    cli: aci.cli,
    gatewayGroup: aci.gatewayGroup,
    storage: aci.storage,
    servers: serverCount(cfg),
    // Tenants are servers only where users are routed to their own (isolated); their tokens are read only then.
    tenants: TOPOLOGIES[cfg.topology].routing === "per-user" ? cfg.tenants.map((t) => ({ user: t.user, storageGi: t.storageGi, githubToken: tenantToken(secrets, t.user) })) : [],
    redisUrl: cfg.redis.external ? secrets.redisUrl : undefined,
    redisImage: aci.redisImage,
    identity: aci.identity,
    registry: aci.registry && { server: aci.registry.server, username: aci.registry.username, password: secrets.registryPassword, identity: aci.registry.identityId },
    tags: { "copilot-scale-kit/stack": stack, "copilot-scale-kit/topology": cfg.topology, ...aci.tags },
    secretSeed: requireSecretSeed(),
    jwtSecret: secrets.jwtSecret,
    githubToken: secrets.githubToken,
    providerApiKey: secrets.providerApiKey,
    replicaId: `aci-${stack}`,
    gateway: cfg.gateway,
    lifecycle: cfg.lifecycle,
    auth: cfg.auth,
    tls: aciTls(cfg.aci, secrets.tlsCertificate, secrets.tlsPrivateKey),
    tlsProxyImage: aci.tlsProxyImage,
  });
  const { gateway, backends, store } = kit;

  const servers = pulumi.all(backends.map((b) => b.address)).apply((addresses) => backends.map((b, i) => ({ id: b.id, address: addresses[i]! })));
  const target = pulumi
    .all([gateway.url, gateway.config, kit.jwtSecret, pulumi.all(backends.map((b) => pulumi.all([b.address, b.connectionToken])))])
    .apply(([url, gatewayConfig, secret, serverValues]) => {
      const descriptor: TargetDescriptor = {
        version: TARGET_VERSION,
        name: `aci-${stack}`,
        topology: cfg.topology,
        platform: "aci",
        gatewayUrls: [url],
        // OIDC: tokens come from the provider; put tokens it issued for the conformance users in auth.tokens.
        auth: secret !== undefined ? { kind: "jwt-hs256", secret } : { kind: "static", tokens: {} },
        features: deployedFeatures(cfg),
        settings: targetSettings(gatewayConfig),
        servers: backends.map((b, i) => ({ id: b.id, address: serverValues[i]![0], connectionToken: serverValues[i]![1], user: b.user })),
        store: { kind: store },
      };
      return JSON.stringify(parseTarget(descriptor, `stack ${stack}`), null, 2);
    });

  return { gatewayUrl: gateway.url, servers, target: pulumi.secret(target) };
}
