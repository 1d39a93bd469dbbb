/**
 * What the cluster tests ask of the API server, through the toolchain's kubectl and the cluster's
 * admin kubeconfig: waits, Service addresses, and what is left in a namespace.
 */
import { kubectl } from "../../local/cluster/cluster.js";

export { kubectl };

/**
 * `http://<ClusterIP>:<port>` of a Service: the host reaches Service addresses through kube-proxy,
 * and the traffic stays on this machine's pod bridge (a port-forward breaks on the first stream a
 * server resets, e.g. a 413 answered before the body is read).
 */
export function serviceAddress(namespace: string, service: string, port: number): string {
  const ip = kubectl(["-n", namespace, "get", "svc", service, "-o", "jsonpath={.spec.clusterIP}"]).trim();
  if (!ip) throw new Error(`service ${namespace}/${service} has no ClusterIP`);
  return `${ip}:${port}`;
}

/** Every serving Pod Ready; Job Pods (the session-cleanup CronJob's) are left out: a finished one never turns Ready. */
export function podsReady(namespace: string, timeoutSeconds: number): void {
  kubectl(["-n", namespace, "wait", "--for=condition=Ready", "pod", "-l", "!batch.kubernetes.io/job-name", `--timeout=${timeoutSeconds}s`]);
}

/** Objects still in the namespace (or the namespace itself) and volumes bound to its claims. */
export function namespaceLeftovers(namespace: string): string[] {
  const left: string[] = [];
  const ns = kubectl(["get", "ns", "--ignore-not-found", "-o", "name", namespace]).trim();
  if (ns) {
    const kinds = "all,pvc,secrets,configmaps,networkpolicies,poddisruptionbudgets,serviceaccounts,roles,rolebindings,cronjobs";
    for (const o of kubectl(["-n", namespace, "get", kinds, "--ignore-not-found", "-o", "name"]).split("\n").filter(Boolean)) {
      // The namespace's own default ServiceAccount and root CA ConfigMap belong to the namespace.
      if (o !== "serviceaccount/default" && o !== "configmap/kube-root-ca.crt") left.push(o);
    }
    left.push(ns);
  }
  const pvs = JSON.parse(kubectl(["get", "pv", "-o", "json"])) as { items: { metadata: { name: string }; spec: { claimRef?: { namespace?: string } } }[] };
  for (const pv of pvs.items) if (pv.spec.claimRef?.namespace === namespace) left.push(`persistentvolume/${pv.metadata.name}`);
  return left;
}
