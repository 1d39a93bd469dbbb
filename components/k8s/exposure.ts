/**
 * How clients and scrapers reach the gateway: an Ingress (TLS from a Secret, or a cert-manager
 * Certificate that fills it) or a Gateway API HTTPRoute (TLS ends at the Gateway's listener), the
 * public Service's load-balancer options, and a Prometheus Operator ServiceMonitor on the admin
 * Service. Only the public port is ever exposed; /readyz and /metrics stay on the admin port.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GATEWAY_PATHS } from "../../images/contract.js";

export interface IssuerRef {
  name: string;
  /** Default ClusterIssuer. */
  kind?: "Issuer" | "ClusterIssuer";
  /** Default cert-manager.io; external issuers name their group. */
  group?: string;
}

export interface IngressExposure {
  kind: "ingress";
  /** The host clients use; the certificate covers it. */
  host: string;
  /** spec.ingressClassName (nginx, traefik, azure-application-gateway, ...); omitted = the cluster default class. */
  className?: string;
  /** The TLS Secret the Ingress serves; with certManager, the Certificate writes it. */
  tls: { secretName: string; certManager?: { issuerRef: IssuerRef } };
  annotations?: Record<string, string>;
  /**
   * ingress-nginx annotations that keep a turn's answer flowing: read/send timeouts past the longest
   * turn, and no response buffering so SSE events reach the client as they come. Default true.
   */
  nginxStreaming?: boolean;
  /**
   * Wait in `pulumi up` until the ingress controller publishes an address (Pulumi's Ingress await).
   * Default true; false on a cluster with no controller, where no address ever comes and the update
   * would hang for ten minutes.
   */
  awaitAddress?: boolean;
}

export interface HttpRouteExposure {
  kind: "httpRoute";
  hostnames: string[];
  /** The Gateway (and listener) to attach to; its HTTPS listener holds the certificate. */
  parentRefs: { name: string; namespace?: string; sectionName?: string }[];
}

export type Exposure = IngressExposure | HttpRouteExposure;

/** Well-known annotations that make a LoadBalancer Service internal (a private address in the cluster's network). */
export const INTERNAL_LOAD_BALANCER_ANNOTATIONS = {
  aks: { "service.beta.kubernetes.io/azure-load-balancer-internal": "true" },
  // The in-tree controller reads the first, the AWS Load Balancer Controller the second.
  eks: { "service.beta.kubernetes.io/aws-load-balancer-internal": "true", "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal" },
  gke: { "networking.gke.io/load-balancer-type": "Internal" },
} as const satisfies Record<string, Record<string, string>>;
export type Cloud = keyof typeof INTERNAL_LOAD_BALANCER_ANNOTATIONS;

export interface LoadBalancerOptions {
  /** A private load balancer on this cloud. */
  internal?: Cloud;
  /** spec.loadBalancerSourceRanges: client CIDRs allowed through the load balancer. */
  sourceRanges?: string[];
  annotations?: Record<string, string>;
}

export interface ServiceMonitorOptions {
  /** Scrape interval, e.g. 30s. */
  interval?: string;
  /** Labels your Prometheus' serviceMonitorSelector matches (e.g. release: kube-prometheus-stack). */
  labels?: Record<string, string>;
}

/** The public Service's annotations and spec additions for `type: LoadBalancer`. */
export function loadBalancerSettings(lb: LoadBalancerOptions | undefined): { annotations?: Record<string, string>; spec: { loadBalancerSourceRanges?: string[] } } {
  if (!lb) return { spec: {} };
  const annotations = { ...(lb.internal ? INTERNAL_LOAD_BALANCER_ANNOTATIONS[lb.internal] : {}), ...lb.annotations };
  return {
    ...(Object.keys(annotations).length ? { annotations } : {}),
    spec: lb.sourceRanges?.length ? { loadBalancerSourceRanges: lb.sourceRanges } : {},
  };
}

export interface GatewayExposureArgs {
  namespace: string;
  labels: Record<string, string>;
  /** Name prefix of the objects (`<instance>-gateway`). */
  name: string;
  /** The public Service and its port name; the admin Service, its labels and port name. */
  service: { name: pulumi.Input<string>; port: number };
  adminService: { labels: Record<string, string>; portName: string };
  exposure?: Exposure;
  serviceMonitor?: ServiceMonitorOptions;
  /** Longest a quiet response may take (a turn without streaming): the proxies' read timeout. */
  streamTimeoutSeconds: number;
}

