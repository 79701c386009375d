#!/usr/bin/env bash
# HPA reaction benchmark: how long from a CPU load step to the HPA's scale
# decision, and to the new pod Ready, with --metric-resolution 1s and
# --horizontal-pod-autoscaler-sync-period 2s (the theoretical bound of the
# decision is one metric resolution + one sync period = 3 s, plus the
# kubelet's rate window).
# Brings up its own cluster (scripts/cluster.sh, BENCH_HPA_NODES nodes,
# default 3; unique prefix and subnet; removed on exit). The target is the
# examples/hpa web Deployment (CPU-burning CGI, request 100m) with its own
# HPA (cpu 50%, min 1, max 2, no stabilization, fast policies); the load is
# one always-running client pod whose request loop is switched on and off
# through a file (`kubectl exec … touch /tmp/on`), so a step is not a pod
# start. Per run: load on at t0 (taken before the exec) → decision = the
# SuccessfulRescale event's eventTime (server clock, same machine) → the
# second pod Ready seen by polling every 100 ms; then load off and back to
# 1 replica. BENCH_HPA_RUNS runs (default 5). Prints Markdown rows.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export BIN=${BIN:-$ROOT/${1:-build}/bin}
export MK_CLUSTER_PREFIX=mkb$(($$ % 10000))
export MK_CLUSTER_SUBNET=10.97.$(($$ % 200 + 20)).0/24
export MK_SERVER_ARGS="--horizontal-pod-autoscaler-sync-period 2s --metric-resolution 1s"
TMP=$(mktemp -d /tmp/minik8s-hpa-bench.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
CL=$ROOT/scripts/cluster.sh
RUNS=${BENCH_HPA_RUNS:-5}
trap '"$CL" down >/dev/null 2>&1; rm -rf "$TMP"' EXIT
exec 9>/tmp/mk-cluster.lock
flock 9
"$CL" up "${BENCH_HPA_NODES:-3}" >"$TMP/up.log" 2>&1 || { tail -n 30 "$TMP/up.log" >&2; exit 1; }

kubectl apply -f "$ROOT/examples/hpa/web.yaml" >/dev/null
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: hpa-web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: hpa-web}
  minReplicas: 1
  maxReplicas: 2
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleUp: {stabilizationWindowSeconds: 0, policies: [{type: Percent, value: 100, periodSeconds: 1}]}
    scaleDown: {stabilizationWindowSeconds: 0, policies: [{type: Percent, value: 100, periodSeconds: 1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: hpa-bench-load}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: load
    image: busybox:1.36
    command: [sh, -c, 'while true; do if [ -e /tmp/on ]; then wget -q -T 5 -O- http://hpa-web/cgi-bin/burn >/dev/null 2>&1; else sleep 0.05; fi; done']
EOF
source "$(dirname "$0")/lib.sh"
spec_replicas() { kubectl get deployment hpa-web -o jsonpath='{.spec.replicas}'; }
ready_replicas() { kubectl get deployment hpa-web -o jsonpath='{.status.readyReplicas}'; }
at_rest() {
  [ "$(spec_replicas)" = 1 ] && [ "$(ready_replicas)" = 1 ] &&
    [ "$(kubectl get pods -l app=hpa-web --no-headers 2>/dev/null | wc -l)" = 1 ] &&
    kubectl get hpa hpa-web --no-headers | grep -Eq 'cpu: [0-9]%/50%|cpu: [1-3][0-9]%/50%'
}
# The newest SuccessfulRescale event time of hpa-web, epoch seconds.
last_rescale() {
  kubectl get events -o jsonpath='{range .items[?(@.involvedObject.name=="hpa-web")]}{.eventTime}{" "}{.reason}{"\n"}{end}' |
    awk '$2 == "SuccessfulRescale" { print $1 }' | sort | tail -n1 | xargs -r -I{} date -d {} +%s.%N
}
wait_for 180 "the load pod Running" sh -c '[ "$(kubectl get pod hpa-bench-load -o jsonpath={.status.phase})" = Running ]'
wait_for 180 "one ready hpa-web replica" sh -c '[ "$(kubectl get deployment hpa-web -o jsonpath={.status.readyReplicas})" = 1 ]'
decisions=()
readies=()
for run in $(seq 1 "$RUNS"); do
  wait_for 180 "the deployment at rest" at_rest
  before=$(last_rescale)
  t0=$(date +%s.%N)
  kubectl exec hpa-bench-load -- touch /tmp/on
  wait_for 60 "spec.replicas 2" sh -c '[ "$(kubectl get deployment hpa-web -o jsonpath={.spec.replicas})" = 2 ]'
  wait_for 120 "two ready replicas" sh -c '[ "$(kubectl get deployment hpa-web -o jsonpath={.status.readyReplicas})" = 2 ]'
  t_ready=$(date +%s.%N)
  t_dec=$(last_rescale)
  [ "$t_dec" != "$before" ] || { echo "no new SuccessfulRescale event" >&2; exit 1; }
  decisions+=("$(awk -v a="$t0" -v b="$t_dec" 'BEGIN { printf "%.2f", b - a }')")
  readies+=("$(awk -v a="$t0" -v b="$t_ready" 'BEGIN { printf "%.2f", b - a }')")
  echo "run $run: decision after ${decisions[-1]} s, new pod Ready after ${readies[-1]} s" >&2
  kubectl exec hpa-bench-load -- rm -f /tmp/on
done
stats() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "p50 %.2f s, max %.2f s", v[int((NR + 1) / 2)], v[NR] }'; }
echo "| HPA load step → scale decision (SuccessfulRescale), 1 s metrics, 2 s sync, $RUNS runs: ${decisions[*]} s | $(stats "${decisions[@]}") | ≤ 3 s |"
echo "| HPA load step → new pod Ready, $RUNS runs: ${readies[*]} s | $(stats "${readies[@]}") | |"
echo "| HPA decision bound (baseline): metric resolution + sync period | 1 s + 2 s = 3 s (+ the kubelet's CPU rate window) | |"
