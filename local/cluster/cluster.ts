/**
 * The one-node Kubernetes cluster on this machine: `up` starts etcd, the control plane, containerd
 * and the kubelet, kube-proxy, cluster DNS, the NetworkPolicy controller, the volume provisioner and
 * the offline model the local stacks use; `down` stops them and undoes every change to the host.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { addonManifests, HELPER_IMAGE, helperPodYaml, LOCAL_PATH_NAMESPACE } from "./addons.js";
import { crdFiles, crdNames } from "./crds.js";
import { daemonPid, startDaemon, startedDaemons, stopDaemon, waitFor } from "./daemons.js";
import { daemons } from "./node-daemons.js";
import { createBridge, leftovers, removeBridge, removeFirewallState, removeKubeletHostState, restoreHostState, saveHostState, unmountAll } from "./host-network.js";
import { CONTAINERD_ROOT, NODE_NAME, STORAGE_CLASSES, net, paths } from "./layout.js";
import { configFiles, writeNodeConfig } from "./node-config.js";
import { ensurePki, writeKubeconfigs } from "./pki.js";
import { toolBinary } from "./toolchain.js";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");

/** Host processes of the cluster, in start order (`down` stops them in reverse). */
export const DAEMON_COMMS = ["etcd", "kube-apiserver", "kube-controller", "kube-scheduler", "containerd", "kubelet", "kube-proxy", "coredns", "kube-router", "local-path-prov"];

export interface ClusterState {
  startedAt: string;
  kubeconfig: string;
  node: string;
  timingsMs: Record<string, number>;
  modelUrl: string;
}

export function kubectl(args: string[], input?: string): string {
  return execFileSync(toolBinary("kubernetes", "kubectl"), ["--kubeconfig", paths.kubeconfig, ...args], {
    encoding: "utf8",
    input,
    stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    maxBuffer: 64 * 1024 * 1024,
  });
}

function requireHost(): void {
  if (process.getuid?.() !== 0) throw new Error("cluster: needs root (it runs containerd, the kubelet and changes the host's firewall)");
  const missing = ["etcd", "containerd", "runc", "iptables", "nft", "ipset", "openssl", "ctr"].filter((c) => {
    try {
      execFileSync("sh", ["-c", `command -v ${c}`], { stdio: "ignore" });
      return false;
    } catch {
      return true;
    }
  });
  if (!existsSync("/usr/lib/cni/bridge")) missing.push("containernetworking-plugins");
  if (missing.length) {
    throw new Error(`cluster: missing host packages: ${missing.join(", ")} (fix: bash scripts/setup-cluster.sh, or apt-get install etcd-server containerd runc iptables nftables ipset openssl containernetworking-plugins)`);
  }
}

async function apiReady(): Promise<boolean> {
  return kubectl(["get", "--raw", "/readyz"]).trim() === "ok";
}

