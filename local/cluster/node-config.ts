/**
 * Configuration files of the node: containerd (CRI), the bridge CNI network, the kubelet, cluster
 * DNS (CoreDNS on the bridge address) and the local-path provisioner's node paths.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CONTAINERD_ROOT, STORAGE_CLASSES, net, paths } from "./layout.js";
import { kubeconfigPath } from "./pki.js";

/** The pod sandbox image; built locally (images.ts) since no registry is reachable. */
export const PAUSE_IMAGE = "registry.k8s.io/pause:3.10";

export const configFiles = {
  containerd: join(paths.config, "containerd.toml"),
  kubelet: join(paths.config, "kubelet.yaml"),
  resolv: join(paths.config, "resolv.conf"),
  corefile: join(paths.config, "Corefile"),
  localPath: join(paths.config, "local-path.json"),
  localPathHelper: join(paths.config, "local-path-helper.yaml"),
};

function containerdToml(): string {
  return `version = 2
root = "${CONTAINERD_ROOT}"
state = "${paths.containerdState}"

[grpc]
  address = "${paths.containerdSocket}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  # No CAP_SYS_RESOURCE in this VM: a pause container's oom_score_adj of -998 would kill runc init.
  restrict_oom_score_adj = true
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${paths.cniConf}"
    max_conf_num = 1
`;
}

function cniConflist(): string {
  return JSON.stringify(
    {
      cniVersion: "0.4.0",
      name: "kit-pods",
      plugins: [
        {
          type: "bridge",
          bridge: net.bridge,
          isGateway: true,
          ipMasq: true,
          // A pod reaching its own Service is DNAT'ed back to itself through the bridge.
          hairpinMode: true,
          ipam: { type: "host-local", ranges: [[{ subnet: net.podCidr, gateway: net.bridgeIp }]], routes: [{ dst: "0.0.0.0/0" }], dataDir: paths.cniIpam },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

function kubeletYaml(): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: ${join(paths.pki, "kubelet-serving.crt")}
tlsPrivateKeyFile: ${join(paths.pki, "kubelet-serving.key")}
cgroupDriver: cgroupfs
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://${paths.containerdSocket}
imageServiceEndpoint: unix://${paths.containerdSocket}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${join(paths.pki, "ca.crt")}}
authorization:
  mode: Webhook
resolvConf: ${configFiles.resolv}
clusterDomain: cluster.local
clusterDNS: [${net.bridgeIp}]
podLogsDir: ${paths.podLogs}
# Images imported from the local build cannot be pulled again: never garbage-collect them, and do
# not evict for disk pressure on a development machine's shared disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "200Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
rotateCertificates: false
serverTLSBootstrap: false
maxPods: 60
`;
}

function corefile(): string {
  return `.:53 {
    bind ${net.bridgeIp}
    errors
    health 127.0.0.1:18053
    ready 127.0.0.1:18054
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig ${kubeconfigPath("admin")} copilot-scale-kit
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
    forward . /etc/resolv.conf
}
`;
}

/** local-path-provisioner: RWO volumes under volumes/, RWX under shared-volumes/ (one node, one disk). */
function localPathConfig(): string {
  return JSON.stringify(
    {
      storageClassConfigs: {
        [STORAGE_CLASSES.rwo]: { nodePathMap: [{ node: "DEFAULT_PATH_FOR_NON_LISTED_NODES", paths: [paths.volumes] }] },
        [STORAGE_CLASSES.rwx]: { sharedFileSystemPath: paths.sharedVolumes },
      },
    },
    null,
    2,
  );
}

export function writeNodeConfig(): void {
  for (const d of [paths.config, paths.cniConf, paths.cniIpam, paths.volumes, paths.sharedVolumes, paths.podLogs, paths.kubeletRoot, paths.containerdState, CONTAINERD_ROOT]) {
    mkdirSync(d, { recursive: true });
  }
  writeFileSync(configFiles.containerd, containerdToml());
  writeFileSync(join(paths.cniConf, "10-kit.conflist"), cniConflist());
  writeFileSync(configFiles.kubelet, kubeletYaml());
  // Pods with dnsPolicy Default get the host's resolver; the host's own /etc/resolv.conf is kept.
  writeFileSync(configFiles.resolv, `nameserver ${net.bridgeIp}\n`);
  writeFileSync(configFiles.corefile, corefile());
  writeFileSync(configFiles.localPath, localPathConfig());
}

