/**
 * Kubernetes stack: reads and validates the stack config, creates the namespace and the topology
 * component, and returns the common stack outputs, the conformance target descriptor among them.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { DEFAULT_BLOCKED_EGRESS } from "../components/k8s/network-policies.js";
import {
  Collaborative,
  IsolatedPerUser,
  type KitArgs,
  KitImages,
  type KitTopology,
  PART_OF,
  type PerUserOptions,
  SharedCli,
  SharedStorageCluster,
  StickyCluster,
} from "../components/k8s/index.js";
import { deployedFeatures, OBSERVABLE_LIFECYCLE, TARGET_VERSION, TOPOLOGIES, type TargetDescriptor, parseTarget, targetSettings } from "../topology/index.js";
import { cidr, dnsLabel, exposureSchema, loadBalancerSchema, serviceMonitorSchema } from "./exposure-config.js";
import { CONFIG_NAMESPACE, commonStackSchema, readStackConfig, requireSecretSeed, SECRET_SEED_KEY, serverCount } from "./config.js";
import { checkSecretsAgainstConfig } from "./kubernetes-secrets.js";
import type { StackOutputs } from "./outputs.js";

const quantity = z.string().regex(/^\d+(\.\d+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/, "a Kubernetes quantity such as 250m, 512Mi or 2");
const resourcesSchema = z.strictObject({
  requests: z.strictObject({ cpu: quantity, memory: quantity }),
  limits: z.strictObject({ cpu: quantity.optional(), memory: quantity }),
});
/** The `copilot-scale-kit:kubernetes` section. Unknown keys are errors, so typos do not pass silently. */
export const kubernetesSectionSchema = z.strictObject({
  /** kubeconfig context; omitted = the current context. */
  context: z.string().min(1).optional(),
  namespace: dnsLabel.default("copilot"),
  /** Create the namespace, labelled for the restricted Pod Security Standard; false = it exists. */
  createNamespace: z.boolean().default(true),
  /** Prefix of every Kubernetes name (and the app.kubernetes.io/instance label). */
  namePrefix: z.string().regex(/^[a-z][a-z0-9-]{0,15}$/, "a lowercase name of at most 16 characters").default("copilot"),
  /** ReadWriteOnce volumes: CLI state, Redis, gateway registry. Omitted = the cluster default class. */
  storageClass: z.string().min(1).optional(),
  storageGi: z.number().int().positive().default(10),
  /**
   * Keep a CLI server's state claim when `pulumi up` removes the server (fewer servers), so its
   * sessions are not deleted with it; a changed storageClass applies to new claims only.
   * `pulumi destroy` of a namespace the stack created still removes everything in it.
   */
  retainSessionState: z.boolean().default(true),
  /** shared-storage: a class that provisions ReadWriteMany volumes (required there). */
  sharedStorageClass: z.string().min(1).optional(),
  sharedStorageGi: z.number().int().positive().default(50),
  gatewayServiceType: z.enum(["ClusterIP", "LoadBalancer", "NodePort"]).default("ClusterIP"),
  /** gatewayServiceType LoadBalancer: a private load balancer (aks, eks, gke annotations), client CIDRs, extra annotations. */
  loadBalancer: loadBalancerSchema.optional(),
  /** An Ingress or HTTPRoute with TLS in front of the gateway (the public port only; never /metrics). */
  exposure: exposureSchema.optional(),
  /** A Prometheus Operator ServiceMonitor scraping the gateway's admin Service. */
  serviceMonitor: serviceMonitorSchema.optional(),
  /** URL clients (and conformance) use, e.g. http://127.0.0.1:8080 behind kubectl port-forward. */
  gatewayUrl: z.url().optional(),
  imagePullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).optional(),
  imagePullSecrets: z.array(dnsLabel).default([]),
  /** `--session-idle-timeout` of the CLI servers; 0 = off (the CLI default). */
  cliSessionIdleTimeoutSeconds: z.number().int().min(0).default(0),
  /** Extra non-secret environment for the CLI servers. */
  cliEnv: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name"), z.string()).default({}),
  redisImage: z.string().min(1).optional(),
  redisStorageGi: z.number().int().positive().default(1),
  resources: z
    .strictObject({
      cli: resourcesSchema.optional(),
      gateway: resourcesSchema.optional(),
      redis: resourcesSchema.optional(),
      cleanup: resourcesSchema.optional(),
    })
    .prefault({}),
  /** CIDRs CLI pods may not reach: the cloud metadata endpoints by default. */
  blockedEgressCidrs: z.array(cidr).default(DEFAULT_BLOCKED_EGRESS),
  /**
   * isolated without tenants: the gateway creates a Pod per user on demand in its own namespace,
   * culls it when idle (the claim stays) and starts it again on the user's return.
   */
  perUser: z
    .strictObject({
      /** Namespace of the per-user Pods, claims and Secrets; default `<namespace>-users`. */
      namespace: dnsLabel.optional(),
      maxServers: z.number().int().positive().default(100),
      /** A user's Pod with no request for this long is deleted; its claim stays. */
      idleCullSeconds: z.number().int().positive().default(1800),
      /** A claim (a user's sessions) unused this long is deleted; 0 = kept. At least lifecycle.sessionTtlSeconds. */
      claimTtlSeconds: z.number().int().min(0).default(30 * 24 * 3600),
      startTimeoutSeconds: z.number().int().positive().default(180),
      /** Users without a credentials Secret of their own get the stack's githubToken; false = they get none. */
      sharedCredential: z.boolean().default(false),
      /** Private endpoints the user Pods may reach (everything private is refused otherwise), e.g. an in-cluster model. */
      modelEgress: z.array(z.strictObject({ cidr, port: z.number().int().min(1).max(65535) })).default([]),
    })
    .prefault({}),
  /**
   * Build images/cli and images/gateway during `pulumi up`, tagged with the `images` config.
   * push: to the registry in each tag (pods then run the pushed digest); false = local daemon only.
   */
  build: z
    .strictObject({
      push: z.boolean().default(true),
      platforms: z.array(z.enum(["linux/amd64", "linux/arm64"])).optional(),
    })
    .optional(),
});

