#!/usr/bin/env bash
# e2e on a 3-node cluster (scripts/cluster.sh) with 1 s metrics and a 2 s HPA
# sync period: the examples/hpa example end to end.
# - metrics flow: `kubectl get hpa` TARGETS turns from <unknown> into
#   "cpu: N%/50%, memory: M/64Mi";
# - load on (hpa-load scaled to 2) → hpa-web goes 1 → 4 (max) one pod per
#   10 s: consecutive SuccessfulRescale events 10 s apart (− 1 s for rounding,
#   + two sync periods of jitter), nothing faster than the policy;
# - the new pods land on ≥ 2 nodes, each answers through the Service;
# - load off → back to 1 (min) after the 15 s stabilization window, again one
#   pod per 10 s, "All metrics below target";
# - status: currentMetrics, conditions, lastScaleTime; `kubectl describe hpa`.
# Takes the machine-wide cluster lock; one cluster with a private prefix and
# subnet, taken down on exit also on failure.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BIN=${BIN:-$ROOT/build/bin}
export MK_CLUSTER_PREFIX=${MK_CLUSTER_PREFIX:-mkh$(($$ % 100000))}
export MK_CLUSTER_SUBNET=${MK_CLUSTER_SUBNET:-10.98.$(($$ % 200 + 20)).0/24}
export MK_SERVER_ARGS="--horizontal-pod-autoscaler-sync-period 2s --metric-resolution 1s"
TMP=$(mktemp -d /tmp/minik8s-hpa-e2e.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
CL=$ROOT/scripts/cluster.sh
EX=$ROOT/examples/hpa
PASSED=0
FAILED=0
trap '"$CL" down >/dev/null 2>&1; rm -rf "$TMP"' EXIT

E2E_POLL=0.5
. "$ROOT/test/e2e/check.sh"
web_replicas() { kubectl get deployment hpa-web -o jsonpath='{.spec.replicas}'; }
# "<epoch seconds> <message>" per SuccessfulRescale event of the HPA, oldest first.
rescales() {
  kubectl get events -o jsonpath='{range .items[?(@.involvedObject.name=="hpa-web")]}{.eventTime}{" "}{.reason}{" "}{.message}{"\n"}{end}' |
    while read -r ts reason msg; do
      if [ "$reason" = SuccessfulRescale ]; then echo "$(date -d "$ts" +%s.%N) $msg"; fi
    done | sort -n
}
# Checks the gaps between consecutive rescale events whose message matches $1.
check_gaps() {
  local what=$1 re=$2 period=10 sync=2
  local times; times=$(rescales | grep -E -- "$re" | awk '{print $1}')
  echo "  $what rescale times: $(tr '\n' ' ' <<<"$times")"
  local gaps; gaps=$(awk 'NR > 1 { printf "%.1f\n", $1 - prev } { prev = $1 }' <<<"$times")
  if [ -z "$gaps" ]; then fail "$what: fewer than two rescales"; return; fi
  echo "  $what gaps (s): $(tr '\n' ' ' <<<"$gaps")"
  if awk -v lo=$((period - 1)) -v hi=$((period + 2 * sync + 2)) '$1 < lo || $1 > hi { bad = 1 } END { exit bad }' <<<"$gaps"; then
    pass "$what: every step ${period}s apart (within [$((period - 1)), $((period + 2 * sync + 2))] s) as the policy says"
  else
    fail "$what: steps not ${period}s apart"
  fi
}

exec 9>/tmp/mk-cluster.lock
flock 9
echo "cluster prefix $MK_CLUSTER_PREFIX subnet $MK_CLUSTER_SUBNET dir $MK_CLUSTER_DIR server args: $MK_SERVER_ARGS"
if ! "$CL" up 3 >"$TMP/up.log" 2>&1; then
  fail "cluster.sh up 3"; tail -n 40 "$TMP/up.log" | sed 's/^/    /'
  finish
fi
pass "cluster.sh up 3"

expect "example applied" "horizontalpodautoscaler.autoscaling/hpa-web created" \
  kubectl apply -f "$EX/web.yaml" -f "$EX/hpa.yaml" -f "$EX/load.yaml"
eventually 120 "hpa-web has 1 Ready pod" "^1$" kubectl get deployment hpa-web -o jsonpath='{.status.readyReplicas}'
eventually 60 "get hpa: TARGETS with real samples (cpu %/50%, memory /64Mi), REPLICAS 1" \
  "hpa-web +Deployment/hpa-web +cpu: [0-9]+%/50%, memory: [0-9.]+[KMG]?i?/64Mi +1 +4 +1 " kubectl get hpa hpa-web
expect "ScalingActive ValidMetricFound" "ValidMetricFound" \
  kubectl get hpa hpa-web -o jsonpath='{.status.conditions[?(@.type=="ScalingActive")].reason}'

echo "--- load on: hpa-load → 2 replicas"
kubectl scale deployment hpa-load --replicas=2 >/dev/null
t_on=$SECONDS
# 3 steps of 1 pod per 10 s: ≥ 20 s; allow for pod start-up and metrics.
if eventually 150 "scaled up to the max (4)" "^4$" web_replicas; then
  echo "  1 → 4 in $((SECONDS - t_on)) s"
fi
expect "no more than maxReplicas" "^4$" web_replicas
rescales | sed 's/^/  /'
expect "SuccessfulRescale events name the cpu metric" \
  "New size: 2; reason: cpu resource utilization \(percentage of request\) above target" rescales
check_gaps "scale-up" "above target"
eventually 120 "4 hpa-web pods Ready" "^4$" kubectl get deployment hpa-web -o jsonpath='{.status.readyReplicas}'
kubectl get pods -l app=hpa-web -o wide
nodes=$(kubectl get pods -l app=hpa-web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u | grep -c .)
if [ "$nodes" -ge 2 ]; then pass "the hpa-web pods run on $nodes nodes"; else fail "the hpa-web pods run on $nodes node(s)"; fi
loader=$(kubectl get pods -l app=hpa-load -o jsonpath='{.items[0].metadata.name}')
served=$(kubectl exec "$loader" -- sh -c 'for i in $(seq 1 40); do timeout 5 wget -q -O- http://hpa-web/cgi-bin/burn; done' 2>&1 |
  sed -n 's/^served-by //p' | sort | uniq -c)
echo "$served" | sed 's/^/  /'
missing=""
for p in $(kubectl get pods -l app=hpa-web -o jsonpath='{.items[*].metadata.name}'); do
  grep -q " $p$" <<<"$served" || missing="$missing $p"
done
if [ -z "$missing" ] && [ -n "$served" ]; then pass "every hpa-web pod answered through the Service"; else
  fail "pods that never answered through the Service:${missing:- (no answers)}"; fi
expect "get hpa while loaded: cpu above target, 4 replicas" "cpu: [0-9]+%/50%.* +1 +4 +4 " kubectl get hpa hpa-web
expect "status: currentMetrics (cpu averageUtilization), lastScaleTime" "^[0-9]+ [0-9T:-]+Z$" \
  kubectl get hpa hpa-web -o jsonpath='{.status.currentMetrics[0].resource.current.averageUtilization} {.status.lastScaleTime}'
expect "ScalingLimited TooManyReplicas at the max" "TooManyReplicas|DesiredWithinRange" \
  kubectl get hpa hpa-web -o jsonpath='{.status.conditions[?(@.type=="ScalingLimited")].reason}'
expect "describe hpa works" "Reference: +Deployment/hpa-web" kubectl describe hpa hpa-web

echo "--- load off: hpa-load → 0"
kubectl scale deployment hpa-load --replicas=0 >/dev/null
t_off=$SECONDS
# 15 s window + 3 steps of 10 s + sync and metric lag.
if eventually 150 "scaled back down to the min (1)" "^1$" web_replicas; then
  echo "  4 → 1 in $((SECONDS - t_off)) s"
fi
rescales | sed 's/^/  /'
expect "scale-down events say why" "New size: 1; reason: All metrics below target" rescales
check_gaps "scale-down" "below target"
eventually 30 "get hpa at rest: REPLICAS 1" "hpa-web +Deployment/hpa-web +cpu: [0-9]+%/50%.* +1 +4 +1 " kubectl get hpa hpa-web
kubectl get hpa hpa-web

kubectl delete -f "$EX/load.yaml" -f "$EX/hpa.yaml" -f "$EX/web.yaml" --wait=false >/dev/null 2>&1
finish
