/**
 * Where the one-node cluster keeps its state, and the fixed addresses it uses. One cluster per
 * machine (it owns ports 2379/6443/10250 and the node name), so the paths are machine-wide.
 */
import { hostname, homedir } from "node:os";
import { join } from "node:path";

/** KIT_CLUSTER_DIR moves the cluster's state; `down` removes this folder. */
export const CLUSTER_DIR = process.env.KIT_CLUSTER_DIR ?? "/var/lib/copilot-scale-kit/cluster";
/** containerd's image store outlives `down`, so images imported once stay (imports cost ~35 s). */
export const CONTAINERD_ROOT = process.env.KIT_CONTAINERD_ROOT ?? join(homedir(), ".cache", "copilot-scale-kit", "containerd");

export const paths = {
  dir: CLUSTER_DIR,
  pki: join(CLUSTER_DIR, "pki"),
  logs: join(CLUSTER_DIR, "logs"),
  pids: join(CLUSTER_DIR, "pids"),
  etcd: join(CLUSTER_DIR, "etcd"),
  kubeletRoot: join(CLUSTER_DIR, "kubelet"),
  podLogs: join(CLUSTER_DIR, "pod-logs"),
  containerdState: join(CLUSTER_DIR, "containerd-state"),
  containerdSocket: join(CLUSTER_DIR, "containerd-state", "containerd.sock"),
  cniConf: join(CLUSTER_DIR, "cni", "net.d"),
  cniIpam: join(CLUSTER_DIR, "cni", "ipam"),
  volumes: join(CLUSTER_DIR, "volumes"),
  sharedVolumes: join(CLUSTER_DIR, "shared-volumes"),
  config: join(CLUSTER_DIR, "config"),
  /** The admin kubeconfig `up` writes; what kubectl, Pulumi and the tests use. */
  kubeconfig: join(CLUSTER_DIR, "kubeconfig"),
  state: join(CLUSTER_DIR, "state.json"),
};

/** The node is named after the host: the kubelet refuses a loopback node IP, and the hostname resolves to 127.0.0.1. */
export const NODE_NAME = hostname();

export const net = {
  bridge: "kit0",
  podCidr: "10.244.0.0/24",
  /** The bridge's own address: pods reach host services (cluster DNS, the offline model) here. */
  bridgeIp: "10.244.0.1",
  serviceCidr: "10.96.0.0/24",
  apiServiceIp: "10.96.0.1",
  apiPort: 6443,
  etcdPort: 2379,
  /** Port of the offline mock model on the bridge address; the local cluster stacks point their CLIs at it. */
  modelPort: 11435,
};

export const STORAGE_CLASSES = {
  /** ReadWriteOnce, the cluster default. Deliberately not named "standard" (kit stacks must not assume a name). */
  rwo: "kit-local",
  /** ReadWriteMany on one node's disk, for shared-storage. */
  rwx: "kit-local-rwx",
};
