#!/usr/bin/env bash
# minik8s server --leader-elect (docs/ha.md) with short periods (lease 3 s):
# a lone server takes the Lease and runs the controllers; SIGTERM releases
# the lease, so a restarted server leads at once; after kill -9 a new server
# (new identity) waits for the lease to expire before it leads.
source "$(dirname "$0")/lib.sh"
LE=(--leader-elect --leader-elect-lease-duration 3s --leader-elect-renew-deadline 2s
    --leader-elect-retry-period 500ms)
# Every request as the cluster admin (the certificate the server made): not
# anonymous, so this holds with authentication on.
export E2E_DIR
lease_field() {  # FIELD: spec.FIELD of kube-system/minik8s-leader
  api_curl -fsS "$SERVER_URL/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/minik8s-leader" |
    /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['spec'].get('$1', ''))"
}
export -f lease_field
leading() { api_curl -fsS "$SERVER_URL/metrics" | grep -qx 'leader_election_master_status{name="minik8s-leader"} 1'; }
following() { api_curl -fsS "$SERVER_URL/metrics" | grep -qx 'leader_election_master_status{name="minik8s-leader"} 0'; }
restart() {
  rm -f "$E2E_DIR/data/kubeconfig"
  start_server "${LE[@]}"
}

check "bad durations are refused (renew deadline not below the lease)" \
  bash -c "! '$BIN/minik8s' server --data-dir '$E2E_DIR/bad' --listen 127.0.0.1:0 --leader-elect \
    --leader-elect-lease-duration 2s --leader-elect-renew-deadline 2s"
start_server "${LE[@]}"
export SERVER_URL
check "the lone server becomes the leader" poll 10 leading
check "the Lease names it (hostname_random), 0 transitions" \
  bash -c "[ \"\$(lease_field leaseTransitions)\" = 0 ] && lease_field holderIdentity | grep -q '^$(hostname)_[0-9a-f]\{16\}\$'"
check "the lease is 3 s" bash -c "[ \"\$(lease_field leaseDurationSeconds)\" = 3 ]"
api_curl -fsS -X POST -H 'Content-Type: application/json' "$SERVER_URL/apis/apps/v1/namespaces/default/deployments" \
  --data '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":1,
    "selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},
    "spec":{"containers":[{"name":"c","image":"nginx"}]}}}}' >/dev/null
check "its controllers run (the Deployment gets a ReplicaSet)" \
  poll 10 bash -c "api_curl -fsS '$SERVER_URL/apis/apps/v1/namespaces/default/replicasets' | grep -q '\"web-'"
holder=$(lease_field holderIdentity)
renew1=$(lease_field renewTime)
check "the leader renews" poll 5 bash -c "[ \"\$(lease_field renewTime)\" != '$renew1' ]"

kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
check "SIGTERM: controllers stopped, then the lease released" \
  bash -c "grep -q 'the scheduler and controllers stopped' '$E2E_DIR/server.log' &&
           grep -q 'released lease kube-system/minik8s-leader' '$E2E_DIR/server.log'"
restart
check "after a release a new server leads at once (< 2 s)" poll 2 leading
check "with a new identity, 1 transition" \
  bash -c "[ \"\$(lease_field holderIdentity)\" != '$holder' ] && [ \"\$(lease_field leaseTransitions)\" = 1 ]"

kill -KILL "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
restart
start=$SECONDS
check "after kill -9 the new server follows while the dead one's lease runs" following
check "then leads once it expired (3 s by its own clock)" poll 10 leading
check "which took at least 2 s" test $((SECONDS - start)) -ge 2
check "2 transitions" bash -c "[ \"\$(lease_field leaseTransitions)\" = 2 ]"
e2e_finish