function nodeReady(): boolean {
  const s = kubectl(["get", "node", NODE_NAME, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"]);
  return s.trim() === "True";
}

export interface UpOptions {
  /** Imports the images every node needs (pause, the provisioner's helper) into containerd. */
  importNodeImages: (containerdSocket: string) => Promise<void>;
  log?: (line: string) => void;
}

export async function up(opts: UpOptions): Promise<ClusterState> {
  const log = opts.log ?? ((l: string) => console.log(l));
  requireHost();
  const timings: Record<string, number> = {};
  const t0 = Date.now();
  const timed = async (what: string, fn: () => Promise<unknown> | unknown) => {
    const t = Date.now();
    log(`[cluster] ${what} …`);
    await fn();
    timings[what] = Date.now() - t;
  };
  const d = daemons();
  mkdirSync(paths.dir, { recursive: true, mode: 0o755 });
  saveHostState();
  ensurePki();
  writeKubeconfigs();
  writeNodeConfig();
  writeFileSync(configFiles.localPathHelper, helperPodYaml());
  createBridge();

  await timed("etcd", async () => {
    startDaemon(d.etcd!);
    await waitFor("etcd health", "etcd", 30_000, async () => (await fetch(`http://127.0.0.1:${net.etcdPort}/health`)).ok);
  });
  await timed("kube-apiserver", async () => {
    startDaemon(d["kube-apiserver"]!);
    await waitFor("the API server's /readyz", "kube-apiserver", 120_000, apiReady);
  });
  await timed("controller-manager, scheduler", async () => {
    startDaemon(d["kube-controller-manager"]!);
    startDaemon(d["kube-scheduler"]!);
    await waitFor("the default ServiceAccount", "kube-controller-manager", 60_000, () => kubectl(["-n", "default", "get", "serviceaccount", "default", "-o", "name"]).includes("default"));
  });
  await timed("containerd + node images", async () => {
    startDaemon(d.containerd!);
    await waitFor("containerd's socket", "containerd", 30_000, () => existsSync(paths.containerdSocket));
    await opts.importNodeImages(paths.containerdSocket);
  });
  await timed("kubelet (node Ready)", async () => {
    startDaemon(d.kubelet!);
    await waitFor(`node ${NODE_NAME} Ready`, "kubelet", 120_000, nodeReady);
  });
  await timed("kube-proxy, DNS, NetworkPolicy, storage", async () => {
    startDaemon(d["kube-proxy"]!);
    startDaemon(d.coredns!);
    startDaemon(d["kube-router"]!);
    kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: addonManifests() }));
    startDaemon(d["local-path-provisioner"]!);
    await waitFor("cluster DNS", "coredns", 30_000, async () => (await fetch("http://127.0.0.1:18054/ready")).ok);
    await waitFor("kube-router", "kube-router", 60_000, async () => (await fetch("http://127.0.0.1:20244/healthz")).ok);
  });
  await timed("a pod runs", async () => {
    // The node is only worth its name once a pod really ran on it (sandbox, CNI, image, runc).
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "kit-smoke", namespace: "default" },
      spec: {
        restartPolicy: "Never",
        securityContext: { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: "RuntimeDefault" } },
        containers: [{ name: "smoke", image: HELPER_IMAGE, imagePullPolicy: "Never", command: ["sh", "-c", "echo ok"], securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } } }],
      },
    };
    kubectl(["apply", "-f", "-"], JSON.stringify(pod));
    await waitFor("the smoke pod to succeed", "kubelet", 60_000, () => kubectl(["-n", "default", "get", "pod", "kit-smoke", "-o", "jsonpath={.status.phase}"]).trim() === "Succeeded");
    kubectl(["-n", "default", "delete", "pod", "kit-smoke", "--wait=true"]);
  });
  await timed("Gateway API, ServiceMonitor and Certificate CRDs", async () => {
    // Server-side apply: the HTTPRoute definition is larger than client-side apply's annotation limit.
    for (const file of crdFiles()) kubectl(["apply", "--server-side", "--force-conflicts", "-f", file]);
    kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...crdNames().map((n) => `crd/${n}`)]);
  });
  await timed("offline model", async () => {
    startDaemon(d["offline-model"]!);
    await waitFor("the offline model", "offline-model", 30_000, async () => (await fetch(`http://${net.bridgeIp}:${net.modelPort}/v1/models`)).status < 500);
  });
  const state: ClusterState = {
    startedAt: new Date().toISOString(),
    kubeconfig: paths.kubeconfig,
    node: NODE_NAME,
    timingsMs: { ...timings, total: Date.now() - t0 },
    modelUrl: `http://${net.bridgeIp}:${net.modelPort}/v1`,
  };
  writeFileSync(paths.state, JSON.stringify(state, null, 2));
  log(`[cluster] up in ${((Date.now() - t0) / 1000).toFixed(1)} s; export KUBECONFIG=${paths.kubeconfig}`);
  return state;
}

/** Namespaces the cluster itself owns; `down` deletes every other one first, so pods end gracefully. */
const SYSTEM_NAMESPACES = new Set(["default", "kube-system", "kube-public", "kube-node-lease", LOCAL_PATH_NAMESPACE]);