export class GatewayExposure extends pulumi.ComponentResource {
  /** `https://<host>` when an Ingress or HTTPRoute exposes the gateway. */
  readonly url?: string;

  constructor(name: string, args: GatewayExposureArgs, opts?: pulumi.ComponentResourceOptions) {
    super("copilot-scale-kit:k8s:GatewayExposure", name, {}, opts);
    const child = { parent: this };
    const meta = (suffix: string, extra: { annotations?: Record<string, string>; labels?: Record<string, string> } = {}) => ({
      name: `${args.name}${suffix}`,
      namespace: args.namespace,
      labels: { ...args.labels, ...extra.labels },
      ...(extra.annotations && Object.keys(extra.annotations).length ? { annotations: extra.annotations } : {}),
    });
    const backend = { name: args.service.name, port: args.service.port };
    const e = args.exposure;

    if (e?.kind === "ingress") {
      let certificate: k8s.apiextensions.CustomResource | undefined;
      if (e.tls.certManager) {
        const { issuerRef } = e.tls.certManager;
        certificate = new k8s.apiextensions.CustomResource(
          `${args.name}-certificate`,
          {
            apiVersion: "cert-manager.io/v1",
            kind: "Certificate",
            metadata: meta("-certificate"),
            spec: { secretName: e.tls.secretName, dnsNames: [e.host], issuerRef: { name: issuerRef.name, kind: issuerRef.kind ?? "ClusterIssuer", group: issuerRef.group ?? "cert-manager.io" } },
          },
          child,
        );
      }
      const timeout = String(args.streamTimeoutSeconds);
      const streaming: Record<string, string> =
        e.nginxStreaming === false
          ? {}
          : {
              "nginx.ingress.kubernetes.io/proxy-read-timeout": timeout,
              "nginx.ingress.kubernetes.io/proxy-send-timeout": timeout,
              "nginx.ingress.kubernetes.io/proxy-buffering": "off",
            };
      new k8s.networking.v1.Ingress(
        args.name,
        {
          metadata: meta("", { annotations: { ...streaming, ...(e.awaitAddress === false ? { "pulumi.com/skipAwait": "true" } : {}), ...e.annotations } }),
          spec: {
            ...(e.className ? { ingressClassName: e.className } : {}),
            tls: [{ hosts: [e.host], secretName: e.tls.secretName }],
            rules: [{ host: e.host, http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: backend.name, port: { number: backend.port } } } }] } }],
          },
        },
        { ...child, dependsOn: certificate ? [certificate] : [] },
      );
      this.url = `https://${e.host}`;
    } else if (e?.kind === "httpRoute") {
      new k8s.apiextensions.CustomResource(
        args.name,
        {
          apiVersion: "gateway.networking.k8s.io/v1",
          kind: "HTTPRoute",
          metadata: meta(""),
          spec: {
            parentRefs: e.parentRefs.map((p) => ({ group: "gateway.networking.k8s.io", kind: "Gateway", ...p })),
            hostnames: e.hostnames,
            rules: [
              {
                matches: [{ path: { type: "PathPrefix", value: "/" } }],
                backendRefs: [{ name: backend.name, port: backend.port }],
                // A turn may be quiet this long (SSE heartbeats keep streams busy; a JSON turn is silent).
                timeouts: { request: `${args.streamTimeoutSeconds}s` },
              },
            ],
          },
        },
        child,
      );
      this.url = `https://${e.hostnames[0]}`;
    }

    if (args.serviceMonitor) {
      new k8s.apiextensions.CustomResource(
        `${args.name}-metrics`,
        {
          apiVersion: "monitoring.coreos.com/v1",
          kind: "ServiceMonitor",
          metadata: meta("-metrics", { labels: args.serviceMonitor.labels }),
          spec: {
            // The admin Service only: the public Service has no metrics port.
            selector: { matchLabels: args.adminService.labels },
            namespaceSelector: { matchNames: [args.namespace] },
            endpoints: [{ port: args.adminService.portName, path: GATEWAY_PATHS.metrics, ...(args.serviceMonitor.interval ? { interval: args.serviceMonitor.interval } : {}) }],
          },
        },
        child,
      );
    }
    this.registerOutputs({ url: this.url });
  }
}
