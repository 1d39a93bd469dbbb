import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { resolveOutput, runWithMocks } from "../../testing/pulumi-mocks.js";
import { azureState } from "../../testing/aci-mocks.js";
import { recordLeafSecrets } from "../../testing/leaf-secrets.js";
import { AciCliGroup, type AciCliGroupArgs } from "./cli-group.js";

const state = {
  shareName: pulumi.output("copilot-cli-0"),
  storageAccountName: pulumi.output("copilotstate1234"),
  storageAccountKey: pulumi.secret("a2V5"),
};
const base: AciCliGroupArgs = {
  resourceGroupName: "rg",
  location: "westeurope",
  image: "acr.example.io/cli:1",
  connectionToken: pulumi.secret("conn-token-0123456789"),
  githubToken: pulumi.secret("ghp_0123456789"),
  state,
  network: { kind: "public", dnsNameLabel: "copilot-dev-cli-0" },
};

async function build(args: Partial<AciCliGroupArgs>) {
  const recorder = recordLeafSecrets();
  try {
    const run = await runWithMocks(async () => ({ address: new AciCliGroup("cli-0", { ...base, ...args }).address }), { config: {}, state: azureState });
    const group = run.resources.find((r) => r.type === "azure-native:containerinstance:ContainerGroup")!;
    return { group, address: await resolveOutput(run.exports.address), leaf: recorder.paths.get(`${group.type}/${group.name}`)! };
  } finally {
    recorder.restore();
  }
}

describe("AciCliGroup", () => {
  it("runs the CLI with COPILOT_HOME on the share, secure tokens and protocol probes", async () => {
    const { group, leaf } = await build({});
    const [cli] = group.inputs.containers as Record<string, unknown>[];
    expect(cli).toMatchObject({
      name: "copilot-cli",
      image: "acr.example.io/cli:1",
      ports: [{ port: 4321, protocol: "TCP" }],
      environmentVariables: [
        { name: "COPILOT_HOME", value: "/data/copilot" },
        { name: "COPILOT_CONNECTION_TOKEN", secureValue: "conn-token-0123456789" },
        { name: "COPILOT_GITHUB_TOKEN", secureValue: "ghp_0123456789" },
      ],
      resources: { requests: { cpu: 1, memoryInGB: 2 } },
      volumeMounts: [{ name: "copilot-home", mountPath: "/data/copilot" }],
      livenessProbe: { exec: { command: ["copilot-probe", "--address", "127.0.0.1:4321", "--timeout-ms", "3000"] } },
      readinessProbe: { exec: { command: ["copilot-probe", "--address", "127.0.0.1:4321", "--timeout-ms", "3000"] } },
    });
    expect(group.inputs.volumes).toEqual([
      { name: "copilot-home", azureFile: { shareName: "copilot-cli-0", storageAccountName: "copilotstate1234", storageAccountKey: "a2V5" } },
    ]);
    expect(leaf.sort()).toEqual([
      "containers.0.environmentVariables.1.secureValue",
      "containers.0.environmentVariables.2.secureValue",
      "volumes.0.azureFile.storageAccountKey",
    ]);
    expect(group.inputs).toMatchObject({ osType: "Linux", restartPolicy: "Always" });
  });

  it("shared-storage: COPILOT_HOME on the group's own emptyDir, only session-state/ on the share", async () => {
    const { group, leaf } = await build({ sharedSessionState: true });
    const [cli] = group.inputs.containers as Record<string, unknown>[];
    expect(cli!.volumeMounts).toEqual([
      { name: "copilot-home", mountPath: "/data/copilot" },
      { name: "session-state", mountPath: "/data/copilot/session-state" },
    ]);
    expect(group.inputs.volumes).toEqual([
      { name: "copilot-home", emptyDir: {} },
      { name: "session-state", azureFile: { shareName: "copilot-cli-0", storageAccountName: "copilotstate1234", storageAccountKey: "a2V5" } },
    ]);
    expect(leaf).toContain("volumes.1.azureFile.storageAccountKey");
  });

  it("a public group is dialled by its FQDN on the CLI port", async () => {
    const { group, address } = await build({});
    expect(group.inputs.ipAddress).toMatchObject({ type: "Public", dnsNameLabel: "copilot-dev-cli-0", ports: [{ port: 4321, protocol: "TCP" }] });
    expect(address).toEqual({ value: expect.stringMatching(/^copilot-dev-cli-0\.[0-9a-f]+\.westeurope\.azurecontainer\.io:4321$/), secret: false });
  });

  it("a private group joins the subnet and is dialled by its IP; identity, registry, sizes and restart policy pass through", async () => {
    const { group, address } = await build({
      network: { kind: "private", subnetId: "/subnets/aci" },
      identity: { userAssignedIdentityIds: ["/identities/pull"] },
      registry: { server: "acr.example.io", identity: "/identities/pull" },
      githubToken: undefined,
      cpu: 2,
      memoryGb: 4,
      restartPolicy: "OnFailure",
    });
    expect(group.inputs).toMatchObject({
      subnetIds: [{ id: "/subnets/aci" }],
      ipAddress: { type: "Private", ports: [{ port: 4321, protocol: "TCP" }] },
      identity: { type: "UserAssigned", userAssignedIdentities: ["/identities/pull"] },
      imageRegistryCredentials: [{ server: "acr.example.io", identity: "/identities/pull" }],
      restartPolicy: "OnFailure",
    });
    const [cli] = group.inputs.containers as { environmentVariables: { name: string }[]; resources: unknown }[];
    expect(cli!.environmentVariables.map((e) => e.name)).toEqual(["COPILOT_HOME", "COPILOT_CONNECTION_TOKEN"]);
    expect(cli!.resources).toEqual({ requests: { cpu: 2, memoryInGB: 4 } });
    expect(address.value).toMatch(/^10\.42\.0\.\d+:4321$/);
  });
});