export const kubernetesStackSchema = commonStackSchema
  .extend({ kubernetes: kubernetesSectionSchema.prefault({}) })
  .superRefine((cfg, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
    if (cfg.platform !== "kubernetes") issue(["platform"], `this is the Kubernetes stack program; platform is "${cfg.platform}"`);
    if (!TOPOLOGIES[cfg.topology].platforms.includes("kubernetes")) issue(["topology"], `${cfg.topology} cannot run on Kubernetes`);
    if (TOPOLOGIES[cfg.topology].sharedState && !cfg.kubernetes.sharedStorageClass) {
      issue(["kubernetes", "sharedStorageClass"], "shared-storage needs a ReadWriteMany storage class (e.g. azurefile-csi, efs-sc, nfs-client)");
    }
    if (TOPOLOGIES[cfg.topology].routing === "per-user") {
      if (cfg.servers !== undefined) issue(["servers"], "isolated runs one server per user; remove servers");
      const { claimTtlSeconds } = cfg.kubernetes.perUser;
      if (cfg.tenants.length === 0 && claimTtlSeconds > 0 && claimTtlSeconds < cfg.lifecycle.sessionTtlSeconds) {
        issue(["kubernetes", "perUser", "claimTtlSeconds"], `a claim must outlive its sessions: at least lifecycle.sessionTtlSeconds (${cfg.lifecycle.sessionTtlSeconds}), or 0`);
      }
      const seen = new Set<string>();
      cfg.tenants.forEach((t, i) => {
        if (seen.has(t.user)) issue(["tenants", i, "user"], `tenant ${t.user} is listed twice`);
        seen.add(t.user);
      });
    } else if (cfg.tenants.length > 0) {
      issue(["tenants"], `tenants apply only to the isolated topology, not ${cfg.topology}`);
    }
    if (TOPOLOGIES[cfg.topology].routing === "single" && cfg.servers !== undefined && cfg.servers !== 1) {
      issue(["servers"], `${cfg.topology} runs exactly one CLI server; use sticky or shared-storage for more`);
    }
    if (cfg.kubernetes.loadBalancer && cfg.kubernetes.gatewayServiceType !== "LoadBalancer") {
      issue(["kubernetes", "loadBalancer"], `load balancer options need kubernetes.gatewayServiceType LoadBalancer (it is ${cfg.kubernetes.gatewayServiceType})`);
    }
    const autoscale = cfg.gateway.autoscale;
    if (autoscale && autoscale.min > autoscale.max) issue(["gateway", "autoscale", "min"], `min ${autoscale.min} is above max ${autoscale.max}`);
  });
export type KubernetesStackConfig = z.infer<typeof kubernetesStackSchema>;

/** Secret config keys, read with getSecret; never in stack files. */
export const SECRET_CONFIG_KEYS = [SECRET_SEED_KEY, "githubToken", "jwtSecret", "redisUrl", "providerApiKey", "identityHookToken"] as const;

export function readKubernetesConfig(): KubernetesStackConfig {
  return readStackConfig(kubernetesStackSchema, SECRET_CONFIG_KEYS);
}

function createTopology(cfg: KubernetesStackConfig, kit: KitArgs, opts: pulumi.ComponentResourceOptions): KitTopology {
  const name = cfg.kubernetes.namePrefix;
  switch (cfg.topology) {
    case "shared":
      return new SharedCli(name, kit, opts);
    case "collaborative":
      return new Collaborative(name, kit, opts);
    case "sticky":
      return new StickyCluster(name, { ...kit, servers: serverCount(cfg) }, opts);
    case "shared-storage":
      return new SharedStorageCluster(
        name,
        { ...kit, servers: serverCount(cfg), sharedStorage: { storageClass: cfg.kubernetes.sharedStorageClass!, sizeGi: cfg.kubernetes.sharedStorageGi } },
        opts,
      );
    case "isolated":
      return new IsolatedPerUser(name, { ...kit, tenants: cfg.tenants, ...(cfg.tenants.length === 0 ? { perUser: perUserOptions(cfg) } : {}) }, opts);
  }
}

