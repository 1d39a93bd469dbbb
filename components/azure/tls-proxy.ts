/**
 * TLS in front of the gateway inside its ACI container group, since ACI terminates none: a Caddy
 * sidecar (the official caddy:2 image) on 443 that proxies to the gateway on 127.0.0.1:8080.
 * `acme`: Caddy's automatic HTTPS for the group's DNS name (ACME on ports 80/443; account and
 * certificates on an Azure Files share, so a restart does not ask again). ACI appends a hash to the
 * label, so the name is known only once the group exists: Caddy gets the certificate on demand, at
 * the first handshake, and only for a name of this label and region (its `ask` check).
 * `certificate`: a certificate and key you give (secret config, e.g. exported from Key Vault) for
 * your own host name.
 */
import * as pulumi from "@pulumi/pulumi";
import type { input } from "@pulumi/azure-native/types/index.js";
import { GATEWAY_PORT } from "./contract.js";

export type AciTls =
  | { mode: "acme"; email?: string }
  | { mode: "certificate"; host: string; certificate: pulumi.Input<string>; privateKey: pulumi.Input<string> }
  | { mode: "none" };

export const TLS_PROXY_IMAGE = "docker.io/library/caddy:2";
export const HTTPS_PORT = 443;
/** acme only: the HTTP-01 challenge, and the redirect of plain HTTP to HTTPS. */
export const HTTP_PORT = 80;
/** The proxy's own health endpoint, on loopback inside its container. */
const HEALTH = "http://127.0.0.1:8081/healthz";
const CONFIG_DIR = "/etc/caddy";
/** Where the caddy image keeps its data (XDG_DATA_HOME): ACME account and certificates. */
const DATA_DIR = "/data";

/** Where the proxy runs: acme names the group's label and region (the FQDN is <label>.<hash>.<region>.azurecontainer.io). */
export type ProxySite = { mode: "acme"; dnsNameLabel: string; location: string; email?: string } | { mode: "certificate"; host: string };

/** The names acme may get a certificate for: this group's FQDN, whatever hash ACI gave it. */
export function acmeNamePattern(dnsNameLabel: string, location: string): string {
  // [.] rather than a backslash escape: the pattern sits in a CEL string literal inside the Caddyfile.
  return `^${dnsNameLabel}[.][a-z0-9]+[.]${location}[.]azurecontainer[.]io$`;
}

/** The Caddyfile: the site proxies to the gateway (SSE flushes at once: Caddy streams text/event-stream unbuffered, with no read timeout). */
export function caddyfile(site: ProxySite): string {
  const acme = site.mode === "acme";
  const global = acme
    ? ["\tadmin off", ...(site.email ? [`\temail ${site.email}`] : []), "\ton_demand_tls {", "\t\task http://127.0.0.1:8081/allowed", "\t}"]
    : ["\tadmin off"];
  const siteBlock = acme
    ? ["https:// {", "\ttls {", "\t\ton_demand", "\t}"]
    : [`${site.host} {`, `\ttls ${CONFIG_DIR}/tls-cert ${CONFIG_DIR}/tls-key`];
  const allowed = acme
    ? ["\thandle /allowed {", `\t\t@site expression \`{query.domain}.matches("${acmeNamePattern(site.dnsNameLabel, site.location)}")\``, "\t\trespond @site 200", "\t\trespond 403", "\t}"]
    : [];
  return [
    "{",
    ...global,
    "}",
    "",
    ...siteBlock,
    `\treverse_proxy 127.0.0.1:${GATEWAY_PORT}`,
    "}",
    "",
    "http://127.0.0.1:8081 {",
    "\tbind 127.0.0.1",
    "\thandle /healthz {",
    "\t\trespond 200",
    "\t}",
    ...allowed,
    "\thandle {",
    "\t\trespond 404",
    "\t}",
    "}",
    "",
  ].join("\n");
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");

export interface TlsProxy {
  container: input.containerinstance.ContainerArgs;
  volumes: input.containerinstance.VolumeArgs[];
  /** The ports the group exposes instead of the gateway's. */
  ports: number[];
  /** certificate: https://<host>; acme: undefined (https://<the group's FQDN>, known once it exists). */
  url?: string;
}

/** The sidecar, its volumes and the group's public ports; `dataVolume`: acme's Azure Files volume for Caddy's data. */
export function tlsProxy(args: {
  image?: string;
  site: ProxySite;
  /** certificate: the PEM certificate (chain) and key. */
  certificate?: { cert: pulumi.Input<string>; key: pulumi.Input<string> };
  dataVolume?: input.containerinstance.VolumeArgs;
}): TlsProxy {
  const { site } = args;
  if (site.mode === "acme" && !args.dataVolume) throw new Error("tlsProxy: acme needs a data volume (its account and certificates must survive a restart)");
  if (site.mode === "certificate" && !args.certificate) throw new Error("tlsProxy: certificate mode needs the certificate and its key");
  // A secret volume: ACI keeps its files out of the group's readable properties (the key), base64 as ACI wants them.
  const secretFile = (value: pulumi.Input<string>) => pulumi.secret(pulumi.output(value).apply(b64));
  const files: Record<string, pulumi.Input<string>> = {
    Caddyfile: pulumi.secret(b64(caddyfile(site))),
    ...(args.certificate ? { "tls-cert": secretFile(args.certificate.cert), "tls-key": secretFile(args.certificate.key) } : {}),
  };
  const volumes: input.containerinstance.VolumeArgs[] = [{ name: "tls-proxy-config", secret: files }];
  const mounts: input.containerinstance.VolumeMountArgs[] = [{ name: "tls-proxy-config", mountPath: CONFIG_DIR, readOnly: true }];
  if (args.dataVolume) {
    volumes.push(args.dataVolume);
    mounts.push({ name: args.dataVolume.name, mountPath: DATA_DIR });
  }
  const ports = site.mode === "acme" ? [HTTPS_PORT, HTTP_PORT] : [HTTPS_PORT];
  const probe = { exec: { command: ["wget", "-q", "-O", "/dev/null", HEALTH] } };
  return {
    container: {
      name: "tls-proxy",
      image: args.image ?? TLS_PROXY_IMAGE,
      command: ["caddy", "run", "--config", `${CONFIG_DIR}/Caddyfile`, "--adapter", "caddyfile"],
      ports: ports.map((port) => ({ port, protocol: "TCP" })),
      volumeMounts: mounts,
      resources: { requests: { cpu: 0.25, memoryInGB: 0.5 } },
      readinessProbe: { ...probe, initialDelaySeconds: 2, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
      livenessProbe: { ...probe, initialDelaySeconds: 10, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
    },
    volumes,
    ports,
    ...(site.mode === "certificate" ? { url: `https://${site.host}` } : {}),
  };
}
