/**
 * The gateway's exposure on the real cluster (stack local-exposure): `pulumi up` renders an Ingress
 * with TLS and a ServiceMonitor that the API server accepts against their real schemas (the cluster
 * has the CRDs, not the controllers), the public Service carries the API port only, the public port
 * refuses /metrics and /readyz while the admin Service serves them; an update to a Gateway API
 * HTTPRoute replaces the Ingress; then `pulumi destroy` leaves nothing. No ingress or Gateway
 * controller runs here, so no request goes through the Ingress or the route themselves.
 */
import { GATEWAY_ADMIN_PORT, GATEWAY_PATHS, GATEWAY_PORT } from "../../images/contract.js";
import { stackFileConfig, stackNamespace } from "./deploy-check.js";
import { engineStack } from "./engine.js";
import { kubectl, namespaceLeftovers, podsReady, serviceAddress } from "./kube.js";

export const EXPOSURE_STACK = "local-exposure";
const NAMESPACE = stackNamespace(EXPOSURE_STACK);
const KUBERNETES_KEY = "copilot-scale-kit:kubernetes";

/** The stack file's kubernetes section with the Ingress swapped for an HTTPRoute on a Gateway named `public`. */
function httpRouteOverride(): string {
  const section = stackFileConfig(EXPOSURE_STACK)[KUBERNETES_KEY] as Record<string, unknown>;
  return JSON.stringify({ ...section, exposure: { kind: "httpRoute", hostnames: ["copilot.kit.test"], parentRefs: [{ name: "public", sectionName: "https" }] } });
}

export interface ExposureResult {
  checks: { name: string; ok: boolean; detail: string }[];
  leftovers: string[];
  upSeconds?: number;
  error?: string;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the checks read kubectl's JSON */
const get = (kind: string, name: string): any => JSON.parse(kubectl(["-n", NAMESPACE, "get", kind, name, "-o", "json"]));

async function status(url: string): Promise<number> {
  return (await fetch(url, { signal: AbortSignal.timeout(10_000) })).status;
}

export async function exposureCheck(kubeconfig: string, overrides: Record<string, string>, log: (l: string) => void): Promise<ExposureResult> {
  const result: ExposureResult = { checks: [], leftovers: [] };
  const check = (name: string, ok: boolean, detail: string) => result.checks.push({ name, ok, detail });
  const engine = await engineStack(EXPOSURE_STACK, kubeconfig, overrides);
  const engineLog: string[] = [];
  try {
    const t0 = Date.now();
    log(`[exposure] pulumi up --stack ${EXPOSURE_STACK}`);
    await engine.up((l) => engineLog.push(l));
    result.upSeconds = Math.round((Date.now() - t0) / 100) / 10;
    podsReady(NAMESPACE, 240);

    const ingress = get("ingress", "copilot-gateway");
    const tls = ingress.spec.tls?.[0];
    check("the API server accepted an Ingress with TLS for the host", tls?.secretName === "copilot-gateway-tls" && tls.hosts?.includes("copilot.kit.test"), `tls ${JSON.stringify(ingress.spec.tls)}`);

    const ports = (svc: string) => (get("svc", svc).spec.ports as { port: number }[]).map((p) => p.port);
    const publicPorts = ports("copilot-gateway");
    check("the public Service carries the API port only", publicPorts.length === 1 && publicPorts[0] === GATEWAY_PORT, `ports ${publicPorts.join(", ")}`);
    const admin = get("svc", "copilot-gateway-admin");
    check("the admin Service is ClusterIP on the admin port", admin.spec.type === "ClusterIP" && ports("copilot-gateway-admin").join() === String(GATEWAY_ADMIN_PORT), `${admin.spec.type} ${ports("copilot-gateway-admin").join(", ")}`);

    const monitor = get("servicemonitor", "copilot-gateway-metrics");
    const selects = Object.entries(monitor.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => admin.metadata.labels?.[k] === v);
    check("the API server accepted a ServiceMonitor that selects the admin Service only", selects && monitor.spec.endpoints?.[0]?.path === GATEWAY_PATHS.metrics, `selector ${JSON.stringify(monitor.spec.selector.matchLabels)}`);

    const pub = `http://${serviceAddress(NAMESPACE, "copilot-gateway", GATEWAY_PORT)}`;
    const adm = `http://${serviceAddress(NAMESPACE, "copilot-gateway-admin", GATEWAY_ADMIN_PORT)}`;
    const seen = {
      publicMetrics: await status(pub + GATEWAY_PATHS.metrics),
      publicReadyz: await status(pub + GATEWAY_PATHS.readiness),
      publicHealthz: await status(pub + GATEWAY_PATHS.liveness),
      adminMetrics: await status(adm + GATEWAY_PATHS.metrics),
      adminReadyz: await status(adm + GATEWAY_PATHS.readiness),
    };
    check(
      "the public port answers 404 for /metrics and /readyz and 200 for /healthz; the admin Service serves both",
      seen.publicMetrics === 404 && seen.publicReadyz === 404 && seen.publicHealthz === 200 && seen.adminMetrics === 200 && seen.adminReadyz === 200,
      Object.entries(seen).map(([k, v]) => `${k} ${v}`).join(", "),
    );

    log(`[exposure] pulumi up --stack ${EXPOSURE_STACK} with an HTTPRoute instead of the Ingress`);
    await (await engineStack(EXPOSURE_STACK, kubeconfig, { ...overrides, [KUBERNETES_KEY]: httpRouteOverride() })).up((l) => engineLog.push(l));
    const route = get("httproute", "copilot-gateway");
    const rule = route.spec.rules?.[0];
    const ingresses = kubectl(["-n", NAMESPACE, "get", "ingress", "-o", "name"]).trim();
    check(
      "an update replaced the Ingress with an HTTPRoute the API server accepted, on the Gateway, to the public Service's API port",
      route.spec.parentRefs?.[0]?.name === "public" && route.spec.hostnames?.[0] === "copilot.kit.test" && rule?.backendRefs?.[0]?.name === "copilot-gateway" && rule.backendRefs[0].port === GATEWAY_PORT && ingresses === "",
      `parentRefs ${JSON.stringify(route.spec.parentRefs)}, backend ${JSON.stringify(rule?.backendRefs)}, ingresses left: ${ingresses || "none"}`,
    );
  } catch (err) {
    result.error = (err as Error).message.split("\n").slice(0, 6).join("\n");
    log(`[exposure] FAILED: ${result.error}`);
  } finally {
    try {
      await engine.destroy((l) => engineLog.push(l));
    } catch (err) {
      result.error = `${result.error ?? ""}\ndestroy: ${(err as Error).message.split("\n")[0]}`.trim();
    }
    result.leftovers = namespaceLeftovers(NAMESPACE);
  }
  return result;
}
