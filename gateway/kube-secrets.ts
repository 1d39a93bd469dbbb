/**
 * Reads one key of a Kubernetes Secret with the official client, for identity.source kubernetes.
 * A module of its own so that user-tokens.ts loads it with import(): the client's modules then
 * cost memory only in gateways that read Secrets.
 */
import { ApiException, CoreV1Api, KubeConfig } from "@kubernetes/client-node";

/** The value of `key` in Secret `name`; undefined when the Secret or the key does not exist. */
export type SecretReader = (name: string, key: string) => Promise<string | undefined>;

export function secretReader(namespace: string): SecretReader {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const core = kc.makeApiClient(CoreV1Api);
  return async (name, key) => {
    try {
      const data = (await core.readNamespacedSecret({ name, namespace })).data?.[key];
      return data === undefined ? undefined : Buffer.from(data, "base64").toString("utf8");
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw new Error(`reading Secret ${namespace}/${name} failed (${err instanceof ApiException ? `HTTP ${err.code}` : "no answer"})`);
    }
  };
}
