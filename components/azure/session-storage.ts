/**
 * Session state on Azure Files: one storage account (HTTPS only, TLS 1.2 minimum, no public blob
 * access) and one SMB share per entry of `shares`: a share per CLI server, or one share that all
 * servers mount when the topology shares state. ACI mounts Azure Files with the account key, so the
 * key is read here and handed out only as a secret.
 */
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import * as storage from "@pulumi/azure-native/storage/index.js";
import type { input } from "@pulumi/azure-native/types/index.js";

export type StorageSku = "Standard_LRS" | "Standard_ZRS" | "Premium_LRS" | "Premium_ZRS";

export interface ShareSpec {
  /** Logical id: a server id, or "shared". Lowercase letters, digits and '-'. */
  id: string;
  quotaGi: number;
}

export interface SessionStorageArgs {
  resourceGroupName: pulumi.Input<string>;
  location: pulumi.Input<string>;
  shares: ShareSpec[];
  /** Default Standard_LRS. Premium (FileStorage) shares need at least 100 GiB each. */
  sku?: StorageSku;
  tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** What a container group needs to mount one share. */
export interface ShareRef {
  shareName: pulumi.Output<string>;
  storageAccountName: pulumi.Output<string>;
  /** Secret. */
  storageAccountKey: pulumi.Output<string>;
}

const PREMIUM_MIN_QUOTA_GI = 100;

export class SessionStorage extends pulumi.ComponentResource {
  readonly account: storage.StorageAccount;
  readonly accountName: pulumi.Output<string>;
  /** Primary account key, wrapped as a secret. */
  readonly accountKey: pulumi.Output<string>;
  readonly fileShares: Readonly<Record<string, storage.FileShare>>;

  constructor(name: string, args: SessionStorageArgs, opts?: pulumi.ComponentResourceOptions) {
    // Checked before anything is registered, so a bad argument leaves no half-built component.
    const sku = args.sku ?? "Standard_LRS";
    const premium = sku.startsWith("Premium");
    if (args.shares.length === 0) throw new Error(`SessionStorage ${name}: at least one share is needed`);
    for (const share of args.shares) {
      if (!/^[a-z0-9][a-z0-9-]{0,50}$/.test(share.id)) throw new Error(`SessionStorage ${name}: share id ${JSON.stringify(share.id)} must be lowercase letters, digits and '-'`);
      if (premium && share.quotaGi < PREMIUM_MIN_QUOTA_GI) {
        throw new Error(`SessionStorage ${name}: ${sku} shares need at least ${PREMIUM_MIN_QUOTA_GI} GiB; share ${share.id} asks for ${share.quotaGi}`);
      }
    }
    super("copilot-scale-kit:azure:SessionStorage", name, {}, opts);

    // Account names are global, 3-24 lowercase letters and digits: a readable prefix and a suffix
    // hashed from project, stack, resource group and name (stable across runs, no random provider).
    const prefix = name.toLowerCase().replace(/[^a-z0-9]/g, "").slice(0, 16) || "copilot";
    const suffix = pulumi
      .output(args.resourceGroupName)
      .apply((rg) => createHash("sha256").update(`${pulumi.getProject()}/${pulumi.getStack()}/${rg}/${name}`).digest("hex").slice(0, 8));
    this.account = new storage.StorageAccount(
      name,
      {
        accountName: pulumi.interpolate`${prefix}${suffix}`,
        resourceGroupName: args.resourceGroupName,
        location: args.location,
        kind: premium ? "FileStorage" : "StorageV2",
        sku: { name: sku },
        enableHttpsTrafficOnly: true,
        minimumTlsVersion: "TLS1_2",
        allowBlobPublicAccess: false,
        // ACI mounts Azure Files only with the account key; shared-key access must stay on.
        allowSharedKeyAccess: true,
        tags: args.tags,
      },
      { parent: this },
    );
    this.accountName = this.account.name;

    const keys = storage.listStorageAccountKeysOutput(
      { resourceGroupName: args.resourceGroupName, accountName: this.account.name },
      { parent: this },
    );
    this.accountKey = pulumi.secret(
      keys.keys.apply((list) => {
        const key = list[0]?.value;
        if (!key) throw new Error(`SessionStorage ${name}: the storage account returned no access key`);
        return key;
      }),
    );

    const shares: Record<string, storage.FileShare> = {};
    for (const share of args.shares) {
      shares[share.id] = new storage.FileShare(
        `${name}-${share.id}`,
        {
          accountName: this.account.name,
          resourceGroupName: args.resourceGroupName,
          shareName: `copilot-${share.id}`,
          shareQuota: share.quotaGi,
          enabledProtocols: "SMB",
        },
        { parent: this },
      );
    }
    this.fileShares = shares;
    this.registerOutputs({ accountName: this.accountName, shares: Object.keys(shares) });
  }

  /** The mount reference for one share (by its logical id). */
  share(id: string): ShareRef {
    const share = this.fileShares[id];
    if (!share) throw new Error(`SessionStorage: no share ${JSON.stringify(id)} (have ${Object.keys(this.fileShares).join(", ")})`);
    return { shareName: share.name, storageAccountName: this.accountName, storageAccountKey: this.accountKey };
  }
}

/** An ACI azureFile volume for a share; the key travels as the secret it already is. */
export function azureFileVolume(volumeName: string, ref: ShareRef): input.containerinstance.VolumeArgs {
  return {
    name: volumeName,
    azureFile: { shareName: ref.shareName, storageAccountName: ref.storageAccountName, storageAccountKey: ref.storageAccountKey },
  };
}
