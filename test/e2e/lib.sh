# Shared helpers for the shell e2e tests. Source it; call start_server.
# Every test gets its own temp dir and server on a free loopback port; the
# server (started here, by PID) is stopped and the dir removed on exit, also
# on failure.
set -uo pipefail
E2E_FAILED=0
E2E_PASSED=0
BIN=${BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/bin}
E2E_DIR=$(mktemp -d /tmp/minik8s-e2e.XXXXXX)
SERVER_PID=""

e2e_cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$E2E_DIR"
}
trap e2e_cleanup EXIT

# start_server: runs `minik8s server` on port 0; sets SERVER_URL and KUBECONFIG.
start_server() {
  "$BIN/minik8s" server --data-dir "$E2E_DIR/data" --listen 127.0.0.1:0 "$@" \
    >"$E2E_DIR/server.log" 2>&1 &
  SERVER_PID=$!
  local deadline=$((SECONDS + 20))
  while :; do
    if [ -f "$E2E_DIR/data/kubeconfig" ]; then
      SERVER_URL=$(sed -n 's/^ *server: *//p' "$E2E_DIR/data/kubeconfig" | head -n1)
      if [ -n "$SERVER_URL" ] && curl -fsS --cacert "$E2E_DIR/data/pki/ca.crt" "$SERVER_URL/readyz" >/dev/null 2>&1; then break; fi
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "server exited:"; cat "$E2E_DIR/server.log"; exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then echo "server not ready"; cat "$E2E_DIR/server.log"; exit 1; fi
    sleep 0.05
  done
  export KUBECONFIG="$E2E_DIR/data/kubeconfig"
  export SERVER_URL
  # The server speaks HTTPS with its own CA: every later curl verifies with it.
  export CURL_CA_BUNDLE="$E2E_DIR/data/pki/ca.crt"
}

# api_curl ARGS...: curl with the client certificate and key of $KUBECONFIG
# (the server's: system:admin); the CA is $CURL_CA_BUNDLE (start_server).
# Authentication is on, so every curl to the API server goes through this.
api_curl() {
  local cred="$E2E_DIR/api-cred.$BASHPID"
  sed -n 's/^ *client-certificate-data: *//p' "$KUBECONFIG" | head -n1 | base64 -d >"$cred.crt"
  (umask 077; sed -n 's/^ *client-key-data: *//p' "$KUBECONFIG" | head -n1 | base64 -d >"$cred.key")
  curl --cert "$cred.crt" --key "$cred.key" "$@"
}
export -f api_curl
export E2E_DIR

# check NAME COMMAND... : runs the command, prints PASS/FAIL with its output on failure.
check() {
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then
    echo "[PASS] $name"; E2E_PASSED=$((E2E_PASSED + 1))
  else
    echo "[FAIL] $name"; echo "$out" | sed 's/^/    /' | head -n 40; E2E_FAILED=$((E2E_FAILED + 1))
  fi
}

# expect_out NAME PATTERN COMMAND... : command succeeds and its output matches the ERE.
expect_out() {
  local name=$1 pattern=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ $rc -eq 0 ] && grep -Eq -- "$pattern" <<<"$out"; then
    echo "[PASS] $name"; E2E_PASSED=$((E2E_PASSED + 1))
  else
    echo "[FAIL] $name (exit $rc, wanted /$pattern/)"; echo "$out" | sed 's/^/    /' | head -n 40
    E2E_FAILED=$((E2E_FAILED + 1))
  fi
}

# expect_fail NAME PATTERN COMMAND... : command fails and its output matches the ERE.
expect_fail() {
  local name=$1 pattern=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ $rc -ne 0 ] && grep -Eq -- "$pattern" <<<"$out"; then
    echo "[PASS] $name"; E2E_PASSED=$((E2E_PASSED + 1))
  else
    echo "[FAIL] $name (exit $rc, wanted failure matching /$pattern/)"; echo "$out" | sed 's/^/    /' | head -n 40
    E2E_FAILED=$((E2E_FAILED + 1))
  fi
}

# poll SECONDS COMMAND... : retries the command until it succeeds or the deadline passes.
poll() {
  local limit=$1; shift
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.1
  done
}

e2e_finish() {
  echo "$E2E_PASSED passed, $E2E_FAILED failed"
  [ "$E2E_FAILED" -eq 0 ]
}

