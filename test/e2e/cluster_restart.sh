#!/usr/bin/env bash
# e2e on a 3-node cluster: the control plane and the agents survive kill -9.
# A workload of 3 (a Deployment when the Deployment controller is active,
# else a ReplicaSet, else 3 bare pods, one per node) behind a ClusterIP Service, and a DNS
# object whose host reaches the Service through each node's nginx. Request
# loops (every ~100 ms, from the network namespaces of nodes 1 and 2: the
# ClusterIP, and http://<dns host>/web through the hosts file and nginx)
# count failures while the harness kills the server (restart-server), then
# node 1's agent and node 2's agent (restart-agent). Checks: zero failed
# requests; the pods never stopped (container IDs, start times and restart
# counts unchanged; containerd not restarted); every object still listed; no
# duplicate pods; the Service and DNS object answer; the proxies' iptables
# rules unchanged; a new pod is scheduled and started afterwards.
# One cluster (private prefix/subnet), `down` on exit also on failure; the
# machine-wide lock /tmp/mk-cluster.lock serialises clusters.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BIN=${BIN:-$ROOT/build/bin}
export MK_CLUSTER_PREFIX=${MK_CLUSTER_PREFIX:-mkr$(($$ % 100000))}
export MK_CLUSTER_SUBNET=${MK_CLUSTER_SUBNET:-10.98.$(($$ % 200 + 20)).0/24}
TMP=$(mktemp -d /tmp/minik8s-restart-e2e.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
CL=$ROOT/scripts/cluster.sh
NS=restart-e2e
HOST=restart-e2e.example
PASSED=0
FAILED=0
LOOP_PIDS=()
cleanup() {
  touch "$TMP/stop" 2>/dev/null
  local p
  for p in "${LOOP_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  "$CL" down >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

. "$ROOT/test/e2e/check.sh"

exec 9>/tmp/mk-cluster.lock
flock 9
echo "cluster prefix $MK_CLUSTER_PREFIX subnet $MK_CLUSTER_SUBNET dir $MK_CLUSTER_DIR"
start=$SECONDS
if ! "$CL" up 3 >"$TMP/up.log" 2>&1; then
  fail "cluster.sh up 3"; tail -n 40 "$TMP/up.log" | sed 's/^/    /'; finish
fi
pass "cluster.sh up 3 in $((SECONDS - start)) s"
N=("${MK_CLUSTER_PREFIX}-node1" "${MK_CLUSTER_PREFIX}-node2" "${MK_CLUSTER_PREFIX}-node3")

kubectl create namespace "$NS" >/dev/null
# The web server: busybox httpd answering "web <pod> <node>", ready when it serves.
pod_spec() {  # pod_spec INDENT NODESELECTOR-LINE
  sed "s/^/$1/" <<EOF
terminationGracePeriodSeconds: 2
$2
containers:
- name: web
  image: busybox:1.36
  command: ["sh", "-c", "mkdir -p /www && echo \"web \$POD_NAME \$NODE_NAME\" >/www/index.html && exec httpd -f -p 8000 -h /www"]
  env:
  - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
  - {name: NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
  ports: [{name: http, containerPort: 8000}]
  readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
EOF
}

# A Deployment when its controller works (pods appear within 20 s), else a
# ReplicaSet, else bare pods (E2E_WORKLOAD=deployment|replicaset|pods forces one).
try_controller() {  # try_controller Deployment|ReplicaSet
  local kind=$1 deadline
  { cat <<EOF
apiVersion: apps/v1
kind: $kind
metadata: {name: web, namespace: $NS}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
EOF
    pod_spec "      " ""; } | kubectl apply -f - >/dev/null 2>&1 || return 1
  deadline=$((SECONDS + 20))
  while [ $SECONDS -lt $deadline ]; do
    [ -n "$(kubectl get pods -n "$NS" -l app=web -o name 2>/dev/null)" ] && return 0
    sleep 0.5
  done
  echo "[INFO] the $kind made no pods in 20 s (its controller is not active in this build)"
  kubectl delete "$kind" web -n "$NS" >/dev/null 2>&1
  return 1
}
WORKLOAD=pods
case "${E2E_WORKLOAD:-auto}" in
  auto) if try_controller Deployment; then WORKLOAD=deployment; elif try_controller ReplicaSet; then WORKLOAD=replicaset; fi ;;
  deployment) try_controller Deployment && WORKLOAD=deployment ;;
  replicaset) try_controller ReplicaSet && WORKLOAD=replicaset ;;
esac
echo "[INFO] workload: $WORKLOAD"
cat <<EOF | kubectl apply -f - >/dev/null
apiVersion: v1
kind: Service
metadata: {name: web, namespace: $NS}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: minik8s.io/v1
kind: DNS
metadata: {name: web, namespace: $NS}
spec:
  host: $HOST
  paths: [{path: /web, serviceName: web, servicePort: 80}]
