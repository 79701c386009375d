#!/usr/bin/env bash
# e2e on a 3-node cluster: the control plane and the agents survive kill -9.
# A Deployment of 3 (its pods must appear: no fallback to another workload
# kind) behind a ClusterIP Service, and a DNS
# object whose host reaches the Service through each node's nginx. Request
# loops (every ~100 ms, from the network namespaces of nodes 1 and 2: the
# ClusterIP, and http://<dns host>/web through the hosts file and nginx)
# count failures while the harness kills the server (restart-server), then
# node 1's agent and node 2's agent (restart-agent). Checks: zero failed
# requests; the pods never stopped (container IDs, start times and restart
# counts unchanged; containerd not restarted); every object still listed; no
# duplicate pods; the Service and DNS object answer; the proxies' iptables
# rules unchanged — compared once every node's rules hold the Service's
# three endpoints, and again after each restarted agent's proxy did its
# first (full) sync, seen by a planted stale chain of its prefix being
# removed; a new pod is scheduled and started afterwards.
# One cluster (private prefix/subnet), `down` on exit also on failure; the
# machine-wide lock /tmp/mk-cluster.lock serialises clusters.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
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

# A Deployment: a broken Deployment controller must fail this test, so there
# is no fallback to a ReplicaSet or bare pods. Its pods get a generous
# deadline (image import and container start on a loaded machine).
{ cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: $NS}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
EOF
  pod_spec "      " ""; } >"$TMP/web.yaml"
expect "the Deployment web is created" "deployment.apps/web created" kubectl apply -f "$TMP/web.yaml"
if ! eventually 120 "the Deployment controller made 3 pods (through a ReplicaSet it owns)" "^3 ReplicaSet/web-" \
  sh -c "kubectl get pods -n $NS -l app=web -o jsonpath='{range .items[*]}{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}{\"\\n\"}{end}' | sort | uniq -c | awk '{print \$1, \$2}'"; then
  kubectl get deploy,rs,pods -n "$NS" -o wide 2>&1 | sed 's/^/    /'
  finish
fi
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
# The proxies program the Service one sync after its endpoints are complete:
# wait until every node's nat table sends the ClusterIP to exactly the three
# pods (the chain contents equal the expected set), then take the snapshot.
EP_IPS=$(kubectl get endpoints web -n "$NS" -o jsonpath='{range .subsets[*].addresses[*]}{.ip}{"\n"}{end}' | sort | paste -sd' ' -)
node_dnat_ips() {  # node_dnat_ips I: where node I's proxy sends the Service (its SVC chain's "-> ip:port" jumps)
  nsenter --net="/run/netns/${MK_CLUSTER_PREFIX}-node$1" -- iptables-save -t nat |
    grep -o -- "--comment \"$NS/web:http -> [0-9.]*:8000\"" | sed 's/.*-> \([0-9.]*\):.*/\1/' | sort -u | paste -sd' ' -
}
every_node_programmed() {
  local i
  for i in 1 2 3; do echo "node $i: $(node_dnat_ips $i)"; done
}
eventually 30 "every node's proxy sends the ClusterIP to the 3 endpoints ($EP_IPS)" \
  "^node 1: $EP_IPS(.|\n)node 2: $EP_IPS(.|\n)node 3: $EP_IPS ?\$" every_node_programmed
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
# loops_mark; loops_made N: every loop has made at least N requests since
# loops_mark (so each drill is surrounded by requests, however slow the machine).
LOOPS=(n1-clusterip n1-dnshost n2-clusterip n2-dnshost)
loops_mark() { local l; for l in "${LOOPS[@]}"; do cat "$TMP/loop.$l" 2>/dev/null | grep -c . >"$TMP/mark.$l"; done; }
loops_made() {
  local l n
  for l in "${LOOPS[@]}"; do
    n=$(( $(cat "$TMP/loop.$l" 2>/dev/null | grep -c .) - $(cat "$TMP/mark.$l") ))
    [ "$n" -ge "$1" ] || { echo "$l: $n requests so far"; return 1; }
  done
  echo ok
}
for l in "${LOOPS[@]}"; do echo 0 >"$TMP/mark.$l"; done
eventually 60 "every request loop is running (10 requests each)" "^ok$" loops_made 10

t=$(date +%s%3N)
if "$CL" restart-server >"$TMP/drill.log" 2>&1; then pass "restart-server: $(tail -n1 "$TMP/drill.log" | sed 's/^cluster.sh: //')"; else fail "restart-server"; sed 's/^/    /' "$TMP/drill.log"; fi
eventually 30 "objects listed after the server restart" "deployment|pod/" kubectl get pods,deployments -n "$NS" -o name
loops_mark
eventually 30 "the request loops went on after the server restart (10 more each)" "^ok$" loops_made 10
# A restarted agent's proxy starts with a full sync that rewrites its chains
# and removes every chain of its prefix (MK-) that it does not want. A chain
# planted just before the kill (as a Service deleted while the agent was
# down would leave one) is the observable: once it is gone the new proxy
# has synced, and the rules compared below are the ones it wrote.
ipt_node() { local i=$1; shift; nsenter --net="/run/netns/${MK_CLUSTER_PREFIX}-node$i" -- iptables "$@"; }
stale_chain() { if ipt_node "$1" -t nat -S MK-E2E-STALE >/dev/null 2>&1; then echo present; else echo removed; fi; }
for i in 1 2; do
  ipt_node $i -t nat -N MK-E2E-STALE
  expect "node $i: a stale chain MK-E2E-STALE planted" "^present$" stale_chain $i
  if "$CL" restart-agent "node-$i" >"$TMP/drill.log" 2>&1; then pass "restart-agent node-$i: $(tail -n1 "$TMP/drill.log" | sed 's/^cluster.sh: //')"; else fail "restart-agent node-$i"; sed 's/^/    /' "$TMP/drill.log"; fi
  eventually 30 "node $i: the restarted proxy did its first sync (the stale chain is removed)" "^removed$" stale_chain $i
  loops_mark
  eventually 30 "the request loops went on after node $i's agent restart (10 more each)" "^ok$" loops_made 10
done
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
kubectl scale deployment web -n "$NS" --replicas=4 >/dev/null
eventually 90 "scaled to 4 after the restarts: 4 pods Ready" "^4$" ready_count
kubectl scale deployment web -n "$NS" --replicas=3 >/dev/null
eventually 60 "scaled back to exactly 3 pods" "^3$" sh -c "kubectl get pods -n $NS -l app=web --no-headers | grep -vc Terminating"
kubectl run fresh -n "$NS" --image=busybox:1.36 --restart=Never -- sleep 3600 >/dev/null
eventually 90 "a new pod is scheduled and Running after the restarts" "^Running [^ ]+$" \
  kubectl get pod fresh -n "$NS" -o jsonpath='{.status.phase} {.spec.nodeName}'
finish
