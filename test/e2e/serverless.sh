#!/usr/bin/env bash
# e2e of the serverless platform (issue 13, docs/serverless.md) on the 3-node
# cluster — what scripts/acceptance/08_serverless.sh does not cover:
# - a handler exception → 500 JSON with type, message and traceback (and
#   `mkctl fn invoke` exits non-zero printing it);
# - spec.timeoutSeconds 1 with a handler sleeping 3 s → 504;
# - a handler calling os._exit → that request 502 naming the instance; the
#   instance is replaced; a request loop to the same function meanwhile sees
#   only 200s;
# - a body that is not JSON → 400; a 7 MiB body → 413;
# - 1,000 invocations with random bodies (valid and invalid JSON, scalars,
#   empty, GET with query strings, 7 MiB ones, slow clients holding half a
#   request): only the right statuses; the server's (the gateway's process)
#   open fds and RSS before and after, bounded;
# - an agent restart (kill -9, scripts/cluster.sh restart-agent) on an
#   instance's node: the instances keep running (same pod UIDs, container
#   IDs, restart counts) and answer;
# - a server restart (kill -9, restart-server) while instances run: they are
#   adopted, not recreated (same pod names, UIDs, containers), and
#   invocations work again.
# On ctest's shared cluster (MK_E2E_SHARED_CLUSTER) in a namespace of its
# own, else on a private cluster (cluster lock; taken down on exit).
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BIN=${BIN:-$ROOT/build/bin}
export MK_CLUSTER_PREFIX=${MK_CLUSTER_PREFIX:-mks$(($$ % 100000))}
export MK_CLUSTER_SUBNET=${MK_CLUSTER_SUBNET:-10.98.$(($$ % 200 + 20)).0/24}
TMP=$(mktemp -d /tmp/minik8s-serverless-e2e.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
CL=$ROOT/scripts/cluster.sh
MKCTL=$BIN/mkctl
CLIENT=$ROOT/test/e2e/serverless_client.py
PASSED=0
FAILED=0
LOOP=""
cleanup() {
  touch "$TMP/stop" 2>/dev/null
  [ -n "$LOOP" ] && { kill "$LOOP" 2>/dev/null; wait "$LOOP" 2>/dev/null; }
  e2e_cluster_down
  rm -rf "$TMP"
}
trap cleanup EXIT
. "$ROOT/test/e2e/check.sh"
. "$ROOT/test/e2e/cluster_lib.sh"
FN_LABEL=serverless.minik8s.io/function
# Live instances of a function (no deletionTimestamp): name uid node
# containerID restartCount, sorted.
instances() {
  kubectl get pods -l "$FN_LABEL=$1" -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.uid} {.spec.nodeName} {.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount} {.metadata.deletionTimestamp}{"\n"}{end}' |
    awk 'NF == 5' | sort
}
ready_of() { kubectl get function "$1" -o jsonpath='{.status.readyInstances}'; }
url_of() { "$MKCTL" fn url "$1"; }
# post NAME BODY-FILE|-d DATA: "<status> <X-Instance>" then the body.
post() {
  local u; u=$(url_of "$1") || return 1; shift
  curl -sS --max-time 60 -D "$TMP/h" -o "$TMP/b" "$@" "$u" >/dev/null || return 1
  echo "$(head -n1 "$TMP/h" | awk '{print $2}') $(grep -i '^x-instance:' "$TMP/h" | sed 's/^[^:]*: *//' | tr -d '\r')"
  cat "$TMP/b"; echo
}
server_pid() { sed -n 's/^server=//p' "$MK_CLUSTER_DIR/state" | tail -n1; }
fds() { ls "/proc/$(server_pid)/fd" | wc -l; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$(server_pid)/status"; }

start=$SECONDS
e2e_cluster_up serverless

# --- the functions --------------------------------------------------------
cat >"$TMP/err.py" <<'EOF'
def handler(event, context):
    if event.get("fail"):
        raise ValueError("bad input %s" % event["fail"])
    return {"ok": True}
EOF
cat >"$TMP/slow.py" <<'EOF'
import time

def handler(event, context):
    time.sleep(float(event.get("sleep", 0)))
    return {"slept": event.get("sleep", 0), "remaining_ms": context.get_remaining_time_in_millis()}
EOF
cat >"$TMP/crash.py" <<'EOF'
import os, socket

def handler(event, context):
    if event.get("crash"):
        os._exit(3)
    return {"pod": socket.gethostname(), "keys": sorted(event.keys())}
EOF
expect "mkctl fn create sl-err" "sl-err" "$MKCTL" fn create sl-err -f "$TMP/err.py" --handler err.handler
expect "mkctl fn create sl-slow --timeout 1" "sl-slow" "$MKCTL" fn create sl-slow -f "$TMP/slow.py" --handler slow.handler --timeout 1
expect "mkctl fn create sl-crash --min-scale 2 --max-scale 2 (a steady 2 for the restart checks)" "sl-crash" "$MKCTL" fn create sl-crash -f "$TMP/crash.py" \
  --handler crash.handler --min-scale 2 --max-scale 2
eventually 120 "sl-crash: 2 ready instances (minScale 2)" "^2$" ready_of sl-crash
echo "  instances: $(instances sl-crash | awk '{print $1 "@" $3}' | tr '\n' ' ')"

# --- errors ---------------------------------------------------------------
expect "a handler exception → 500 with type, message and traceback" \
  '^500 (.|\n)*"error": *"ValueError"(.|\n)*bad input 42(.|\n)*"traceback": *"Traceback' post sl-err -d '{"fail": 42}'
expect_fail "mkctl fn invoke of it exits non-zero and prints the error" "ValueError.*bad input 7|bad input 7.*ValueError|500" \
  "$MKCTL" fn invoke sl-err -d '{"fail": 7}'
expect "the same function answers a good request (200)" '^200 (.|\n)*"ok": *true' post sl-err -d '{}'
expect "timeoutSeconds 1, a handler sleeping 3 s → 504" "^504 " post sl-slow -d '{"sleep": 3}'
expect "sl-slow answers within the timeout (200, the deadline visible to the handler)" '^200 (.|\n)*"remaining_ms": *[0-9]' \
  post sl-slow -d '{"sleep": 0}'
expect "a body that is not JSON → 400" "^400 " post sl-crash -H 'Content-Type: application/json' -d '{"a": '
head -c $((7 * 1024 * 1024)) /dev/zero | tr '\0' 'x' | sed 's/^/{"blob": "/; s/$/"}/' >"$TMP/huge.json"
expect "a 7 MiB body → 413 (limit 6 MiB)" "^413 " post sl-crash --data-binary "@$TMP/huge.json"
expect "the gateway still serves after the 413" '^200 ' post sl-crash -d '{}'

# --- os._exit: 502 for that request, the instance replaced, others fine ---
BEFORE=$(instances sl-crash)
/usr/bin/python3 "$CLIENT" loop "$(url_of sl-crash)" "$TMP/stop" >"$TMP/loop" 2>&1 &
LOOP=$!
eventually 20 "the request loop to sl-crash is answered" "^[0-9.]+ 200 " tail -n1 "$TMP/loop"
OUT=$(post sl-crash -d '{"crash": true}')
echo "  crash request: $(head -c 300 <<<"$OUT" | tr '\n' ' ')"
VICTIM=$(grep -Eo "$(awk '{print $1}' <<<"$BEFORE" | paste -sd'|')" <<<"$OUT" | head -n1)
if grep -q '^502 ' <<<"$OUT" && [ -n "$VICTIM" ]; then pass "os._exit → 502 naming the instance ($VICTIM)"
else fail "os._exit → 502 naming one of the instances ($(awk '{print $1}' <<<"$BEFORE" | paste -sd' '))"; fi
N0=$(grep -c . "$TMP/loop")
# Replaced: 2 ready instances again, and the victim is gone, being deleted,
# or its container was restarted.
replaced() {
  local r v
  r=$(ready_of sl-crash)
  v=$(kubectl get pod "${VICTIM:-none}" -o jsonpath='{.metadata.deletionTimestamp}|{.status.containerStatuses[0].restartCount}' 2>/dev/null) || v=gone
  echo "ready=$r victim=$v"
  [ "$r" = 2 ] || return 0
  case $v in gone | ?*'|'* | '|'[1-9]*) echo ok ;; esac
}
eventually 60 "the dead instance is replaced: 2 ready again, $VICTIM gone or its container restarted" "^ok$" replaced
eventually 30 "the loop went on after the replacement (20 more requests)" "^ok$" sh -c "[ \$(grep -c . '$TMP/loop') -ge $((N0 + 20)) ] && echo ok"
touch "$TMP/stop"; wait "$LOOP" 2>/dev/null; LOOP=""
echo "  loop: $(awk '{print $2}' "$TMP/loop" | sort | uniq -c | tr '\n' ' ')"
expect "every request of the loop (same function, meanwhile) got 200" "^[1-9][0-9]* requests, 0 failed$" \
  awk '{ n++; if ($2 != "200") bad++ } END { printf "%d requests, %d failed\n", n, bad }' "$TMP/loop"
