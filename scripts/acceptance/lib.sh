# Shared helpers of the acceptance scripts (course format, ACCEPTANCE.md §5–6).
# Every [PASS] is decided from the output of a command that was just run and
# printed under [RUN]/[EXIT]/[OUTPUT]; nothing is asserted from fixed text.
# Usage: source scripts/acceptance/lib.sh; acc_begin NAME; ...; acc_end
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${BIN:-$ROOT/build/bin}
MKCTL="$BIN/mkctl"
ACC_PASS=0
ACC_FAIL=0
ACC_OUT=""    # output of the last acc_run
ACC_RC=0      # exit code of the last acc_run
ACC_OWN_CLUSTER=""

acc_begin() { echo "[BEGIN] $1 ($(date -u +%FT%TZ))"; }
acc_step() { echo "[STEP] $*"; }
# acc_run CMD...: runs it, prints [RUN] [EXIT] [OUTPUT]; output in ACC_OUT.
acc_run() {
  echo "[RUN] $*"
  ACC_OUT=$("$@" 2>&1)
  ACC_RC=$?
  echo "[EXIT] $ACC_RC"
  if [ -n "$ACC_OUT" ]; then
    while IFS= read -r line; do echo "[OUTPUT] $line"; done <<<"$ACC_OUT"
  fi
  return 0
}
acc_pass() { echo "[PASS] $*"; ACC_PASS=$((ACC_PASS + 1)); }
# SKIP / LIMITED / PARTIAL always state the reason; they do not fail the script.
acc_skip() { echo "[SKIP] $*"; }
acc_limited() { echo "[LIMITED] $*"; }
acc_partial() { echo "[PARTIAL] $*"; }
acc_fail() { echo "[FAIL] $*"; ACC_FAIL=$((ACC_FAIL + 1)); }
# acc_check DESCRIPTION TEST...: PASS when the test command succeeds.
acc_check() {
  local what=$1; shift
  if "$@"; then acc_pass "$what"; else acc_fail "$what"; fi
}
# acc_expect DESCRIPTION REGEX: PASS when the last output matches (grep -E).
acc_expect() {
  if [ "$ACC_RC" -eq 0 ] && grep -Eq -- "$2" <<<"$ACC_OUT"; then acc_pass "$1"; else acc_fail "$1 (wanted /$2/, exit $ACC_RC)"; fi
}
# acc_poll SECONDS DESCRIPTION REGEX CMD...: re-runs CMD until its output
# matches or the deadline passes; prints only the last attempt.
acc_poll() {
  local secs=$1 what=$2 re=$3; shift 3
  local deadline=$((SECONDS + secs)) out rc
  while :; do
    out=$("$@" 2>&1); rc=$?
    if [ $rc -eq 0 ] && grep -Eq -- "$re" <<<"$out"; then break; fi
    [ $SECONDS -ge $deadline ] && break
    sleep 0.2
  done
  acc_run "$@"
  acc_expect "$what" "$re"
}

