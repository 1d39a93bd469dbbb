/**
 * What the node changes on the host and `down` must undo: the pod bridge, sysctls, firewall chains
 * and sets, network namespaces and mounts. `leftovers()` lists whatever of it is still there.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { CONTAINERD_ROOT, net, paths } from "./layout.js";

const sh = (cmd: string, args: string[]) => {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return "";
  }
};

/** Host sysctls the kubelet, the CNI and the NetworkPolicy controller change; saved by `up`, restored by `down`. */
const SYSCTLS = ["vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops", "net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables"];
const SAVED = `${paths.dir}-host-state.json`;

const nftTables = () => sh("nft", ["list", "tables"]).split("\n").map((l) => l.replace(/^table /, "").trim()).filter(Boolean);

/** Records the host's sysctls and nftables tables before the cluster changes them. */
export function saveHostState(): void {
  if (existsSync(SAVED)) return; // a previous up's values are the host's own
  const sysctls = Object.fromEntries(SYSCTLS.map((k) => [k, sh("sysctl", ["-n", k]).trim()]));
  writeFileSync(SAVED, JSON.stringify({ sysctls, nftTables: nftTables() }));
}

export function restoreHostState(): void {
  if (!existsSync(SAVED)) return;
  const saved = JSON.parse(readFileSync(SAVED, "utf8")) as { sysctls: Record<string, string>; nftTables: string[] };
  for (const [k, v] of Object.entries(saved.sysctls)) if (v !== "") sh("sysctl", ["-q", `${k}=${v}`]);
  // Tables the kubelet's iptables canaries brought into existence, once they hold no rule.
  for (const t of nftTables().filter((x) => !saved.nftTables.includes(x))) {
    if (!/^\s+(ip|ip6|meta|counter|jump|goto|tcp|udp|ct)\b/m.test(sh("nft", ["list", "table", ...t.split(" ")]))) sh("nft", ["delete", "table", ...t.split(" ")]);
  }
  rmSync(SAVED);
}

export function createBridge(): void {
  if (!sh("ip", ["-br", "link", "show", net.bridge])) {
    execFileSync("ip", ["link", "add", net.bridge, "type", "bridge"]);
  }
  if (!sh("ip", ["-br", "addr", "show", net.bridge]).includes(`${net.bridgeIp}/`)) {
    execFileSync("ip", ["addr", "add", `${net.bridgeIp}/${net.podCidr.split("/")[1]}`, "dev", net.bridge]);
  }
  execFileSync("ip", ["link", "set", net.bridge, "up"]);
  // Forwarding for pod traffic; bridged pod-to-pod traffic must pass the firewall for NetworkPolicy.
  execFileSync("sysctl", ["-q", "net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1"]);
}

/** Chains that belong to the cluster: kubelet, kube-proxy (iptables mode remnants), CNI, kube-router. */
const CHAIN = /^(KUBE-|CNI-)/;

function iptablesChains(cmd: string, table: string): string[] {
  return sh(cmd, ["-t", table, "-S"])
    .split("\n")
    .filter((l) => l.startsWith("-N "))
    .map((l) => l.slice(3).trim())
    .filter((c) => CHAIN.test(c));
}

export function removeFirewallState(): void {
  for (const cmd of ["iptables", "ip6tables"]) {
    for (const table of ["filter", "nat", "mangle", "raw"]) {
      const chains = iptablesChains(cmd, table);
      if (!chains.length) continue;
      // Drop the rules that jump into our chains from built-in chains, then flush and delete ours.
      for (const rule of sh(cmd, ["-t", table, "-S"]).split("\n")) {
        const m = /^-A (\S+) (.*-j (\S+).*)$/.exec(rule);
        if (m && !CHAIN.test(m[1]!) && CHAIN.test(m[3]!)) sh(cmd, ["-t", table, "-D", m[1]!, ...splitRule(m[2]!)]);
      }
      for (const c of chains) sh(cmd, ["-t", table, "-F", c]);
      for (const c of chains) sh(cmd, ["-t", table, "-X", c]);
    }
  }
  // kube-proxy's nftables tables; kube-router's ipsets.
  for (const t of ["ip kube-proxy", "ip6 kube-proxy"]) sh("nft", ["delete", "table", ...t.split(" ")]);
  for (const set of sh("ipset", ["list", "-n"]).split("\n").filter((s) => /^(KUBE-|kube-router)/i.test(s))) sh("ipset", ["destroy", set]);
}