echo "  instances now: $(instances sl-crash | awk '{print $1 "@" $3 " restarts=" $5}' | tr '\n' ' ')"

# --- 1,000 random invocations: statuses, fds, memory ------------------------
U=$(url_of sl-crash)
/usr/bin/python3 "$CLIENT" fuzz "$U" --n 50 --seed 1 --huge 0 --slow 0 >/dev/null 2>&1  # warm-up
F0=$(fds); R0=$(rss_kb)
echo "  server pid $(server_pid) before: $F0 fds, RSS $((R0 / 1024)) MB"
SEED=${SL_FUZZ_SEED:-$((RANDOM % 10000))}
/usr/bin/python3 "$CLIENT" fuzz "$U" --n 1000 --seed "$SEED" --threads 4 --huge 3 --slow 10 >"$TMP/fuzz" 2>&1
sed 's/^/  /' "$TMP/fuzz"
expect "1,000 invocations with random bodies (seed $SEED; replay: SL_FUZZ_SEED=$SEED): only 200/400/413 as fits each body" \
  "^fuzz: 0 unexpected$" cat "$TMP/fuzz"
expect "the gateway still answers after it" '^200 ' post sl-crash -d '{}'
# Descriptors are released once the connections close: poll, bounded.
eventually 20 "server fds back near the start ($F0 + 16 at most)" "^ok" sh -c \
  "n=\$(ls /proc/$(server_pid)/fd | wc -l); echo \"\$n fds\"; [ \$n -le $((F0 + 16)) ] && echo ok"
