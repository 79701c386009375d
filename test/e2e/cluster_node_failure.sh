#!/usr/bin/env bash
# e2e on a 3-node cluster (scripts/cluster.sh): a node dies and comes back.
# Server flags: --node-monitor-grace-period 6s
# --default-unreachable-toleration-seconds 10. A ReplicaSet of 6 web pods
# (2 per node) behind a ClusterIP Service, a request loop from node 1.
# `cluster.sh stop-node node3` (agent, containerd, pods SIGKILLed, link down):
# node 3 NotReady/Unknown within grace + margin, unreachable NoSchedule +
# NoExecute taints, its pods Ready=False and out of the endpoints, the loop
# from node 1 sees no failure in the requests it starts once node 1's proxy
# no longer sends the ClusterIP to them (its iptables rules equal the
# remaining endpoints), a pod pinned to node 3 by
# nodeSelector stays Pending; after the toleration node 3's pods are
# Terminating and the ReplicaSet has 6 Running pods on nodes 1/2.
# `cluster.sh start-node node3`: Ready, taints gone, the Terminating pods
# leave the API, their containers are gone from node 3's containerd, the
# pending pod lands on node 3 and runs.
# One cluster (unique prefix and subnet) under the machine-wide cluster lock;
# `down` runs on exit also on failure.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BIN=${BIN:-$ROOT/build/bin}
export MK_CLUSTER_PREFIX=${MK_CLUSTER_PREFIX:-mknf$(($$ % 10000))}
export MK_CLUSTER_SUBNET=${MK_CLUSTER_SUBNET:-10.97.$(($$ % 200 + 20)).0/24}
GRACE=6
TOL=10
export MK_SERVER_ARGS="--node-monitor-grace-period ${GRACE}s --default-unreachable-toleration-seconds $TOL"
TMP=$(mktemp -d /tmp/minik8s-nodefail-e2e.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
CL=$ROOT/scripts/cluster.sh
PASSED=0
FAILED=0
LOOP_PID=""
cleanup() {
  if [ -n "$LOOP_PID" ]; then
    touch "$TMP/stop-loop"
    for _ in $(seq 1 50); do kill -0 "$LOOP_PID" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$LOOP_PID" 2>/dev/null
  fi
  "$CL" down >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

E2E_POLL=0.2
. "$ROOT/test/e2e/check.sh"
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

exec 9>/tmp/mk-cluster.lock
flock 9

echo "cluster prefix $MK_CLUSTER_PREFIX subnet $MK_CLUSTER_SUBNET, server flags: $MK_SERVER_ARGS"
start=$SECONDS
if ! "$CL" up 3 >"$TMP/up.log" 2>&1; then
  fail "cluster.sh up 3"; tail -n 40 "$TMP/up.log" | sed 's/^/    /'
  echo "$PASSED passed, $FAILED failed"; exit 1
fi
pass "cluster.sh up 3 in $((SECONDS - start)) s"
N1=${MK_CLUSTER_PREFIX}-node1 N2=${MK_CLUSTER_PREFIX}-node2 N3=${MK_CLUSTER_PREFIX}-node3
SOCK3=$MK_CLUSTER_DIR/node3/containerd/containerd.sock

kubectl apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: nf-web}
spec:
  replicas: 6
  selector: {matchLabels: {app: nf-web}}
  template:
    metadata: {labels: {app: nf-web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: busybox:1.36
        command: [sh, -c, 'mkdir -p /www && echo "\$(hostname) ok" > /www/index.html && exec httpd -f -p 8080 -h /www']
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: nf-web}
spec:
  selector: {app: nf-web}
  ports: [{port: 80, targetPort: 8080}]
EOF
running_on() {  # pods of the RS Running and not terminating, "node count" lines
  kubectl get pods -l app=nf-web -o jsonpath='{range .items[*]}{.metadata.deletionTimestamp}|{.status.phase}|{.spec.nodeName}{"\n"}{end}' |
    awk -F'|' '$1 == "" && $2 == "Running" { n[$3]++ } END { for (k in n) print k, n[k] }' | sort
}
eventually 120 "ReplicaSet: 6 pods Running" "^6$" sh -c "kubectl get pods -l app=nf-web --no-headers | grep -c ' Running '"
kubectl get pods -l app=nf-web -o wide
P3=$(kubectl get pods -l app=nf-web -o jsonpath="{range .items[?(@.spec.nodeName==\"$N3\")]}{.metadata.name}{\"\\n\"}{end}")
IP3=$(kubectl get pods -l app=nf-web -o jsonpath="{range .items[?(@.spec.nodeName==\"$N3\")]}{.status.podIP}{\"\\n\"}{end}")
if [ -z "$P3" ]; then
  fail "some pods of the ReplicaSet run on $N3 (the scheduler spread them): none did"
  echo "$PASSED passed, $FAILED failed"; exit 1
fi
pass "pods on $N3: $(echo $P3)"
ep_ips() { kubectl get endpoints nf-web -o jsonpath='{range .subsets[*].addresses[*]}{.ip}{"\n"}{end}' | sort; }
eventually 30 "the Service has 6 ready endpoints" "^6$" sh -c "kubectl get endpoints nf-web -o jsonpath='{range .subsets[*].addresses[*]}{.ip}{\"\\n\"}{end}' | grep -c ."
CIP=$(kubectl get svc nf-web -o jsonpath='{.spec.clusterIP}')
eventually 30 "the ClusterIP answers from $N1" "ok" "$CL" exec "$N1" -- curl -sS --max-time 2 "http://$CIP/"

# Request loop from node 1: "<epoch when the request was started> ok|FAIL" per request.
"$CL" exec "$N1" -- bash -c '
  while [ ! -e "$0" ]; do
    t=$EPOCHREALTIME
    if curl -sS --max-time 2 -o /dev/null "$1" 2>/dev/null; then echo "$t ok"; else echo "$t FAIL"; fi
    sleep 0.1
  done' "$TMP/stop-loop" "http://$CIP/" >"$TMP/loop.log" 2>&1 &
LOOP_PID=$!

echo "--- stop-node $N3"
T0=$(now)
expect "cluster.sh stop-node $N3" "stopped: agent, containerd" "$CL" stop-node "$N3"
ready3() { kubectl get node "$N3" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'; }
eventually $((GRACE + 15)) "$N3 Ready=Unknown (grace ${GRACE}s)" "^Unknown$" ready3
T_NR=$(now)
echo "    NotReady $(since "$T0") s after stop-node"
kubectl get nodes
expect "kubectl get nodes shows $N3 NotReady" "$N3 +NotReady" kubectl get nodes
expect "condition reason NodeStatusUnknown" "NodeStatusUnknown.*Kubelet stopped posting node status" \
  kubectl get node "$N3" -o jsonpath='{range .status.conditions[*]}{.reason} {.message}{"\n"}{end}'
eventually 10 "$N3 tainted unreachable NoExecute + NoSchedule" \
  "node.kubernetes.io/unreachable:NoExecute.*node.kubernetes.io/unreachable:NoSchedule" \
  sh -c "kubectl get node $N3 -o jsonpath='{range .spec.taints[*]}{.key}:{.effect}{\"\\n\"}{end}' | sort | tr '\n' ' '"
ready_of_p3() { local p; for p in $P3; do kubectl get pod "$p" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} '; done; }
eventually 10 "$N3's pods Ready=False" "^(False )+$" ready_of_p3
gone_from_ep() { local ips; ips=$(ep_ips); for ip in $IP3; do grep -qx "$ip" <<<"$ips" && return 1; done; echo gone; }
eventually 10 "$N3's pods left the Service's endpoints" "^gone$" gone_from_ep
echo "    endpoints without $N3's pods $(since "$T0") s after stop-node"
# Node 1's proxy has acted once its rules send the ClusterIP to exactly the
# remaining endpoints (the SVC chain's "-> ip:port" jumps); every request
# the loop starts after that must succeed.
SVC_NS=$(kubectl get svc nf-web -o jsonpath='{.metadata.namespace}')
node1_dnat_ips() {
  "$CL" exec "$N1" -- iptables-save -t nat | grep -o -- "--comment \"$SVC_NS/nf-web: -> [0-9.]*:8080\"" |
    sed 's/.*-> \([0-9.]*\):.*/\1/' | sort -u
}
node1_programmed() {
  local rules ep; rules=$(node1_dnat_ips | paste -sd' ' -); ep=$(ep_ips | paste -sd' ' -)
  echo "endpoints: $ep; node 1 rules: $rules"
  [ -n "$ep" ] && [ "$rules" = "$ep" ]
}
eventually 30 "$N1's proxy sends the ClusterIP only to the remaining endpoints" "^endpoints: " node1_programmed
T_PROG=$(now)
echo "    $N1's rules without $N3's pods $(since "$T0") s after stop-node"
expect "a NodeNotReady event for $N3" "$N3 NodeNotReady" kubectl get events -o jsonpath='{range .items[*]}{.involvedObject.name} {.reason}{"\n"}{end}'
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: nf-pinned}
spec:
  nodeSelector: {kubernetes.io/hostname: $N3}
  containers: [{name: c, image: busybox:1.36, command: [sleep, "3600"]}]
EOF
# The scheduler has tried it once its FailedScheduling event is there.
eventually 30 "its FailedScheduling names the taint" "nf-pinned .*untolerated taint.*(unreachable|not-ready)" \
  kubectl get events -o jsonpath='{range .items[*]}{.involvedObject.name} {.message}{"\n"}{end}'
expect "a pod pinned to $N3 is not scheduled there" "^Pending ?$" kubectl get pod nf-pinned -o jsonpath='{.status.phase} {.spec.nodeName}'
terminating_p3() { local p; for p in $P3; do kubectl get pod "$p" -o jsonpath='{.metadata.deletionTimestamp}' | grep -q . && printf 'T ' || printf 'R '; done; }
eventually $((TOL + 20)) "after the toleration (${TOL}s) $N3's pods are Terminating" "^(T )+$" terminating_p3
echo "    evicted $(since "$T0") s after stop-node"
expect "a TaintManagerEviction event" "TaintManagerEviction Marking for deletion Pod default/nf-web-" \
  kubectl get events -o jsonpath='{range .items[*]}{.reason} {.message}{"\n"}{end}'
spread() { running_on | awk -v n3="$N3" '{ t += $2; if ($1 == n3) b += $2 } END { print t + 0, b + 0 }'; }
eventually 60 "replacements: 6 Running pods, all on $N1/$N2" "^6 0$" spread
echo "    replacements Running $(since "$T0") s after stop-node"
kubectl get pods -l app=nf-web -o wide
expect "the evicted pods stay Terminating while $N3 is away" "Terminating" kubectl get pods -l app=nf-web
awk -v from="$T_PROG" '$1 >= from { if ($2 == "ok") ok++; else bad++ } END { printf "%d requests, %d ok, %d failed\n", ok + bad, ok, bad }' "$TMP/loop.log" >"$TMP/counts"
expect "requests from $N1 started after its proxy dropped $N3's pods: none failed" "^[1-9][0-9]* requests, [0-9]+ ok, 0 failed" cat "$TMP/counts"

echo "--- start-node $N3"
expect "cluster.sh start-node $N3" "back: agent pid" "$CL" start-node "$N3"
eventually 30 "$N3 Ready again" "^True$" ready3
eventually 30 "the unreachable taints are gone" "^0$" \
  sh -c "kubectl get node $N3 -o jsonpath='{range .spec.taints[*]}{.key}{\"\\n\"}{end}' | grep -c node.kubernetes.io/; true"
kubectl get nodes
expect "kubectl get nodes: $N3 Ready" "$N3 +Ready" kubectl get nodes
left_p3() { local p; for p in $P3; do kubectl get pod "$p" --no-headers 2>/dev/null; done | grep -c .; true; }
eventually 60 "the evicted pods left the API" "^0$" left_p3
count_ctr() {
  local n=0 p
  for p in $P3; do
    n=$((n + $(ctr -a "$SOCK3" -n k8s.io containers ls -q "labels.\"io.kubernetes.pod.name\"==$p" | wc -l)))
  done
  echo "$n"
}
eventually 60 "their containers are gone from $N3's containerd" "^0$" count_ctr
eventually 90 "schedulable again: the pinned pod Runs on $N3" "^Running $N3$" \
  kubectl get pod nf-pinned -o jsonpath='{.status.phase} {.spec.nodeName}'
expect "the ReplicaSet still has 6 pods" "^6$" sh -c "kubectl get pods -l app=nf-web --no-headers | grep -c ' Running '"

touch "$TMP/stop-loop"
kubectl delete rs nf-web --wait=false >/dev/null 2>&1
kubectl delete pod nf-pinned svc/nf-web --wait=false >/dev/null 2>&1
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
