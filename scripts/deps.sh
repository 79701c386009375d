#!/usr/bin/env bash
# Installs the Debian packages minik8s builds and tests with; a no-op when all
# are present. Run as root on Debian 12.
set -euo pipefail
PKGS=(build-essential cmake ninja-build ccache clang clang-format libclang-rt-14-dev pkg-config
  libboost-all-dev nlohmann-json3-dev libyaml-cpp-dev libsqlite3-dev libcli11-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  python3 python3-kubernetes curl procps libssl-dev
  containerd runc containernetworking-plugins iptables conntrack iproute2 util-linux
  busybox-static kmod mmdebstrap nginx-light dnsmasq-base dnsperf wrk
  python3-pil fonts-dejavu-core  # these two: examples/serverless/app/make_samples.py
  zlib1g-dev  # mk_cli links zlib: the gpujob tar.gz packer
  unzip  # the submitter unpacks .zip sources: in its image, and gpu_test runs it on the host
  slurmctld slurmd slurm-client munge)  # scripts/slurm.sh (a private Slurm), the submitter image
PKGS+=(etcd-server etcd-client golang-etcd-server-dev openssl)  # EtcdStorage: etcd and etcdctl for its tests and bench; the v3 protos its gRPC stubs are generated from; the openssl CLI makes its TLS test's certificates
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "deps: missing ${missing[*]}"
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
log=$(mktemp /tmp/minik8s-deps.XXXXXX.log)
echo "deps: apt-get update (log $log)"
apt-get update -qq >>"$log" 2>&1 || { tail -n 20 "$log" >&2; exit 1; }
# Progress from apt's status fd: one line per 10 % of the download and of the
# unpack/configure phase (the full output goes to the log).
echo "deps: apt-get install --no-install-recommends (${#missing[@]} packages and what they depend on)"
if ! apt-get install -y -q --no-install-recommends -o APT::Status-Fd=3 "${missing[@]}" 3>&1 >>"$log" 2>&1 |
  awk -F: '$1 == "dlstatus" || $1 == "pmstatus" {
      p = int($3 / 10) * 10; ph = ($1 == "dlstatus") ? "download" : "install"
      if (ph != last || p > shown) { printf "deps: %s %3d%%\n", ph, p; fflush(); shown = p; last = ph }
    }'; then
  echo "deps: apt-get install failed; the end of $log:" >&2; tail -n 30 "$log" >&2; exit 1
fi
fetched=$(sed -n 's/^Need to get \(.*\) of archives\.$/\1/p' "$log" | head -n1)
echo "deps: installed ${missing[*]}${fetched:+ (apt fetched $fetched)}"
rm -f "$log"
