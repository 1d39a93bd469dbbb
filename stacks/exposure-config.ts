/**
 * Stack config of the gateway's exposure on Kubernetes: Ingress or HTTPRoute with TLS, load-balancer
 * options and the ServiceMonitor (the `kubernetes.exposure`, `.loadBalancer`, `.serviceMonitor` keys).
 */
import { z } from "zod";

export const dnsLabel = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "a DNS label: lowercase letters, digits and '-', at most 63");
export const cidr = z.string().regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/, "a CIDR such as 169.254.169.254/32");

const hostname = z.string().regex(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, "a DNS name such as copilot.example.com");
const annotations = z.record(z.string().min(1), z.string());

/** Ingress or Gateway API HTTPRoute in front of the gateway's public Service (components/k8s/exposure.ts). */
export const exposureSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("ingress"),
    host: hostname,
    className: z.string().min(1).optional(),
    tls: z.strictObject({
      /** The kubernetes.io/tls Secret the Ingress serves (kubectl create secret tls ...), or that cert-manager fills. */
      secretName: dnsLabel,
      certManager: z.strictObject({ issuerRef: z.strictObject({ name: z.string().min(1), kind: z.enum(["Issuer", "ClusterIssuer"]).default("ClusterIssuer"), group: z.string().min(1).optional() }) }).optional(),
    }),
    annotations: annotations.optional(),
    /** ingress-nginx read/send timeouts past the longest turn and no buffering (SSE). */
    nginxStreaming: z.boolean().default(true),
    /** false where no ingress controller runs (the local cluster): `pulumi up` would wait 10 min for an address. */
    awaitAddress: z.boolean().default(true),
  }),
  z.strictObject({
    kind: z.literal("httpRoute"),
    hostnames: z.array(hostname).min(1),
    /** The Gateway whose HTTPS listener terminates TLS. */
    parentRefs: z.array(z.strictObject({ name: z.string().min(1), namespace: dnsLabel.optional(), sectionName: z.string().min(1).optional() })).min(1),
  }),
]);

/** gatewayServiceType LoadBalancer: a private load balancer (aks, eks, gke annotations), client CIDRs, extra annotations. */
export const loadBalancerSchema = z.strictObject({ internal: z.enum(["aks", "eks", "gke"]).optional(), sourceRanges: z.array(cidr).optional(), annotations: annotations.optional() });

/** A Prometheus Operator ServiceMonitor on the admin Service; labels are what your Prometheus selects. */
export const serviceMonitorSchema = z.strictObject({ interval: z.string().regex(/^\d+[smh]$/, "a duration such as 30s").optional(), labels: annotations.optional() });
