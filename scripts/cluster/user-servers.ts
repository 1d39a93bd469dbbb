/**
 * The per-user CLI servers of a deployed `isolated` stack as the host sees them: a watch on the
 * users' namespace that keeps the conformance target's server list current (Pod address, its
 * token from its Secret, the Pod's uid as the run), as the local platform does from its registry.
 */
import { renameSync, writeFileSync } from "node:fs";
import * as k8s from "@kubernetes/client-node";
import type { TargetDescriptor, TargetServer } from "../../topology/index.js";

const SERVER_ID_LABEL = "copilot-scale-kit.io/server-id";
const SELECTOR = "app.kubernetes.io/component=user-server";
const CLI_PORT = 4321;

export function kubeClients(kubeconfig: string) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  return { kc, core: kc.makeApiClient(k8s.CoreV1Api) };
}

const ready = (p: k8s.V1Pod) => !p.metadata?.deletionTimestamp && !!p.status?.podIP && p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True");

export class UserServerWatch {
  private readonly informer: k8s.Informer<k8s.V1Pod> & k8s.ObjectCache<k8s.V1Pod>;
  private readonly core: k8s.CoreV1Api;
  private readonly tokens = new Map<string, string>();
  private writing = Promise.resolve();

  constructor(
    kubeconfig: string,
    private readonly namespace: string,
    private readonly base: TargetDescriptor,
    private readonly targetFile: string,
  ) {
    const { kc, core } = kubeClients(kubeconfig);
    this.core = core;
    this.informer = k8s.makeInformer(kc, `/api/v1/namespaces/${namespace}/pods`, () => core.listNamespacedPod({ namespace, labelSelector: SELECTOR }), SELECTOR);
    const changed = () => {
      this.writing = this.writing.then(() => this.write()).catch(() => undefined);
    };
    for (const verb of ["add", "update", "delete"] as const) this.informer.on(verb, changed);
    this.informer.on("error", () => setTimeout(() => void this.informer.start().catch(() => undefined), 1_000));
  }

  async start(): Promise<void> {
    await this.informer.start();
    await this.write();
  }

  async stop(): Promise<void> {
    await this.informer.stop();
    await this.writing;
  }

  /** Ready per-user servers now. */
  async servers(): Promise<TargetServer[]> {
    const out: TargetServer[] = [];
    for (const pod of this.informer.list(this.namespace).filter(ready)) {
      const name = pod.metadata!.name!;
      let token = this.tokens.get(name);
      if (!token) {
        const secret = await this.core.readNamespacedSecret({ name: `${name}-token`, namespace: this.namespace }).catch(() => undefined);
        const data = secret?.data?.["connection-token"];
        if (!data) continue;
        token = Buffer.from(data, "base64").toString("utf8");
        this.tokens.set(name, token);
      }
      out.push({ id: pod.metadata!.labels![SERVER_ID_LABEL]!, address: `${pod.status!.podIP}:${CLI_PORT}`, connectionToken: token, instance: pod.metadata!.uid });
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  private async write(): Promise<void> {
    const target = { ...this.base, servers: await this.servers() };
    // Atomic: the suite re-reads the file at any moment.
    writeFileSync(`${this.targetFile}.tmp`, JSON.stringify(target, null, 2), { mode: 0o600 });
    renameSync(`${this.targetFile}.tmp`, this.targetFile);
  }
}
