/**
 * The gateway's exposure on Kubernetes under Pulumi mocks (the real stacks/index.ts, stack
 * local-exposure and variants of its kubernetes section): Ingress or HTTPRoute with TLS, cert-manager,
 * load-balancer options, the ServiceMonitor on the admin Service, and the config errors.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ADMIN_SERVICE_LABEL, INTERNAL_LOAD_BALANCER_ANNOTATIONS } from "../components/k8s/index.js";
import { COMPONENT_LABEL } from "../components/k8s/meta.js";
import { resolveOutput } from "../testing/pulumi-mocks.js";
import { type KubeResource, type KubernetesRun, runKubernetesStack, validateKubeObject } from "../testing/kubernetes.js";
import { loadStackFile, STACKS_DIR } from "../testing/stack-files.js";
import { parseTarget } from "../topology/index.js";

/* eslint-disable @typescript-eslint/no-explicit-any -- assertions walk rendered JSON */

const STACK = "local-exposure";
const KEY = "copilot-scale-kit:kubernetes";
const section = JSON.parse(loadStackFile(join(STACKS_DIR, `Pulumi.${STACK}.yaml`)).config[KEY]!) as Record<string, unknown>;
/** local-exposure with its kubernetes section changed. */
const withKubernetes = (change: Record<string, unknown>) => runKubernetesStack(STACK, { config: { [KEY]: JSON.stringify({ ...section, ...change }) } });
const kind = (run: KubernetesRun, k: string) => run.kube.filter((r) => r.obj.kind === k);
const gatewayServices = (run: KubernetesRun) => kind(run, "Service").filter((s) => s.obj.metadata?.labels?.[COMPONENT_LABEL] === "gateway");
const publicService = (run: KubernetesRun) => gatewayServices(run).find((s) => !s.obj.metadata?.labels?.[ADMIN_SERVICE_LABEL])!;
const adminService = (run: KubernetesRun) => gatewayServices(run).find((s) => s.obj.metadata?.labels?.[ADMIN_SERVICE_LABEL])!;
const spec = (r: KubeResource): any => r.obj.spec;
const gatewayUrl = async (run: KubernetesRun) => parseTarget(JSON.parse((await resolveOutput(run.run.exports.target)).value)).gatewayUrls[0];
const errorOf = (change: Record<string, unknown>) => withKubernetes(change).then(() => "no error", (e: Error) => e.message);

describe("exposure: Ingress with TLS (stack local-exposure)", () => {
  it("renders a valid Ingress for the host with the TLS Secret, to the public Service's API port, and nginx settings for streams", async () => {
    const run = await runKubernetesStack(STACK);
    const [ingress] = kind(run, "Ingress");
    expect(ingress, "an Ingress").toBeDefined();
    validateKubeObject(ingress!);
    const svc = publicService(run);
    expect(spec(ingress!)).toEqual({
      ingressClassName: "nginx",
      tls: [{ hosts: ["copilot.kit.test"], secretName: "copilot-gateway-tls" }],
      rules: [{ host: "copilot.kit.test", http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: svc.obj.metadata!.name, port: { number: 8080 } } } }] } }],
    });
    // A JSON turn is silent up to the turn timeout (600 s) plus the gateway's margin.
    expect(ingress!.obj.metadata?.annotations).toMatchObject({
      "nginx.ingress.kubernetes.io/proxy-read-timeout": "660",
      "nginx.ingress.kubernetes.io/proxy-send-timeout": "660",
      "nginx.ingress.kubernetes.io/proxy-buffering": "off",
      // The local cluster runs no ingress controller: no address will come, so pulumi up must not wait for one.
      "pulumi.com/skipAwait": "true",
    });
    expect(kind(run, "Certificate")).toEqual([]);
    // The public Service carries the API port only.
    expect(spec(svc).ports.map((p: any) => p.port)).toEqual([8080]);
    expect(spec(adminService(run)).ports.map((p: any) => p.port)).toEqual([9090]);
    expect(await gatewayUrl(run)).toBe("http://127.0.0.1:8080");
  });

  it("asks cert-manager for the certificate when an issuer is given, into the Secret the Ingress serves", async () => {
    const run = await withKubernetes({
      gatewayUrl: undefined,
      exposure: { kind: "ingress", host: "copilot.example.com", tls: { secretName: "copilot-tls", certManager: { issuerRef: { name: "letsencrypt" } } }, nginxStreaming: false },
    });
    const [cert] = kind(run, "Certificate");
    validateKubeObject(cert!);
    expect(cert!.obj.apiVersion).toBe("cert-manager.io/v1");
    expect(spec(cert!)).toEqual({ secretName: "copilot-tls", dnsNames: ["copilot.example.com"], issuerRef: { name: "letsencrypt", kind: "ClusterIssuer", group: "cert-manager.io" } });
    const [ingress] = kind(run, "Ingress");
    expect(spec(ingress!).tls).toEqual([{ hosts: ["copilot.example.com"], secretName: "copilot-tls" }]);
    expect(spec(ingress!).ingressClassName).toBeUndefined();
    expect(ingress!.obj.metadata?.annotations).toBeUndefined();
    expect(await gatewayUrl(run)).toBe("https://copilot.example.com");
  });
});