function perUserOptions(cfg: KubernetesStackConfig): PerUserOptions {
  const { namespace, ...rest } = cfg.kubernetes.perUser;
  return { ...rest, namespace: namespace ?? `${cfg.kubernetes.namespace}-users`, createNamespace: cfg.kubernetes.createNamespace };
}

export async function deployKubernetes(): Promise<StackOutputs> {
  const cfg = readKubernetesConfig();
  const secretSeed = requireSecretSeed();
  const k = cfg.kubernetes;
  const secrets = new pulumi.Config(CONFIG_NAMESPACE);
  const redisUrl = secrets.getSecret("redisUrl");
  checkSecretsAgainstConfig(cfg, secrets);

  const provider = k.context ? new k8s.Provider("kubernetes", { context: k.context }) : undefined;
  const namespace = k.createNamespace
    ? new k8s.core.v1.Namespace(
        k.namespace,
        {
          metadata: {
            name: k.namespace,
            labels: {
              "app.kubernetes.io/part-of": PART_OF,
              // Every pod of the kit meets the restricted profile; the API server enforces it.
              "pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/enforce-version": "latest",
            },
          },
        },
        { provider },
      )
    : undefined;

  // Built images are referenced by digest once pushed, so a rebuild rolls the pods.
  const built = k.build ? new KitImages("images", { cli: cfg.images.cli, gateway: cfg.images.gateway, ...k.build }) : undefined;
  const kit: KitArgs = {
    namespace: k.namespace,
    instance: k.namePrefix,
    images: built ? { cli: built.cli, gateway: built.gateway } : cfg.images,
    imagePull: { policy: k.imagePullPolicy, secrets: k.imagePullSecrets },
    gateway: {
      ...cfg.gateway,
      serviceType: k.gatewayServiceType,
      loadBalancer: k.loadBalancer,
      exposure: k.exposure,
      serviceMonitor: k.serviceMonitor,
      resources: k.resources.gateway,
      jwtSecret: secrets.getSecret("jwtSecret"),
    },
    lifecycle: cfg.lifecycle,
    auth: cfg.auth,
    identity: cfg.identity,
    identityHookToken: secrets.getSecret("identityHookToken"),
    secretSeed,
    cli: {
      resources: k.resources.cli,
      storageGi: k.storageGi,
      storageClass: k.storageClass,
      retainState: k.retainSessionState,
      sessionIdleTimeoutSeconds: k.cliSessionIdleTimeoutSeconds,
      env: k.cliEnv,
    },
    redis: cfg.redis.external
      ? { externalUrl: redisUrl }
      : { image: k.redisImage, storageGi: k.redisStorageGi, resources: k.resources.redis },
    githubToken: secrets.getSecret("githubToken"),
    providerApiKey: secrets.getSecret("providerApiKey"),
    cleanupResources: k.resources.cleanup,
    blockedEgressCidrs: k.blockedEgressCidrs,
  };
  // Children wait for the namespace: a component's registration waits for its dependsOn, and
  // every child waits for its parent's registration.
  const topology = createTopology(cfg, kit, { provider, dependsOn: namespace ? [namespace] : [] });

  const gatewayUrl = topology.gateway.loadBalancerUrl.apply((lb) => k.gatewayUrl ?? topology.gateway.exposedUrl ?? lb ?? topology.gateway.url);
  const servers = topology.servers.map((s) => ({ id: s.serverId, address: s.address }));
  const tokens = pulumi.all(topology.servers.map((s) => s.connectionToken));
  const target = pulumi.all([gatewayUrl, topology.gateway.jwtSecret, tokens]).apply(([url, jwtSecret, connectionTokens]) => {
    const descriptor: TargetDescriptor = {
      version: TARGET_VERSION,
      name: `kubernetes-${pulumi.getStack()}`,
      topology: cfg.topology,
      platform: "kubernetes",
      gatewayUrls: [url],
      // In-cluster: readiness and metrics are not exposed outside it.
      adminUrls: [topology.gateway.adminUrl],
      // OIDC: tokens come from the provider; put tokens it issued for the conformance users in auth.tokens.
      auth: jwtSecret !== undefined ? { kind: "jwt-hs256", secret: jwtSecret } : { kind: "static", tokens: {} },
      features: [
        ...deployedFeatures(cfg),
        // Per-user Pods are culled by the gateway itself; a test can watch it when the timeout is short.
        ...(topology.userServers && cfg.kubernetes.perUser.idleCullSeconds <= OBSERVABLE_LIFECYCLE.idleTimeoutSeconds ? (["cli-culling"] as const) : []),
      ],
      settings: targetSettings(topology.runtime.config),
      servers: topology.servers.map((s, i) => ({
        id: s.serverId,
        address: s.address,
        connectionToken: connectionTokens[i]!,
        ...(s.tenant ? { user: s.tenant } : {}),
      })),
      store: { kind: topology.runtime.config.store },
    };
    return JSON.stringify(parseTarget(descriptor, `stack ${pulumi.getStack()}`), null, 2);
  });

  return { gatewayUrl, servers: pulumi.output(servers), target: pulumi.secret(target) };
}
