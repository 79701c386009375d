#!/usr/bin/env bash
# Installs the Debian packages minik8s builds and tests with; a no-op when all
# are present. Run as root on Debian 12.
set -euo pipefail
PKGS=(build-essential cmake ninja-build ccache clang libclang-rt-14-dev pkg-config
  libboost-all-dev nlohmann-json3-dev libyaml-cpp-dev libsqlite3-dev libcli11-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev libgrpc++-dev protobuf-compiler-grpc
  python3 python3-kubernetes curl procps
  containerd runc containernetworking-plugins iptables conntrack iproute2 util-linux
  busybox-static mmdebstrap nginx-light dnsmasq-base dnsperf wrk)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then echo "deps: need root to apt-get install" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
# Packages like nginx start a system service on install; minik8s runs its own
# nginx per node, so keep services from starting (policy-rc.d, removed after).
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1
  trap '[ "$own_policy" = 1 ] && rm -f "$policy"' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