/** Splits an iptables-save rule into argv, keeping quoted comments whole. */
function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

export function removeBridge(): void {
  if (sh("ip", ["-br", "link", "show", net.bridge])) sh("ip", ["link", "del", net.bridge]);
}

function mountsUnder(prefixes: string[]): string[] {
  return readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .map((m) => m.replace(/\\040/g, " "))
    .filter((m) => prefixes.some((p) => m === p || m.startsWith(`${p}/`)));
}

const MOUNT_PREFIXES = [paths.dir, paths.containerdState, CONTAINERD_ROOT, "/run/netns"];

export function unmountAll(): void {
  for (let pass = 0; pass < 3; pass++) {
    const mounts = mountsUnder(MOUNT_PREFIXES).filter((m) => m !== "/run/netns").sort((a, b) => b.length - a.length);
    if (!mounts.length) break;
    for (const m of mounts) sh("umount", ["-l", m]);
  }
  if (existsSync("/run/netns")) for (const ns of readdirSync("/run/netns").filter((n) => n.startsWith("cni-"))) rmSync(`/run/netns/${ns}`, { force: true });
}

/** Everything of the cluster still present on the host; empty after a clean `down`. */
export function leftovers(processNames: string[]): string[] {
  const found: string[] = [];
  // Only this cluster's processes: another containerd (a developer's, an image build's) is not ours.
  const procs = sh("ps", ["-eo", "pid=,comm=,args="])
    .split("\n")
    .map((l) => /^\s*(\d+)\s+(\S+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => !!m && processNames.includes(m[2]!) && m[3]!.includes("copilot-scale-kit"));
  for (const m of procs) found.push(`process ${m[2]} (pid ${m[1]})`);
  for (const m of mountsUnder(MOUNT_PREFIXES).filter((x) => x !== "/run/netns")) found.push(`mount ${m}`);
  if (sh("ip", ["-br", "link", "show", net.bridge])) found.push(`bridge ${net.bridge}`);
  for (const l of sh("ip", ["-br", "link", "show", "type", "veth"]).split("\n").filter(Boolean)) found.push(`veth ${l.split(/\s+/)[0]}`);
  for (const cmd of ["iptables", "ip6tables"]) for (const t of ["filter", "nat", "mangle", "raw"]) for (const c of iptablesChains(cmd, t)) found.push(`${cmd} -t ${t} chain ${c}`);
  for (const t of sh("nft", ["list", "tables"]).split("\n").filter((l) => l.includes("kube-proxy"))) found.push(`nft ${t.trim()}`);
  for (const s of sh("ipset", ["list", "-n"]).split("\n").filter((x) => /^(KUBE-|kube-router)/i.test(x))) found.push(`ipset ${s}`);
  if (existsSync(paths.dir)) found.push(`folder ${paths.dir}`);
  return found;
}

/** The kubelet's own host state: its pod cgroups and the log folders it hard-wires. */
export function removeKubeletHostState(): void {
  for (const ctl of existsSync("/sys/fs/cgroup") ? readdirSync("/sys/fs/cgroup") : []) {
    const root = `/sys/fs/cgroup/${ctl}/kubepods`;
    if (existsSync(root)) sh("find", [root, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"]);
  }
  rmSync("/var/log/containers", { recursive: true, force: true });
  rmSync("/var/log/pods", { recursive: true, force: true });
}