F1=$(fds); R1=$(rss_kb)
echo "  server after: $F1 fds (before $F0), RSS $((R1 / 1024)) MB (before $((R0 / 1024)) MB)"
if [ "$R1" -le $((R0 + 64 * 1024)) ]; then pass "server RSS grew by at most 64 MB ($(((R1 - R0) / 1024)) MB)"
else fail "server RSS grew by $(((R1 - R0) / 1024)) MB (> 64 MB) over 1,000 invocations"; fi

# --- agent restart: instances keep running --------------------------------
BEFORE=$(instances sl-crash)
NODE=$(head -n1 <<<"$BEFORE" | awk '{print $3}')
expect "restart-agent $NODE (kill -9, started again)" "back" "$CL" restart-agent "$NODE"
expect "the agent restart left the instances alone (same pods, UIDs, containers, restart counts)" "^same$" \
  sh -c "[ \"\$1\" = \"\$2\" ] && echo same || { echo before:; echo \"\$1\"; echo after:; echo \"\$2\"; }" _ "$BEFORE" "$(instances sl-crash)"
eventually 30 "invocations answered after the agent restart" '^200 ' post sl-crash -d '{}'

# --- server restart: instances adopted, not recreated ---------------------
BEFORE=$(instances sl-crash)
OLD=$(server_pid)
expect "restart-server (kill -9 of pid $OLD, same flags and store)" "ready again" "$CL" restart-server
eventually 60 "invocations answered after the server restart" '^200 ' post sl-crash -d '{}'
expect "the instances were adopted: same pod names, UIDs, containers, restart counts" "^same$" \
  sh -c "[ \"\$1\" = \"\$2\" ] && echo same || { echo before:; echo \"\$1\"; echo after:; echo \"\$2\"; }" _ "$BEFORE" "$(instances sl-crash)"
OUT=$(post sl-crash -d '{}' | head -n1)
if grep -Eq "^200 ($(awk '{print $1}' <<<"$BEFORE" | paste -sd'|'))$" <<<"$OUT"; then pass "answered by an adopted instance ($OUT)"
else fail "answered by an adopted instance: got '$OUT', instances $(awk '{print $1}' <<<"$BEFORE" | paste -sd' ')"; fi
expect "the Function's status after the restart: 2 ready" "^2$" ready_of sl-crash

# --- cleanup --------------------------------------------------------------
for f in sl-err sl-slow sl-crash; do "$MKCTL" fn delete "$f" >/dev/null 2>&1; done
eventually 60 "the functions' pods are gone" "^0$" sh -c \
  "kubectl get pods -l '$FN_LABEL in (sl-err,sl-slow,sl-crash)' --no-headers 2>/dev/null | wc -l"
echo "serverless e2e: $((SECONDS - start)) s"
finish