export async function down(log: (l: string) => void = (l) => console.log(l)): Promise<string[]> {
  const t0 = Date.now();
  if (daemonPid("kube-apiserver") && daemonPid("kubelet")) {
    try {
      const namespaces = kubectl(["get", "ns", "-o", "jsonpath={.items[*].metadata.name}"]).split(/\s+/).filter((n) => n && !SYSTEM_NAMESPACES.has(n));
      if (namespaces.length) {
        log(`[cluster] deleting namespaces ${namespaces.join(", ")} …`);
        kubectl(["delete", "ns", ...namespaces, "--wait=true", "--timeout=120s"]);
      }
      kubectl(["delete", "pods", "--all", "--all-namespaces", "--grace-period=5", "--wait=true", "--timeout=60s"]);
    } catch (err) {
      log(`[cluster] graceful deletion incomplete (${(err as Error).message.split("\n")[0]}); forcing`);
    }
  }
  // The kubelet first, so it does not restart what containerd is told to stop.
  for (const name of ["kubelet", ...startedDaemons().filter((n) => n !== "kubelet" && n !== "containerd"), "containerd"]) {
    if (name === "containerd") killContainers();
    await stopDaemon(name);
  }
  unmountAll();
  removeFirewallState();
  removeBridge();
  removeKubeletHostState();
  restoreHostState();
  rmSync(paths.dir, { recursive: true, force: true });
  const left = leftovers(DAEMON_COMMS);
  log(`[cluster] down in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${left.length ? `left behind: ${left.join("; ")}` : "nothing left behind"}`);
  return left;
}

/** Containers the kubelet did not get to stop: killed through containerd before it stops. */
function killContainers(): void {
  if (!daemonPid("containerd")) return;
  const ctr = (args: string[]) => {
    try {
      return execFileSync("ctr", ["--address", paths.containerdSocket, "-n", "k8s.io", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    } catch {
      return "";
    }
  };
  const tasks = ctr(["tasks", "ls", "-q"]).split("\n").filter(Boolean);
  for (const t of tasks) ctr(["tasks", "kill", "-s", "SIGKILL", t]);
  for (const t of tasks) ctr(["tasks", "delete", "-f", t]);
  for (const c of ctr(["containers", "ls", "-q"]).split("\n").filter(Boolean)) ctr(["containers", "delete", c]);
}

export function status(): {
  up: boolean;
  state?: ClusterState;
  daemons: Record<string, number | null>;
  nodeReady: boolean;
  leftovers: string[];
  storageClasses: typeof STORAGE_CLASSES;
  binaries: Record<string, string | null>;
  containerdRoot: string;
  root: string;
} {
  const names = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd", "kubelet", "kube-proxy", "coredns", "kube-router", "local-path-provisioner", "offline-model"];
  const ds = Object.fromEntries(names.map((n) => [n, daemonPid(n) ?? null]));
  let ready = false;
  try {
    ready = nodeReady();
  } catch {
    ready = false;
  }
  const state = existsSync(paths.state) ? (JSON.parse(readFileSync(paths.state, "utf8")) as ClusterState) : undefined;
  return {
    up: Object.values(ds).every((p) => p !== null) && ready,
    state,
    daemons: ds,
    nodeReady: ready,
    leftovers: state ? [] : leftovers(DAEMON_COMMS),
    storageClasses: STORAGE_CLASSES,
    // What kubectl and Pulumi commands against this cluster should run (null: not built yet).
    binaries: { kubectl: binaryOrNull("kubernetes", "kubectl"), pulumi: binaryOrNull("pulumi"), kubeconfig: existsSync(paths.kubeconfig) ? paths.kubeconfig : null },
    containerdRoot: CONTAINERD_ROOT,
    root: ROOT,
  };
}

function binaryOrNull(tool: string, binary?: string): string | null {
  try {
    return toolBinary(tool, binary);
  } catch {
    return null;
  }
}

