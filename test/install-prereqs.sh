#!/usr/bin/env bash
# Installs what Slim's tests and demo need on a fresh Debian 12 machine (as root), then the npm
# dependencies and the build. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  docker.io containerd runc iptables iproute2 # a real dockerd per test host
  busybox-static debootstrap                  # offline test images
  etcd-server etcd-client                     # cluster state for multi-host (issue 3)
  docker-registry                             # push/install of the managed plugin, offline
  musl-tools                                  # the shim's musl build (Alpine images)
  gnuplot-nox gcc                             # npm run bench: its chart (PNG, offline), bench/tools/*.c
  clang llvm libbpf-dev bpftool               # secure mode: the BPF objects (CO-RE) and their loader
  libelf-dev zlib1g-dev                       # ... linked statically (libbpf.a needs libelf.a, libz.a)
  qemu-system-x86                             # VM tier: a Debian kernel with the BPF LSM under QEMU
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
