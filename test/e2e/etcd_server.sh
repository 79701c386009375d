#!/usr/bin/env bash
# `minik8s server --storage etcd` on a private etcd (loopback, free ports, its
# own data dir): kubectl creates, gets, lists, watches and deletes objects that
# land in etcd under /registry/...; a server restarted on a fresh data dir
# still has them; with etcd down a write fails instead of hanging, and works
# again once etcd is back. etcd and the server are stopped by PID on exit.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/need_kubectl.sh"
need_kubectl
if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
  echo "SKIPPED $(basename "$0"): no etcd/etcdctl on PATH (scripts/deps.sh installs etcd-server and etcd-client)"
  exit 77
fi
ETCD_PID=""
WATCH_PID=""
cleanup() {
  [ -n "$WATCH_PID" ] && kill -KILL "$WATCH_PID" 2>/dev/null
  [ -n "$ETCD_PID" ] && { kill -KILL "$ETCD_PID" 2>/dev/null; wait "$ETCD_PID" 2>/dev/null; }
  e2e_cleanup
}
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CPORT=$(free_port)
PPORT=$(free_port)
ETCD_URL="http://127.0.0.1:$CPORT"
start_etcd() {
  etcd --name e2e --data-dir "$E2E_DIR/etcd" --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
    --initial-cluster "e2e=http://127.0.0.1:$PPORT" --logger zap >>"$E2E_DIR/etcd.log" 2>&1 &
  ETCD_PID=$!
  poll 20 etcdctl --endpoints "$ETCD_URL" endpoint health || { echo "etcd not healthy:"; tail -n 20 "$E2E_DIR/etcd.log"; exit 1; }
}
ectl() { etcdctl --endpoints "$ETCD_URL" "$@"; }
start_etcd
start_server --storage etcd --etcd-servers "$ETCD_URL"
K="kubectl --request-timeout=20s"

check "create a ConfigMap" $K create configmap cm1 --from-literal=k=v1
expect_out "get it back" '^v1$' $K get configmap cm1 -o 'jsonpath={.data.k}'
check "create a Namespace and a ConfigMap in it" bash -c "$K create namespace e2e-etcd && $K -n e2e-etcd create configmap other --from-literal=x=y"
expect_out "list in default has cm1 and not the other namespace's" '^configmap/cm1$' $K get configmaps -o name --field-selector metadata.name=cm1
expect_out "the object is etcd's key /registry/.../cm1" 'cm1' ectl get --prefix /registry/ --keys-only
rv1=$($K get configmap cm1 -o 'jsonpath={.metadata.resourceVersion}')
etcd_rev=$(ectl get /registry/ --prefix --keys-only -w json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
check "resourceVersion ($rv1) is an etcd revision (current $etcd_rev)" test "$rv1" -gt 0 -a "$rv1" -le "$etcd_rev"

# A watch from now sees a create and a delete.
$K get configmaps --watch-only -o name >"$E2E_DIR/watch.out" 2>&1 &
WATCH_PID=$!
poll 10 kubectl get --raw /readyz
check "create cm2 while watching" $K create configmap cm2 --from-literal=k=v2
check "the watch sees cm2" poll 20 grep -q 'configmap/cm2' "$E2E_DIR/watch.out"
check "delete cm2" $K delete configmap cm2
expect_fail "cm2 is gone" 'NotFound' $K get configmap cm2
check "cm2's key is gone from etcd" bash -c "! etcdctl --endpoints $ETCD_URL get --prefix /registry/ --keys-only | grep -q cm2"
kill -KILL "$WATCH_PID" 2>/dev/null; wait "$WATCH_PID" 2>/dev/null; WATCH_PID=""

# Restart the server on an empty data dir: the objects come from etcd.
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""
rm -rf "$E2E_DIR/data"
start_server --storage etcd --etcd-servers "$ETCD_URL"
check "no SQLite store was made" test ! -e "$E2E_DIR/data/store.db"
expect_out "cm1 survives the restart" '^v1$' $K get configmap cm1 -o 'jsonpath={.data.k}'
expect_out "with the same resourceVersion" "^$rv1\$" $K get configmap cm1 -o 'jsonpath={.metadata.resourceVersion}'
expect_out "the other namespace's object too" '^y$' $K -n e2e-etcd get configmap other -o 'jsonpath={.data.x}'

# etcd down: a write fails (no hang); etcd back: writes work again.
kill -KILL "$ETCD_PID"; wait "$ETCD_PID" 2>/dev/null; ETCD_PID=""
t0=$SECONDS
expect_fail "a create with etcd down fails, saying etcd did not answer" 'etcd: (Deadline Exceeded|.*connect)' $K create configmap cm3 --from-literal=k=v3
check "and fails within 15 s" test $((SECONDS - t0)) -le 15
start_etcd
check "after etcd is back a create works" poll 30 $K create configmap cm4 --from-literal=k=v4
expect_out "and reads work" '^v4$' $K get configmap cm4 -o 'jsonpath={.data.k}'
e2e_finish