# start_agent NODE [flags...]: runs `minik8s agent` for NODE against the server
# started by start_server, with its own managed containerd under
# $E2E_DIR/agent; waits for the Node to be Ready. Sets AGENT_PID. The agent,
# its containerd, pods, cgroups and CNI state are removed on exit
# (`minik8s down`). Images are built once into $MINIK8S_IMAGE_CACHE.
AGENT_PID=""
AGENT_NODE=""
export MINIK8S_IMAGE_CACHE=${MINIK8S_IMAGE_CACHE:-/var/tmp/minik8s-image-cache}
start_agent() {
  AGENT_NODE=$1; shift
  # The node's own credential (CN system:node:NODE) from the server's CA:
  # the Node authorizer and RBAC govern the agent, as in a real cluster.
  "$BIN/minik8s" kubeconfig node "$AGENT_NODE" --data-dir "$E2E_DIR/data" -o "$E2E_DIR/node.kubeconfig" ||
    { echo "minik8s kubeconfig node failed"; exit 1; }
  "$BIN/minik8s" agent --server "$SERVER_URL" --kubeconfig "$E2E_DIR/node.kubeconfig" \
    --data-dir "$E2E_DIR/agent" --node-name "$AGENT_NODE" \
    --node-ip 127.0.0.1 --listen 127.0.0.1:0 --image-cache "$MINIK8S_IMAGE_CACHE" "$@" \
    >>"$E2E_DIR/agent.log" 2>&1 &
  AGENT_PID=$!
  local deadline=$((SECONDS + 180))
  until "$BIN/mkctl" get node "$AGENT_NODE" --no-headers 2>/dev/null | grep -Eq "^$AGENT_NODE +Ready"; do
    if ! kill -0 "$AGENT_PID" 2>/dev/null; then echo "agent exited:"; tail -n 50 "$E2E_DIR/agent.log"; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then echo "node not Ready"; tail -n 50 "$E2E_DIR/agent.log"; exit 1; fi
    sleep 0.1
  done
}
stop_agent() {
  [ -n "$AGENT_PID" ] || return 0
  kill -TERM "$AGENT_PID" 2>/dev/null
  for _ in $(seq 1 200); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$AGENT_PID" 2>/dev/null
  AGENT_PID=""
}
e2e_cleanup_node() {
  stop_agent
  if [ -n "$AGENT_NODE" ] && [ -d "$E2E_DIR/agent" ]; then
    "$BIN/minik8s" down --data-dir "$E2E_DIR/agent" >>"$E2E_DIR/down.log" 2>&1 || { echo "minik8s down failed:"; cat "$E2E_DIR/down.log"; }
  fi
}

# start_up NODE: `minik8s up` (server + agent + private containerd) in
# $E2E_DIR/up with node NODE, waits for "minik8s up: ready"; sets UP, UP_PID,
# KUBECONFIG. On exit the up process is stopped by PID and `minik8s down`
# removes everything it created.
UP=""
UP_PID=""
start_up() {
  UP=$E2E_DIR/up
  NODE=$1
  "$BIN/minik8s" up --data-dir "$UP" --listen 127.0.0.1:0 --kubelet-listen 127.0.0.1:0 --node-name "$NODE" \
    --image-cache "$MINIK8S_IMAGE_CACHE" >"$E2E_DIR/up.log" 2>&1 &
  UP_PID=$!
  local deadline=$((SECONDS + 240))
  until grep -q "minik8s up: ready" "$E2E_DIR/up.log"; do
    if ! kill -0 "$UP_PID" 2>/dev/null; then echo "minik8s up exited:"; tail -n 60 "$E2E_DIR/up.log"; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then echo "minik8s up not ready:"; tail -n 60 "$E2E_DIR/up.log"; exit 1; fi
    sleep 0.1
  done
  export KUBECONFIG=$UP/kubeconfig
}
up_cleanup() {
  if [ -n "$UP_PID" ] && kill -0 "$UP_PID" 2>/dev/null; then
    kill -TERM "$UP_PID"; for _ in $(seq 1 200); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$UP_PID" 2>/dev/null
  fi
  [ -n "$UP" ] && [ -d "$UP" ] && "$BIN/minik8s" down --data-dir "$UP" >>"$E2E_DIR/down.log" 2>&1
}
trap 'up_cleanup; e2e_cleanup_node; e2e_cleanup' EXIT

# jp POD JSONPATH: kubectl jsonpath of a pod.
jp() { kubectl get pod "$1" -o jsonpath="$2"; }
