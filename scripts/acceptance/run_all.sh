#!/usr/bin/env bash
# Runs the acceptance scripts 00..09 and 20 in order on ONE 3-node cluster and prints
# a summary table (script, PASS/FAIL/SKIP counts, duration, exit code).
#
#   scripts/acceptance/run_all.sh            # all of 00..09, 20
#   scripts/acceptance/run_all.sh 03 07      # only these (by number)
#
# The cluster: the running scripts/cluster.sh cluster (KUBECONFIG or
# .cluster/) when there is one and ACC_FRESH_CLUSTER is not 1; otherwise
# run_all brings up its own (private prefix, subnet and dir; the lock
# /tmp/mk-cluster.lock held while it exists) with the server flags every
# script needs — MK_SERVER_ARGS, default: short node-failure periods for 07
# and 1 s metrics / 2 s HPA sync for 05 — and removes it at the end, also on
# failure or ^C. A script that is absent is [SKIP]ped. Each script's full log
# is kept in $ACC_LOG_DIR (default a temp dir, printed at the end).
# Exit status: 0 when every script that ran exited 0, else 1.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export BIN=${BIN:-$ROOT/build/bin}
CL=$ROOT/scripts/cluster.sh
ALL=(00_env_check 01_node_multinode 02_pod_lifecycle 03_service 04_replicaset 05_hpa 06_dns_forwarding 07_fault_tolerance 08_serverless 09_workflow 20_personal_gpu)
ACC_LOG_DIR=${ACC_LOG_DIR:-$(mktemp -d /tmp/minik8s-acc-all.XXXXXX)}
mkdir -p "$ACC_LOG_DIR"
export MK_SERVER_ARGS=${MK_SERVER_ARGS:-"--node-monitor-grace-period 6s --default-unreachable-toleration-seconds 10 --horizontal-pod-autoscaler-sync-period 2s --metric-resolution 1s"}
cd "$ROOT"

