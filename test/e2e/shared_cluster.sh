#!/usr/bin/env bash
# The 3-node scripts/cluster.sh cluster that the multi-node e2e and acceptance
# tests share in one ctest run (a ctest fixture, test/CMakeLists.txt):
#   shared_cluster.sh up DIR     brings it up in DIR (prefix mkshr, node subnet
#                                10.95.0.0/24, pods 10.240.0.0/16, the server
#                                flags every sharing test needs); a cluster
#                                left in DIR by an aborted run goes first
#   shared_cluster.sh down DIR   takes it down and checks that nothing with its
#                                prefix is left
# Each sharing test works in a namespace of its own (test/e2e/cluster_lib.sh,
# acc_multinode in scripts/acceptance/lib.sh). Its own pod CIDR lets a test
# that needs a private cluster (10.244.0.0/16) run while this one is up.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BIN=${BIN:-$ROOT/build/bin}
CL=$ROOT/scripts/cluster.sh
cmd=${1:?usage: shared_cluster.sh up|down DIR}
export MK_CLUSTER_DIR=${2:?usage: shared_cluster.sh up|down DIR}
export MK_CLUSTER_PREFIX=mkshr MK_CLUSTER_SUBNET=10.95.0.0/24 MK_CLUSTER_POD_CIDR=10.240.0.0/16
# HPA and metrics periods short enough for cluster_hpa/05 and cluster_metrics;
# node failure periods short enough for 07 (the same flags run_all.sh uses).
export MK_SERVER_ARGS="--horizontal-pod-autoscaler-sync-period 2s --metric-resolution 1s --node-monitor-grace-period 6s --default-unreachable-toleration-seconds 10"
PASSED=0
FAILED=0
. "$ROOT/test/e2e/check.sh"
. "$ROOT/test/e2e/cluster_lib.sh"

case $cmd in
  up)
    "$CL" down >/dev/null 2>&1
    start=$SECONDS
    if "$CL" up 3 >"$MK_CLUSTER_DIR.up.log" 2>&1; then
      pass "shared cluster up in $((SECONDS - start)) s: $MK_CLUSTER_DIR (server flags: $MK_SERVER_ARGS)"
    else
      fail "cluster.sh up 3"; tail -n 40 "$MK_CLUSTER_DIR.up.log" | sed 's/^/    /'
      "$CL" down >/dev/null 2>&1
    fi
    rm -f "$MK_CLUSTER_DIR.up.log"
    ;;
  down)
    expect "cluster.sh down" "removed cluster" "$CL" down
    e2e_cluster_gone_checks
    ;;
  *) echo "usage: shared_cluster.sh up|down DIR"; exit 2 ;;
esac
finish
