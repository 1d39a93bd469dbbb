/**
 * The Azure policy rules against objects captured from the real components under Pulumi mocks:
 * the clean objects pass, and each rule fails on the mutation it exists to catch.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { type CapturedResource, runWithMocks } from "../../testing/pulumi-mocks.js";
import { AciCliGroup, AciGatewayGroup, SessionStorage, redisSidecar } from "../azure/index.js";
import { azureCall, azureState } from "../../testing/aci-mocks.js";
import { CONTAINER_GROUP, FILE_SHARE, PUBLIC_CLI_TAG, STORAGE_ACCOUNT, azurePolicies, azureRules, checkAzureResource } from "./azure.js";

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
let captured: CapturedResource[];
const pick = (type: string, name: string): Obj => structuredClone(captured.find((r) => r.type === type && r.name === name)!.inputs);
const rules = (type: string, props: Obj) => checkAzureResource(type, props).map((v) => v.rule);

beforeAll(async () => {
  const run = await runWithMocks(
    async () => {
      const base = { resourceGroupName: "rg", location: "westeurope" };
      const storage = new SessionStorage("state", { ...base, shares: [{ id: "cli-0", quotaGi: 10 }] });
      const token = pulumi.secret("conn-token-0123456789");
      const cli = new AciCliGroup("cli", {
        ...base,
        image: "acr.example.io/cli:1",
        connectionToken: token,
        state: storage.share("cli-0"),
        network: { kind: "private", subnetId: "/subnets/aci" },
      });
      new AciGatewayGroup("gw", {
        ...base,
        image: "acr.example.io/gateway:1",
        network: { kind: "public", dnsNameLabel: "gw" },
        config: { topology: "shared-storage", store: "redis" },
        backends: [{ id: "cli-0", address: cli.address, connectionToken: token }],
        secrets: { jwtSecret: pulumi.secret("jwt-secret-0123456789-0123456789-01234"), redisUrl: pulumi.secret("redis://127.0.0.1:6379") },
        sidecars: [redisSidecar("redis:7.4-alpine")],
      });
      return {};
    },
    { config: {}, state: azureState, call: azureCall },
  );
  captured = run.resources;
});

describe("Azure policy rules", () => {
  it("pass on the objects the components render", () => {
    const violations = captured.flatMap((r) => checkAzureResource(r.type, r.inputs));
    expect(violations).toEqual([]);
    // The rules did look at something: three groups' worth of containers and the storage objects.
    expect(captured.filter((r) => [CONTAINER_GROUP, STORAGE_ACCOUNT, FILE_SHARE].includes(r.type)).length).toBe(4);
  });

  it("aci-secrets-as-secure-values: a token as a plain value, or no value at all", () => {
    const gw = pick(CONTAINER_GROUP, "gw");
    const jwt = gw.containers[0].environmentVariables.find((e: Obj) => e.name === "GATEWAY_JWT_SECRET");
    jwt.value = jwt.secureValue;
    delete jwt.secureValue;
    expect(checkAzureResource(CONTAINER_GROUP, gw)).toEqual([
      { rule: "aci-secrets-as-secure-values", enforcementLevel: "mandatory", message: "container gateway env GATEWAY_JWT_SECRET is a plain value; use secureValue" },
    ]);
    const cli = pick(CONTAINER_GROUP, "cli");
    cli.containers[0].environmentVariables.push({ name: "MY_API_KEY" });
    expect(rules(CONTAINER_GROUP, cli)).toEqual(["aci-secrets-as-secure-values"]);
  });

  it("aci-gateway-config-without-secrets: a secret key in the JSON, or the JSON as a secure value", () => {
    const gw = pick(CONTAINER_GROUP, "gw");
    const env = gw.containers[0].environmentVariables.find((e: Obj) => e.name === "GATEWAY_CONFIG");
    env.value = JSON.stringify({ ...JSON.parse(env.value), auth: { kind: "jwt-hs256", secret: "x" } });
    expect(checkAzureResource(CONTAINER_GROUP, gw).map((v) => v.message)).toEqual(["container gateway GATEWAY_CONFIG holds a secret-looking key auth.secret"]);
    env.secureValue = env.value;
    delete env.value;
    expect(rules(CONTAINER_GROUP, gw)).toEqual(["aci-gateway-config-without-secrets"]);
  });

  it("aci-probes: any container without a liveness or readiness probe", () => {
    for (const [index, probe] of [[0, "livenessProbe"], [1, "readinessProbe"]] as const) {
      const gw = pick(CONTAINER_GROUP, "gw");
      delete gw.containers[index][probe];
      expect(rules(CONTAINER_GROUP, gw)).toEqual(["aci-probes"]);
    }
    const gw = pick(CONTAINER_GROUP, "gw");
    gw.containers[0].readinessProbe = { periodSeconds: 10 };
    expect(checkAzureResource(CONTAINER_GROUP, gw).map((v) => v.message)).toEqual(["container gateway readinessProbe has neither an exec command nor an httpGet port"]);
  });

  it("aci-cli-protocol-probe and aci-copilot-home-on-azure-files", () => {
    const cli = pick(CONTAINER_GROUP, "cli");
    cli.containers[0].readinessProbe = { exec: { command: ["sh", "-c", "nc -z 127.0.0.1 4321"] } };
    expect(rules(CONTAINER_GROUP, cli)).toEqual(["aci-cli-protocol-probe"]);
    const onEmptyDir = pick(CONTAINER_GROUP, "cli");
    onEmptyDir.volumes = [{ name: onEmptyDir.volumes[0].name, emptyDir: {} }];
    expect(rules(CONTAINER_GROUP, onEmptyDir)).toEqual(["aci-copilot-home-on-azure-files"]);
    const readOnly = pick(CONTAINER_GROUP, "cli");
    readOnly.containers[0].volumeMounts[0].readOnly = true;
    expect(rules(CONTAINER_GROUP, readOnly)).toEqual(["aci-copilot-home-on-azure-files"]);
    const noHome = pick(CONTAINER_GROUP, "cli");
    noHome.containers[0].environmentVariables = noHome.containers[0].environmentVariables.filter((e: Obj) => e.name !== "COPILOT_HOME");
    expect(checkAzureResource(CONTAINER_GROUP, noHome).map((v) => v.message)).toEqual(["CLI container copilot-cli does not set COPILOT_HOME"]);
  });

  it("aci-azure-files-key, aci-resources and aci-cli-port-not-public", () => {
    const cli = pick(CONTAINER_GROUP, "cli");
    delete cli.volumes[0].azureFile.storageAccountKey;
    delete cli.containers[0].resources;
    cli.ipAddress = { type: "Public", ports: [{ port: 4321 }], dnsNameLabel: "cli" };
    expect(rules(CONTAINER_GROUP, cli)).toEqual(["aci-azure-files-key", "aci-resources", "aci-cli-port-not-public"]);
    cli.tags = { [PUBLIC_CLI_TAG]: "acknowledged" };
    expect(rules(CONTAINER_GROUP, cli)).not.toContain("aci-cli-port-not-public");
  });

  it("advisory: restartPolicy Never and unpinned images", () => {
    const gw = pick(CONTAINER_GROUP, "gw");
    gw.restartPolicy = "Never";
    gw.containers[1].image = "redis";
    gw.containers[0].image = "acr.example.io/gateway:latest";
    expect(checkAzureResource(CONTAINER_GROUP, gw).map((v) => [v.rule, v.enforcementLevel])).toEqual([
      ["aci-restart-policy", "advisory"],
      ["aci-image-pinned", "advisory"],
      ["aci-image-pinned", "advisory"],
    ]);
  });

  it("azure-storage-secure-transfer and azure-file-share-smb", () => {
    const account = pick(STORAGE_ACCOUNT, "state");
    account.minimumTlsVersion = "TLS1_1";
    account.allowBlobPublicAccess = true;
    expect(checkAzureResource(STORAGE_ACCOUNT, account).map((v) => v.message)).toEqual([
      "minimumTlsVersion must be TLS1_2 or newer (is TLS1_1)",
      "allowBlobPublicAccess must be false",
    ]);
    const share = pick(FILE_SHARE, "state-cli-0");
    share.enabledProtocols = "NFS";
    expect(rules(FILE_SHARE, share)).toEqual(["azure-file-share-smb"]);
  });

  it("runs as CrossGuard resource policies, one per rule, each looking only at its type", async () => {
    expect(azurePolicies.map((p) => p.name)).toEqual(azureRules.map((r) => r.name));
    const cli = pick(CONTAINER_GROUP, "cli");
    delete cli.containers[0].livenessProbe;
    const reported: string[] = [];
    for (const policy of azurePolicies) {
      const validate = policy.validateResource as (args: unknown, report: (m: string) => void) => void;
      validate({ type: CONTAINER_GROUP, props: cli }, (m) => reported.push(`${policy.name}: ${m}`));
      validate({ type: "kubernetes:apps/v1:Deployment", props: {} }, (m) => reported.push(`unexpected: ${m}`));
    }
    expect(reported).toEqual([
      "aci-probes: container copilot-cli livenessProbe missing",
      "aci-cli-protocol-probe: CLI container copilot-cli livenessProbe must exec copilot-probe --address 127.0.0.1:4321 --timeout-ms 3000",
    ]);
  });
});
