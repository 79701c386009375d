#!/usr/bin/env bash
# e2e: high availability (docs/ha.md) on `scripts/cluster.sh up 3 --ha` — a
# real 3-member etcd cluster and 3 `minik8s server --storage etcd` processes
# in the node namespaces, real containerd on every node.
#
# Under two loops — ConfigMap creates through mkctl with the three server
# URLs (root namespace), and requests to a ClusterIP Service of a busybox
# httpd Deployment from node 3's namespace — the test
#   1. kill -9s the leading server: the Deployment is scaled right after
#      the kill, and its new pod must appear (the new leader's controllers
#      act; the time is printed — the lease + 2 s target is a benchmark,
#      bench/ha_failover.sh, not a bound here: under make test's load the
#      same takeover took 27 s once); a follower leads;
#   2. kill -9s the etcd member on the new leader's node (the leader's own
#      store connection breaks): reads and writes keep working through every
#      live server, and the controllers still act;
#   3. stops the loops: every create that was acknowledged (mkctl: created)
#      is readable, and the Service loop never failed;
#   4. starts the etcd member and the server again (start-etcd, start-server):
#      the member rejoins, the server follows;
#   5. cluster.sh down leaves nothing behind.
# One cluster (private prefix/subnet), `down` on exit also on failure; the
# machine-wide lock /tmp/mk-cluster.lock serialises clusters.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
set -uo pipefail
if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
  echo "SKIPPED $(basename "$0"): no etcd/etcdctl on PATH (scripts/deps.sh installs etcd-server and etcd-client)"
  exit 77
fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BIN=${BIN:-$ROOT/build/bin}
export MK_CLUSTER_PREFIX=${MK_CLUSTER_PREFIX:-mkh$(($$ % 100000))}
export MK_CLUSTER_SUBNET=${MK_CLUSTER_SUBNET:-10.97.$(($$ % 200 + 20)).0/24}
TMP=$(mktemp -d /tmp/minik8s-ha-e2e.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
CL=$ROOT/scripts/cluster.sh
NS=ha-e2e
LEASE_S=15  # the server's default --leader-elect-lease-duration
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
if ! "$CL" up 3 --ha >"$TMP/up.log" 2>&1; then
  fail "cluster.sh up 3 --ha"; tail -n 40 "$TMP/up.log" | sed 's/^/    /'; finish
fi
pass "cluster.sh up 3 --ha in $((SECONDS - start)) s"

D=$MK_CLUSTER_DIR
KH=$D/kubeconfig-ha  # the admin kubeconfig server 1 wrote, with the three URLs
state() { sed -n "s/^$1=//p" "$D/state" | tail -n1; }
BASE=${MK_CLUSTER_SUBNET%.*}
url() { echo "https://$BASE.$((10 + $1)):6443"; }
alive() { kill -0 "$(state "server$1")" 2>/dev/null; }
# kubectl takes one URL: the first live server; mkctl gets all three.
live() { local i; for i in 1 2 3; do alive "$i" && { echo "$i"; return; }; done; echo 1; }
ka() { kubectl --kubeconfig "$D/kubeconfig" --server "$(url "$(live)")" "$@"; }
k() { ka -n "$NS" "$@"; }
mk() { "$BIN/mkctl" --kubeconfig "$KH" -n "$NS" "$@"; }
acurl() { curl -fsS --max-time 3 --cacert "$D/server/pki/ca.crt" --cert "$D/server/pki/admin.crt" --key "$D/server/pki/admin.key" "$@"; }
leads() { acurl "$(url "$1")/metrics" | grep '^leader_election_master_status{name="minik8s-leader"} 1$' >/dev/null; }
leaders() {  # the live servers that lead, e.g. "2"
  local i out=()
  for i in 1 2 3; do alive "$i" && leads "$i" && out+=("$i"); done
  echo "${out[*]}"
}
etcd_url() { echo "http://$BASE.$((10 + $1)):2379"; }

expect "the kubeconfigs: kubectl's names server 1, the HA one all three" "^$(url 1),$(url 2),$(url 3)\$" \
  sed -n 's/^ *server: *//p' "$KH"
expect "3 etcd members, all healthy" "^3$" sh -c \
  "etcdctl --endpoints $(etcd_url 1),$(etcd_url 2),$(etcd_url 3) endpoint health 2>&1 | grep -c 'is healthy'"
expect "one etcd cluster of 3 members" "^3$" sh -c "etcdctl --endpoints $(etcd_url 1) member list | grep -c started"
for i in 1 2 3; do
  expect "server $i serves the API (admin certificate, its own serving certificate from the one CA)" '"major"' \
    acurl "$(url "$i")/version"
done
eventually 30 "exactly one server leads" "^[123]$" leaders
expect "the servers share one ServiceAccount key and CA (files given to servers 2, 3)" "^ok$" sh -c \
  "tr '\\0' ' ' </proc/$(state server2)/cmdline | grep -q -- '--service-account-signing-key-file $D/server/pki/sa.key' && echo ok"
expect "cluster.sh status names the leader" "LEADER" "$CL" status
# Every live server is an endpoint of default/kubernetes (each keeps its
# Lease kube-system/apiserver-<hash>; docs/ha.md "In-cluster clients").
api_eps() { ka get endpoints kubernetes -n default -o jsonpath='{range .subsets[*].addresses[*]}{.ip}{" "}{end}'; }
eps_without() {  # the server addresses but server $1's, as api_eps lists them
  local i out=""; for i in 1 2 3; do [ "$i" = "$1" ] || out+="$BASE.$((10 + i)) "; done; echo "$out"
}
eventually 30 "the kubernetes Endpoints list the 3 servers" "^$BASE.11 $BASE.12 $BASE.13 \$" api_eps
expect "the agents were given the three servers" "^server: $(url 1),$(url 2),$(url 3)\$" grep '^server:' "$D/node3.yaml"

ka create namespace "$NS" >/dev/null
cat >"$TMP/web.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: $NS}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox:1.36
        command: ["sh", "-c", "mkdir -p /www && echo \"web \$POD_NAME\" >/www/index.html && exec httpd -f -p 8000 -h /www"]
        env:
        - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        ports: [{name: http, containerPort: 8000}]
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: $NS}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
EOF
expect "the Deployment and Service are created" "deployment.apps/web created" k apply -f "$TMP/web.yaml"
ready_count() { k get pods -l app=web -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True; }
pod_count() { k get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.deletionTimestamp}{"|"}{.metadata.name}{"\n"}{end}' | grep -c '^|'; }
if ! eventually 120 "2 web pods Ready" "^2$" ready_count; then
  k get deploy,rs,pods -o wide 2>&1 | sed 's/^/    /'; finish