# Uses the cluster in $KUBECONFIG, or starts a private single-node one
# (minik8s up in a temp dir) that acc_end removes again.
acc_cluster() {
  if [ -n "${KUBECONFIG:-}" ] && "$MKCTL" get nodes >/dev/null 2>&1; then
    echo "[STEP] using the cluster in KUBECONFIG=$KUBECONFIG"
    return 0
  fi
  ACC_OWN_CLUSTER=$(mktemp -d /tmp/minik8s-acc-XXXXXX)
  echo "[STEP] starting a private single-node cluster in $ACC_OWN_CLUSTER"
  "$BIN/minik8s" up --data-dir "$ACC_OWN_CLUSTER" --listen 127.0.0.1:0 --kubelet-listen 127.0.0.1:0 >"$ACC_OWN_CLUSTER.log" 2>&1 &
  echo $! >"$ACC_OWN_CLUSTER.pid"
  local deadline=$((SECONDS + 120))
  until [ -f "$ACC_OWN_CLUSTER/kubeconfig" ] && KUBECONFIG="$ACC_OWN_CLUSTER/kubeconfig" "$MKCTL" get nodes 2>/dev/null | grep -q " Ready"; do
    if ! kill -0 "$(cat "$ACC_OWN_CLUSTER.pid")" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "[FAIL] the cluster did not come up; log:"; sed 's/^/[OUTPUT] /' "$ACC_OWN_CLUSTER.log"
      acc_teardown_cluster; exit 1
    fi
    sleep 0.2
  done
  export KUBECONFIG="$ACC_OWN_CLUSTER/kubeconfig"
}
# --- multi-node (scripts/cluster.sh) ---------------------------------------
# acc_multinode [N]: uses the running cluster — $KUBECONFIG when it answers
# with >= N Ready nodes, else the cluster.sh cluster in $MK_CLUSTER_DIR
# (default .cluster/) — or, when there is none (or ACC_FRESH_CLUSTER=1),
# brings up its own N-node cluster with a private prefix, subnet and dir,
# which acc_end / acc_teardown_cluster takes down again.
# Sets ACC_NODES (node names, node 1 first) and exports KUBECONFIG and the
# MK_CLUSTER_* variables so `acc_on_node I CMD…` (cluster.sh exec) works.
CLUSTER_SH=$ROOT/scripts/cluster.sh
# shared_cluster_use / shared_ns_enter / shared_ns_leave (ctest's shared cluster)
. "$ROOT/test/e2e/cluster_lib.sh"
ACC_CL_OWN=""
ACC_NODES=()
acc_ready_nodes() { kubectl get nodes --no-headers 2>/dev/null | grep -c " Ready"; }
ACC_NS=default
ACC_NS_KCFG=""
acc_multinode() {
  local want=${1:-3}
  if [ -n "${MK_E2E_SHARED_CLUSTER:-}" ]; then
    # ctest's shared cluster (test/e2e/shared_cluster.sh): this script works
    # in a namespace of its own, the current namespace of a private
    # kubeconfig copy; acc_end deletes it and leaves the cluster up.
    shared_cluster_use "$MK_E2E_SHARED_CLUSTER"
    if [ "$(KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig acc_ready_nodes)" -lt "$want" ]; then
      acc_fail "the shared cluster in $MK_CLUSTER_DIR has fewer than $want Ready nodes"; acc_end; exit 1
    fi
    ACC_NS=acc-$(basename "$0" .sh | tr '_' '-')
    ACC_NS_KCFG=$(mktemp /tmp/minik8s-acc-kubeconfig.XXXXXX)
    shared_ns_enter "$ACC_NS" "$ACC_NS_KCFG" || { acc_fail "create namespace $ACC_NS"; acc_end; exit 1; }
    echo "[STEP] using the shared test cluster in $MK_CLUSTER_DIR (prefix $MK_CLUSTER_PREFIX), namespace $ACC_NS"
    mapfile -t ACC_NODES < <(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort -V)
    return 0
  fi
  export MK_CLUSTER_DIR=${MK_CLUSTER_DIR:-$ROOT/.cluster}
  if [ "${ACC_FRESH_CLUSTER:-0}" != 1 ] && [ -n "${KUBECONFIG:-}" ] && [ "$(acc_ready_nodes)" -ge "$want" ]; then
    echo "[STEP] using the cluster in KUBECONFIG=$KUBECONFIG"
  elif [ "${ACC_FRESH_CLUSTER:-0}" != 1 ] && [ -f "$MK_CLUSTER_DIR/kubeconfig" ] &&
    [ "$(KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig acc_ready_nodes)" -ge "$want" ]; then
    export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
    export MK_CLUSTER_PREFIX=$(sed -n 's/^prefix=//p' "$MK_CLUSTER_DIR/state" 2>/dev/null | tail -n1)
    export MK_CLUSTER_SUBNET=$(sed -n 's/^subnet=//p' "$MK_CLUSTER_DIR/state" 2>/dev/null | tail -n1)
    echo "[STEP] using the running cluster.sh cluster in $MK_CLUSTER_DIR"
  else
    export MK_CLUSTER_PREFIX=mka$(($$ % 100000))
    export MK_CLUSTER_SUBNET=10.97.$(($$ % 200 + 20)).0/24
    export MK_CLUSTER_DIR=$(mktemp -d /tmp/minik8s-acc-cluster.XXXXXX)/cluster
    export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
    ACC_CL_OWN=1
    # One multi-node cluster at a time on this machine (run_all.sh holds the lock for its children).
    if [ "${ACC_LOCK_HELD:-0}" != 1 ]; then
      exec 9>/tmp/mk-cluster.lock
      acc_step "waiting for /tmp/mk-cluster.lock (one multi-node cluster at a time)"
      flock -w 1800 9 || { acc_fail "no cluster lock within 30 min"; acc_end; exit 1; }
    fi
    acc_step "no running cluster: bringing up $want nodes (scripts/cluster.sh up $want, prefix $MK_CLUSTER_PREFIX)"
    acc_run env BIN="$BIN" "$CLUSTER_SH" up "$want"
    if [ "$ACC_RC" -ne 0 ]; then acc_fail "cluster.sh up $want"; acc_end; exit 1; fi
  fi
  mapfile -t ACC_NODES < <(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort -V)
}
# acc_on_node I|NAME|outside CMD...: CMD in that node's network namespace.
acc_on_node() { local n=$1; shift; "$CLUSTER_SH" exec "$n" -- "$@"; }
# acc_node_ip NAME: the node's InternalIP.
acc_node_ip() { kubectl get node "$1" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}'; }

