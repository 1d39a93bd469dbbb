/**
 * The stack's `auth` section under Pulumi mocks (the real stacks/index.ts, stack local-shared): an
 * OIDC provider reaches the gateway's config (and no shared secret reaches any pod), HS256 stays
 * the default, and config errors name the key and the fix.
 */
import { describe, expect, it } from "vitest";
import { COMPONENT_LABEL } from "../components/k8s/meta.js";
import { resolveOutput } from "../testing/pulumi-mocks.js";
import { type KubernetesRun, runKubernetesStack } from "../testing/kubernetes.js";
import { GATEWAY_CONFIG_ENV, GATEWAY_SECRET_ENV, parseGatewayConfig, parseTarget } from "../topology/index.js";

/* eslint-disable @typescript-eslint/no-explicit-any -- assertions walk rendered JSON */

const STACK = "local-shared";
const OIDC = { kind: "oidc", issuer: "https://login.example.com/realms/kit", audience: "copilot-gateway", userClaim: "email", roomsClaim: "groups", maxTokenLifetimeSeconds: 3600, clockSkewSeconds: 10 };
const withAuth = (auth: unknown, secrets: ("jwtSecret" | "githubToken")[] = []) => runKubernetesStack(STACK, { secrets, config: { "copilot-scale-kit:auth": JSON.stringify(auth) } });
const gatewayContainer = (run: KubernetesRun): any =>
  run.kube.find((r) => r.obj.kind === "Deployment" && (r.obj.spec as any).template.metadata.labels[COMPONENT_LABEL] === "gateway")!.obj.spec!.template.spec.containers[0];
const gatewayConfig = (run: KubernetesRun) => parseGatewayConfig(JSON.parse(gatewayContainer(run).env.find((e: any) => e.name === GATEWAY_CONFIG_ENV).value));
const errorOf = (auth: unknown, secrets: ("jwtSecret" | "githubToken")[] = []) => withAuth(auth, secrets).then(() => "no error", (e: Error) => e.message);

describe("stack auth", () => {
  it("oidc: the gateway verifies the provider's tokens with the configured issuer, audience, claims and bounds, and no pod gets a shared secret", async () => {
    const run = await withAuth({ ...OIDC, jwksUri: "https://login.example.com/realms/kit/certs" });
    expect(gatewayConfig(run).auth).toEqual({
      kind: "oidc",
      issuer: OIDC.issuer,
      audience: OIDC.audience,
      jwksUri: "https://login.example.com/realms/kit/certs",
      algorithms: ["RS256", "ES256"],
      userClaim: "email",
      roomsClaim: "groups",
      maxTokenLifetimeSeconds: 3600,
      clockToleranceSeconds: 10,
    });
    expect(gatewayContainer(run).env.map((e: any) => e.name)).not.toContain(GATEWAY_SECRET_ENV.jwtSecret);
    expect(run.kube.filter((r) => r.obj.kind === "Secret" && r.obj.metadata?.name?.endsWith("-gateway-auth"))).toEqual([]);
    // Tokens come from the provider: the target carries none the suite could mint.
    const target = parseTarget(JSON.parse((await resolveOutput(run.run.exports.target)).value));
    expect(target.auth).toEqual({ kind: "static", tokens: {} });
  });

  it("oidc without jwksUri: discovery (the gateway reads <issuer>/.well-known/openid-configuration); defaults for the claims", async () => {
    const run = await withAuth({ kind: "oidc", issuer: OIDC.issuer, audience: OIDC.audience });
    expect(gatewayConfig(run).auth).toMatchObject({ kind: "oidc", issuer: OIDC.issuer, userClaim: "sub", roomsClaim: "rooms", maxTokenLifetimeSeconds: 86400, clockToleranceSeconds: 30 });
    expect(gatewayConfig(run).auth.jwksUri).toBeUndefined();
  });

  it("hs256 is the default: a derived secret in a Secret, read through secretKeyRef", async () => {
    const run = await runKubernetesStack(STACK);
    expect(gatewayConfig(run).auth.kind).toBe("jwt-hs256");
    const env = gatewayContainer(run).env.find((e: any) => e.name === GATEWAY_SECRET_ENV.jwtSecret);
    expect(env.valueFrom.secretKeyRef).toMatchObject({ key: "jwt-secret" });
    expect(env.value).toBeUndefined();
  });

  it("config errors name the key and the fix", async () => {
    expect(await errorOf({ kind: "oidc", issuer: OIDC.issuer })).toMatch(/copilot-scale-kit:auth\.audience: .*\(fix: set auth\.audience under copilot-scale-kit:auth/);
    expect(await errorOf({ ...OIDC, issuer: "http://login.example.com" })).toMatch(/copilot-scale-kit:auth\.issuer: must be https \(http only for a provider on loopback\)/);
    expect(await errorOf({ ...OIDC, clockSkew: 5 })).toMatch(/copilot-scale-kit:auth\.clockSkew: unknown key/);
    expect(await errorOf({ kind: "rs256" })).toMatch(/copilot-scale-kit:auth\.kind: /);
    expect(await errorOf(OIDC, ["jwtSecret"])).toMatch(/copilot-scale-kit:jwtSecret is set but copilot-scale-kit:auth\.kind is oidc.*\(fix: pulumi config rm copilot-scale-kit:jwtSecret\)/);
    // A loopback provider over http is fine (the tests' own).
    expect(await errorOf({ ...OIDC, issuer: "http://127.0.0.1:5556/dex" })).toBe("no error");
  });
});
