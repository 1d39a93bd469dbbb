/**
 * The admin port: readiness (server ids, failure reasons) and metrics (everyone's traffic) are
 * served on the gateway's admin listener only, so a public Service, ingress or load balancer in
 * front of the public port never exposes them. Negative control: `--unsafe admin-on-public`.
 */
import { describe, expect } from "vitest";
import { api, conformance, target } from "../harness.js";

describe("admin port", () => {
  conformance(["metrics", "readiness"], "readiness and metrics are on the admin port only: the public port answers 404 for them", async () => {
    const t = target();
    for (let gateway = 0; gateway < t.gatewayUrls.length; gateway++) {
      const [publicMetrics, publicReady, publicHealth, metrics, ready] = await Promise.all([
        api("GET", "/metrics", { gateway }),
        api("GET", "/readyz", { gateway }),
        api("GET", "/healthz", { gateway }),
        api("GET", "/metrics", { gateway, admin: true }),
        api("GET", "/readyz", { gateway, admin: true }),
      ]);
      expect(metrics.status, "admin /metrics").toBe(200);
      expect(metrics.text).toMatch(/^copilot_gateway_http_requests_total\{/m);
      expect(ready.status, "admin /readyz").toBe(200);
      expect([publicMetrics.status, publicReady.status], "public /metrics and /readyz").toEqual([404, 404]);
      expect(publicMetrics.text).not.toContain("copilot_gateway_");
      expect(publicReady.text).not.toContain("servers");
      // Liveness stays on both: load balancers probe the serving port.
      expect(publicHealth.status).toBe(200);
    }
  });
});
