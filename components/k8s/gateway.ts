/**
 * The session gateway: Deployment, the public Service (the API port only) and the admin Service
 * (probes' and scrapers' port, ClusterIP), its exposure (exposure.ts), its JWT secret, a
 * PodDisruptionBudget and an optional HorizontalPodAutoscaler. Several replicas need the redis store; a single replica on the memory
 * store keeps its registry on a small volume so a restart does not forget who owns which session.
 */
import { dirname } from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GATEWAY_COMMANDS, GATEWAY_PATHS, GATEWAY_PORT } from "../../images/contract.js";
import { GATEWAY_SECRET_ENV } from "../../topology/gateway-config.js";
import { SECRET_CHECKSUM_ANNOTATION, secretChecksum } from "../secrets.js";
import { type Exposure, GatewayExposure, type LoadBalancerOptions, loadBalancerSettings, type ServiceMonitorOptions } from "./exposure.js";
import type { GatewayRuntime } from "./gateway-runtime.js";
import {
  BACKEND_CLIENT_LABEL,
  type ResourceRequirements,
  type SecretKeyRef,
  hardenedPodTemplate,
  preStopSleep,
  RESTRICTED_CONTAINER_SECURITY,
  scratchVolume,
  secretEnv,
  selectorLabels,
  serviceHost,
  standardLabels,
  TMP_MOUNT,
} from "./meta.js";

export interface GatewayAutoscale {
  min: number;
  max: number;
  cpuPercent: number;
}

export interface GatewayArgs {
  namespace: string;
  instance: string;
  runtime: GatewayRuntime;
  /** HS256 secret that signs user JWTs (auth hs256); absent with OIDC. Always secret. */
  jwtSecret?: pulumi.Input<string>;
  /** Fixed replica count; ignored when `autoscale` is set. */
  replicas?: number;
  autoscale?: GatewayAutoscale;
  serviceType?: "ClusterIP" | "LoadBalancer" | "NodePort";
  /** serviceType LoadBalancer: internal, source ranges, extra annotations. */
  loadBalancer?: LoadBalancerOptions;
  /** An Ingress or HTTPRoute in front of the public Service. */
  exposure?: Exposure;
  /** A Prometheus Operator ServiceMonitor on the admin Service. */
  serviceMonitor?: ServiceMonitorOptions;
  resources?: ResourceRequirements;
  /** Secret values the pods read besides the JWT secret (tokens, Redis URL, credentials): a change restarts them. */
  rolloutSecrets?: pulumi.Input<string | undefined>[];
  /** memory store only: the claim that holds `storeFile`. */
  stateStorage?: { sizeGi?: number; storageClass?: string };
  /** Per-user Pods: the ServiceAccount whose Role lets the gateway create them; its token is mounted. */
  serviceAccountName?: pulumi.Input<string>;
}

export const DEFAULT_GATEWAY_RESOURCES: ResourceRequirements = {
  requests: { cpu: "100m", memory: "256Mi" },
  limits: { cpu: "1", memory: "512Mi" },
};
export const JWT_SECRET_KEY = "jwt-secret";
/** Marks the admin Service, which a ServiceMonitor selects (the public Service does not carry it). */
export const ADMIN_SERVICE_LABEL = "copilot-scale-kit.io/admin";
/** Seconds the pod keeps serving after removal from the endpoints, before SIGTERM starts the drain. */
const ENDPOINT_PROPAGATION_SECONDS = 5;

export class Gateway extends pulumi.ComponentResource {
  readonly serviceName: string;
  /** In-cluster base URL of the Service. */
  readonly url: string;
  /** In-cluster base URL of the admin Service (/readyz, /metrics). */
  readonly adminUrl: string;
  /** `https://<host>` of the Ingress or HTTPRoute, when there is one. */
  readonly exposedUrl?: string;
  /** `http://<load balancer>:8080` once the cloud assigns an address; undefined otherwise. */
  readonly loadBalancerUrl: pulumi.Output<string | undefined>;
  /** auth hs256 only. */
  readonly jwtSecret?: pulumi.Output<string>;
  readonly jwtSecretRef?: SecretKeyRef;
  readonly podLabels: Record<string, string>;
  readonly deployment: k8s.apps.v1.Deployment;
  readonly service: k8s.core.v1.Service;
  readonly adminService: k8s.core.v1.Service;