EOF

ready_count() { kubectl get pods -n "$NS" -l app=web -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True; }
eventually 120 "3 web pods Ready" "^3$" ready_count
eventually 30 "the Service has 3 endpoints" "^3$" sh -c "kubectl get endpoints web -n $NS -o jsonpath='{range .subsets[*].addresses[*]}{.ip}{\"\\n\"}{end}' | grep -c ."
CIP=$(kubectl get svc web -n "$NS" -o jsonpath='{.spec.clusterIP}')
for i in 1 2; do
  eventually 30 "node $i: ClusterIP $CIP answers" "^web " "$CL" exec "node-$i" -- curl -sS --max-time 2 "http://$CIP/"
  eventually 30 "node $i: http://$HOST/web answers through nginx" "^web " "$CL" exec "node-$i" -- curl -sS --max-time 2 "http://$HOST/web"
done

# What must not change: containers, containerd processes, proxy rules.
snapshot_pods() {
  kubectl get pods -n "$NS" -l app=web -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.uid} {.spec.nodeName} {.status.containerStatuses[0].containerID} {.status.containerStatuses[0].state.running.startedAt} {.status.containerStatuses[0].restartCount}{"\n"}{end}' | sort
}
snapshot_containerd() { for i in 1 2 3; do echo "node $i $(cat "$MK_CLUSTER_DIR/node$i/containerd/containerd.pid" 2>/dev/null)"; done; }
snapshot_rules() {  # the nat and filter tables of every node, counters stripped
  local i
  for i in 1 2 3; do
    echo "== node $i"
    nsenter --net="/run/netns/${MK_CLUSTER_PREFIX}-node$i" -- iptables-save -t nat | grep -Ev '^(#|COMMIT)' | sed 's/ \[[0-9]*:[0-9]*\]$//'
    nsenter --net="/run/netns/${MK_CLUSTER_PREFIX}-node$i" -- iptables-save -t filter | grep -Ev '^(#|COMMIT)' | sed 's/ \[[0-9]*:[0-9]*\]$//'
  done
}
# Rules settle one sync after the endpoints are complete.
sleep 1
snapshot_pods >"$TMP/pods.before"
snapshot_containerd >"$TMP/containerd.before"
snapshot_rules >"$TMP/rules.before"
kubectl get all,endpoints,dns -n "$NS" -o name 2>/dev/null | sort >"$TMP/objects.before"
echo "[INFO] objects: $(tr '\n' ' ' <"$TMP/objects.before")"
echo "[INFO] pods before:"; sed 's/^/    /' "$TMP/pods.before"
# The snapshots hold something to compare (a failed iptables-save would compare empty with empty).
rules_hold_cip() {
  local i
  for i in 1 2 3; do
    awk -v n="== node $i" '$0 == n {on = 1; next} /^== node/ {on = 0} on' "$TMP/rules.before" | grep -q -- "-d $CIP/32" || return 1
  done
  echo yes
}
expect "snapshot: every node's proxy rules hold the ClusterIP" "^yes$" rules_hold_cip
expect "snapshot: 3 containerd PIDs" "^3$" sh -c "grep -cE '^node [0-9] [0-9]+$' '$TMP/containerd.before'"
expect "snapshot: 3 running containers" "^3$" sh -c "grep -cE ' containerd://[0-9a-f]+ [0-9TZ:-]+ 0$' '$TMP/pods.before'"

# Request loops: every ~100 ms one request to each target, one line per request.
loop() {  # loop NODE NAME URL
  "$CL" exec "$1" -- bash -c '
    while [ ! -e "$0" ]; do
      if out=$(curl -sS --max-time 2 "$2" 2>&1) && [[ "$out" == web* ]]; then echo "$(date +%s.%N) ok";
      else echo "$(date +%s.%N) FAIL $out"; fi
      sleep 0.1
    done' "$TMP/stop" "$2" "$3" >"$TMP/loop.$2" 2>&1 &
  LOOP_PIDS+=($!)
}
for i in 1 2; do
  loop "node-$i" "n$i-clusterip" "http://$CIP/"
  loop "node-$i" "n$i-dnshost" "http://$HOST/web"
done
loop_counts() {  # total ok fail over all loops
  cat "$TMP"/loop.* | awk '{ if ($2 == "ok") ok++; else bad++ } END { printf "%d requests, %d ok, %d failed\n", ok + bad, ok, bad }'
}
sleep 2

