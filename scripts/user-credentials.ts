/**
 * `npx tsx scripts/user-credentials.ts --user <id> --github-token-file <file> [--namespace <gateway ns>]
 *   [--users-namespace <ns>] [--instance copilot] [--kubeconfig <file>]`
 * Gives one user their own GitHub token: a Secret that only their Pod mounts (`isolated` with
 * per-user Pods) and that a gateway with `identity.source: kubernetes` reads for their sessions on a
 * shared CLI. The Secret is named after the user's server id, which is keyed: the key is read
 * from the gateway's `<instance>-server-ids` Secret, so only someone who may read it can name (or
 * find) a user's objects. Takes effect on the user's next Pod (after a cull, or delete the Pod).
 * `--dir <folder>` instead writes the file `identity.source: dir` reads (`<folder>/user-<hmac>`,
 * mode 0600), keyed by GATEWAY_SERVER_ID_KEY from the environment (e.g. for `npm start -- --user-tokens-dir`).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { spawnServerId } from "../gateway/spawn-pool.js";
import { objectNames, USER_GITHUB_TOKEN_KEY, userServerLabels } from "../topology/user-pod.js";

export interface UserCredentialOptions {
  user: string;
  githubToken: string;
  /** The gateway's namespace (where `<instance>-server-ids` lives). */
  namespace: string;
  usersNamespace?: string;
  instance?: string;
  kubeconfig?: string;
}

/** Writes the user's token file for identity.source dir; returns its path (it names no user). */
export function writeUserTokenFile(dir: string, user: string, githubToken: string, key: string): string {
  if (key.length < 32) throw new Error("GATEWAY_SERVER_ID_KEY must have at least 32 characters");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, spawnServerId(user, key));
  writeFileSync(file, `${githubToken}\n`, { mode: 0o600 });
  return file;
}

/** Creates or replaces the user's credentials Secret; returns its name (it names no user). */
export async function setUserCredential(o: UserCredentialOptions): Promise<string> {
  const kc = new k8s.KubeConfig();
  if (o.kubeconfig) kc.loadFromFile(o.kubeconfig);
  else kc.loadFromDefault();
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const instance = o.instance ?? "copilot";
  const usersNamespace = o.usersNamespace ?? `${o.namespace}-users`;
  const keySecret = await core.readNamespacedSecret({ name: `${instance}-server-ids`, namespace: o.namespace });
  const key = Buffer.from(keySecret.data?.key ?? "", "base64").toString("utf8");
  if (!key) throw new Error(`Secret ${o.namespace}/${instance}-server-ids has no key: is this an isolated stack with per-user Pods?`);
  const spec = { namePrefix: `${instance}-u` };
  const id = spawnServerId(o.user, key);
  const name = objectNames(spec, id).credentials;
  const body: k8s.V1Secret = {
    metadata: { name, namespace: usersNamespace, labels: userServerLabels(spec, id) },
    type: "Opaque",
    stringData: { [USER_GITHUB_TOKEN_KEY]: o.githubToken },
  };
  try {
    await core.createNamespacedSecret({ namespace: usersNamespace, body });
  } catch (err) {
    if (!(err instanceof k8s.ApiException) || err.code !== 409) throw err;
    await core.replaceNamespacedSecret({ name, namespace: usersNamespace, body });
  }
  return name;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      user: { type: "string" },
      "github-token-file": { type: "string" },
      namespace: { type: "string", default: "copilot" },
      "users-namespace": { type: "string" },
      instance: { type: "string" },
      kubeconfig: { type: "string" },
      dir: { type: "string" },
    },
  });
  if (!values.user || !values["github-token-file"]) {
    console.error("usage: tsx scripts/user-credentials.ts --user <id> --github-token-file <file> [--namespace <gateway namespace>]");
    process.exit(2);
  }
  const githubToken = readFileSync(values["github-token-file"], "utf8").trim();
  if (values.dir) {
    const key = process.env.GATEWAY_SERVER_ID_KEY;
    if (!key) {
      console.error("user-credentials --dir: set GATEWAY_SERVER_ID_KEY (the key the gateway names token files with)");
      process.exit(2);
    }
    console.log(`wrote ${writeUserTokenFile(values.dir, values.user, githubToken, key)}: this user's sessions carry this token`);
    process.exit(0);
  }
  setUserCredential({ user: values.user, githubToken, namespace: values.namespace!, usersNamespace: values["users-namespace"], instance: values.instance, kubeconfig: values.kubeconfig }).then(
    (name) => console.log(`Secret ${name} holds this user's GitHub token; their next Pod mounts it`),
    (err: Error) => {
      console.error(`user-credentials: ${err.message}`);
      process.exit(1);
    },
  );
}
