/**
 * The ACI stack's `aci.tls` section: TLS in front of the gateway in its container group (the
 * component is components/azure/tls-proxy.ts), the mode in force, and the combinations refused.
 */
import type * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import type { AciTls } from "../components/azure/index.js";

/**
 * acme: automatic HTTPS for the group's DNS name (public network; the default there). certificate:
 * your certificate for tls.host, in the secrets tlsCertificate and tlsPrivateKey (PEM). none: plain
 * HTTP, only in a virtual network where TLS ends in front of it (Application Gateway).
 */
export const aciTlsSchema = z
  .strictObject({
    mode: z.enum(["acme", "certificate", "none"]).optional(),
    /** acme: the account's contact address. */
    email: z.email().optional(),
    /** certificate: the name clients use, which the certificate covers. */
    host: z.string().regex(/^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/, "a DNS name such as copilot.example.com").optional(),
  })
  .prefault({});

interface TlsSection {
  tls: z.infer<typeof aciTlsSchema>;
  network: { mode: "public" | "vnet" };
}

/** The TLS mode in force: acme by default on a public network; a virtual network must choose. */
export function tlsMode(aci: TlsSection): "acme" | "certificate" | "none" | undefined {
  return aci.tls.mode ?? (aci.network.mode === "public" ? "acme" : undefined);
}

/** Every refused combination, reported against its key under aci.tls. */
export function tlsIssues(aci: TlsSection, tlsIssue: (key: string, message: string) => void): void {
  const { tls, network: net } = aci;
  const mode = tlsMode(aci);
  if (mode === undefined) {
    tlsIssue("mode", "a gateway in a virtual network has no public DNS name for ACME: set certificate (with tls.host and the secrets tlsCertificate, tlsPrivateKey) or none (TLS ends in front of it, e.g. Application Gateway)");
  } else if (mode === "none" && net.mode === "public") {
    tlsIssue("mode", "a public gateway without TLS takes bearer tokens in clear text: use acme (the default) or certificate");
  } else if (mode === "acme" && net.mode === "vnet") {
    tlsIssue("mode", "acme needs a public DNS name; in a virtual network use certificate (your certificate for tls.host) or none");
  }
  if (mode === "certificate" && !tls.host) tlsIssue("host", "tls certificate needs the host name the certificate covers");
  if (tls.email && mode !== "acme") tlsIssue("email", "only acme uses an account e-mail; remove it");
}

/** The component's TLS argument (the schema has refused every combination without a mode). */
export function aciTls(aci: TlsSection, certificate?: pulumi.Output<string>, privateKey?: pulumi.Output<string>): AciTls {
  const mode = tlsMode(aci);
  if (mode === "certificate") return { mode, host: aci.tls.host!, certificate: certificate!, privateKey: privateKey! };
  return mode === "acme" ? { mode, email: aci.tls.email } : { mode: "none" };
}
