#!/usr/bin/env bash
# Workflow and trigger benchmark (issue 14, docs/workflows.md). Prints
# Markdown rows:
# - executor overhead per step: a chain of 10 no-op Tasks (noop.py) on a warm
#   instance, BENCH_WF_RUNS runs (default 20, after 2 warm-up runs) through
#   the gateway's POST /workflows (synchronous); per run, from the run's own
#   status: (completionTime − startTime − Σ functionMs) / 10, where functionMs
#   is the gateway's X-Duration-Ms of each Task (the runtime's own time or the
#   gateway → instance round trip) — what the executor adds per step
#   (interpreter, two status writes, the HTTP call to the gateway);
# - Parallel fan-out of 10 branches (one no-op Task each; the function takes
#   10 requests at once on one warm instance): the run's duration, and that
#   minus the slowest branch's functionMs;
# - trigger latency: a fileChange trigger on node 1 calling stamp.py (warm):
#   the file is renamed into the watched directory at T0 (date +%s.%N just
#   before mv), the function logs time.time() when it starts; latency =
#   start − T0 (same machine, same clock), BENCH_WF_FILES files (default 20),
#   one at a time.
# A single-node scripts/cluster.sh cluster (unique prefix and subnet, the
# cluster lock held, removed on exit). Baseline beside each: a warm invoke of
# the same function through the gateway.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export BIN=${BIN:-$BUILD/bin}
for b in minik8s mkctl; do
  [ -x "$BIN/$b" ] || { echo "workflow_bench: $BIN/$b is missing (cmake --build $BUILD --target $b)" >&2; exit 2; }
