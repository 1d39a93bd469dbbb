/**
 * shared-storage: N CLI servers on one ReadWriteMany volume, so any server can resume any session.
 * Two servers writing one session fork it, so the gateway holds a session lease in Redis and only
 * the lease holder may drive a session.
 */
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { standardLabels } from "./meta.js";
import { type KitArgs, KitTopology } from "./topology.js";

/** Marks the claim every server mounts; policy checks require ReadWriteMany on it. */
export const SHARED_STATE_ANNOTATION = "copilot-scale-kit.io/shared-state";

export interface SharedStorageClusterArgs extends KitArgs {
  servers: number;
  sharedStorage: {
    /** A class that provisions ReadWriteMany volumes (NFS, Azure Files, EFS, Filestore, CephFS). */
    storageClass: string;
    sizeGi?: number;
  };
}

export class SharedStorageCluster extends KitTopology {
  constructor(name: string, args: SharedStorageClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super(
      "copilot-scale-kit:k8s:SharedStorageCluster",
      name,
      "shared-storage",
      args,
      (self, instance) => {
        if (!Number.isInteger(args.servers) || args.servers < 1) throw new Error(`SharedStorageCluster: servers must be a positive integer, got ${args.servers}`);
        if (!args.sharedStorage.storageClass) throw new Error("SharedStorageCluster: sharedStorage.storageClass must name a ReadWriteMany storage class");
        const claimName = `${instance}-shared-state`;
        const pvc = new k8s.core.v1.PersistentVolumeClaim(
          claimName,
          {
            metadata: {
              name: claimName,
              namespace: args.namespace,
              labels: standardLabels(instance, "cli-server"),
              annotations: { [SHARED_STATE_ANNOTATION]: "true" },
            },
            spec: {
              accessModes: ["ReadWriteMany"],
              storageClassName: args.sharedStorage.storageClass,
              resources: { requests: { storage: `${args.sharedStorage.sizeGi ?? 50}Gi` } },
            },
          },
          { parent: self },
        );
        return Array.from({ length: args.servers }, (_, i) => ({ id: String(i), storage: { sharedClaimName: pvc.metadata.name } }));
      },
      opts,
    );
  }
}
