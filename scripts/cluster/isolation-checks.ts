/**
 * What the real cluster must enforce for a deployed topology: the restricted Pod Security profile
 * (a privileged pod is refused by the API server), NetworkPolicy (a pod without the gateway's labels
 * cannot open a connection to a CLI server or Redis, while one with them can: the positive control),
 * and DNS for CLI pods under their egress policy.
 */
import { kubectl, serviceAddress } from "./kube.js";
import { HELPER_IMAGE } from "../../local/cluster/addons.js";

export interface IsolationResult {
  privilegedPodRefused: boolean;
  /** Undefined where no CLI pod runs yet (per-user Pods: per-user-check.ts checks their network). */
  cliResolvesDns?: boolean;
  /** `service -> connected?` for a pod without labels and for one with the backend-client labels. */
  unlabeled: Record<string, boolean>;
  backendClient: Record<string, boolean>;
}

function probePod(namespace: string, name: string, labels: Record<string, string>): void {
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: "RuntimeDefault" } },
      terminationGracePeriodSeconds: 0,
      containers: [{ name: "probe", image: HELPER_IMAGE, imagePullPolicy: "Never", command: ["sleep", "600"], securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } } }],
    },
  };
  kubectl(["apply", "-f", "-"], JSON.stringify(pod));
}

function connects(namespace: string, pod: string, address: string): boolean {
  const [ip, port] = address.split(":");
  try {
    kubectl(["-n", namespace, "exec", pod, "--", "busybox", "nc", "-w", "3", ip!, port!], "");
    return true;
  } catch {
    return false;
  }
}

/** A CLI pod resolves a cluster name under its egress policy. */
export function resolvesDns(namespace: string, pod: string): boolean {
  try {
    return kubectl(["-n", namespace, "exec", pod, "--", "getent", "hosts", "kubernetes.default.svc.cluster.local"]).includes("kubernetes.default");
  } catch {
    return false;
  }
}

export function isolationChecks(namespace: string, services: { name: string; port: number }[], backendClientLabels: Record<string, string>): IsolationResult {
  let privilegedPodRefused = false;
  try {
    const bad = { apiVersion: "v1", kind: "Pod", metadata: { name: "psa-probe", namespace }, spec: { containers: [{ name: "c", image: HELPER_IMAGE, securityContext: { privileged: true } }] } };
    kubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify(bad));
  } catch (err) {
    privilegedPodRefused = /violates PodSecurity "restricted/.test((err as Error).message);
  }
  // Any CLI pod: isolated names its servers after opaque ids, not 0..N.
  const pod = kubectl(["-n", namespace, "get", "pods", "-l", "app.kubernetes.io/component=cli-server", "-o", "jsonpath={.items[*].metadata.name}"]).trim().split(" ")[0];
  const cliResolvesDns = pod ? resolvesDns(namespace, pod) : undefined;
  probePod(namespace, "netpol-unlabeled", {});
  probePod(namespace, "netpol-backend-client", backendClientLabels);
  const result: IsolationResult = { privilegedPodRefused, cliResolvesDns, unlabeled: {}, backendClient: {} };
  try {
    kubectl(["-n", namespace, "wait", "--for=condition=Ready", "pod/netpol-unlabeled", "pod/netpol-backend-client", "--timeout=60s"]);
    for (const s of services) {
      const address = serviceAddress(namespace, s.name, s.port);
      result.unlabeled[s.name] = connects(namespace, "netpol-unlabeled", address);
      result.backendClient[s.name] = connects(namespace, "netpol-backend-client", address);
    }
  } finally {
    kubectl(["-n", namespace, "delete", "pod", "netpol-unlabeled", "netpol-backend-client", "--grace-period=0", "--wait=true"]);
  }
  return result;
}

/** True when every check held: refused, resolved, unlabeled never connected, labeled always did. */
export function isolationHeld(r: IsolationResult): boolean {
  const services = Object.keys(r.backendClient);
  return r.privilegedPodRefused && r.cliResolvesDns !== false && services.length > 0 && services.every((s) => r.backendClient[s] && !r.unlabeled[s]);
}
