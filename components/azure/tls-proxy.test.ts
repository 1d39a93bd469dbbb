/**
 * The TLS proxy sidecar of the ACI gateway group: its Caddyfile per mode (checked with a real
 * caddy 2.10 here: `caddy validate`, SSE through the certificate mode, the acme `ask` answers; see
 * the README), its container, and the certificate and key only in a secret volume.
 */
import { describe, expect, it } from "vitest";
import { resolveOutput } from "../../testing/pulumi-mocks.js";
import { acmeNamePattern, caddyfile, tlsProxy } from "./tls-proxy.js";

const ACME = { mode: "acme", dnsNameLabel: "copilot-aci-shared", location: "westeurope", email: "ops@example.com" } as const;

describe("tls proxy", () => {
  it("acme: certificates on demand, only for this group's name (any hash ACI gives it), proxied to the gateway on loopback", () => {
    const file = caddyfile(ACME);
    expect(file).toContain("\ton_demand_tls {\n\t\task http://127.0.0.1:8081/allowed\n\t}");
    expect(file).toContain("\temail ops@example.com");
    expect(file).toContain("https:// {\n\ttls {\n\t\ton_demand\n\t}\n\treverse_proxy 127.0.0.1:8080\n}");
    const pattern = new RegExp(acmeNamePattern(ACME.dnsNameLabel, ACME.location));
    expect(pattern.test("copilot-aci-shared.a1b2c3d4e5.westeurope.azurecontainer.io")).toBe(true);
    for (const other of ["copilot-aci-shared.a1.eastus.azurecontainer.io", "copilot-aci-sharedx.a1.westeurope.azurecontainer.io", "evil.example.com", "xcopilot-aci-shared.a1.westeurope.azurecontainer.io"]) {
      expect(pattern.test(other), other).toBe(false);
    }
    expect(file).toContain(`{query.domain}.matches("${acmeNamePattern(ACME.dnsNameLabel, ACME.location)}")`);
    expect(file).not.toContain("\\");
    const proxy = tlsProxy({ site: ACME, dataVolume: { name: "tls-proxy-data", azureFile: { shareName: "s", storageAccountName: "a" } } });
    expect(proxy.ports).toEqual([443, 80]);
    expect(proxy.url).toBeUndefined();
    expect(proxy.container.image).toBe("docker.io/library/caddy:2");
    expect(proxy.container.volumeMounts).toEqual([
      { name: "tls-proxy-config", mountPath: "/etc/caddy", readOnly: true },
      { name: "tls-proxy-data", mountPath: "/data" },
    ]);
    expect(proxy.container.livenessProbe).toMatchObject({ exec: { command: ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8081/healthz"] } });
    expect(() => tlsProxy({ site: ACME })).toThrow(/acme needs a data volume/);
  });

  it("certificate: the given certificate for the given host, on 443 only; certificate and key only in a secret volume", async () => {
    const site = { mode: "certificate", host: "copilot.example.com" } as const;
    expect(caddyfile(site)).toContain("copilot.example.com {\n\ttls /etc/caddy/tls-cert /etc/caddy/tls-key\n\treverse_proxy 127.0.0.1:8080\n}");
    expect(caddyfile(site)).not.toContain("on_demand");
    const cert = "-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n";
    const proxy = tlsProxy({ site, certificate: { cert, key: "-----BEGIN PRIVATE KEY-----\nK\n-----END PRIVATE KEY-----\n" } });
    expect(proxy.ports).toEqual([443]);
    expect(proxy.url).toBe("https://copilot.example.com");
    const [volume] = proxy.volumes;
    const files = volume!.secret as Record<string, unknown>;
    expect(Object.keys(files).sort()).toEqual(["Caddyfile", "tls-cert", "tls-key"]);
    for (const value of Object.values(files)) expect((await resolveOutput(value as never)).secret).toBe(true);
    expect(Buffer.from((await resolveOutput(files["tls-cert"] as never)).value as string, "base64").toString()).toBe(cert);
    expect(() => tlsProxy({ site })).toThrow(/needs the certificate and its key/);
  });
});
