/**
 * The command line of each host process of the one-node cluster: etcd, the control plane, containerd,
 * the kubelet, kube-proxy, CoreDNS, kube-router, the volume provisioner and the offline model.
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { HELPER_IMAGE, LOCAL_PATH_NAMESPACE, LOCAL_PATH_PROVISIONER } from "./addons.js";
import type { Daemon } from "./daemons.js";
import { NODE_NAME, net, paths } from "./layout.js";
import { configFiles } from "./node-config.js";
import { kubeconfigPath } from "./pki.js";
import { toolBinary } from "./toolchain.js";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");
const pki = (f: string) => join(paths.pki, f);

export function daemons(): Record<string, Daemon> {
  const k = (b: string) => toolBinary("kubernetes", b);
  const common = ["--bind-address=127.0.0.1"];
  return {
    etcd: {
      name: "etcd",
      argv: ["etcd", "--name", "kit", "--data-dir", paths.etcd, "--listen-client-urls", `http://127.0.0.1:${net.etcdPort}`, "--advertise-client-urls", `http://127.0.0.1:${net.etcdPort}`,
        "--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380", "--initial-cluster", "kit=http://127.0.0.1:2380", "--listen-metrics-urls", "http://127.0.0.1:2381"],
    },
    "kube-apiserver": {
      name: "kube-apiserver",
      argv: [k("kube-apiserver"), `--etcd-servers=http://127.0.0.1:${net.etcdPort}`, `--secure-port=${net.apiPort}`,
        // On the bridge, not loopback: pods (the gateway's Kubernetes spawner) reach it through the
        // kubernetes Service, whose endpoint the default reconciler keeps at this address.
        `--bind-address=${net.bridgeIp}`, `--advertise-address=${net.bridgeIp}`,
        `--tls-cert-file=${pki("apiserver.crt")}`, `--tls-private-key-file=${pki("apiserver.key")}`, `--client-ca-file=${pki("ca.crt")}`,
        `--service-account-key-file=${pki("sa.pub")}`, `--service-account-signing-key-file=${pki("sa.key")}`, "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction", `--service-cluster-ip-range=${net.serviceCidr}`, "--allow-privileged=true",
        `--kubelet-client-certificate=${pki("apiserver-kubelet-client.crt")}`, `--kubelet-client-key=${pki("apiserver-kubelet-client.key")}`, `--kubelet-certificate-authority=${pki("ca.crt")}`,
        "--kubelet-preferred-address-types=Hostname,InternalIP"],
    },
    "kube-controller-manager": {
      name: "kube-controller-manager",
      argv: [k("kube-controller-manager"), `--kubeconfig=${kubeconfigPath("kube-controller-manager")}`, `--authentication-kubeconfig=${kubeconfigPath("kube-controller-manager")}`,
        `--authorization-kubeconfig=${kubeconfigPath("kube-controller-manager")}`, ...common, "--secure-port=10257", "--leader-elect=false",
        `--service-account-private-key-file=${pki("sa.key")}`, `--root-ca-file=${pki("ca.crt")}`, "--use-service-account-credentials=true",
        `--cluster-signing-cert-file=${pki("ca.crt")}`, `--cluster-signing-key-file=${pki("ca.key")}`,
        "--allocate-node-cidrs=true", `--cluster-cidr=${net.podCidr}`, "--node-cidr-mask-size=24", `--service-cluster-ip-range=${net.serviceCidr}`, "--controllers=*"],
    },
    "kube-scheduler": {
      name: "kube-scheduler",
      argv: [k("kube-scheduler"), `--kubeconfig=${kubeconfigPath("kube-scheduler")}`, `--authentication-kubeconfig=${kubeconfigPath("kube-scheduler")}`,
        `--authorization-kubeconfig=${kubeconfigPath("kube-scheduler")}`, ...common, "--secure-port=10259", "--leader-elect=false"],
    },
    containerd: { name: "containerd", argv: ["containerd", "--config", configFiles.containerd] },
    kubelet: {
      name: "kubelet",
      argv: [k("kubelet"), `--config=${configFiles.kubelet}`, `--kubeconfig=${kubeconfigPath("kubelet")}`, `--root-dir=${paths.kubeletRoot}`, `--hostname-override=${NODE_NAME}`,
        // The bridge's address: the kubelet refuses loopback, and the host's own interfaces are not the cluster's.
        `--node-ip=${net.bridgeIp}`, "--v=1"],
    },
    "kube-proxy": {
      name: "kube-proxy",
      argv: [k("kube-proxy"), `--kubeconfig=${kubeconfigPath("kube-proxy")}`, `--hostname-override=${NODE_NAME}`, "--proxy-mode=nftables", `--cluster-cidr=${net.podCidr}`,
        ...common, "--metrics-bind-address=127.0.0.1:10249", "--healthz-bind-address=127.0.0.1:10256",
        // No CAP_SYS_RESOURCE-free conntrack tuning here: leave the host's conntrack sysctls alone.
        "--conntrack-max-per-core=0", "--conntrack-min=0", "--conntrack-tcp-timeout-established=0", "--conntrack-tcp-timeout-close-wait=0"],
    },
    coredns: { name: "coredns", argv: [toolBinary("coredns"), "-conf", configFiles.corefile] },
    "kube-router": {
      name: "kube-router",
      argv: [toolBinary("kube-router"), `--kubeconfig=${paths.kubeconfig}`, `--hostname-override=${NODE_NAME}`, "--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
        "--health-port=20244", "--metrics-port=0", "--enable-ipv6=false"],
    },
    "offline-model": {
      name: "offline-model",
      argv: [process.execPath, "--import", "tsx", join(ROOT, "local/cluster/offline-model.ts")],
      cwd: ROOT,
    },
    "local-path-provisioner": {
      name: "local-path-provisioner",
      argv: [toolBinary("local-path-provisioner"), "start", `--kubeconfig=${paths.kubeconfig}`, `--namespace=${LOCAL_PATH_NAMESPACE}`, `--provisioner-name=${LOCAL_PATH_PROVISIONER}`,
        `--config=${configFiles.localPath}`, `--helper-pod-file=${configFiles.localPathHelper}`, `--helper-image=${HELPER_IMAGE}`],
    },
  };
}