acc_teardown_cluster() {
  if [ -n "$ACC_NS_KCFG" ]; then
    echo "[CLEANUP] kubectl delete namespace $ACC_NS (the shared cluster stays up)"
    shared_ns_leave "$ACC_NS"
    rm -f "$ACC_NS_KCFG"
    ACC_NS_KCFG=""
  fi
  if [ -n "$ACC_CL_OWN" ]; then
    echo "[CLEANUP] scripts/cluster.sh down (the cluster this script brought up)"
    "$CLUSTER_SH" down >/dev/null 2>&1 || echo "[CLEANUP] cluster.sh down reported a problem"
    rm -rf "$(dirname "$MK_CLUSTER_DIR")"
    ACC_CL_OWN=""
  fi
  [ -n "$ACC_OWN_CLUSTER" ] || return 0
  local pid; pid=$(cat "$ACC_OWN_CLUSTER.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  "$BIN/minik8s" down --data-dir "$ACC_OWN_CLUSTER" >/dev/null 2>&1
  rm -f "$ACC_OWN_CLUSTER.pid" "$ACC_OWN_CLUSTER.log"
  ACC_OWN_CLUSTER=""
}
acc_end() {
  acc_loop_stop
  echo "[CLEANUP] done"
  acc_teardown_cluster
  echo "[END] pass=$ACC_PASS fail=$ACC_FAIL"
  [ "$ACC_FAIL" -eq 0 ]
}

# acc_web_pod NAME NODE LABELS: a busybox httpd pod on NODE (spec.nodeName)
# answering GET / on port 8080 with "NAME on NODE (IP)". LABELS: "k: v, k2: v2".
acc_web_pod() {
  kubectl apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: {$3}}
spec:
  nodeName: $2
  containers:
  - name: web
    image: busybox:1.36
    command: [sh, -c, 'mkdir -p /www && echo "$1 on $2 (\$(hostname -i))" > /www/index.html && exec httpd -f -p 8080 -h /www']
    ports: [{containerPort: 8080, name: http}]
    # Ready (and so in the Service's endpoints) only once httpd answers.
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
EOF2
}
# acc_pod_get POD URL: HTTP GET from inside POD (busybox wget, bounded).
acc_pod_get() { kubectl exec "$1" -- timeout 5 wget -q -O - "$2"; }

