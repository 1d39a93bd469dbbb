/**
 * What a gateway needs to give each session its user's own GitHub token (topology/deployment.ts
 * identity): the key that names users' objects (GATEWAY_SERVER_ID_KEY, the one
 * scripts/user-credentials.ts names their Secrets with), and for the `kubernetes` source a
 * ServiceAccount allowed to read Secrets in the namespace that holds them, nothing more; for `http`,
 * the hook's bearer token as a Secret.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { SecretKeyRef } from "./meta.js";
import { standardLabels } from "./meta.js";

export interface IdentityAccessArgs {
  instance: string;
  /** The gateway's namespace (its ServiceAccount and Secrets live there). */
  namespace: string;
  source: "kubernetes" | "http";
  /** kubernetes: where the per-user Secrets are. */
  secretsNamespace?: string;
  /** Keys users' Secret names; derived from the stack's seed. */
  serverIdKey: pulumi.Input<string>;
  /** http: the bearer token the gateway presents to the hook. */
  hookToken?: pulumi.Input<string>;
}

export class IdentityAccess extends pulumi.ComponentResource {
  readonly serverIdKey: SecretKeyRef;
  readonly hookToken?: SecretKeyRef;
  /** kubernetes: the gateway pods' ServiceAccount. */
  readonly serviceAccountName?: pulumi.Output<string>;

  constructor(name: string, args: IdentityAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("copilot-scale-kit:k8s:IdentityAccess", name, {}, opts);
    const child = { parent: this };
    const labels = standardLabels(args.instance, "gateway");
    const meta = (suffix: string, namespace = args.namespace) => ({ name: `${args.instance}-${suffix}`, namespace, labels });
    const key = new k8s.core.v1.Secret(`${name}-key`, { metadata: meta("identity-key"), type: "Opaque", stringData: { key: pulumi.secret(args.serverIdKey) } }, child);
    this.serverIdKey = { name: key.metadata.name, key: "key" };
    if (args.hookToken !== undefined) {
      const hook = new k8s.core.v1.Secret(`${name}-hook`, { metadata: meta("identity-hook"), type: "Opaque", stringData: { token: pulumi.secret(args.hookToken) } }, child);
      this.hookToken = { name: hook.metadata.name, key: "token" };
    }
    if (args.source === "kubernetes") {
      const account = new k8s.core.v1.ServiceAccount(`${name}-gateway`, { metadata: meta("gateway-identity"), automountServiceAccountToken: false }, child);
      const secretsNamespace = args.secretsNamespace ?? args.namespace;
      // get only: the gateway reads one user's Secret by its keyed name, and never lists them.
      const role = new k8s.rbac.v1.Role(`${name}-reader`, { metadata: meta("identity-reader", secretsNamespace), rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }] }, child);
      new k8s.rbac.v1.RoleBinding(
        `${name}-reader`,
        {
          metadata: meta("identity-reader", secretsNamespace),
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
          subjects: [{ kind: "ServiceAccount", name: account.metadata.name, namespace: args.namespace }],
        },
        child,
      );
      this.serviceAccountName = account.metadata.name;
    }
    this.registerOutputs({ serviceAccountName: this.serviceAccountName });
  }
}
