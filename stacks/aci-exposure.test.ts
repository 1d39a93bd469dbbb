/**
 * The ACI stacks' front door under Pulumi mocks: no sample exposes a CLI's raw port or the
 * gateway's plain port, TLS config errors name the key and the fix, and OIDC reaches the gateway
 * without any JWT secret. (Per-stack layout checks: aci.test.ts; the proxy itself: tls-proxy.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { CLI_PORT } from "../components/azure/contract.js";
import { CONTAINER_GROUP } from "../components/policy/azure.js";
import { type AciRun, runAciStack, TEST_SECRETS } from "../testing/aci-mocks.js";
import { gatewayConfigSchema, parseTarget } from "../topology/index.js";

type Obj = Record<string, unknown>;
const STACKS = [{ file: "Pulumi.aci-shared.yaml" }, { file: "Pulumi.aci-isolated.yaml" }, { file: "Pulumi.aci-shared-storage.yaml" }];
const groups = (run: AciRun) => run.resources.filter((r) => r.type === CONTAINER_GROUP);
const gatewayContainer = (run: AciRun) => groups(run).flatMap((g) => g.inputs.containers as Obj[]).find((c) => c.name === "gateway")!;
const envNamed = (c: Obj, name: string) => ((c.environmentVariables ?? []) as Obj[]).find((e) => e.name === name);
const fails = (patch: (c: Record<string, unknown>) => void, secrets?: Record<string, unknown>) => runAciStack("Pulumi.aci-shared.yaml", { patch, ...(secrets ? { secrets } : {}) });

describe("ACI exposure", () => {
  it("no sample exposes a CLI server's raw port or the gateway's plain port publicly", async () => {
    for (const { file } of STACKS) {
      const run = await runAciStack(file);
      for (const g of groups(run)) {
        const ip = g.inputs.ipAddress as Obj;
        const ports = ((ip.ports ?? []) as Obj[]).map((p) => p.port);
        if (ip.type === "Public") expect(ports, `${file} ${g.name}`).not.toContain(CLI_PORT);
        if (ip.type === "Public") expect(ports, `${file} ${g.name}`).not.toContain(8080);
      }
      expect(run.outputs.gatewayUrl.value, file).toMatch(/^https:\/\//);
    }
  });

  it("TLS: none on a public gateway, acme in a virtual network, a certificate without its host or its secrets", async () => {
    const tls = (t: Obj) => (c: Record<string, unknown>) => void ((c.aci as Obj).tls = t);
    await expect(fails(tls({ mode: "none" }))).rejects.toThrow(/copilot-scale-kit:aci\.tls\.mode: a public gateway without TLS takes bearer tokens in clear text/);
    await expect(runAciStack("Pulumi.aci-isolated.yaml", { patch: tls({ mode: "acme" }) })).rejects.toThrow(/aci\.tls\.mode: acme needs a public DNS name/);
    await expect(runAciStack("Pulumi.aci-isolated.yaml", { patch: tls({}) })).rejects.toThrow(/aci\.tls\.mode: a gateway in a virtual network has no public DNS name for ACME/);
    await expect(fails(tls({ mode: "certificate" }))).rejects.toThrow(/aci\.tls\.host: tls certificate needs the host name/);
    await expect(fails(tls({ mode: "certificate", host: "copilot.example.com" }), { secretSeed: TEST_SECRETS.secretSeed!, githubToken: TEST_SECRETS.githubToken!, registryPassword: TEST_SECRETS.registryPassword! })).rejects.toThrow(
      /aci\.tls\.mode is certificate but copilot-scale-kit:tlsCertificate is not set \(fix: pulumi config set --secret copilot-scale-kit:tlsCertificate/,
    );
  });
});

describe("ACI auth", () => {
  it("oidc reaches the gateway's config, and no JWT secret is made or given to the group", async () => {
    const oidc = { kind: "oidc", issuer: "https://login.example.com/realms/kit", audience: "copilot-gateway" };
    const run = await runAciStack("Pulumi.aci-shared.yaml", { patch: (c) => void (c.auth = oidc) });
    const config = gatewayConfigSchema.parse(JSON.parse(envNamed(gatewayContainer(run), "GATEWAY_CONFIG")!.value as string));
    expect(config.auth).toMatchObject({ kind: "oidc", issuer: oidc.issuer, audience: oidc.audience, userClaim: "sub" });
    expect(envNamed(gatewayContainer(run), "GATEWAY_JWT_SECRET")).toBeUndefined();
    expect(parseTarget(JSON.parse(run.outputs.target.value)).auth).toEqual({ kind: "static", tokens: {} });
  });
});

