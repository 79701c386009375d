#!/usr/bin/env bash
# `make run`: a single-node cluster on this host (`minik8s up`: API server,
# scheduler and controllers on the embedded store, an agent with its own
# containerd, offline images) and the demo workload in examples/demo/.
#   scripts/run.sh DATA_DIR PORT     start (restarting an `up` this script started earlier)
#   scripts/run.sh --stop DATA_DIR   stop it (SIGTERM: pods keep running, like k3s)
#   scripts/run.sh --down DATA_DIR   stop it and remove everything it created
# `minik8s up` runs in the background; its PID is in DATA_DIR/up.pid and its
# log in DATA_DIR/up.log. Only that PID is ever signalled.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}

stop_up() {
  local data=$1 pid note="pods keep running — 'make down' removes them"
  [ "${2:-}" = quiet-note ] && note="removing everything next"
  if [ ! -f "$data/up.pid" ]; then
    [ "${2:-}" = verbose ] && echo "no minik8s started by make run is running (no $data/up.pid)"
    return 0
  fi
  pid=$(cat "$data/up.pid")
  if kill -0 "$pid" 2>/dev/null && grep -q minik8s "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "stopped minik8s (pid $pid); $note"
  fi
  rm -f "$data/up.pid"
}

case "${1:-}" in
  --stop) stop_up "${2:-.run}" verbose; exit 0 ;;
  --down)
    DATA=${2:-.run}
    stop_up "$DATA" quiet-note
    [ -d "$DATA" ] && "$BIN/minik8s" down --data-dir "$DATA"
    exit 0 ;;
esac

DATA=${1:-.run}
PORT=${2:-6443}
T0=${3:-$(date +%s)}   # when `make run` started (the Makefile passes it)
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)
stop_up "$DATA"

for p in "$PORT" 10250; do
  if ss -ltn "sport = :$p" 2>/dev/null | grep -q LISTEN; then
    echo "error: port $p is in use by another program; choose another API port with make run PORT=NNNN (10250 is the kubelet's)" >&2
    exit 1
  fi
done

echo "== make run 3/4: build the offline images into $DATA/images, start minik8s up in $DATA"
# Built here, so that the agent only imports them (the first python-runtime
# build runs mmdebstrap, ~40 s, and needs the Debian mirror; without it the
# cluster runs, but not Functions).
"$BIN/minik8s" image build pause busybox --cache-dir "$DATA/images"
"$BIN/minik8s" image build python-runtime --cache-dir "$DATA/images" ||
  echo "warning: the python-runtime image did not build: Functions will not start" >&2
# The runtime python3-ml image (first build ~2-3 min; imported by the node
# when a python3-ml Function first starts).
"$BIN/minik8s" image build python-ml-runtime --cache-dir "$DATA/images" ||
  echo "warning: the python-ml-runtime image did not build: python3-ml Functions will not start" >&2
[ -f "$DATA/up.log" ] && mv -f "$DATA/up.log" "$DATA/up.log.1"
setsid "$BIN/minik8s" up --data-dir "$DATA" --listen "127.0.0.1:$PORT" >"$DATA/up.log" 2>&1 < /dev/null &
echo $! >"$DATA/up.pid"

export KUBECONFIG="$DATA/kubeconfig"
deadline=$((SECONDS + 300))
# Progress: the log lines about the server, the agent and the images as they come.
shown=0
show_progress() {
  local n
  n=$(wc -l <"$DATA/up.log" 2>/dev/null || echo 0)
  [ "$n" -gt "$shown" ] || return 0
  sed -n "$((shown + 1)),${n}p" "$DATA/up.log" |
    grep -E 'minik8s up:|image .* imported|building image|containerd (started|ready)|registered|Ready' |
    sed -E 's/^\[[^]]*\] *(\[[^]]*\] *)*//; s/^/   up: /' || true
  shown=$n
}
until [ -f "$KUBECONFIG" ] && "$BIN/mkctl" get nodes 2>/dev/null | grep -q " Ready"; do
  show_progress
  if ! kill -0 "$(cat "$DATA/up.pid")" 2>/dev/null; then
    echo "error: minik8s up exited; its log:" >&2; tail -n 40 "$DATA/up.log" >&2; exit 1
  fi
  if [ $SECONDS -ge $deadline ]; then echo "error: the node is not Ready after 300 s; see $DATA/up.log" >&2; exit 1; fi
  sleep 0.2
done

show_progress
echo "== make run 4/4: the demo (examples/demo/)"
"$BIN/mkctl" apply -f examples/demo/
deadline=$((SECONDS + 120))
until "$BIN/mkctl" get pod web -n demo 2>/dev/null | grep -q "2/2 *Running"; do
  if [ $SECONDS -ge $deadline ]; then
    echo "warning: the demo pod is not Running yet:" >&2
    "$BIN/mkctl" describe pod web -n demo >&2 || true
    break
  fi
  sleep 0.2
done
echo
"$BIN/mkctl" get nodes
echo
"$BIN/mkctl" get pods -n demo -o wide
echo
"$BIN/mkctl" get svc -n demo
echo
"$BIN/mkctl" get deploy,rs -n demo
CIP=$("$BIN/mkctl" get svc web -n demo --no-headers 2>/dev/null | awk '{print $3}')
cat <<MSG

minik8s is running (pid $(cat "$DATA/up.pid"), log $DATA/up.log).
  kubeconfig:   export KUBECONFIG=$DATA/kubeconfig
  the demo:     build/bin/mkctl logs -n demo web -c fetcher        (the sidecar's fetches over localhost)
                kubectl exec -n demo web -c fetcher -- cat /shared/fetched.log
                kubectl exec -it -n demo web -c web -- sh            (stock kubectl 1.30+ works too)
  the Service:  curl http://${CIP:-<cluster-ip>}/                          (kube-proxy rules on this host)
                kubectl exec -n demo web -c fetcher -- wget -qO- http://web.demo.svc.cluster.local/
  workloads:    kubectl get deploy,rs,pods -n demo -l app=hello       (a Deployment of 2 behind Service hello)
                kubectl scale deploy/hello -n demo --replicas=3
                kubectl set image deploy/hello -n demo hello=busybox:latest; kubectl rollout status deploy/hello -n demo
                kubectl top pods -n demo                              (metrics.k8s.io, refreshed every 5 s)
  stop:         make stop    (control plane and agent stop; pods and the node's containerd keep running)
  remove all:   make down    (containers, cgroups, CNI state, containerd, data)
MSG
el=$(( $(date +%s) - T0 ))
echo "make run: ready in $((el / 60)) min $((el % 60)) s (packages, build, images, cluster, demo)"
