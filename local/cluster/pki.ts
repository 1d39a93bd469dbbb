/**
 * The cluster's certificates (openssl): a CA, the API server's serving certificate, one client
 * certificate per component identity that Kubernetes' default RBAC knows, the kubelet's serving
 * certificate, and the service-account signing key. Kubeconfigs for each identity.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { NODE_NAME, net, paths } from "./layout.js";

function openssl(args: string[]): void {
  execFileSync("openssl", args, { cwd: paths.pki, stdio: ["ignore", "ignore", "pipe"] });
}

function sign(name: string, subject: string, ext: string): void {
  const extFile = join(paths.pki, `${name}.ext`);
  // Signed again when its names changed (an older cluster directory), else kept.
  if (existsSync(join(paths.pki, `${name}.crt`)) && existsSync(extFile) && readFileSync(extFile, "utf8") === ext) return;
  openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject]);
  writeFileSync(extFile, ext);
  openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.crt`, "-days", "30", "-extfile", `${name}.ext`]);
}

/** Client identities: the name of the kubeconfig and the certificate subject RBAC sees. */
export const IDENTITIES = {
  admin: "/O=system:masters/CN=kit-admin",
  "kube-controller-manager": "/CN=system:kube-controller-manager",
  "kube-scheduler": "/CN=system:kube-scheduler",
  "kube-proxy": "/CN=system:kube-proxy",
  kubelet: `/O=system:nodes/CN=system:node:${NODE_NAME}`,
  "apiserver-kubelet-client": "/O=system:masters/CN=kube-apiserver-kubelet-client",
} as const;
export type Identity = keyof typeof IDENTITIES;

export function ensurePki(): void {
  mkdirSync(paths.pki, { recursive: true, mode: 0o700 });
  if (!existsSync(join(paths.pki, "ca.crt"))) {
    openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "30", "-subj", "/CN=copilot-scale-kit-cluster-ca"]);
  }
  const sans = [`IP:${net.bridgeIp}`, `IP:${net.apiServiceIp}`, `DNS:localhost`, `DNS:${NODE_NAME}`, "DNS:kubernetes", "DNS:kubernetes.default", "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local"];
  sign("apiserver", "/CN=kube-apiserver", `subjectAltName=${sans.join(",")}\nextendedKeyUsage=serverAuth\n`);
  sign("kubelet-serving", `/CN=${NODE_NAME}`, `subjectAltName=IP:127.0.0.1,DNS:${NODE_NAME},DNS:localhost\nextendedKeyUsage=serverAuth\n`);
  for (const [name, subject] of Object.entries(IDENTITIES)) sign(name, subject, "extendedKeyUsage=clientAuth\n");
  if (!existsSync(join(paths.pki, "sa.key"))) {
    openssl(["genrsa", "-out", "sa.key", "2048"]);
    openssl(["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
  }
}

export function kubeconfigPath(identity: Identity): string {
  return identity === "admin" ? paths.kubeconfig : join(paths.config, `${identity}.kubeconfig`);
}

export function writeKubeconfigs(): void {
  mkdirSync(paths.config, { recursive: true });
  for (const identity of Object.keys(IDENTITIES) as Identity[]) {
    const file = kubeconfigPath(identity);
    writeFileSync(
      file,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "- name: copilot-scale-kit",
        `  cluster: {server: "https://${net.bridgeIp}:${net.apiPort}", certificate-authority: "${join(paths.pki, "ca.crt")}"}`,
        "users:",
        `- name: ${identity}`,
        `  user: {client-certificate: "${join(paths.pki, `${identity}.crt`)}", client-key: "${join(paths.pki, `${identity}.key`)}"}`,
        "contexts:",
        "- name: copilot-scale-kit",
        `  context: {cluster: copilot-scale-kit, user: ${identity}}`,
        "current-context: copilot-scale-kit",
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
  }
}
