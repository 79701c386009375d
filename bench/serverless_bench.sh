#!/usr/bin/env bash
# Serverless benchmark (issue 13, docs/serverless.md): cold starts from zero
# with and without the warm pool, warm invokes through the gateway beside
# the same call straight to the instance's pod IP, and 20 connections for
# 30 s on a CPU-heavy function — beside the project's own pod-startup time
# (bench/pod_bench.cc) measured on the same cluster. Prints Markdown rows.
#
# A single-node scripts/cluster.sh cluster (unique prefix and subnet, the
# cluster lock held, removed on exit), brought up twice: with the default
# pool (--function-pool-size 2) and with --function-pool-size 0. Every
# client runs in node 1's network namespace, where the server (and so the
# gateway) and the instances are: the times are the client's (connect +
# request + whole response), i.e. gateway receive → response sent plus one
# loopback/bridge round trip.
# - cold start: BENCH_SL_RUNS (default 20) functions with a trivial handler,
#   each created, invoked once from zero (no instance), deleted; with the
#   pool each run waits until the pool is full again (an anchor Function
#   keeps the namespace's pool alive between runs);
# - warm: 200 invokes through the gateway and 200 POSTs to the instance's
#   /invoke at its pod IP, one new connection each;
# - load: wrk -t2 -c20 -d30s on the CPU-heavy function (maxScale 4; the
#   X-Instance header counted per response), instances sampled every 2 s.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export BIN=${BIN:-$BUILD/bin}
# The baseline needs pod_bench (EXCLUDE_FROM_ALL; scripts/bench.sh builds it):
# a run without it would print an empty baseline row.
for b in minik8s mkctl pod_bench; do
  [ -x "$BIN/$b" ] || { echo "serverless_bench: $BIN/$b is missing (cmake --build $BUILD --target $b)" >&2; exit 2; }