  constructor(name: string, args: GatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("copilot-scale-kit:k8s:Gateway", name, {}, opts);
    const { config } = args.runtime;
    const replicas = args.replicas ?? 1;
    const maxReplicas = args.autoscale ? args.autoscale.max : replicas;
    if (maxReplicas > 1 && config.store !== "redis") {
      throw new Error(`Gateway: ${maxReplicas} replicas need the redis store (ownership, locks and leases must be shared); got store "${config.store}"`);
    }
    if (args.autoscale && args.autoscale.min > args.autoscale.max) {
      throw new Error(`Gateway: autoscale.min ${args.autoscale.min} is above autoscale.max ${args.autoscale.max}`);
    }
    const drainGrace = config.lifecycle.drainGraceSeconds;
    const k8sName = `${args.instance}-gateway`;
    const selector = selectorLabels(args.instance, "gateway");
    const labels = standardLabels(args.instance, "gateway", { [BACKEND_CLIENT_LABEL]: "true" });
    const meta = (suffix = "") => ({ name: `${k8sName}${suffix}`, namespace: args.namespace, labels });
    const child = { parent: this };

    if (args.jwtSecret !== undefined) {
      this.jwtSecret = pulumi.secret(args.jwtSecret);
      const authSecret = new k8s.core.v1.Secret(
        `${k8sName}-auth`,
        { metadata: meta("-auth"), type: "Opaque", stringData: { [JWT_SECRET_KEY]: this.jwtSecret } },
        child,
      );
      this.jwtSecretRef = { name: authSecret.metadata.name, key: JWT_SECRET_KEY };
    }
    if ((config.auth.kind === "jwt-hs256") !== (args.jwtSecret !== undefined)) {
      throw new Error(`Gateway: auth ${config.auth.kind} ${config.auth.kind === "jwt-hs256" ? "needs" : "takes no"} jwtSecret`);
    }

    const volumes: k8s.types.input.core.v1.Volume[] = [scratchVolume("tmp", "256Mi")];
    const volumeMounts: k8s.types.input.core.v1.VolumeMount[] = [TMP_MOUNT];
    if (config.storeFile) {
      const pvc = new k8s.core.v1.PersistentVolumeClaim(
        `${k8sName}-state`,
        {
          metadata: meta("-state"),
          spec: {
            accessModes: ["ReadWriteOnce"],
            storageClassName: args.stateStorage?.storageClass,
            resources: { requests: { storage: `${args.stateStorage?.sizeGi ?? 1}Gi` } },
          },
        },
        child,
      );
      volumes.push({ name: "state", persistentVolumeClaim: { claimName: pvc.metadata.name } });
      volumeMounts.push({ name: "state", mountPath: dirname(config.storeFile) });
    }

    // Probes use the admin port: the public one serves no readiness.
    const adminPort = config.admin.port;
    if (config.port !== GATEWAY_PORT || adminPort === 0) throw new Error(`Gateway: the image listens on ${GATEWAY_PORT} and a fixed admin port; got port ${config.port}, admin.port ${adminPort}`);
    const http = (path: string) => ({ httpGet: { path, port: "admin" }, timeoutSeconds: 3 });
    this.deployment = new k8s.apps.v1.Deployment(
      k8sName,
      {
        metadata: meta(),
        spec: {
          replicas: args.autoscale ? undefined : replicas,
          // Two memory-store replicas would split the registry, even briefly during a rollout.
          strategy: config.store === "redis" ? { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } : { type: "Recreate" },
          selector: { matchLabels: selector },
          template: hardenedPodTemplate(
            labels,
            {
              imagePull: args.runtime.imagePull,
              terminationGracePeriodSeconds: ENDPOINT_PROPAGATION_SECONDS + drainGrace + 10,
              topologySpreadConstraints:
                maxReplicas > 1 ? [{ maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: selector } }] : undefined,
              containers: [
                {
                  name: "gateway",
                  image: args.runtime.image,
                  imagePullPolicy: args.runtime.imagePull?.policy,
                  args: [GATEWAY_COMMANDS.serve],
                  ports: [
                    { name: "http", containerPort: GATEWAY_PORT, protocol: "TCP" },
                    { name: "admin", containerPort: adminPort, protocol: "TCP" },
                  ],
                  env: [...args.runtime.env, ...(this.jwtSecretRef ? [secretEnv(GATEWAY_SECRET_ENV.jwtSecret, this.jwtSecretRef)] : [])],
                  startupProbe: { ...http(GATEWAY_PATHS.liveness), periodSeconds: 2, failureThreshold: 30 },
                  // 503 while draining or while a CLI backend does not answer its ping.
                  readinessProbe: { ...http(GATEWAY_PATHS.readiness), periodSeconds: 5, failureThreshold: 2 },
                  livenessProbe: { ...http(GATEWAY_PATHS.liveness), periodSeconds: 10, failureThreshold: 3 },
                  // Keep serving until the endpoint removal has propagated; SIGTERM then drains.
                  lifecycle: preStopSleep(ENDPOINT_PROPAGATION_SECONDS),
                  resources: args.resources ?? DEFAULT_GATEWAY_RESOURCES,
                  securityContext: RESTRICTED_CONTAINER_SECURITY,
                  volumeMounts,
                },
              ],
              volumes,
              ...(args.serviceAccountName ? { serviceAccountName: args.serviceAccountName } : {}),
            },
            {
              "prometheus.io/scrape": "true",
              "prometheus.io/port": String(adminPort),
              "prometheus.io/path": GATEWAY_PATHS.metrics,
              [SECRET_CHECKSUM_ANNOTATION]: secretChecksum([...(this.jwtSecret ? [this.jwtSecret] : []), ...(args.rolloutSecrets ?? [])]),
            },
          ),
        },
      },
      child,
    );