fi
ep_count() { k get endpoints web -o jsonpath='{range .subsets[*].addresses[*]}{.ip}{"\n"}{end}' | grep -c .; }
eventually 30 "the Service has 2 endpoints" "^2$" ep_count
CIP=$(k get svc web -o jsonpath='{.spec.clusterIP}')
eventually 30 "node 3: the ClusterIP $CIP answers" "^web " "$CL" exec 3 -- curl -sS --max-time 2 "http://$CIP/"

# The loops: one line per request / create.
"$CL" exec 3 -- bash -c '
  while [ ! -e "$0" ]; do
    if out=$(curl -sS --max-time 2 "$1" 2>&1) && [[ "$out" == web* ]]; then echo "$(date +%s%3N) ok";
    else echo "$(date +%s%3N) FAIL $out"; fi
    sleep 0.1
  done' "$TMP/stop" "http://$CIP/" >"$TMP/loop.svc" 2>&1 &
LOOP_PIDS+=($!)
(
  n=0
  while [ ! -e "$TMP/stop" ]; do
    n=$((n + 1))
    out=$(printf '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ha-%d"},"data":{"n":"%d"}}' $n $n |
      mk create -f - 2>&1)
    if [ $? -eq 0 ] && grep -q "ha-$n created" <<<"$out"; then echo "$(date +%s%3N) $n created";
    else echo "$(date +%s%3N) $n FAIL $(tr '\n' ' ' <<<"$out")"; fi
  done
) >"$TMP/loop.create" 2>&1 &
LOOP_PIDS+=($!)
lines() { local n; n=$(grep -c . "$1" 2>/dev/null); echo "${n:-0}"; }
made() {  # made N SVC0 CREATE0: both loops made N requests since the marks
  local s c
  s=$(( $(lines "$TMP/loop.svc") - $2 )); c=$(( $(lines "$TMP/loop.create") - $3 ))
  [ "$s" -ge "$1" ] && [ "$c" -ge "$1" ] && echo ok || echo "service $s, creates $c"
}
eventually 60 "both loops run (10 requests each)" "^ok$" made 10 0 0

