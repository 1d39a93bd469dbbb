/**
 * The gateway's shared store (ownership, room locks, session leases): an in-cluster Redis with a
 * generated password and an append-only volume, or an external Redis whose URL comes from config.
 * Either way the gateway reads the URL from one Secret key.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { SECRET_CHECKSUM_ANNOTATION, secretChecksum } from "../secrets.js";
import {
  type ImagePull,
  type ResourceRequirements,
  type SecretKeyRef,
  hardenedPodTemplate,
  RESTRICTED_CONTAINER_SECURITY,
  scratchVolume,
  secretEnv,
  selectorLabels,
  serviceHost,
  singletonDeploymentSpec,
  standardLabels,
  TMP_MOUNT,
} from "./meta.js";

export const REDIS_PORT = 6379;
/** uid/gid of the `redis` user in the official image. */
const REDIS_UID = 999;
const REDIS_GID = 1000;

export type RedisArgs = {
  namespace: string;
  instance: string;
} & (
  | {
      /** A Redis the kit does not run: `redis://` or `rediss://` URL with credentials. Kept secret. */
      externalUrl: pulumi.Input<string>;
    }
  | {
      /** The password clients authenticate with. Kept secret. */
      password: pulumi.Input<string>;
      /** Pin by digest in production. */
      image?: string;
      imagePull?: ImagePull;
      storageGi?: number;
      storageClass?: string;
      resources?: ResourceRequirements;
    }
);

export const DEFAULT_REDIS_IMAGE = "redis:7.4.2-alpine";
export const DEFAULT_REDIS_RESOURCES: ResourceRequirements = {
  requests: { cpu: "50m", memory: "128Mi" },
  limits: { cpu: "500m", memory: "512Mi" },
};
/** Key of the connection URL in the Redis Secret. */
export const REDIS_URL_KEY = "url";

export class Redis extends pulumi.ComponentResource {
  /** Secret key with the connection URL, for GATEWAY_REDIS_URL. */
  readonly url: SecretKeyRef;
  readonly external: boolean;
  /** Labels of the Redis pods (none when external), for NetworkPolicies. */
  readonly podLabels?: Record<string, string>;

  constructor(name: string, args: RedisArgs, opts?: pulumi.ComponentResourceOptions) {
    super("copilot-scale-kit:k8s:Redis", name, {}, opts);
    const k8sName = `${args.instance}-redis`;
    const labels = standardLabels(args.instance, "redis");
    const meta = (suffix = "") => ({ name: `${k8sName}${suffix}`, namespace: args.namespace, labels });
    const child = { parent: this };
    this.external = "externalUrl" in args;

    if ("externalUrl" in args) {
      const secret = new k8s.core.v1.Secret(
        k8sName,
        { metadata: meta(), type: "Opaque", stringData: { [REDIS_URL_KEY]: pulumi.secret(args.externalUrl) } },
        child,
      );
      this.url = { name: secret.metadata.name, key: REDIS_URL_KEY };
      this.registerOutputs({});
      return;
    }

    const host = serviceHost(k8sName, args.namespace);
    const password = pulumi.secret(args.password);
    const secret = new k8s.core.v1.Secret(
      k8sName,
      {
        metadata: meta(),
        type: "Opaque",
        stringData: {
          password,
          [REDIS_URL_KEY]: pulumi.interpolate`redis://:${password}@${host}:${REDIS_PORT}/0`,
          // The password goes in a mounted config file, not argv, where `ps` would show it.
          "redis.conf": pulumi.interpolate`requirepass ${password}
appendonly yes
dir /data
# Locks and leases must never be evicted to make room.
maxmemory-policy noeviction
`,
        },
      },
      child,
    );
    this.url = { name: secret.metadata.name, key: REDIS_URL_KEY };

    const pvc = new k8s.core.v1.PersistentVolumeClaim(
      `${k8sName}-data`,
      {
        metadata: meta("-data"),
        spec: {
          accessModes: ["ReadWriteOnce"],
          storageClassName: args.storageClass,
          resources: { requests: { storage: `${args.storageGi ?? 1}Gi` } },
        },
      },
      child,
    );

    const selector = selectorLabels(args.instance, "redis");
    // redis-cli exits 0 on an error reply, so the probe checks for PONG itself.
    const probe = { exec: { command: ["sh", "-c", "redis-cli -p 6379 ping | grep -q PONG"] }, timeoutSeconds: 3 };
    new k8s.apps.v1.Deployment(
      k8sName,
      {
        metadata: meta(),
        // One writer on the append-only file.
        spec: singletonDeploymentSpec(
          selector,
          hardenedPodTemplate(labels, {
            imagePull: args.imagePull,
            uid: REDIS_UID,
            gid: REDIS_GID,
            containers: [
              {
                name: "redis",
                image: args.image ?? DEFAULT_REDIS_IMAGE,
                imagePullPolicy: args.imagePull?.policy,
                command: ["redis-server", "/etc/redis/redis.conf"],
                ports: [{ name: "redis", containerPort: REDIS_PORT, protocol: "TCP" }],
                env: [secretEnv("REDISCLI_AUTH", { name: secret.metadata.name, key: "password" })],
                readinessProbe: { ...probe, periodSeconds: 5, failureThreshold: 3 },
                livenessProbe: { ...probe, periodSeconds: 15, failureThreshold: 4 },
                resources: args.resources ?? DEFAULT_REDIS_RESOURCES,
                securityContext: RESTRICTED_CONTAINER_SECURITY,
                volumeMounts: [{ name: "data", mountPath: "/data" }, { name: "config", mountPath: "/etc/redis", readOnly: true }, TMP_MOUNT],
              },
            ],
            volumes: [
              { name: "data", persistentVolumeClaim: { claimName: pvc.metadata.name } },
              { name: "config", secret: { secretName: secret.metadata.name, items: [{ key: "redis.conf", path: "redis.conf" }] } },
              scratchVolume("tmp"),
            ],
          }, { [SECRET_CHECKSUM_ANNOTATION]: secretChecksum([password]) }),
        ),
      },
      child,
    );
    new k8s.core.v1.Service(
      k8sName,
      { metadata: meta(), spec: { type: "ClusterIP", selector, ports: [{ name: "redis", port: REDIS_PORT, targetPort: "redis", protocol: "TCP" }] } },
      child,
    );
    this.podLabels = labels;
    this.registerOutputs({});
  }
}
