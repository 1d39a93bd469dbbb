/**
 * The stack's `identity` section under Pulumi mocks (the real stacks/index.ts, stack local-shared
 * on GitHub-hosted models): each user's own GitHub token reaches the gateway's config with what the
 * source needs (the naming key, a ServiceAccount that may only get Secrets, the hook's bearer token
 * as a Secret), nothing when it is off, and config errors that name the key and the fix.
 */
import { describe, expect, it } from "vitest";
import { COMPONENT_LABEL } from "../components/k8s/meta.js";
import { type KubernetesRun, runKubernetesStack, TEST_SECRETS } from "../testing/kubernetes.js";
import { loadStackFile, STACKS_DIR } from "../testing/stack-files.js";
import { GATEWAY_CONFIG_ENV, GATEWAY_SECRET_ENV, parseGatewayConfig } from "../topology/index.js";
import { join } from "node:path";

/* eslint-disable @typescript-eslint/no-explicit-any -- assertions walk rendered JSON */

const STACK = "local-shared";
const file = loadStackFile(join(STACKS_DIR, `Pulumi.${STACK}.yaml`)).config;
const ns = JSON.parse(file["copilot-scale-kit:kubernetes"]!).namespace as string;
// GitHub-hosted models: the CLI takes a session's own token only without a BYOK provider.
const { providerBaseUrl: _dropped, ...hosted } = JSON.parse(file["copilot-scale-kit:gateway"]!) as Record<string, unknown>;
const withIdentity = (identity: unknown, opts: { byok?: boolean; hookToken?: boolean } = {}) =>
  runKubernetesStack(STACK, {
    secrets: ["githubToken", ...(opts.hookToken ? (["identityHookToken"] as const) : [])],
    config: { "copilot-scale-kit:identity": JSON.stringify(identity), ...(opts.byok ? {} : { "copilot-scale-kit:gateway": JSON.stringify(hosted) }) },
  });
const podSpec = (run: KubernetesRun): any => run.kube.find((r) => r.obj.kind === "Deployment" && (r.obj.spec as any).template.metadata.labels[COMPONENT_LABEL] === "gateway")!.obj.spec!.template.spec;
const env = (run: KubernetesRun): any[] => podSpec(run).containers[0].env;
const gatewayConfig = (run: KubernetesRun) => parseGatewayConfig(JSON.parse(env(run).find((e) => e.name === GATEWAY_CONFIG_ENV).value));
const kind = (run: KubernetesRun, k: string) => run.kube.filter((r) => r.obj.kind === k);
const errorOf = (identity: unknown, opts?: { byok?: boolean; hookToken?: boolean }) => withIdentity(identity, opts).then(() => "no error", (e: Error) => e.message);

describe("stack identity", () => {
  it("kubernetes: the gateway reads users' Secrets in its namespace by keyed name, through a ServiceAccount that may only get Secrets", async () => {
    const run = await withIdentity({ source: "kubernetes", cacheSeconds: 60 });
    expect(gatewayConfig(run).identity).toEqual({ source: "kubernetes", namespace: ns, namePrefix: "copilot-u", cacheSeconds: 60, missing: "refuse" });
    const key = env(run).find((e) => e.name === GATEWAY_SECRET_ENV.serverIdKey);
    expect(key?.valueFrom?.secretKeyRef?.key, "the naming key comes from a Secret").toBe("key");
    const [role] = kind(run, "Role");
    expect((role!.obj as any).rules).toEqual([{ apiGroups: [""], resources: ["secrets"], verbs: ["get"] }]);
    expect(role!.obj.metadata?.namespace).toBe(ns);
    const [binding] = kind(run, "RoleBinding");
    const [account] = kind(run, "ServiceAccount");
    expect((binding!.obj as any).subjects).toEqual([{ kind: "ServiceAccount", name: account!.obj.metadata!.name, namespace: ns }]);
    expect(podSpec(run).serviceAccountName).toBe(account!.obj.metadata!.name);
    expect(podSpec(run).automountServiceAccountToken, "the gateway needs its token to call the API").toBe(true);
  });

  it("kubernetes: Secrets in another namespace are read there, and only there", async () => {
    const run = await withIdentity({ source: "kubernetes", namespace: "copilot-credentials", namePrefix: "acme" });
    expect(gatewayConfig(run).identity).toMatchObject({ source: "kubernetes", namespace: "copilot-credentials", namePrefix: "acme" });
    expect(kind(run, "Role").map((r) => r.obj.metadata?.namespace)).toEqual(["copilot-credentials"]);
    expect(kind(run, "RoleBinding").map((r) => r.obj.metadata?.namespace)).toEqual(["copilot-credentials"]);
  });

  it("http: the hook's bearer token reaches the gateway from a Secret, never as a literal, and no API access is granted", async () => {
    const run = await withIdentity({ source: "http", url: "https://tokens.example.com/copilot", missing: "service" }, { hookToken: true });
    expect(gatewayConfig(run).identity).toEqual({ source: "http", url: "https://tokens.example.com/copilot", timeoutSeconds: 5, cacheSeconds: 300, missing: "service" });
    const hook = env(run).find((e) => e.name === GATEWAY_SECRET_ENV.identityHookToken);
    expect(hook?.valueFrom?.secretKeyRef?.key).toBe("token");
    expect(JSON.stringify(run.kube.map((r) => r.obj.kind === "Secret" ? {} : r.obj))).not.toContain(TEST_SECRETS.identityHookToken);
    expect(kind(run, "Role")).toEqual([]);
    expect(podSpec(run).serviceAccountName).toBeUndefined();
  });

  it("none (the default): no identity section, key, account or role", async () => {
    const run = await runKubernetesStack(STACK);
    expect(gatewayConfig(run).identity.source).toBe("none");
    expect(env(run).map((e) => e.name)).not.toContain(GATEWAY_SECRET_ENV.serverIdKey);
    expect([...kind(run, "Role"), ...kind(run, "ServiceAccount")]).toEqual([]);
  });

  it("config errors name the key and the fix", async () => {
    expect(await errorOf({ source: "kubernetes" }, { byok: true })).toMatch(/identity\.source is kubernetes but gateway\.providerBaseUrl is set.*fix: /);
    expect(await errorOf({ source: "http", url: "https://tokens.example.com/" })).toMatch(/identityHookToken is not set.*fix: pulumi config set --secret copilot-scale-kit:identityHookToken/);
    expect(await errorOf({ source: "kubernetes", namspace: "x" })).toMatch(/identity\.namspace: unknown key/);
    expect(await errorOf({ source: "dir", dir: "/tokens" })).toMatch(/copilot-scale-kit:identity\.source/);
  });
});