# 1. kill -9 the leader.
OLD=$(leaders)
expect "one leader before the kill" "^[123]$" echo "$OLD"
lease_now() { ka get lease -n kube-system minik8s-leader -o jsonpath='{.spec.holderIdentity} {.spec.leaseTransitions}'; }
read -r OLD_HOLDER OLD_TRANS <<<"$(lease_now)"
m_svc=$(lines "$TMP/loop.svc"); m_cr=$(lines "$TMP/loop.create")
t_kill=$(date +%s%3N)
kill_out=$("$CL" kill-server "$OLD" 2>&1)
expect "kill-server $OLD (the leader)" "killed \(SIGKILL\).*was the leader" echo "$kill_out"
# The moment of the SIGKILL, as cluster.sh took it.
t=$(sed -n 's/.* killed (SIGKILL) at \([0-9]*\) ms.*/\1/p' <<<"$kill_out"); [ -n "$t" ] && t_kill=$t
# The scale goes to a follower, which accepts it; only a leader's controllers act on it.
expect "scale web to 3 right after the kill (through a follower)" "scaled" mk scale deployment web --replicas=3
t_scaled=$(date +%s%3N)
t_pod=""
deadline=$(( t_kill + (2 * LEASE_S + 30) * 1000 ))
while [ "$(date +%s%3N)" -lt "$deadline" ]; do
  if [ "$(pod_count 2>/dev/null)" = 3 ]; then t_pod=$(date +%s%3N); break; fi
  sleep 0.1
done
if [ -n "$t_pod" ]; then
  took=$((t_pod - t_kill))
  echo "[INFO] failover: kill -9 of server $OLD -> the new leader's third pod exists after $took ms (scale sent $((t_scaled - t_kill)) ms after the kill)"
  echo "failover_ms=$took" >>"$TMP/result"
  pass "the new leader's controllers acted: the third pod $took ms after the kill (target lease + 2 s = $((LEASE_S + 2)) s: bench/ha_failover.sh)"
else
  fail "the new leader's controllers made the third pod within $((2 * LEASE_S + 30)) s of the kill"
  k get deploy,rs,pods -o wide 2>&1 | sed 's/^/    /'
fi
eventually 10 "a follower leads now" "^[123]$" leaders
NEW=$(leaders)
expect "the new leader is another server" "^yes$" sh -c "[ '$NEW' != '$OLD' ] && echo yes"
expect "the Lease has one more transition ($OLD_TRANS before)" "^[^ ]+ $((OLD_TRANS + 1))\$" lease_now
read -r NEW_HOLDER _ <<<"$(lease_now)"
expect "and names a new holder ($NEW_HOLDER, was $OLD_HOLDER)" "^yes$" sh -c "[ '$NEW_HOLDER' != '$OLD_HOLDER' ] && echo yes"
eventually 40 "the killed server leaves the kubernetes Endpoints (its Lease expires)" "^$(eps_without "$OLD")\$" api_eps
eventually 120 "3 web pods Ready after the failover" "^3$" ready_count
eventually 60 "both loops went on after the leader's death (10 more each)" "^ok$" made 10 "$m_svc" "$m_cr"

# 2. kill -9 the etcd member on the new leader's node: the leader's store
#    connection breaks (its --etcd-servers list that member first).
E=$NEW
m_svc=$(lines "$TMP/loop.svc"); m_cr=$(lines "$TMP/loop.create")
expect "kill-etcd $E (the member the leader talks to)" "killed \(SIGKILL\)" "$CL" kill-etcd "$E"
t_etcd=$(date +%s%3N)
eventually 30 "the 2 live members keep quorum (a raft leader among them)" "true" sh -c \
  "etcdctl --endpoints $(for i in 1 2 3; do [ $i = "$E" ] || printf '%s,' "$(etcd_url $i)"; done | sed 's/,$//') endpoint status 2>/dev/null | awk -F', ' '{print \$5}'"
for i in 1 2 3; do
  [ "$i" = "$OLD" ] && continue
  eventually 20 "server $i: a write after the etcd kill" "configmap/probe-$i created" \
    kubectl --kubeconfig "$D/kubeconfig" --server "$(url "$i")" -n "$NS" create configmap "probe-$i" --from-literal=s="$i"
  expect "server $i: reads it back" "^$i\$" \
    kubectl --kubeconfig "$D/kubeconfig" --server "$(url "$i")" -n "$NS" get configmap "probe-$i" -o 'jsonpath={.data.s}'