done
export MK_CLUSTER_PREFIX=mkw$(($$ % 10000))
export MK_CLUSTER_SUBNET=10.96.$(($$ % 200 + 20)).0/24
TMP=$(mktemp -d /tmp/minik8s-wf-bench.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
CL=$ROOT/scripts/cluster.sh
MKCTL=$BIN/mkctl
EX=$ROOT/examples/serverless/workflows
CLIENT=$ROOT/test/e2e/serverless_client.py
RUNS=${BENCH_WF_RUNS:-20}
FILES=${BENCH_WF_FILES:-20}
DROP=$TMP/drop
cleanup() {
  set +e  # (a failing step must not keep the cluster up: it holds the lock)
  "$CL" down >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT
exec 9>/tmp/mk-cluster.lock
flock 9

source "$(dirname "$0")/lib.sh"
ready() { [ "$(kubectl get function "$1" -o jsonpath='{.status.readyInstances}')" -ge 1 ] 2>/dev/null; }
in_node() { "$CL" exec 1 -- "$@"; }

"$CL" up 1 >"$TMP/up.log" 2>&1 || { tail -n 30 "$TMP/up.log" >&2; exit 1; }
N1=$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}')
NS=default

# Functions: noop (chain; one request at a time is enough), noopfan (10 at once
# on one instance), stamp (trigger target); each with a warm instance.
"$MKCTL" fn create noop -f "$EX/noop.py" --min-scale 1 --idle 600 >/dev/null
"$MKCTL" fn create noopfan -f "$EX/noop.py" --min-scale 1 --max-scale 1 --concurrency 10 --idle 600 >/dev/null
"$MKCTL" fn create stamp -f "$EX/stamp.py" --min-scale 1 --idle 600 >/dev/null
for f in noop noopfan stamp; do wait_for 180 "a ready instance of $f" ready "$f"; done
GW=$("$MKCTL" fn url noop | sed 's|/functions/.*||')

# The chain: Step1 → … → Step10, each a Task of noop.
{
  echo "apiVersion: serverless.minik8s.io/v1"
  echo "kind: Workflow"
  echo "metadata: {name: chain}"
  echo "spec:"
  echo "  startAt: Step1"
  echo "  states:"
  for i in $(seq 1 10); do
    if [ "$i" -lt 10 ]; then echo "    Step$i: {type: Task, function: noop, next: Step$((i + 1))}"
    else echo "    Step$i: {type: Task, function: noop, end: true}"; fi
  done
} >"$TMP/chain.yaml"
# The fan-out: one Parallel state with 10 branches of one noopfan Task.
{
  echo "apiVersion: serverless.minik8s.io/v1"
  echo "kind: Workflow"
  echo "metadata: {name: fan10}"
  echo "spec:"
  echo "  startAt: Fan"
  echo "  states:"
  echo "    Fan:"
  echo "      type: Parallel"
  echo "      end: true"
  echo "      branches:"
  for i in $(seq 0 9); do
    echo "      - {startAt: B$i, states: {B$i: {type: Task, function: noopfan, end: true}}}"
  done
} >"$TMP/fan10.yaml"
"$MKCTL" wf create -f "$TMP/chain.yaml" >/dev/null
"$MKCTL" wf create -f "$TMP/fan10.yaml" >/dev/null

# run_sync WORKFLOW: POST /workflows synchronously from node 1; prints the run name.
run_sync() {
  in_node curl -sS -o /dev/null -D - --max-time 120 -X POST -H 'Content-Type: application/json' -d '{"i": 0}' \
    "$GW/workflows/$NS/$1" | tr -d '\r' | awk 'tolower($1) == "x-workflow-run:" { print $2 }'
}
# stats RUN...: per run "total_ms sum_function_ms max_function_ms steps" from the runs' status.
stats() {
  for r in "$@"; do kubectl get workflowrun "$r" -o json; done | /usr/bin/python3 -c '
import datetime, json, sys
dec = json.JSONDecoder()
text = sys.stdin.read()
pos = 0
def t(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
while True:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos >= len(text):
        break
    obj, pos = dec.raw_decode(text, pos)
    st = obj["status"]
    if st.get("phase") != "Succeeded":
        print("run %s ended %s" % (obj["metadata"]["name"], st.get("phase")), file=sys.stderr)
        sys.exit(1)
    total = (t(st["completionTime"]) - t(st["startTime"])) * 1000
    fms = [s.get("functionMs", 0) for s in st["steps"] if s.get("type") == "Task" and s.get("status") == "Succeeded"]
    print("%.3f %.3f %.3f %d" % (total, sum(fms), max(fms) if fms else 0, len(fms)))'
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), $(date -u +%F), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| measurement | result | target |"
echo "| --- | --- | --- |"

# Baseline: one warm invoke of noop through the gateway (client side, node 1).
in_node /usr/bin/python3 "$CLIENT" time "$("$MKCTL" fn url noop)" --n 20 >/dev/null
base=$(in_node /usr/bin/python3 "$CLIENT" time "$("$MKCTL" fn url noop)" --n 100)
b50=$(/usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["p50_ms"], d["p99_ms"])' <<<"$base")
echo "| Baseline: warm invoke of noop through the gateway (client side), 100 sequential | p50 ${b50% *} ms, p99 ${b50#* } ms | |"

# ---- chain of 10 -------------------------------------------------------------
run_sync chain >/dev/null; run_sync chain >/dev/null  # warm-up
names=()
: >"$TMP/e2e"
for i in $(seq 1 "$RUNS"); do
  t0=$(date +%s%N)
  r=$(run_sync chain)
  t1=$(date +%s%N)
  [ -n "$r" ] || { echo "workflow_bench: a chain run gave no X-Workflow-Run" >&2; exit 1; }
  names+=("$r")
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e6 }' >>"$TMP/e2e"
done
stats "${names[@]}" >"$TMP/chain.stats"
awk '$4 != 10 { bad = 1 } END { exit bad }' "$TMP/chain.stats" || { echo "workflow_bench: a chain run did not record 10 Tasks" >&2; exit 1; }
awk '{ printf "%.3f\n", ($1 - $2) / $4 }' "$TMP/chain.stats" >"$TMP/chain.per-step"
awk '{ print $1 }' "$TMP/chain.stats" >"$TMP/chain.total"
awk '{ printf "%.3f\n", $2 / $4 }' "$TMP/chain.stats" >"$TMP/chain.fn"
echo "| 10-step chain of no-op Tasks: run duration (startTime → completionTime), $RUNS runs | $(pcts "$TMP/chain.total" 2) | |"
echo "| … the function's own time per step (X-Duration-Ms) | $(pcts "$TMP/chain.fn" 2) | |"
echo "| **executor overhead per step** ((duration − Σ functionMs) / 10) | $(pcts "$TMP/chain.per-step" 2) | p50 ≤ 2 ms |"
echo "| … end to end at the client (POST /workflows, synchronous, node 1) | $(pcts "$TMP/e2e" 2) | |"

# ---- Parallel fan-out of 10 -------------------------------------------------------
run_sync fan10 >/dev/null; run_sync fan10 >/dev/null
names=()
for i in $(seq 1 "$RUNS"); do
  r=$(run_sync fan10)
  [ -n "$r" ] || { echo "workflow_bench: a fan10 run gave no X-Workflow-Run" >&2; exit 1; }
  names+=("$r")
done
stats "${names[@]}" >"$TMP/fan.stats"
awk '{ print $1 }' "$TMP/fan.stats" >"$TMP/fan.total"
awk '{ printf "%.3f\n", $1 - $3 }' "$TMP/fan.stats" >"$TMP/fan.over"
echo "| Parallel fan-out, 10 branches of one no-op Task (one instance, 10 at once): run duration, $RUNS runs | $(pcts "$TMP/fan.total" 2) | |"
echo "| … minus the slowest branch's functionMs | $(pcts "$TMP/fan.over" 2) | |"

# ---- trigger latency ---------------------------------------------------------------
cat >"$TMP/trigger.yaml" <<EOF
apiVersion: serverless.minik8s.io/v1
kind: Trigger
metadata: {name: drop}
spec:
  target: {function: stamp}
  fileChange: {node: $N1, path: $DROP, events: [created], pattern: "*.txt"}
EOF
kubectl apply -f "$TMP/trigger.yaml" >/dev/null
wait_for 60 "the agent to create $DROP" test -d "$DROP"
# stamp_of NAME: the time stamp.py logged for the file NAME (empty until then).
stamp_of() { "$MKCTL" fn logs stamp 2>/dev/null | grep -o "STAMP [0-9.]* fileChange created $1\$" | awk '{ print $2 }' | head -n1; }
# Files until one is seen (the inotify watch may follow the mkdir by a moment).
deadline=$((SECONDS + 60)); fired=""
while [ -z "$fired" ]; do
  n=warm-$(date +%s%N).txt
  echo x >"$DROP/$n.tmp" && mv "$DROP/$n.tmp" "$DROP/$n"
  for _ in $(seq 1 20); do [ -n "$(stamp_of "$n")" ] && { fired=1; break; }; sleep 0.1; done
  [ -n "$fired" ] || [ $SECONDS -lt $deadline ] || { echo "workflow_bench: the file trigger never fired" >&2; exit 1; }
done
: >"$TMP/trigger.lat"
for i in $(seq 1 "$FILES"); do
  n=lat-$i.txt
  echo "file $i" >"$DROP/$n.tmp"
  t0=$(date +%s.%N)
  mv "$DROP/$n.tmp" "$DROP/$n"
  s=""
  for _ in $(seq 1 100); do s=$(stamp_of "$n"); [ -n "$s" ] && break; sleep 0.1; done
  [ -n "$s" ] || { echo "workflow_bench: no call for $n within 10 s" >&2; exit 1; }
  awk -v a="$t0" -v b="$s" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }' >>"$TMP/trigger.lat"
done
echo "| **trigger latency**: file renamed into the watched dir → function started (fileChange, warm instance), $FILES files | $(pcts "$TMP/trigger.lat" 2) | p50 ≤ 100 ms |"
