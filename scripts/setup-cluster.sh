#!/usr/bin/env bash
# Installs what the real-cluster path needs beyond npm packages, and does nothing for what is
# already there: Debian packages (etcd, containerd and runc, podman/buildah, debootstrap, CNI
# plugins, the firewall tools kube-proxy and kube-router drive, busybox-static), then the pinned Go
# toolchain (npm run toolchain: cached by version, ~17 min cold on 2 cores, seconds warm).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PACKAGES=(etcd-server containerd runc podman buildah debootstrap containernetworking-plugins iptables nftables ipset conntrack
  busybox-static uidmap fuse-overlayfs conmon golang-github-containers-common catatonit openssl gcc)
missing=()
for p in "${PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "setup-cluster: installing ${missing[*]} (Debian packages)"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packages' own services are not used: the cluster runs its own etcd and containerd.
for svc in etcd containerd; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then systemctl stop "$svc" || true; fi
done

npx tsx local/cluster/toolchain.ts build
