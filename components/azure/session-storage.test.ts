import type { Output } from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { resolveOutput, runWithMocks } from "../../testing/pulumi-mocks.js";
import { MOCK_STORAGE_KEY, azureCall, azureState } from "../../testing/aci-mocks.js";
import { SessionStorage, type SessionStorageArgs, azureFileVolume } from "./session-storage.js";

const base = { resourceGroupName: "rg", location: "westeurope" };
const run = (args: Partial<SessionStorageArgs> & Pick<SessionStorageArgs, "shares">) =>
  runWithMocks(
    async () => {
      const s = new SessionStorage("copilot-state", { ...base, ...args });
      return { key: s.accountKey, volume: azureFileVolume("home", s.share(args.shares[0]!.id)), storage: s };
    },
    { config: {}, state: azureState, call: azureCall },
  );

describe("SessionStorage", () => {
  it("creates an HTTPS-only TLS 1.2 account and one SMB share per spec", async () => {
    const { resources } = await run({ shares: [{ id: "cli-0", quotaGi: 10 }, { id: "cli-1", quotaGi: 20 }] });
    const account = resources.find((r) => r.type === "azure-native:storage:StorageAccount")!;
    expect(account.inputs).toMatchObject({
      kind: "StorageV2",
      sku: { name: "Standard_LRS" },
      enableHttpsTrafficOnly: true,
      minimumTlsVersion: "TLS1_2",
      allowBlobPublicAccess: false,
      allowSharedKeyAccess: true,
    });
    expect(account.inputs.accountName).toMatch(/^copilotstate[a-z0-9]{8,}$/);
    const shares = resources.filter((r) => r.type === "azure-native:storage:FileShare").map((r) => r.inputs);
    expect(shares).toEqual([
      expect.objectContaining({ shareName: "copilot-cli-0", shareQuota: 10, enabledProtocols: "SMB", accountName: account.inputs.accountName }),
      expect.objectContaining({ shareName: "copilot-cli-1", shareQuota: 20, enabledProtocols: "SMB" }),
    ]);
  });

  it("hands out the account key only as a secret, in the volume too", async () => {
    const { exports } = await run({ shares: [{ id: "shared", quotaGi: 100 }] });
    expect(await resolveOutput(exports.key)).toEqual({ value: MOCK_STORAGE_KEY, secret: true });
    const file = exports.volume.azureFile as unknown as { shareName: Output<string>; storageAccountKey: Output<string> };
    expect(await resolveOutput(file.shareName)).toEqual({ value: "copilot-shared", secret: false });
    expect(await resolveOutput(file.storageAccountKey)).toEqual({ value: MOCK_STORAGE_KEY, secret: true });
  });

  it("uses FileStorage for Premium and refuses Premium shares under 100 GiB", async () => {
    const { resources } = await run({ sku: "Premium_LRS", shares: [{ id: "shared", quotaGi: 100 }] });
    expect(resources.find((r) => r.type === "azure-native:storage:StorageAccount")!.inputs.kind).toBe("FileStorage");
    await expect(run({ sku: "Premium_ZRS", shares: [{ id: "shared", quotaGi: 50 }] })).rejects.toThrow(/Premium_ZRS shares need at least 100 GiB; share shared asks for 50/);
  });

  it("refuses bad share ids and unknown shares", async () => {
    await expect(run({ shares: [{ id: "Bad_Id", quotaGi: 1 }] })).rejects.toThrow(/share id "Bad_Id"/);
    await expect(run({ shares: [] })).rejects.toThrow(/at least one share/);
    const { exports } = await run({ shares: [{ id: "a", quotaGi: 1 }] });
    expect(() => exports.storage.share("b")).toThrow(/no share "b" \(have a\)/);
  });
});