done
export MK_CLUSTER_PREFIX=mkf$(($$ % 10000))
export MK_CLUSTER_SUBNET=10.97.$(($$ % 200 + 20)).0/24
TMP=$(mktemp -d /tmp/minik8s-sl-bench.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
CL=$ROOT/scripts/cluster.sh
MKCTL=$BIN/mkctl
CLIENT=$ROOT/test/e2e/serverless_client.py
RUNS=${BENCH_SL_RUNS:-20}
FN_LABEL=serverless.minik8s.io/function
POOL_LABEL=serverless.minik8s.io/pool=true
SAMPLER=""
cleanup() {
  set +e  # (a failing step must not keep the cluster up: it holds the lock)
  [ -n "$SAMPLER" ] && { kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null; }
  "$CL" down >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT
exec 9>/tmp/mk-cluster.lock
flock 9

source "$(dirname "$0")/lib.sh"
ready_pool() {  # number of Ready pool pods
  kubectl get pods -l "$POOL_LABEL" -o jsonpath='{range .items[*]}{.metadata.deletionTimestamp}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    awk '$1 == "True" && NF == 1' | wc -l
}
pool_full() { [ "$(ready_pool)" -ge "$1" ]; }
no_pods_of() { [ "$(kubectl get pods -l "$FN_LABEL=$1" --no-headers 2>/dev/null | wc -l)" -eq 0 ]; }
has_url() { kubectl get function "$1" -o jsonpath='{.status.url}' | grep -q '^http'; }
jfield() { /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[sys.argv[1]])' "$1"; }
up() {  # up POOLSIZE
  export MK_SERVER_ARGS="--function-pool-size $1"
  "$CL" up 1 >"$TMP/up.log" 2>&1 || { tail -n 30 "$TMP/up.log" >&2; exit 1; }
  NODE_IP=${MK_CLUSTER_SUBNET%.0/24}.11
}
down() { "$CL" down >/dev/null 2>&1; }
in_node() { "$CL" exec 1 -- "$@"; }

cat >"$TMP/trivial.py" <<'EOF'
def handler(event, context):
    return {"ok": True}
EOF
CPU=$ROOT/examples/serverless/cpu.py
if [ ! -f "$CPU" ]; then
  CPU=$TMP/cpu.py
  cat >"$CPU" <<'EOF'
# CPU-heavy: counts the primes below n (default 30000) by trial division.
def handler(event, context):
    n = int(event.get("n", 30000))
    count = 0
    for k in range(2, n):
        d = 2
        while d * d <= k:
            if k % d == 0:
                break
            d += 1
        else:
            count += 1
    return {"primes_below": n, "count": count}
EOF
fi

# cold_starts POOLSIZE FILE: RUNS cold starts, one millisecond figure per line.
cold_starts() {
  local pool=$1 out=$2 i name u ms
  : >"$out"
  for i in $(seq 1 "$RUNS"); do
    name=cold-$pool-$i
    [ "$pool" -gt 0 ] && wait_for 120 "a full pool" pool_full "$pool"
    "$MKCTL" fn create "$name" -f "$TMP/trivial.py" --handler trivial.handler --idle 600 >/dev/null
    wait_for 30 "$name's status.url" has_url "$name"
    no_pods_of "$name" || { echo "serverless_bench: $name has an instance before its first call" >&2; exit 1; }
    u=$("$MKCTL" fn url "$name")
    ms=$(in_node curl -sS -o /dev/null -w '%{http_code} %{time_total}' --max-time 60 -H 'Content-Type: application/json' -d '{}' "$u")
    [ "${ms%% *}" = 200 ] || { echo "serverless_bench: cold invoke of $name answered ${ms%% *}" >&2; exit 1; }
    awk -v t="${ms#* }" 'BEGIN { printf "%.2f\n", t * 1000 }' >>"$out"
    "$MKCTL" fn delete "$name" >/dev/null
    wait_for 60 "$name's instance gone" no_pods_of "$name"
  done
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), $(date -u +%F), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| measurement | result | target |"
echo "| --- | --- | --- |"

# BENCH_SL_NOPOOL_ONLY=1: only the no-pool cold starts (a quick rerun).
if [ "${BENCH_SL_NOPOOL_ONLY:-0}" != 1 ]; then
# ---- with the warm pool ----------------------------------------------------
up 2
N1=$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}')
# Baseline: the project's own pod startup on this cluster (create → Running seen by a watch).
pods=$("$BIN/pod_bench" --server "http://$NODE_IP:6443" --image busybox:1.36 --n "$RUNS" 2>/dev/null | grep '"seq"' || true)
[ -n "$pods" ] || echo "serverless_bench: the pod-startup baseline (pod_bench) gave no result" >&2
pf() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$pods"; }
echo "| Baseline: pod create → Running seen by a watch (busybox), $RUNS sequential | p50 $(pf p50_ms) ms, p99 $(pf p99_ms) ms | |"
# The anchor keeps the pool alive between the cold-start functions.
"$MKCTL" fn create anchor -f "$TMP/trivial.py" --handler trivial.handler >/dev/null
wait_for 120 "the pool (2 Ready pool pods)" pool_full 2
cold_starts 2 "$TMP/cold-pool"
echo "| **cold start from zero, warm pool** (trivial handler, client-side, $RUNS runs) | $(pcts "$TMP/cold-pool") | p50 ≤ 50 ms, p99 ≤ 150 ms |"

# Warm: one function with an instance; the gateway beside the pod IP.
"$MKCTL" fn create warm -f "$TMP/trivial.py" --handler trivial.handler --idle 600 --min-scale 1 >/dev/null
wait_for 60 "warm's status.url" has_url warm
U=$("$MKCTL" fn url warm)
wait_for 60 "a warm instance" sh -c "[ \"\$(kubectl get function warm -o jsonpath='{.status.readyInstances}')\" = 1 ]"
IP=$(kubectl get pods -l "$FN_LABEL=warm" -o jsonpath='{.items[0].status.podIP}')
in_node /usr/bin/python3 "$CLIENT" time "$U" --n 50 >/dev/null
in_node /usr/bin/python3 "$CLIENT" time "http://$IP:8080/invoke" --n 50 >/dev/null
gw=$(in_node /usr/bin/python3 "$CLIENT" time "$U" --n 200)
direct=$(in_node /usr/bin/python3 "$CLIENT" time "http://$IP:8080/invoke" --n 200)
g50=$(jfield p50_ms <<<"$gw"); g99=$(jfield p99_ms <<<"$gw"); d50=$(jfield p50_ms <<<"$direct"); d99=$(jfield p99_ms <<<"$direct")
echo "| Baseline: warm invoke straight to the pod IP ($IP:8080/invoke), 200 sequential | p50 $d50 ms, p99 $d99 ms | |"
echo "| warm invoke through the gateway, 200 sequential | p50 $g50 ms, p99 $g99 ms | |"
echo "| **gateway overhead** (gateway − pod IP) | p50 +$(awk -v a="$g50" -v b="$d50" 'BEGIN{printf "%.2f", a-b}') ms, p99 +$(awk -v a="$g99" -v b="$d99" 'BEGIN{printf "%.2f", a-b}') ms | p50 ≤ 1 ms, p99 ≤ 3 ms |"
"$MKCTL" fn delete warm >/dev/null

# Load: 20 connections for 30 s on the CPU-heavy function.
"$MKCTL" fn create cpu -f "$CPU" --handler "$(basename "$CPU" .py).handler" --max-scale 4 --idle 600 >/dev/null
wait_for 60 "cpu's status.url" has_url cpu
U=$("$MKCTL" fn url cpu)
in_node /usr/bin/python3 "$CLIENT" time "$U" --n 1 >/dev/null  # the cold start, not timed here
one=$(in_node /usr/bin/python3 "$CLIENT" time "$U" --n 10)
echo "| CPU-heavy handler alone (examples: $(basename "$CPU")), 10 sequential | p50 $(jfield p50_ms <<<"$one") ms, p99 $(jfield p99_ms <<<"$one") ms | |"
cat >"$TMP/count.lua" <<'EOF'
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {}; bad = 0 end
function response(status, headers, body)
  local inst = "-"
  for k, v in pairs(headers) do if string.lower(k) == "x-instance" then inst = v end end
  counts[inst] = (counts[inst] or 0) + 1
  if status ~= 200 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local c, b = {}, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do c[k] = (c[k] or 0) + v end
    b = b + t:get("bad")
  end
  local parts = {}
  for k, v in pairs(c) do table.insert(parts, v) end
  table.sort(parts, function(x, y) return x > y end)
  local e = summary.errors
  io.write(string.format("summary %d instances (%s) non200 %d errors %d\n", #parts, table.concat(parts, "/"), b,
    e.connect + e.read + e.write + e.timeout))
end
EOF
t0=$(date +%s)
(while :; do
  echo "$(( $(date +%s) - t0 ))s:$(kubectl get pods -l "$FN_LABEL=cpu" -o jsonpath='{range .items[*]}{.metadata.deletionTimestamp}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | awk '$1 == "True" && NF == 1' | wc -l)"
  sleep 2
done) >"$TMP/inst" 2>/dev/null &
SAMPLER=$!
w=$(in_node wrk -t2 -c20 -d30s --timeout 30s --latency -s "$TMP/count.lua" "$U" 2>&1) || true
kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=""
rps=$(awk '/Requests\/sec/{print $2}' <<<"$w"); p50=$(awk '/^ +50%/{print $2}' <<<"$w"); p99=$(awk '/^ +99%/{print $2}' <<<"$w")
sum=$(grep '^summary' <<<"$w" | cut -d' ' -f2-)
echo "| **20 connections, 30 s, CPU-heavy** (wrk -t2 -c20, maxScale 4, targetConcurrency 1) | $rps req/s, p50 $p50, p99 $p99; $sum; ready instances every 2 s: $(tr '\n' ' ' <"$TMP/inst") | 0 errors |"
down
fi

# ---- without the pool ------------------------------------------------------
up 0
cold_starts 0 "$TMP/cold-nopool"
echo "| **cold start from zero, no pool** (--function-pool-size 0: a new pod, then /init), $RUNS runs | $(pcts "$TMP/cold-nopool") | p50 ≤ 350 ms |"
down
echo
echo "Published cold starts for scale: Knative 1–2 s (scale from zero, new pod), Fission ~100 ms (pool), OpenFaaS seconds (scale from zero)."