t=$(date +%s%3N)
if "$CL" restart-server >"$TMP/drill.log" 2>&1; then pass "restart-server: $(tail -n1 "$TMP/drill.log" | sed 's/^cluster.sh: //')"; else fail "restart-server"; sed 's/^/    /' "$TMP/drill.log"; fi
eventually 30 "objects listed after the server restart" "deployment|pod/" kubectl get pods,deployments -n "$NS" -o name
sleep 2
for i in 1 2; do
  if "$CL" restart-agent "node-$i" >"$TMP/drill.log" 2>&1; then pass "restart-agent node-$i: $(tail -n1 "$TMP/drill.log" | sed 's/^cluster.sh: //')"; else fail "restart-agent node-$i"; sed 's/^/    /' "$TMP/drill.log"; fi
  sleep 3
done
# The restarted agents resync (kubelet relist, proxy sync, ingress check): let them act.
sleep 5
touch "$TMP/stop"
for p in "${LOOP_PIDS[@]}"; do wait "$p" 2>/dev/null; done
LOOP_PIDS=()
echo "[INFO] request loops over $(( ($(date +%s%3N) - t) / 1000 )) s of drills: $(loop_counts)"
for f in "$TMP"/loop.*; do echo "[INFO]   ${f##*/loop.}: $(grep -c ' ok$' "$f") ok, $(grep -vc ' ok$' "$f") failed"; done
expect "zero failed requests through all restarts" " 0 failed" loop_counts
if grep -qv ' ok$' "$TMP"/loop.*; then grep -v ' ok$' "$TMP"/loop.* | head -n 10 | sed 's/^/    /'; fi
expect "every loop made requests (> 20 each)" "^ok$" sh -c "for f in $TMP/loop.*; do [ \$(grep -c ' ok\$' \$f) -gt 20 ] || exit 1; done; echo ok"

snapshot_pods >"$TMP/pods.after"
expect "pods never stopped (same pods, container IDs, start times, restart counts)" "^same$" \
  sh -c "diff '$TMP/pods.before' '$TMP/pods.after' && echo same"
same_as() { diff "$1" <("$2") && echo same; }  # same_as FILE FUNCTION
expect "every node's containerd kept running (same PIDs)" "^same$" same_as "$TMP/containerd.before" snapshot_containerd
snapshot_rules >"$TMP/rules.after"
expect "the proxies' iptables rules unchanged on every node" "^same$" sh -c "diff '$TMP/rules.before' '$TMP/rules.after' && echo same"
list_objects() { kubectl get all,endpoints,dns -n "$NS" -o name 2>/dev/null | sort; }
expect "every object listed after the restarts" "^same$" same_as "$TMP/objects.before" list_objects
expect "exactly 3 web pods (no duplicates)" "^3$" sh -c "kubectl get pods -n $NS -l app=web --no-headers | wc -l"
expect "3 nodes Ready" "^3$" sh -c "kubectl get nodes --no-headers | grep -c ' Ready '"
for i in 1 2 3; do
  expect "node $i: ClusterIP answers" "^web " "$CL" exec "node-$i" -- curl -sS --max-time 2 "http://$CIP/"
  expect "node $i: the DNS object's host answers" "^web " "$CL" exec "node-$i" -- curl -sS --max-time 2 "http://$HOST/web"
done
# Cluster DNS (served by the restarted agents) from a pod on node 1.
first=$(kubectl get pods -n "$NS" -l app=web -o jsonpath="{.items[?(@.spec.nodeName==\"${N[0]}\")].metadata.name}" | awk '{print $1}')
[ -n "$first" ] || first=$(kubectl get pods -n "$NS" -l app=web -o jsonpath='{.items[0].metadata.name}')
eventually 20 "cluster DNS: web.$NS.svc.cluster.local from a pod answers" "^web " \
  kubectl exec -n "$NS" "$first" -- timeout 5 wget -q -O - "http://web.$NS.svc.cluster.local/"

# The scheduler, the controllers and the kubelets resumed.
if [ $WORKLOAD != pods ]; then
  kubectl scale "$WORKLOAD" web -n "$NS" --replicas=4 >/dev/null
  eventually 90 "scaled to 4 after the restarts: 4 pods Ready" "^4$" ready_count
  kubectl scale "$WORKLOAD" web -n "$NS" --replicas=3 >/dev/null
  eventually 60 "scaled back to exactly 3 pods" "^3$" sh -c "kubectl get pods -n $NS -l app=web --no-headers | grep -vc Terminating"
fi
kubectl run fresh -n "$NS" --image=busybox:1.36 --restart=Never -- sleep 3600 >/dev/null
eventually 90 "a new pod is scheduled and Running after the restarts" "^Running [^ ]+$" \
  kubectl get pod fresh -n "$NS" -o jsonpath='{.status.phase} {.spec.nodeName}'
finish
