#!/usr/bin/env bash
# e2e on a 3-node cluster (scripts/cluster.sh): ReplicaSet + garbage collector
# with real containers.
# - a ReplicaSet of 6 busybox pods spread over the 3 nodes (nodes printed);
#   stock `kubectl get rs` and `mkctl get rs`;
# - `kubectl scale rs` up and down through the scale subresource;
# - `kubectl delete pod` → replaced (timed: replacement created within ~1 s);
# - a container killed (kill -9 of its processes from the host) → restarted
#   by the kubelet (restartCount);
# - a container past its memory limit → OOMKilled and restarted;
# - `kubectl delete rs` → pods gone; `--cascade=orphan` → pods stay without
#   an ownerReference; `--cascade=foreground` → the ReplicaSet stays until
#   its pods are gone.
# Takes the machine-wide cluster lock; one cluster with a private prefix and
# subnet, taken down on exit also on failure.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BIN=${BIN:-$ROOT/build/bin}
export MK_CLUSTER_PREFIX=${MK_CLUSTER_PREFIX:-mkw$(($$ % 100000))}
export MK_CLUSTER_SUBNET=${MK_CLUSTER_SUBNET:-10.98.$(($$ % 200 + 20)).0/24}
TMP=$(mktemp -d /tmp/minik8s-workloads-e2e.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
CL=$ROOT/scripts/cluster.sh
MKCTL=$BIN/mkctl
PASSED=0
FAILED=0
trap 'e2e_cluster_down; rm -rf "$TMP"' EXIT

. "$ROOT/test/e2e/check.sh"
. "$ROOT/test/e2e/cluster_lib.sh"
# Pods with label app=$1 that are not terminating.
live_count() {
  kubectl get pods -l "app=$1" -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}' |
    awk 'NF == 1' | wc -l
}
count_running() { kubectl get pods -l "app=$1" --no-headers 2>/dev/null | grep -c ' Running '; }
# Every process of a container (by its containerd id), from the host: its
# memory cgroup's procs.
container_pids() { cat "$(find /sys/fs/cgroup/memory -type d -name "$1" | head -1)/cgroup.procs" 2>/dev/null; }

start=$SECONDS
e2e_cluster_up workloads

# The ReplicaSet: busybox httpd answering with its pod name and node; the
# main shell turns into a memory hog when /tmp/hog appears (the OOM check).
rs_yaml() {
  cat <<EOF
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: $1, labels: {e2e: workloads}}
spec:
  replicas: $2
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1, e2e: workloads}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: busybox:1.36
        env:
        - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
        command: [sh, -c, 'mkdir -p /www && echo "\$POD on \$NODE" > /www/index.html && httpd -p 8080 -h /www && while [ ! -e /tmp/hog ]; do sleep 0.2; done; x=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; while true; do x=\$x\$x; done']
        resources: {limits: {memory: 24Mi}}
EOF
}
rs_yaml web 6 | kubectl apply -f - >/dev/null
eventually 120 "6 pods Running" "^6$" count_running web
echo "pods and their nodes:"; kubectl get pods -l app=web -o wide --no-headers | awk '{print "    " $1, $7}'
expect "the 6 pods are spread over the 3 nodes" "^3$" sh -c "kubectl get pods -l app=web -o jsonpath='{range .items[*]}{.spec.nodeName}{\"\\n\"}{end}' | sort -u | wc -l"
expect "every pod has the ReplicaSet as controller owner" "^(ReplicaSet web true ){6}$" \
  sh -c "kubectl get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].name} {.metadata.ownerReferences[0].controller} {end}'"
eventually 20 "kubectl get rs: DESIRED CURRENT READY 6 6 6" "^web +6 +6 +6 +[0-9]+[sm]" kubectl get rs web --no-headers
expect "kubectl get rs -o wide: CONTAINERS IMAGES SELECTOR" "^web +6 +6 +6 +[0-9a-z]+ +web +busybox:1.36 +app=web$" kubectl get rs web -o wide --no-headers
expect "mkctl get rs" "web +6 +6 +6" "$MKCTL" get rs web
expect "status: replicas, readyReplicas, availableReplicas, observedGeneration" "^6 6 6 1$" \
  kubectl get rs web -o jsonpath='{.status.replicas} {.status.readyReplicas} {.status.availableReplicas} {.status.observedGeneration}'
expect "kubectl describe rs shows the SuccessfulCreate events" "SuccessfulCreate .*Created pod: web-" kubectl describe rs web

# Scale through the scale subresource.
expect "kubectl scale rs web --replicas=8" "scaled" kubectl scale rs web --replicas=8
eventually 90 "scaled up: 8 pods Running" "^8$" count_running web
expect "kubectl get rs/scale reads 8" '"replicas": ?8' kubectl get --raw /apis/apps/v1/namespaces/$NS/replicasets/web/scale
expect "kubectl scale rs web --replicas=3" "scaled" kubectl scale rs web --replicas=3
eventually 30 "scaled down: 3 pods left (not terminating)" "^3$" live_count web
eventually 30 "status follows: replicas 3 ready 3" "^3 3$" kubectl get rs web -o jsonpath='{.status.replicas} {.status.readyReplicas}'

# A deleted pod is replaced; time from the delete to the replacement's creation.
# (a pod not already terminating from the scale-down: deleting one of those creates nothing)
VICTIM=$(kubectl get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}' |
  awk 'NF == 1 { print $1; exit }')
