/**
 * The arguments every Kubernetes topology component takes (KitTopology), typed on their own as
 * pulumi-awsx components' are: stacks map their config onto these, never the other way round.
 */
import type * as pulumi from "@pulumi/pulumi";
import type { DeploymentAuth, DeploymentGateway, DeploymentIdentity, DeploymentLifecycle } from "../../topology/index.js";
import type { Exposure, LoadBalancerOptions, ServiceMonitorOptions } from "./exposure.js";
import type { ImagePull, ResourceRequirements } from "./meta.js";

export interface KitArgs {
  namespace: string;
  /** Prefix of every Kubernetes name and the app.kubernetes.io/instance label; default "copilot". */
  instance?: string;
  /** Image references (plain config, or KitImages outputs when the stack builds them). */
  images: { cli: pulumi.Input<string>; gateway: pulumi.Input<string> };
  imagePull?: ImagePull;
  gateway: DeploymentGateway & {
    serviceType?: "ClusterIP" | "LoadBalancer" | "NodePort";
    /** serviceType LoadBalancer: internal (per cloud), source ranges, annotations. */
    loadBalancer?: LoadBalancerOptions;
    /** An Ingress or Gateway API HTTPRoute with TLS in front of the public Service. */
    exposure?: Exposure;
    /** A ServiceMonitor scraping the admin Service (needs the Prometheus Operator's CRDs). */
    serviceMonitor?: ServiceMonitorOptions;
    resources?: ResourceRequirements;
    /** Derived from `secretSeed` when omitted. */
    jwtSecret?: pulumi.Input<string>;
  };
  /** Who may call the gateway; default hs256 (a JWT secret derived from the seed, or gateway.jwtSecret): development and tests only. */
  auth?: DeploymentAuth;
  /**
   * Each user's own GitHub token on their sessions (not with per-user Pods, which mount the user's
   * own credentials): per-user Secrets (kubernetes) or the operator's hook (http, with its bearer token).
   */
  identity?: DeploymentIdentity;
  identityHookToken?: pulumi.Input<string>;
  /** Seed of every generated secret (connection tokens, JWT secret, Redis password); see components/secrets.ts. */
  secretSeed: pulumi.Input<string>;
  lifecycle: DeploymentLifecycle;
  cli?: {
    resources?: ResourceRequirements;
    /** Size of each server's own state volume. */
    storageGi?: number;
    /** Storage class of ReadWriteOnce volumes (CLI state, Redis, gateway registry); default = the cluster's. */
    storageClass?: string;
    sessionIdleTimeoutSeconds?: number;
    env?: Record<string, string>;
    /** Keep a server's state claim when it leaves the stack (default true); see CliStorage. */
    retainState?: boolean;
  };
  redis?: { externalUrl?: pulumi.Input<string>; image?: string; storageGi?: number; resources?: ResourceRequirements };
  /** COPILOT_GITHUB_TOKEN for the CLI servers and the gateway. */
  githubToken?: pulumi.Input<string>;
  /** GATEWAY_PROVIDER_API_KEY for a BYOK model provider. */
  providerApiKey?: pulumi.Input<string>;
  cleanupResources?: ResourceRequirements;
  blockedEgressCidrs?: string[];
  /** isolated only: a Pod per user, created by the gateway on demand, instead of fixed servers. */
  perUser?: PerUserOptions;
}

export interface PerUserOptions {
  /** Namespace of the per-user Pods; default `<namespace>-users`. */
  namespace?: string;
  createNamespace?: boolean;
  maxServers: number;
  /** A server with no request for this long is culled (its claim stays). */
  idleCullSeconds: number;
  /** A claim unused this long is deleted; 0 = kept. */
  claimTtlSeconds: number;
  startTimeoutSeconds?: number;
  /** Private endpoints the user Pods may reach (an in-cluster or on-node model). */
  modelEgress?: { cidr: string; port: number }[];
  /** Users without a credentials Secret of their own get the deployment's GitHub token (else none). */
  sharedCredential: boolean;
}
