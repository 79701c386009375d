#!/usr/bin/env bash
# Node failure benchmark: on a 3-node cluster (scripts/cluster.sh, unique
# prefix and subnet, removed on exit) with a ReplicaSet of 6 web pods behind a
# Service, `cluster.sh stop-node` crashes node 3 and the script measures, by
# polling the API every ~100 ms, the time from the crash to
#   - node 3 NotReady (Ready=Unknown),
#   - its pods' addresses out of the Service's Endpoints,
#   - 6 Running replacement-inclusive pods, none on node 3 and none terminating.
# Runs once with the defaults (grace 20 s, toleration 30 s) and once with a
# short setting (grace 6 s, toleration 10 s; BENCH_QUICK=1 runs only this).
# Prints Markdown rows. Usage: bench/node_failure_bench.sh [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export BIN=${BIN:-$ROOT/${1:-build}/bin}
export MK_CLUSTER_PREFIX=mknb$(($$ % 10000))
export MK_CLUSTER_SUBNET=10.96.$(($$ % 200 + 20)).0/24
TMP=$(mktemp -d /tmp/minik8s-nodefail-bench.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
CL=$ROOT/scripts/cluster.sh
trap '"$CL" down >/dev/null 2>&1; rm -rf "$TMP"' EXIT
exec 9>/tmp/mk-cluster.lock
flock 9

secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# one GRACE TOL → "notready endpoints replaced" seconds after the crash
one() {
  local grace=$1 tol=$2
  export MK_SERVER_ARGS="--node-monitor-grace-period ${grace}s --default-unreachable-toleration-seconds $tol"
  "$CL" up 3 >"$TMP/up.log" 2>&1 || { tail -n 30 "$TMP/up.log" >&2; return 1; }
  local n3=${MK_CLUSTER_PREFIX}-node3
  kubectl apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: nb-web}
spec:
  replicas: 6
  selector: {matchLabels: {app: nb-web}}
  template:
    metadata: {labels: {app: nb-web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: busybox:1.36
        command: [sh, -c, 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www']
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: nb-web}
spec:
  selector: {app: nb-web}
  ports: [{port: 80, targetPort: 8080}]
EOF
  local deadline=$((SECONDS + 180))
  until [ "$(kubectl get endpoints nb-web -o jsonpath='{range .subsets[*].addresses[*]}{.ip}{"\n"}{end}' 2>/dev/null | grep -c .)" = 6 ]; do
    [ $SECONDS -lt $deadline ] || { echo "nb-web never had 6 endpoints" >&2; kubectl get pods -o wide >&2; return 1; }
    sleep 0.3
  done
  local ips3
  ips3=$(kubectl get pods -l app=nb-web -o jsonpath="{range .items[?(@.spec.nodeName==\"$n3\")]}{.status.podIP}{\"\\n\"}{end}")
  [ -n "$ips3" ] || { echo "no pod of nb-web on $n3" >&2; return 1; }
  local t0 notready="" endpoints="" replaced="" eps ip gone spread
  t0=$EPOCHREALTIME
  "$CL" stop-node "$n3" >/dev/null
  deadline=$((SECONDS + grace + tol + 120))
  while [ -z "$notready" ] || [ -z "$endpoints" ] || [ -z "$replaced" ]; do
    [ $SECONDS -lt $deadline ] || { echo "timed out: notready=$notready endpoints=$endpoints replaced=$replaced" >&2; return 1; }
    if [ -z "$notready" ] && [ "$(kubectl get node "$n3" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = Unknown ]; then
      notready=$(secs_since "$t0")
    fi
    if [ -z "$endpoints" ]; then
      eps=$(kubectl get endpoints nb-web -o jsonpath='{range .subsets[*].addresses[*]}{.ip}{"\n"}{end}')
      gone=1
      for ip in $ips3; do grep -qx "$ip" <<<"$eps" && gone=0; done
      [ $gone = 1 ] && endpoints=$(secs_since "$t0")
    fi
    if [ -z "$replaced" ]; then
      spread=$(kubectl get pods -l app=nb-web -o jsonpath='{range .items[*]}{.metadata.deletionTimestamp}|{.status.phase}|{.spec.nodeName}{"\n"}{end}' |
        awk -F'|' -v n3="$n3" '$1 == "" && $2 == "Running" { t++; if ($3 == n3) b++ } END { print t + 0, b + 0 }')
      [ "$spread" = "6 0" ] && replaced=$(secs_since "$t0")
    fi
    sleep 0.1
  done
  echo "| node failure, grace ${grace} s, toleration ${tol} s: crash → NotReady / → endpoints removed / → 6 pods Running elsewhere | ${notready} s / ${endpoints} s / ${replaced} s | NotReady ≈ grace, replacements ≈ grace + toleration |"
  "$CL" down >/dev/null 2>&1
}

if [ -z "${BENCH_QUICK:-}" ]; then one 20 30; fi
one 6 10
