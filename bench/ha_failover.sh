#!/usr/bin/env bash
# Leader failover on a real HA cluster (issue 16, docs/ha.md): `cluster.sh up
# 3 --ha` (3 etcd members, 3 servers with the default lease 15 s, renew 10 s,
# retry 2 s), a Deployment of 1 busybox pod; then ROUNDS times: kill -9 the
# leading server (cluster.sh kill-server), scale the Deployment by one through
# a follower at once, and time kill → the new pod object exists (the new
# leader's Deployment and ReplicaSet controllers reconciled; polled every
# ~0.1 s with kubectl); start the killed server again and let every follower
# see the new leader's lease before the next round. Prints Markdown rows for
# docs/benchmarks.md. Own prefix/subnet; down on exit.
# usage: bench/ha_failover.sh [ROUNDS]   (BIN=build/bin by default; root)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export BIN=${BIN:-$ROOT/build/bin}
ROUNDS=${1:-3}
export MK_CLUSTER_PREFIX=${MK_CLUSTER_PREFIX:-mkhb$(($$ % 10000))}
export MK_CLUSTER_SUBNET=${MK_CLUSTER_SUBNET:-10.96.$(($$ % 200 + 20)).0/24}
TMP=$(mktemp -d /tmp/minik8s-ha-bench.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
CL=$ROOT/scripts/cluster.sh
cleanup() { "$CL" down >/dev/null 2>&1; rm -rf "$TMP"; }
trap cleanup EXIT
exec 9>/tmp/mk-cluster.lock
flock 9
D=$MK_CLUSTER_DIR
"$CL" up 3 --ha >"$TMP/up.log" 2>&1 || { tail -n 30 "$TMP/up.log" >&2; exit 1; }
BASE=${MK_CLUSTER_SUBNET%.*}
url() { echo "https://$BASE.$((10 + $1)):6443"; }
state() { sed -n "s/^$1=//p" "$D/state" | tail -n1; }
alive() { kill -0 "$(state "server$1")" 2>/dev/null; }
live() { local i; for i in 1 2 3; do alive "$i" && { echo "$i"; return; }; done; }
k() { kubectl --kubeconfig "$D/kubeconfig" --server "$(url "$(live)")" "$@"; }
acurl() { curl -fsS --max-time 3 --cacert "$D/server/pki/ca.crt" --cert "$D/server/pki/admin.crt" --key "$D/server/pki/admin.key" "$@"; }
leads() { acurl "$(url "$1")/metrics" 2>/dev/null | grep '^leader_election_master_status{name="minik8s-leader"} 1$' >/dev/null; }
leader() { local i; for i in 1 2 3; do alive "$i" && leads "$i" && { echo "$i"; return; }; done; }
pods() { k get pods -l app=b --no-headers 2>/dev/null | grep -vc Terminating; }
wait_for() {  # wait_for SECONDS CMD...
  local d=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $d ] && return 1; sleep 0.2; done
}
k create deployment b --image=busybox:1.36 --replicas=1 -- sleep 36000 >/dev/null
wait_for 120 sh -c "[ \"\$(kubectl --kubeconfig $D/kubeconfig --server $(url 1) get pods -l app=b --no-headers | grep -c Running)\" = 1 ]" ||
  { echo "the first pod did not run" >&2; exit 1; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
n=1
for r in $(seq 1 "$ROUNDS"); do
  old=$(leader)
  [ -n "$old" ] || { echo "no leader" >&2; exit 1; }
  t0=$(date +%s%3N)
  "$CL" kill-server "$old" >/dev/null || exit 1
  n=$((n + 1))
  k scale deployment b --replicas=$n >/dev/null || { echo "scale failed" >&2; exit 1; }
  until [ "$(pods)" = "$n" ]; do
    [ $(( $(date +%s%3N) - t0 )) -gt 60000 ] && { echo "no new pod within 60 s" >&2; exit 1; }
    sleep 0.1
  done
  t1=$(date +%s%3N)
  new=$(leader)
  printf '| %d | server %s → server %s | %s s | ≤ 17 s (lease 15 s + 2 s) — %s |\n' "$r" "$old" "${new:-?}" \
    "$(awk -v ms=$((t1 - t0)) 'BEGIN { printf "%.2f", ms / 1000 }')" "$([ $((t1 - t0)) -le 17000 ] && echo met || echo '**not met**')"
  log=$D/server$old.log
  mark=$(wc -l <"$log")
  "$CL" start-server "$old" >/dev/null || exit 1
  # Before the next kill the restarted server has seen the leader's record.
  wait_for 30 sh -c "tail -n +$((mark + 1)) '$log' | grep -q 'leader election: the leader is '" ||
    { echo "server $old did not see the leader" >&2; exit 1; }
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