    const type = args.serviceType ?? "ClusterIP";
    if (args.loadBalancer && type !== "LoadBalancer") throw new Error(`Gateway: loadBalancer options need serviceType LoadBalancer, not ${type}`);
    const lb = loadBalancerSettings(args.loadBalancer);
    // The API port only: readiness and metrics never reach a load balancer or ingress.
    this.service = new k8s.core.v1.Service(
      k8sName,
      {
        metadata: { ...meta(), ...(lb.annotations ? { annotations: lb.annotations } : {}) },
        spec: { type, selector, ports: [{ name: "http", port: GATEWAY_PORT, targetPort: "http", protocol: "TCP" }], ...lb.spec },
      },
      child,
    );
    const adminLabels = { ...labels, [ADMIN_SERVICE_LABEL]: "true" };
    this.adminService = new k8s.core.v1.Service(
      `${k8sName}-admin`,
      {
        metadata: { ...meta("-admin"), labels: adminLabels },
        spec: { type: "ClusterIP", selector, ports: [{ name: "admin", port: adminPort, targetPort: "admin", protocol: "TCP" }] },
      },
      child,
    );
    // Only what is asked for: an Ingress or HTTPRoute, and a ServiceMonitor on the admin Service.
    const exposure =
      args.exposure || args.serviceMonitor
        ? new GatewayExposure(
            `${k8sName}-exposure`,
            {
              namespace: args.namespace,
              labels,
              name: k8sName,
              service: { name: this.service.metadata.name, port: GATEWAY_PORT },
              adminService: { labels: { [ADMIN_SERVICE_LABEL]: "true", ...selectorLabels(args.instance, "gateway") }, portName: "admin" },
              exposure: args.exposure,
              serviceMonitor: args.serviceMonitor,
              streamTimeoutSeconds: config.lifecycle.turnTimeoutSeconds + 60,
            },
            child,
          )
        : undefined;
    this.exposedUrl = exposure?.url;

    new k8s.policy.v1.PodDisruptionBudget(
      k8sName,
      // maxUnavailable (not minAvailable) so a single replica never blocks a node drain.
      { metadata: meta(), spec: { maxUnavailable: 1, selector: { matchLabels: selector } } },
      child,
    );

    if (args.autoscale) {
      new k8s.autoscaling.v2.HorizontalPodAutoscaler(
        k8sName,
        {
          metadata: meta(),
          spec: {
            scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: k8sName },
            minReplicas: args.autoscale.min,
            maxReplicas: args.autoscale.max,
            metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: args.autoscale.cpuPercent } } }],
            // Scaling in drains a replica; do it slowly.
            behavior: { scaleDown: { stabilizationWindowSeconds: 300 } },
          },
        },
        child,
      );
    }

    this.serviceName = k8sName;
    this.url = `http://${serviceHost(k8sName, args.namespace)}:${GATEWAY_PORT}`;
    this.adminUrl = `http://${serviceHost(`${k8sName}-admin`, args.namespace)}:${adminPort}`;
    this.loadBalancerUrl = this.service.status.apply((s) => {
      const ingress = s?.loadBalancer?.ingress?.[0];
      const host = ingress?.ip || ingress?.hostname;
      return host ? `http://${host}:${GATEWAY_PORT}` : undefined;
    });
    this.podLabels = labels;
    this.registerOutputs({ url: this.url, loadBalancerUrl: this.loadBalancerUrl });
  }
}
