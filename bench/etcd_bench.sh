#!/usr/bin/env bash
# EtcdStorage (issue 16), Markdown rows for docs/benchmarks.md, all in one run
# on one private etcd (loopback, its own data dir, stopped by PID):
#  - `etcdctl put` (a process per put: the CLI's own rate, not etcd's);
#  - etcd's two client APIs, gRPC and the JSON gateway, 1 and 8 clients, and
#    raw EtcdStorage creates (bench/etcd_bench.cc);
#  - ConfigMap creates through the API (api_bench --creates-only), 1 and 8
#    clients, on `--storage sqlite` and on `--storage etcd`.
# usage: bench/etcd_bench.sh [BUILD]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
source bench/lib.sh
command -v etcd >/dev/null && command -v etcdctl >/dev/null || {
  echo "etcd_bench: no etcd/etcdctl (scripts/deps.sh installs etcd-server etcd-client)" >&2; exit 1; }
[ -n "${ETCD_BENCH_NO_BUILD:-}" ] || cmake --build "$BUILD" -j2 --target etcd_bench api_bench minik8s >/dev/null
DIR=$(mktemp -d /tmp/minik8s-etcd-bench.XXXXXX)
ETCD=""
PID=""
cleanup() {  # set -e: a failing last command of an && list would end it early
  if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; fi
  if [ -n "$ETCD" ]; then kill -KILL "$ETCD" 2>/dev/null; wait "$ETCD" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cport=$(free_port); pport=$(free_port)
URL="http://127.0.0.1:$cport"
etcd --name bench --data-dir "$DIR/etcd" --listen-client-urls "$URL" --advertise-client-urls "$URL" \
  --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
  --initial-cluster "bench=http://127.0.0.1:$pport" --logger zap >"$DIR/etcd.log" 2>&1 &
ETCD=$!
wait_for 20 "etcd" etcdctl --endpoints "$URL" endpoint health

echo "etcd $(etcd --version | sed -n 's/^etcd Version: //p'); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
n=200
t0=$(date +%s%N)
for i in $(seq 1 $n); do etcdctl --endpoints "$URL" put "/bench/ctl/$i" v >/dev/null; done
t1=$(date +%s%N)
awk -v n=$n -v ns=$((t1 - t0)) 'BEGIN { printf "| etcdctl put, %d sequential (one process each) | %.0f/s, %.1f ms each | |\n", n, n / (ns / 1e9), ns / 1e6 / n }'
"$BUILD/bin/etcd_bench" --etcd "$URL" --n 2000

start() {  # start LABEL FLAGS...: a server on a free port; sets PID and PORT
  local label=$1; shift
  PORT=$(free_port)
  "$BUILD/bin/minik8s" server --data-dir "$DIR/$label" --listen "127.0.0.1:$PORT" "$@" >"$DIR/$label.log" 2>&1 &
  PID=$!
  wait_for 30 "the $label server" curl -fsS "http://127.0.0.1:$PORT/readyz" || { tail -n 20 "$DIR/$label.log" >&2; exit 1; }
}
start sqlite --storage sqlite
"$BUILD/bin/api_bench" --url "http://127.0.0.1:$PORT" --creates-only "--storage sqlite"
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""
start on-etcd --storage etcd --etcd-servers "$URL"
"$BUILD/bin/api_bench" --url "http://127.0.0.1:$PORT" --creates-only "--storage etcd"
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
