#!/usr/bin/env bash
# `make run`: start minik8s on the embedded store and deploy the demo.
#   scripts/run.sh DATA_DIR PORT     start (restarting a server this script started earlier)
#   scripts/run.sh --stop DATA_DIR   stop the server this script started
# The server runs in the background; its PID is in DATA_DIR/server.pid and its
# log in DATA_DIR/server.log. Only that PID is ever signalled.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}

stop_server() {
  local data=$1 pid
  if [ ! -f "$data/server.pid" ]; then
    [ "${2:-}" = verbose ] && echo "no minik8s server started by make run is running (no $data/server.pid)"
    return 0
  fi
  pid=$(cat "$data/server.pid")
  if kill -0 "$pid" 2>/dev/null && grep -q minik8s "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "stopped minik8s server (pid $pid)"
  fi
  rm -f "$data/server.pid"
}

if [ "${1:-}" = "--stop" ]; then
  stop_server "${2:-.run}" verbose
  exit 0
fi

DATA=${1:-.run}
PORT=${2:-6443}
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)
stop_server "$DATA"

if ss -ltn "sport = :$PORT" 2>/dev/null | grep -q LISTEN; then
  echo "error: port $PORT is in use by another program; choose another: make run PORT=NNNN" >&2
  exit 1
fi

"$BIN/minik8s" server --data-dir "$DATA" --listen "127.0.0.1:$PORT" >"$DATA/server.log" 2>&1 &
echo $! >"$DATA/server.pid"

# Poll /readyz with a deadline.
deadline=$((SECONDS + 20))
until curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; do
  if ! kill -0 "$(cat "$DATA/server.pid")" 2>/dev/null; then
    echo "error: the server exited; its log:" >&2; cat "$DATA/server.log" >&2; exit 1
  fi
  if [ $SECONDS -ge $deadline ]; then echo "error: server not ready after 20 s" >&2; exit 1; fi
  sleep 0.1
done

export KUBECONFIG="$DATA/kubeconfig"
"$BIN/mkctl" apply -f examples/demo.yaml
echo
"$BIN/mkctl" get deployments,services,hpa,dns -n demo
cat <<MSG

minik8s is running (server pid $(cat "$DATA/server.pid"), log $DATA/server.log).
  API server:   http://127.0.0.1:$PORT
  kubeconfig:   export KUBECONFIG=$DATA/kubeconfig
  try:          build/bin/mkctl get all -n demo      or      kubectl get all -n demo
  remove demo:  build/bin/mkctl delete namespace demo
  stop:         make stop   (the data stays in $DATA; make run starts from it again)
MSG