T0=$(date +%s.%N)
kubectl delete pod "$VICTIM" --wait=false >/dev/null
NEW=""
deadline=$((SECONDS + 10))
while [ -z "$NEW" ] && [ $SECONDS -lt $deadline ]; do
  NEW=$(kubectl get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.creationTimestamp}{"\n"}{end}' |
    grep -v "^$VICTIM " | while read -r n c; do
      [ "$(date -d "$c" +%s)" -ge "${T0%.*}" ] && echo "$n"; done | head -1)
  [ -n "$NEW" ] || sleep 0.05
done
T1=$(date +%s.%N)
if [ -n "$NEW" ]; then
  took=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.2f", b - a }')
  echo "    $VICTIM deleted, replacement $NEW seen after ${took} s (incl. kubectl round trips)"
  pass "deleted pod replaced (after ${took} s; the time is recorded, not asserted — bench/ measures it)"
else
  fail "deleted pod $VICTIM was not replaced within 10 s"
fi
eventually 60 "back to 3 Running" "^3$" count_running web

# Kill a container (all its processes, from the host) → the kubelet restarts it.
POD=$(kubectl get pods -l app=web --field-selector=status.phase=Running \
  -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}' | awk 'NF == 1 { print $1; exit }')
CID=$(kubectl get pod "$POD" -o jsonpath='{.status.containerStatuses[0].containerID}'); CID=${CID#containerd://}
BEFORE=$(kubectl get pod "$POD" -o jsonpath='{.status.containerStatuses[0].restartCount}')
PIDS=$(container_pids "$CID")
if [ -n "$PIDS" ]; then
  kill -9 $PIDS
  pass "killed container $CID of $POD (pids $(tr '\n' ' ' <<<"$PIDS"))"
else
  fail "no processes found for container $CID of $POD"
fi
eventually 30 "killed container restarted by the kubelet (restartCount $BEFORE → $((BEFORE + 1)))" "^$((BEFORE + 1)) " \
  kubectl get pod "$POD" -o jsonpath='{.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].lastState.terminated.exitCode}'
eventually 30 "$POD Running again (same pod, not replaced)" "Running" kubectl get pod "$POD" --no-headers

# Exceed the memory limit: the main process starts hogging → OOMKilled → restarted.
# (another pod than $POD, not terminating)
POD2=$(kubectl get pods -l app=web --field-selector=status.phase=Running \
  -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}' |
  awk -v skip="$POD" 'NF == 1 && $1 != skip { print $1; exit }')
B2=$(kubectl get pod "$POD2" -o jsonpath='{.status.containerStatuses[0].restartCount}')
kubectl exec "$POD2" -- touch /tmp/hog
eventually 30 "container past its 24Mi limit: OOMKilled (exit 137) and restarted" "^$((B2 + 1)) OOMKilled 137$" \
  kubectl get pod "$POD2" -o jsonpath='{.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].lastState.terminated.reason} {.status.containerStatuses[0].lastState.terminated.exitCode}'
eventually 30 "the ReplicaSet still has 3 Running (restarts, not replacements)" "^3$" count_running web

# Delete (background, kubectl's default): the garbage collector removes the pods.
expect "kubectl delete rs web" "deleted" kubectl delete rs web --wait=false
eventually 30 "background: the pods are deleted by the garbage collector" "^0$" sh -c "kubectl get pods -l app=web --no-headers 2>/dev/null | wc -l"

# Orphan: pods stay, without an ownerReference.
rs_yaml orph 2 | kubectl apply -f - >/dev/null
eventually 90 "orph: 2 pods Running" "^2$" count_running orph
expect "kubectl delete rs orph --cascade=orphan" "deleted" kubectl delete rs orph --cascade=orphan
eventually 15 "orphan: the ReplicaSet is gone" "NotFound" sh -c "kubectl get rs orph 2>&1; true"
sleep 2  # give a wrong garbage collector time to act
expect "orphan: both pods still Running" "^2$" count_running orph
expect "orphan: the pods have no ownerReferences left" "^ +$" \
  kubectl get pods -l app=orph -o jsonpath='{range .items[*]} {.metadata.ownerReferences}{end}'
kubectl delete pods -l app=orph --wait=false >/dev/null 2>&1

# Foreground: the ReplicaSet stays (deletionTimestamp + finalizer) until its pods are gone.
rs_yaml fg 2 | kubectl apply -f - >/dev/null
eventually 90 "fg: 2 pods Running" "^2$" count_running fg
expect "kubectl delete rs fg --cascade=foreground --wait=false" "deleted" kubectl delete rs fg --cascade=foreground --wait=false
expect "foreground: the ReplicaSet is still there with the foregroundDeletion finalizer while pods terminate" \
  "foregroundDeletion [0-9]+" sh -c "kubectl get rs fg -o jsonpath='{.metadata.finalizers[*]} {.metadata.deletionTimestamp}' && echo && kubectl get pods -l app=fg --no-headers | wc -l"
eventually 60 "foreground: the pods go, then the ReplicaSet" "NotFound" sh -c "kubectl get pods -l app=fg --no-headers 2>/dev/null | grep -c . | grep -qx 0 && kubectl get rs fg 2>&1; true"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