describe("exposure: Gateway API HTTPRoute", () => {
  it("attaches to the given Gateway for the hostnames, routes to the public Service, and renders no Ingress", async () => {
    const run = await withKubernetes({
      gatewayUrl: undefined,
      exposure: { kind: "httpRoute", hostnames: ["copilot.example.com"], parentRefs: [{ name: "public", namespace: "gateways", sectionName: "https" }] },
    });
    expect(kind(run, "Ingress")).toEqual([]);
    const [route] = kind(run, "HTTPRoute");
    validateKubeObject(route!);
    expect(route!.obj.apiVersion).toBe("gateway.networking.k8s.io/v1");
    expect(spec(route!).parentRefs).toEqual([{ group: "gateway.networking.k8s.io", kind: "Gateway", name: "public", namespace: "gateways", sectionName: "https" }]);
    expect(spec(route!).hostnames).toEqual(["copilot.example.com"]);
    expect(spec(route!).rules[0].backendRefs).toEqual([{ name: publicService(run).obj.metadata!.name, port: 8080 }]);
    expect(spec(route!).rules[0].timeouts).toEqual({ request: "660s" });
    expect(await gatewayUrl(run)).toBe("https://copilot.example.com");
  });
});

describe("exposure: load balancer options", () => {
  it.each(["aks", "eks", "gke"] as const)("an internal load balancer on %s with source ranges; the admin Service stays ClusterIP", async (cloud) => {
    const run = await withKubernetes({ exposure: undefined, gatewayServiceType: "LoadBalancer", loadBalancer: { internal: cloud, sourceRanges: ["10.0.0.0/8"] } });
    const svc = publicService(run);
    expect(spec(svc).type).toBe("LoadBalancer");
    expect(svc.obj.metadata?.annotations).toEqual(INTERNAL_LOAD_BALANCER_ANNOTATIONS[cloud]);
    expect(spec(svc).loadBalancerSourceRanges).toEqual(["10.0.0.0/8"]);
    expect(spec(svc).ports.map((p: any) => p.name)).toEqual(["http"]);
    const admin = adminService(run);
    expect(spec(admin).type).toBe("ClusterIP");
    expect(admin.obj.metadata?.annotations).toBeUndefined();
  });
});

describe("exposure: ServiceMonitor", () => {
  it("scrapes /metrics on the admin Service only: its selector matches the admin Service and not the public one", async () => {
    const run = await withKubernetes({ serviceMonitor: { interval: "30s", labels: { release: "kube-prometheus-stack" } } });
    const [monitor] = kind(run, "ServiceMonitor");
    validateKubeObject(monitor!);
    expect(monitor!.obj.metadata?.labels).toMatchObject({ release: "kube-prometheus-stack" });
    const selector: Record<string, string> = spec(monitor!).selector.matchLabels;
    const selects = (s: KubeResource) => Object.entries(selector).every(([k, v]) => s.obj.metadata?.labels?.[k] === v);
    expect(kind(run, "Service").filter(selects).map((s) => s.obj.metadata?.name)).toEqual([adminService(run).obj.metadata!.name]);
    expect(spec(monitor!).namespaceSelector).toEqual({ matchNames: ["kit-exposure"] });
    expect(spec(monitor!).endpoints).toEqual([{ port: "admin", path: "/metrics", interval: "30s" }]);
    expect(spec(adminService(run)).ports.map((p: any) => p.name)).toEqual(["admin"]);
  });
});

describe("exposure: config errors name the key and the fix", () => {
  it("load balancer options without a LoadBalancer Service", async () => {
    expect(await errorOf({ loadBalancer: { internal: "aks" } })).toMatch(
      /copilot-scale-kit:kubernetes\.loadBalancer: load balancer options need kubernetes\.gatewayServiceType LoadBalancer \(it is ClusterIP\) \(fix: set kubernetes\.loadBalancer under copilot-scale-kit:kubernetes/,
    );
  });

  it("a misspelt TLS key, a bad host, an unknown cloud, an HTTPRoute without a Gateway", async () => {
    expect(await errorOf({ exposure: { kind: "ingress", host: "copilot.kit.test", tls: { secretNam: "x" } } })).toMatch(/copilot-scale-kit:kubernetes\.exposure\.tls\.secretNam: unknown key/);
    expect(await errorOf({ exposure: { kind: "ingress", host: "https://copilot.kit.test/", tls: { secretName: "x" } } })).toMatch(/copilot-scale-kit:kubernetes\.exposure\.host: a DNS name such as copilot\.example\.com/);
    expect(await errorOf({ gatewayServiceType: "LoadBalancer", loadBalancer: { internal: "azure" } })).toMatch(/copilot-scale-kit:kubernetes\.loadBalancer\.internal: .*"aks"/);
    expect(await errorOf({ exposure: { kind: "httpRoute", hostnames: ["copilot.kit.test"], parentRefs: [] } })).toMatch(/copilot-scale-kit:kubernetes\.exposure\.parentRefs: /);
  });
});
