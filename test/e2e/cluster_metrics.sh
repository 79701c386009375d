#!/usr/bin/env bash
# e2e on a 3-node cluster (scripts/cluster.sh) for the resource metrics
# pipeline: the server runs with --metric-resolution 1s; metrics.k8s.io/v1beta1
# is in discovery; a CPU-burning pod (busybox busy loop, cpu limit 500m) shows
# about 500m in `kubectl top pods` within seconds and an idle pod about 0m;
# `kubectl top nodes` lists all 3 nodes; the same with kubectl 1.27; `mkctl
# top` prints the same table shape and numbers; NodeMetrics/PodMetrics objects
# and their 404s through the raw API.
# One cluster for the whole script (unique prefix and subnet, the machine-wide
# cluster lock held); `down` runs on exit also on failure.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BIN=${BIN:-$ROOT/build/bin}
export MK_CLUSTER_PREFIX=${MK_CLUSTER_PREFIX:-mkm$(($$ % 100000))}
export MK_CLUSTER_SUBNET=${MK_CLUSTER_SUBNET:-10.98.$(($$ % 200 + 20)).0/24}
export MK_SERVER_ARGS="${MK_SERVER_ARGS:-} --metric-resolution 1s"
TMP=$(mktemp -d /tmp/minik8s-metrics-e2e.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
CL=$ROOT/scripts/cluster.sh
PASSED=0
FAILED=0
trap 'e2e_cluster_down; rm -rf "$TMP"' EXIT

E2E_POLL=0.5
. "$ROOT/test/e2e/check.sh"
. "$ROOT/test/e2e/cluster_lib.sh"
# Fresh discovery cache per call (kubectl caches discovery for 6 h).
k() { kubectl --cache-dir "$TMP/kcache-$RANDOM$RANDOM" "$@"; }
K127=/usr/lib/google-cloud-sdk/bin/kubectl.1.27
k127() { "$K127" --cache-dir "$TMP/kcache127-$RANDOM$RANDOM" "$@"; }
mk() { "$BIN/mkctl" --kubeconfig "$KUBECONFIG" "$@"; }

# One multi-node cluster on this machine at a time.
exec 9>/tmp/mk-cluster.lock
flock 9

start=$SECONDS
e2e_cluster_up metrics
N1=${MK_CLUSTER_PREFIX}-node1 N2=${MK_CLUSTER_PREFIX}-node2 N3=${MK_CLUSTER_PREFIX}-node3

expect "metrics.k8s.io/v1beta1 in /apis" '"metrics.k8s.io/v1beta1"' k get --raw /apis
expect "APIResourceList lists nodes and pods" '"kind":"NodeMetrics".*"kind":"PodMetrics"' \
  k get --raw /apis/metrics.k8s.io/v1beta1
expect "kubectl api-resources shows the metrics kinds" "pods +metrics.k8s.io/v1beta1 +true +PodMetrics" \
  k api-resources --api-group=metrics.k8s.io
expect "controllers' work-queue and reconcile metrics on the API server's /metrics" \
  'workqueue_depth\{controller="replicaset"\} [0-9]+$' k get --raw /metrics
expect "reconcile latency histogram per controller" \
  'controller_reconcile_duration_seconds_count\{controller="endpoints"\} [1-9][0-9]*$' k get --raw /metrics
expect "the scheduler's work queue among them" 'workqueue_adds_total\{controller="scheduler"\} [0-9]+$' \
  k get --raw /metrics

cat <<EOF | kubectl apply -f - >/dev/null
apiVersion: v1
kind: Pod
metadata: {name: burn, labels: {app: burn}}
spec:
  nodeSelector: {kubernetes.io/hostname: $N2}
  containers:
  - name: burn
    image: busybox:1.36
    command: [sh, -c, 'while :; do :; done']
    resources: {limits: {cpu: 500m, memory: 64Mi}, requests: {cpu: 500m, memory: 64Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: idle, labels: {app: idle}}
spec:
  nodeSelector: {kubernetes.io/hostname: $N3}
  containers:
  - name: idle
    image: busybox:1.36
    command: [sleep, '3600']
EOF
eventually 90 "burn and idle Running" "^2$" sh -c "kubectl get pods --no-headers | grep -c '1/1 *Running'"
running_at=$SECONDS

# The burner at ~500m (its limit) — allow for a busy machine.
burn_ok() {
  local out m
  out=$(k top pods --no-headers 2>&1) || { echo "$out"; return 1; }
  echo "$out"
  m=$(awk '$1 == "burn" {sub(/m$/, "", $2); print $2}' <<<"$out")
  [ -n "$m" ] && [ "$m" -ge 300 ] && [ "$m" -le 650 ] && grep -Eq '^idle +[0-9]m ' <<<"$out"
}
if eventually 20 "kubectl top pods: burn ~500m, idle ~0m" "burn" burn_ok; then
  echo "    (after $((SECONDS - running_at)) s Running) $(k top pods --no-headers | tr -s ' ' | tr '\n' ';')"
fi
expect "kubectl top pods header" "^NAME +CPU\(cores\) +MEMORY\(bytes\)" k top pods
expect "kubectl top pod burn --containers" "^burn +burn +[0-9]+m +[0-9]+Mi" k top pod burn --containers --no-headers
expect "kubectl top pods -l app=idle shows only idle" "^idle +[0-9]+m +[0-9]+Mi *$" k top pods -l app=idle --no-headers
expect "kubectl top pods -A has the NAMESPACE column" "^$NS +burn +[0-9]+m" k top pods -A --no-headers
eventually 10 "kubectl top nodes lists the 3 nodes" "^3$" \
  sh -c "kubectl --cache-dir '$TMP/kc-nodes' top nodes --no-headers | grep -Ec '^($N1|$N2|$N3) +[0-9]+m +[0-9]+% +[0-9]+Mi +[0-9]+%'"
expect "kubectl top nodes header" "^NAME +CPU\(cores\) +CPU\(%\) +MEMORY\(bytes\) +MEMORY\(%\)" k top nodes
expect_fail "kubectl top pod of a missing pod: NotFound" 'NotFound' k top pod nope

if [ -x "$K127" ]; then
  expect "kubectl 1.27 top pods shows burn" "^burn +[0-9]{3}m +[0-9]+Mi" k127 top pods --no-headers
  expect "kubectl 1.27 top nodes shows 3 nodes" "$N1 .*$N2 .*$N3" sh -c "'$K127' --cache-dir '$TMP/k127n' top nodes --no-headers | tr '\n' ' '"
else
  echo "[SKIP] kubectl 1.27 not installed at $K127"
fi

# mkctl top prints the same table (numbers compared within a few percent,
# as the two reads happen a moment apart).
expect "mkctl top pods header and rows" "^NAME +CPU\(cores\) +MEMORY\(bytes\)" mk top pods
same_burn() {
  local a b
  a=$(k top pods --no-headers | awk '$1 == "burn" {sub(/m$/, "", $2); print $2}')
  b=$(mk top pods --no-headers | awk '$1 == "burn" {sub(/m$/, "", $2); print $2}')
  echo "kubectl $a mkctl $b"
  [ -n "$a" ] && [ -n "$b" ] && [ $((a > b ? a - b : b - a)) -le 100 ]
}
expect "mkctl top pods: burn within 100m of kubectl's" "kubectl" same_burn
expect "mkctl top nodes lists the 3 nodes" "^3$" sh -c "'$BIN/mkctl' --kubeconfig '$KUBECONFIG' top nodes --no-headers | grep -Ec '^($N1|$N2|$N3) +[0-9]+m +[0-9]+% +[0-9]+Mi +[0-9]+%'"
expect "mkctl top pods -A --containers" "^$NS +burn +burn +[0-9]+m +[0-9]+Mi" mk top pods -A --containers --no-headers

# Raw objects.
expect "PodMetrics object" '"kind":"PodMetrics".*"name":"burn"' \
  k get --raw /apis/metrics.k8s.io/v1beta1/namespaces/$NS/pods/burn
expect "NodeMetrics object" "\"kind\":\"NodeMetrics\".*\"name\":\"$N1\"" k get --raw "/apis/metrics.k8s.io/v1beta1/nodes/$N1"
expect_fail "missing PodMetrics is a 404 NotFound" 'NotFound|not found' \
  k get --raw /apis/metrics.k8s.io/v1beta1/namespaces/$NS/pods/nope

# A deleted pod leaves the metrics API.
kubectl delete pod idle --grace-period=0 >/dev/null 2>&1
eventually 30 "deleted pod gone from PodMetrics" '^ok$' sh -c \
  "kubectl --cache-dir '$TMP/kc-del' get --raw /apis/metrics.k8s.io/v1beta1/namespaces/$NS/pods | grep -q '\"name\":\"idle\"' || echo ok"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
