/**
 * Cluster add-ons applied through the API once the node is up: the storage classes and the
 * local-path provisioner's namespace, ConfigMap (its node paths and the helper pod's scripts) and
 * ServiceAccount. The provisioner itself runs on the host (daemons), as the other node services do.
 */
import { readFileSync } from "node:fs";
import { STORAGE_CLASSES } from "./layout.js";
import { configFiles } from "./node-config.js";

export const LOCAL_PATH_NAMESPACE = "local-path-storage";
export const LOCAL_PATH_PROVISIONER = "rancher.io/local-path";

// The helper pod creates (mode 0777, so a pod's non-root user can write) and removes volume folders.
const SETUP = '#!/bin/sh\nset -eu\nmkdir -m 0777 -p "$VOL_DIR"\n';
const TEARDOWN = '#!/bin/sh\nset -eu\nrm -rf "$VOL_DIR"\n';
/** The helper pod's image: no registry is reachable, so it must already be on the node (images.ts). */
export const HELPER_IMAGE = process.env.KIT_HELPER_IMAGE ?? "localhost/kit-busybox:1";

const HELPER_POD = `apiVersion: v1
kind: Pod
metadata:
  name: helper-pod
spec:
  priorityClassName: system-node-critical
  tolerations:
  - key: node.kubernetes.io/disk-pressure
    operator: Exists
    effect: NoSchedule
  containers:
  - name: helper-pod
    image: ${HELPER_IMAGE}
    imagePullPolicy: Never
`;

export function addonManifests(): object[] {
  const storageClass = (name: string, isDefault: boolean) => ({
    apiVersion: "storage.k8s.io/v1",
    kind: "StorageClass",
    metadata: { name, annotations: { "storageclass.kubernetes.io/is-default-class": String(isDefault) } },
    provisioner: LOCAL_PATH_PROVISIONER,
    // The claim binds when its pod is scheduled, so the volume lands on the pod's node.
    volumeBindingMode: "WaitForFirstConsumer",
    reclaimPolicy: "Delete",
  });
  return [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: LOCAL_PATH_NAMESPACE } },
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "local-path-provisioner-service-account", namespace: LOCAL_PATH_NAMESPACE } },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "local-path-config", namespace: LOCAL_PATH_NAMESPACE },
      data: { "config.json": readFileSync(configFiles.localPath, "utf8"), setup: SETUP, teardown: TEARDOWN, "helperPod.yaml": HELPER_POD },
    },
    storageClass(STORAGE_CLASSES.rwo, true),
    storageClass(STORAGE_CLASSES.rwx, false),
  ];
}

export function helperPodYaml(): string {
  return HELPER_POD;
}