want=()
if [ $# -gt 0 ]; then
  for a in "$@"; do
    m=""
    for s in "${ALL[@]}"; do [[ "$s" == "$a"* ]] && m=$s; done
    [ -n "$m" ] || { echo "run_all: no acceptance script '$a' (one of: ${ALL[*]})" >&2; exit 2; }
    want+=("$m")
  done
else
  want=("${ALL[@]}")
fi

ready_nodes() { kubectl get nodes --no-headers 2>/dev/null | grep -c " Ready"; }
OWN=""
cleanup() {
  if [ -n "$OWN" ]; then
    echo "[CLEANUP] run_all: scripts/cluster.sh down (prefix $MK_CLUSTER_PREFIX)"
    "$CL" down >"$ACC_LOG_DIR/down.log" 2>&1 || echo "[CLEANUP] cluster.sh down reported a problem (see $ACC_LOG_DIR/down.log)"
    rm -rf "$(dirname "$MK_CLUSTER_DIR")"
    OWN=""
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export MK_CLUSTER_DIR=${MK_CLUSTER_DIR:-$ROOT/.cluster}
if [ "${ACC_FRESH_CLUSTER:-0}" != 1 ] && [ -f "$MK_CLUSTER_DIR/state" ] && [ -f "$MK_CLUSTER_DIR/kubeconfig" ] &&
  [ "$(KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig ready_nodes)" -ge 3 ]; then
  export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
  export MK_CLUSTER_PREFIX=$(sed -n 's/^prefix=//p' "$MK_CLUSTER_DIR/state" | tail -n1)
  export MK_CLUSTER_SUBNET=$(sed -n 's/^subnet=//p' "$MK_CLUSTER_DIR/state" | tail -n1)
  echo "[STEP] run_all: using the running cluster.sh cluster in $MK_CLUSTER_DIR (prefix $MK_CLUSTER_PREFIX; server args: $(sed -n 's/^serverargs=//p' "$MK_CLUSTER_DIR/state" | tail -n1))"
elif [ "${ACC_FRESH_CLUSTER:-0}" != 1 ] && [ -n "${KUBECONFIG:-}" ] && [ "$(ready_nodes)" -ge 3 ] &&
  [ -f "$(dirname "$KUBECONFIG")/state" ]; then
  export MK_CLUSTER_DIR=$(dirname "$KUBECONFIG")
  export MK_CLUSTER_PREFIX=$(sed -n 's/^prefix=//p' "$MK_CLUSTER_DIR/state" | tail -n1)
  export MK_CLUSTER_SUBNET=$(sed -n 's/^subnet=//p' "$MK_CLUSTER_DIR/state" | tail -n1)
  echo "[STEP] run_all: using the cluster.sh cluster of KUBECONFIG=$KUBECONFIG (prefix $MK_CLUSTER_PREFIX)"
else
  export MK_CLUSTER_PREFIX=mkall$(($$ % 10000))
  export MK_CLUSTER_SUBNET=10.97.$(($$ % 200 + 20)).0/24
  export MK_CLUSTER_DIR=$(mktemp -d /tmp/minik8s-acc-all-cluster.XXXXXX)/cluster
  export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
  exec 9>/tmp/mk-cluster.lock
  echo "[STEP] run_all: waiting for /tmp/mk-cluster.lock (one multi-node cluster at a time)"
  flock 9
  OWN=1
  echo "[STEP] run_all: bringing up a 3-node cluster (prefix $MK_CLUSTER_PREFIX, MK_SERVER_ARGS=$MK_SERVER_ARGS)"
  t=$SECONDS
  if ! "$CL" up 3 >"$ACC_LOG_DIR/up.log" 2>&1; then
    echo "[FAIL] run_all: cluster.sh up 3 failed:"; tail -n 30 "$ACC_LOG_DIR/up.log" | sed 's/^/[OUTPUT] /'
    exit 1
  fi
  echo "[STEP] run_all: cluster Ready in $((SECONDS - t)) s"
fi
# The scripts use this cluster (not one of their own); should one still bring
# up its own, it must not wait for the lock run_all holds.
unset ACC_FRESH_CLUSTER ACC_SINGLE_NODE
[ -n "$OWN" ] && export ACC_LOCK_HELD=1

rows=()
failed=0
total=$SECONDS
for s in "${want[@]}"; do
  f=$HERE/$s.sh
  if [ ! -x "$f" ]; then
    echo "[SKIP] $s: scripts/acceptance/$s.sh does not exist (yet)"
    rows+=("$s|-|-|-|-|SKIP (absent)")
    continue
  fi
  echo "======== $s ========"
  t=$SECONDS
  "$f" 2>&1 | tee "$ACC_LOG_DIR/$s.log"
  rc=${PIPESTATUS[0]}
  d=$((SECONDS - t))
  np=$(grep -c '^\[PASS\]' "$ACC_LOG_DIR/$s.log")
  nf=$(grep -c '^\[FAIL\]' "$ACC_LOG_DIR/$s.log")
  ns=$(grep -c '^\[SKIP\]' "$ACC_LOG_DIR/$s.log")
  verdict=ok
  if [ "$rc" -ne 0 ] || [ "$nf" -gt 0 ]; then verdict=FAILED; failed=1; fi
  rows+=("$s|$np|$nf|$ns|${d}s|$rc $verdict")
  # A script that broke the cluster (a node left stopped, not Ready) would fail all later ones.
  if [ "$(ready_nodes)" -lt 3 ]; then
    echo "[STEP] run_all: after $s fewer than 3 nodes are Ready:"; kubectl get nodes 2>&1 | sed 's/^/[OUTPUT] /'
  fi
done

echo
echo "======== summary ($(date -u +%FT%TZ), $((SECONDS - total)) s, logs in $ACC_LOG_DIR) ========"
printf '%-22s %6s %6s %6s %9s  %s\n' script PASS FAIL SKIP duration "exit"
for r in "${rows[@]}"; do
  IFS='|' read -r a b c d e g <<<"$r"
  printf '%-22s %6s %6s %6s %9s  %s\n' "$a" "$b" "$c" "$d" "$e" "$g"
done
[ $failed = 0 ] && echo "run_all: every script passed" || echo "run_all: some scripts FAILED"
exit $failed
