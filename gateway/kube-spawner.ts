/**
 * PodSpawner: a Pod per user, created, watched and deleted through the API server with the official
 * client, as KubeSpawner does for JupyterHub. Several gateway replicas share it without a lock: the
 * objects' names are the keyed server id, so a second create of the same Pod fails with
 * AlreadyExists and that replica adopts the first one (exactly one Pod per user). The Pod's
 * last-used annotation tells every replica when any of them last used it, before one culls it.
 */
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { unavailable } from "./errors.js";
import {
  type CredentialSource,
  isReady,
  type KubeBackends,
  LAST_USED_ANNOTATION,
  lastUsed,
  objectNames,
  stateClaim,
  TOKEN_KEY,
  tokenSecret,
  userPod,
  userServerSelector,
} from "../topology/user-pod.js";
import type { ServerExit, SpawnedServer, Spawner } from "./spawner.js";

const status = (err: unknown): number | undefined => (err instanceof k8s.ApiException ? err.code : undefined);
const ignore = (...codes: number[]) => (err: unknown) => {
  if (!codes.includes(status(err) ?? 0)) throw err;
  return undefined;
};
const mergePatch = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

export interface PodSpawnerDeps {
  log: Logger;
  /** Idle timeout of the pool: touches are throttled to a quarter of it. */
  idleMs: number;
  kubeConfig?: k8s.KubeConfig;
  now?: () => number;
}