# --- request loops and fault drills (07_fault_tolerance.sh; any script) ----
# acc_loop_start NAME NODE URL [REGEX]: from NODE's network namespace
# (cluster.sh exec), one `curl --max-time 2 URL` every ~100 ms until
# acc_loop_stop; a request counts as ok when curl succeeds and its body
# matches REGEX (default: any). One line per request in $ACC_LOOP_DIR/NAME:
# "<epoch seconds> ok" or "<epoch seconds> FAIL <curl's message or body>".
ACC_LOOP_DIR=""
ACC_LOOP_PIDS=()
acc_loop_start() {
  local name=$1 node=$2 url=$3 re=${4:-.}
  [ -n "$ACC_LOOP_DIR" ] || ACC_LOOP_DIR=$(mktemp -d /tmp/minik8s-acc-loops.XXXXXX)
  rm -f "$ACC_LOOP_DIR/stop"
  "$CLUSTER_SH" exec "$node" -- bash -c '
    while [ ! -e "$0" ]; do
      if out=$(curl -sS --max-time 2 "$1" 2>&1) && [[ "$out" =~ $2 ]]; then echo "$EPOCHREALTIME ok"
      else echo "$EPOCHREALTIME FAIL ${out//$'"'\\n'"'/ }"; fi
      sleep 0.1
    done' "$ACC_LOOP_DIR/stop" "$url" "$re" >"$ACC_LOOP_DIR/$name" 2>&1 &
  ACC_LOOP_PIDS+=($!)
  echo "[STEP] request loop '$name': every ~100 ms from $node: curl $url (pid $!)"
}
# acc_loop_stop: stops every loop (stop file, then SIGTERM by PID after 5 s).
acc_loop_stop() {
  [ ${#ACC_LOOP_PIDS[@]} -gt 0 ] || return 0
  touch "$ACC_LOOP_DIR/stop"
  local p
  for p in "${ACC_LOOP_PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  ACC_LOOP_PIDS=()
}
# acc_loop_counts NAME [FROM [TO]]: "<n> requests, <ok> ok, <failed> failed"
# over the requests made between the epoch times FROM and TO (default: all).
acc_loop_counts() {
  awk -v from="${2:-0}" -v to="${3:-1e18}" '$1 >= from && $1 <= to { if ($2 == "ok") ok++; else bad++ }
    END { printf "%d requests, %d ok, %d failed\n", ok + bad, ok, bad }' "$ACC_LOOP_DIR/$1"
}
# acc_loop_failures NAME: the failed requests' lines (first 10).
acc_loop_failures() { grep -v ' ok$' "$ACC_LOOP_DIR/$1" | head -n 10; }
# acc_drill_env: the cluster.sh variables (MK_CLUSTER_DIR, _PREFIX, _SUBNET)
# of the cluster in $KUBECONFIG when that kubeconfig sits in a cluster.sh
# directory; fails when the cluster is not a cluster.sh one (drills need it).
acc_drill_env() {
  local d
  # The shared cluster's dir (acc_multinode set it; KUBECONFIG is a private
  # copy elsewhere), else the dir of the cluster.sh kubeconfig in use.
  if [ -n "$ACC_NS_KCFG" ]; then d=$MK_CLUSTER_DIR; else d=$(dirname "${KUBECONFIG:-/nonexistent}"); fi
  [ -f "$d/state" ] && [ -f "$d/server.cmd" ] || return 1
  export MK_CLUSTER_DIR=$d
  export MK_CLUSTER_PREFIX=$(sed -n 's/^prefix=//p' "$d/state" | tail -n1)
  export MK_CLUSTER_SUBNET=$(sed -n 's/^subnet=//p' "$d/state" | tail -n1)
}
# acc_server_flag FLAG DEFAULT: the value of a `minik8s server` flag the
# cluster.sh cluster runs with (from its recorded command line), or DEFAULT.
acc_server_flag() {
  local v
  v=$(tr '\0' '\n' <"$MK_CLUSTER_DIR/server.cmd" 2>/dev/null | grep -A1 -x -- "$1" | sed -n 2p)
  echo "${v:-$2}"
}
