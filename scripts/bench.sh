#!/usr/bin/env bash
# `make bench`: API server benchmarks beside their baselines, as Markdown rows
# for docs/benchmarks.md. Starts its own server (by PID) in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
cmake --build "$BUILD" -j2 --target api_bench minik8s >/dev/null
DIR=$(mktemp -d /tmp/minik8s-bench.XXXXXX)
PID=""
cleanup() { [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$DIR"; }
trap cleanup EXIT

start() {  # start DATA PORT: sets PID and STARTUP_MS (exec to /readyz OK)
  local t0 t1
  t0=$(date +%s%N)
  "$BUILD/bin/minik8s" server --data-dir "$1" --listen "127.0.0.1:$2" >"$1.log" 2>&1 &
  PID=$!
  until curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; do
    kill -0 "$PID" 2>/dev/null || { cat "$1.log" >&2; exit 1; }
  done
  t1=$(date +%s%N)
  STARTUP_MS=$(( (t1 - t0) / 1000000 ))
}
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), $(date -u +%F)"
echo
echo "| measurement | result | target |"
echo "| --- | --- | --- |"
starts=()
for i in 1 2 3; do
  port=$(free_port)
  start "$DIR/s$i" "$port"
  starts+=("$STARTUP_MS")
  kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""
done
echo "| exec to /readyz OK (3 cold starts, fresh data dir) | ${starts[*]} ms | ≤ 300 ms |"

port=$(free_port)
start "$DIR/main" "$port"
sleep 2  # let start-up allocations settle before reading idle RSS
echo "| idle RSS of the server | $(awk '/VmRSS/{printf "%.1f MB", $2/1024}' /proc/$PID/status) | ≤ 60 MB |"
"$BUILD/bin/api_bench" --url "http://127.0.0.1:$port" --data-dir "$DIR/baseline" ${BENCH_QUICK:+--quick}
echo "| RSS of the server after the runs | $(awk '/VmRSS/{printf "%.1f MB", $2/1024}' /proc/$PID/status) | |"