export class PodSpawner implements Spawner {
  private readonly core: k8s.CoreV1Api;
  private readonly pods: k8s.Informer<k8s.V1Pod> & k8s.ObjectCache<k8s.V1Pod>;
  private readonly now: () => number;
  /** Called on every Pod event, by Pod name. */
  private readonly listeners = new Map<string, Set<(pod: k8s.V1Pod | undefined) => void>>();
  private readonly touchedAt = new Map<string, number>();
  private readonly touchEveryMs: number;
  private expiryTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly spec: KubeBackends,
    private readonly deps: PodSpawnerDeps,
  ) {
    if (!spec.image) throw new Error("backends.image is not set: the CLI image per-user Pods run (the deployment renders it into GATEWAY_CONFIG)");
    const kc = deps.kubeConfig ?? new k8s.KubeConfig();
    if (!deps.kubeConfig) kc.loadFromDefault();
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.now = deps.now ?? Date.now;
    this.touchEveryMs = Math.max(1_000, Math.min(30_000, deps.idleMs / 4 || 30_000));
    const selector = userServerSelector(spec);
    this.pods = k8s.makeInformer(
      kc,
      `/api/v1/namespaces/${spec.namespace}/pods`,
      () => this.core.listNamespacedPod({ namespace: spec.namespace, labelSelector: selector }),
      selector,
    );
    const emit = (pod: k8s.V1Pod | undefined, name: string | undefined) => {
      for (const fn of this.listeners.get(name ?? "") ?? []) fn(pod);
    };
    this.pods.on("add", (p) => emit(p, p.metadata?.name));
    this.pods.on("update", (p) => emit(p, p.metadata?.name));
    this.pods.on("delete", (p) => emit(undefined, p.metadata?.name));
    this.pods.on("error", (err) => {
      if (this.stopped) return;
      deps.log.warn({ err: (err as Error)?.message }, "watch of per-user Pods failed; restarting it");
      setTimeout(() => void this.pods.start().catch(() => undefined), 2_000).unref();
    });
  }

  async startBackground(): Promise<void> {
    await this.pods.start();
    if (this.spec.claimTtlSeconds > 0) {
      const every = Math.min(60_000, Math.max(1_000, (this.spec.claimTtlSeconds * 1000) / 4));
      this.expiryTimer = setInterval(() => void this.expireClaims().catch((err: Error) => this.deps.log.warn({ err: err.message }, "claim expiry failed")), every);
      this.expiryTimer.unref();
    }
  }

  async start(id: string): Promise<SpawnedServer> {
    const names = objectNames(this.spec, id);
    const ns = this.spec.namespace;
    const token = await this.ensureToken(id);
    await this.ensureClaim(id);
    let pod = await this.core.readNamespacedPod({ name: names.pod, namespace: ns }).catch(ignore(404));
    if (pod && (pod.metadata?.deletionTimestamp || pod.status?.phase === "Failed" || pod.status?.phase === "Succeeded")) {
      // Being culled elsewhere, or evicted: let it go, then start a fresh one on the same claim.
      await this.deletePod(names.pod, 5);
      pod = undefined;
    }
    if (!pod) await this.createPod(id);
    const ready = await this.waitFor(names.pod, isReady, this.spec.startTimeoutSeconds * 1000);
    if (!ready) {
      await this.deletePod(names.pod, 0);
      throw new Error(`Pod ${names.pod} was not Ready within ${this.spec.startTimeoutSeconds} s (backends.startTimeoutSeconds)`);
    }
    const exited = this.waitFor(names.pod, (p) => p === undefined || !!p.metadata?.deletionTimestamp || p.status?.phase === "Failed", 0).then(
      (p): ServerExit => ({ code: p?.status?.phase ?? "deleted", removed: !p || !!p.metadata?.deletionTimestamp }),
    );
    return {
      address: `${ready.status!.podIP}:${this.spec.port}`,
      connectionToken: token,
      exited,
      stop: async (graceMs) => {
        await this.deletePod(names.pod, Math.ceil(graceMs / 1000));
        await this.annotate("claim", names.claim);
      },
    };
  }

  /** Throttled: the annotation lags the real last use by at most one touch interval. */
  touch(id: string, at: number): void {
    if (at - (this.touchedAt.get(id) ?? 0) < this.touchEveryMs) return;
    this.touchedAt.set(id, at);
    void this.annotate("pod", objectNames(this.spec, id).pod, at).catch(() => undefined);
  }

  /** The annotation lags a replica's real use by up to one touch interval, so that much is added. */
  async usedElsewhereWithin(id: string, ms: number): Promise<boolean> {
    const pod = await this.core.readNamespacedPod({ name: objectNames(this.spec, id).pod, namespace: this.spec.namespace }).catch(ignore(404));
    return pod !== undefined && this.now() - lastUsed(pod) < ms + this.touchEveryMs;
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearInterval(this.expiryTimer);
    await this.pods.stop();
  }

  private async ensureToken(id: string): Promise<string> {
    const names = objectNames(this.spec, id);
    const fresh = randomBytes(24).toString("base64url");
    // AlreadyExists: another replica (or an earlier start) made it; its token is the one the Pod reads.
    const created = await this.core.createNamespacedSecret({ namespace: this.spec.namespace, body: tokenSecret(this.spec, id, fresh) }).catch(ignore(409));
    if (created) return fresh;
    const secret = await this.core.readNamespacedSecret({ name: names.token, namespace: this.spec.namespace });
    const value = secret.data?.[TOKEN_KEY];
    if (!value) throw new Error(`Secret ${names.token} has no ${TOKEN_KEY}`);
    return Buffer.from(value, "base64").toString("utf8");
  }

  private async ensureClaim(id: string): Promise<void> {
    const names = objectNames(this.spec, id);
    const existing = await this.core.readNamespacedPersistentVolumeClaim({ name: names.claim, namespace: this.spec.namespace }).catch(ignore(404));
    if (existing?.metadata?.deletionTimestamp) {
      throw unavailable("server_starting", "this user's expired state is still being deleted; retry shortly", 5);
    }
    if (!existing) await this.core.createNamespacedPersistentVolumeClaim({ namespace: this.spec.namespace, body: stateClaim(this.spec, id, new Date(this.now())) }).catch(ignore(409));
  }

  private async createPod(id: string): Promise<void> {
    const running = this.pods.list(this.spec.namespace).filter((p) => !p.metadata?.deletionTimestamp).length;
    if (running >= this.spec.maxServers) throw this.capacity();
    const body = userPod(this.spec, id, await this.credentialSource(id), new Date(this.now()));
    try {
      await this.core.createNamespacedPod({ namespace: this.spec.namespace, body });
      this.deps.log.info({ server: id }, "per-user Pod created");
    } catch (err) {
      if (status(err) === 409) return; // another replica created it first: adopt it
      // A ResourceQuota on pods is the hard cap across replicas.
      if (status(err) === 403 && /exceeded quota/i.test(String((err as k8s.ApiException<unknown>).body))) throw this.capacity();
      throw err;
    }
  }

  private capacity() {
    return unavailable("server_capacity", `all ${this.spec.maxServers} per-user CLI servers are in use; retry when an idle one has been culled`, 30);
  }

  /** The user's own credentials Secret if an operator created one, else the shared one only if configured. */
  private async credentialSource(id: string): Promise<CredentialSource> {
    const own = await this.core.readNamespacedSecret({ name: objectNames(this.spec, id).credentials, namespace: this.spec.namespace }).catch(ignore(404, 403));
    if (own) return "user";
    return this.spec.sharedCredential ? "shared" : "none";
  }

  private async deletePod(name: string, graceSeconds: number): Promise<void> {
    await this.core.deleteNamespacedPod({ name, namespace: this.spec.namespace, gracePeriodSeconds: graceSeconds }).catch(ignore(404));
    await this.waitFor(name, (p) => p === undefined, (graceSeconds + 30) * 1000);
  }

  private async annotate(kind: "pod" | "claim", name: string, at = this.now()): Promise<void> {
    const body = { metadata: { annotations: { [LAST_USED_ANNOTATION]: new Date(at).toISOString() } } };
    const request = { name, namespace: this.spec.namespace, body };
    if (kind === "pod") await this.core.patchNamespacedPod(request, mergePatch).catch(ignore(404));
    else await this.core.patchNamespacedPersistentVolumeClaim(request, mergePatch).catch(ignore(404));
  }

  /** Resolves with the Pod (undefined = gone) once `done` holds, from the watch; null after timeoutMs (0 = never). */
  private waitFor(name: string, done: (pod: k8s.V1Pod | undefined) => boolean, timeoutMs: number): Promise<k8s.V1Pod | undefined | null> {
    return new Promise((resolve) => {
      const set = this.listeners.get(name) ?? new Set();
      this.listeners.set(name, set);
      let timer: NodeJS.Timeout | undefined;
      const finish = (value: k8s.V1Pod | undefined | null) => {
        set.delete(check);
        if (set.size === 0) this.listeners.delete(name);
        clearTimeout(timer);
        resolve(value);
      };
      const check = (pod: k8s.V1Pod | undefined) => {
        if (done(pod)) finish(pod);
      };
      set.add(check);
      if (timeoutMs > 0) timer = setTimeout(() => finish(null), timeoutMs);
      check(this.pods.get(name, this.spec.namespace));
    });
  }

  /** Claims without a Pod, unused for claimTtlSeconds, are deleted with their token Secret (their sessions expired by the session TTL). */
  private async expireClaims(): Promise<void> {
    const claims = await this.core.listNamespacedPersistentVolumeClaim({ namespace: this.spec.namespace, labelSelector: userServerSelector(this.spec) });
    for (const claim of claims.items) {
      const pod = claim.metadata!.name!.replace(/-state$/, "");
      if (claim.metadata?.deletionTimestamp || this.pods.get(pod, this.spec.namespace)) continue;
      if (this.now() - lastUsed(claim) < this.spec.claimTtlSeconds * 1000) continue;
      await this.core.deleteNamespacedPersistentVolumeClaim({ name: claim.metadata!.name!, namespace: this.spec.namespace }).catch(ignore(404));
      await this.core.deleteNamespacedSecret({ name: `${pod}-token`, namespace: this.spec.namespace }).catch(ignore(404));
      this.deps.log.info({ claim: claim.metadata!.name }, "unused per-user claim expired");
    }
  }
}