done
eventually 60 "both loops went on after the etcd member's death (10 more each)" "^ok$" made 10 "$m_svc" "$m_cr"
expect "the leader still leads (its store failed over to another member)" "^$NEW\$" leaders
expect "scale web to 2 with one etcd member down" "scaled" mk scale deployment web --replicas=2
eventually 30 "the controllers act with one etcd member down (2 pods)" "^2$" pod_count

# 3. The loops' verdict.
touch "$TMP/stop"
for p in "${LOOP_PIDS[@]}"; do wait "$p" 2>/dev/null; done
LOOP_PIDS=()
svc_ok=$(grep -c ' ok$' "$TMP/loop.svc"); svc_bad=$(grep -vc ' ok$' "$TMP/loop.svc")
echo "[INFO] Service loop: $svc_ok ok, $svc_bad failed"
expect "the Service loop never failed (over both kills)" "^0$" echo "$svc_bad"
grep -v ' ok$' "$TMP/loop.svc" | head -n 5 | sed 's/^/    /'
expect "the Service loop made requests across both kills (> 50)" "^ok$" sh -c "[ $svc_ok -gt 50 ] && echo ok"
acked=$(awk '$3 == "created" {print "ha-" $2}' "$TMP/loop.create" | sort)
n_acked=$(grep -c . <<<"$acked")
n_failed=$(grep -c ' FAIL ' "$TMP/loop.create")
echo "[INFO] creates: $n_acked acknowledged, $n_failed not (refused or cut off: the client got no 201)"
grep ' FAIL ' "$TMP/loop.create" | head -n 5 | sed 's/^/    /'
[ "$n_failed" -gt 0 ] && echo "[INFO] failed creates around the kills: $(awk '$3 == "FAIL" {printf "%s(+%d ms) ", $2, $1 - '"$t_kill"'}' "$TMP/loop.create")"
expect "creates were made throughout (> 30 acknowledged)" "^ok$" sh -c "[ $n_acked -gt 30 ] && echo ok"
mk get configmaps -o name 2>&1 | sed -n 's#^configmap/\(ha-[0-9]*\)$#\1#p' | sort >"$TMP/stored"
lost=$(comm -23 <(echo "$acked") "$TMP/stored")
expect "0 acknowledged creates lost (each of the $n_acked is readable)" "^0$" echo "$(grep -c . <<<"$lost")"
[ -n "$lost" ] && echo "    lost: $(echo $lost | head -c 300)"
# A create cut off by the kill may still have been applied; it is then simply there.
sent=$(awk '{print "ha-" $2}' "$TMP/loop.create" | sort)
expect "every stored ha-N was sent by the loop" "^0$" echo "$(comm -13 <(echo "$sent") "$TMP/stored" | grep -c .)"

# 4. Both come back.
expect "start-etcd $E: the member rejoins" "healthy after" "$CL" start-etcd "$E"
expect "3 etcd members healthy again" "^3$" sh -c \
  "etcdctl --endpoints $(etcd_url 1),$(etcd_url 2),$(etcd_url 3) endpoint health 2>&1 | grep -c 'is healthy'"
expect "start-server $OLD: ready again" "ready after" "$CL" start-server "$OLD"
expect "it follows (the leader is still server $NEW)" "^$NEW\$" leaders
eventually 30 "it is an endpoint of default/kubernetes again" "^$BASE.11 $BASE.12 $BASE.13 \$" api_eps
expect "it serves the objects written while it was down" "^1$" sh -c \
  "kubectl --kubeconfig $D/kubeconfig --server $(url "$OLD") -n $NS get configmap probe-$NEW -o 'jsonpath={.data.s}' | grep -c '^$NEW\$'"

# 5. down removes everything.
expect "cluster.sh down" "removed cluster" "$CL" down
P=$MK_CLUSTER_PREFIX
expect "no netns, link, data or process left" "^0 0 0 0$" sh -c \
  "echo \$(ip netns list | grep -c '^$P-') \$(ip -o link show | grep -c ': $P-') \$(ls -d '$D' 2>/dev/null | wc -l) \$(pgrep -f '[/]${D#/}/' | wc -l)"
finish
