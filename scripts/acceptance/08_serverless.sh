#!/usr/bin/env bash
# 8.2 of ACCEPTANCE.md (serverless, issue 13; docs/serverless.md) on the
# 3-node cluster:
# - a function uploaded as one .py file and one uploaded as a .zip package
#   (two modules), both with `mkctl fn create … --idle 30`; listed with
#   `mkctl fn get` and stock `kubectl get functions`;
# - the first call with no instance is answered: 0 pods of the function, an
#   invoke (held by the gateway while an instance starts), the answer, then
#   the new instance;
# - invoked over HTTP with parameters (JSON body and query string): two
#   inputs give two outputs;
# - each function in its own pods: the X-Instance header of every answer
#   names a pod labelled with that function only; no pod is in both
#   functions' lists;
# - a 20-connection wrk load test (wrk -t2 -c20 -d20s, a Lua script counting
#   the X-Instance header of every real response): 0 errors, several
#   instances served, the per-instance counts and the instances over time;
# - scale to zero: the .zip function, idle since its last call, loses its
#   last instance after the 30 s idle period (timestamps of every sample);
#   it runs beside the load test, which keeps the script short;
# - update: a new revision; the same input gives a different result;
# - delete: the Function and its pods go; invoking again exits non-zero
#   with the 404 message.
# Uses the running cluster (KUBECONFIG or .cluster/), else brings up (and
# removes) a private 3-node one. Re-runnable: removes what it created.
source "$(dirname "$0")/../../test/e2e/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
acc_begin "08_serverless"
acc_multinode 3
TMPD=$(mktemp -d /tmp/minik8s-acc-sl.XXXXXX)
SAMPLER=""
cleanup() {
  [ -n "$SAMPLER" ] && { kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null; }
  "$MKCTL" fn delete acc-hello >/dev/null 2>&1
  "$MKCTL" fn delete acc-zip >/dev/null 2>&1
  acc_teardown_cluster
  rm -rf "$TMPD"
}
trap cleanup EXIT
FN_LABEL=serverless.minik8s.io/function
NSNOW=$(kubectl config view --minify -o jsonpath='{..namespace}' 2>/dev/null); NSNOW=${NSNOW:-default}
"$MKCTL" fn delete acc-hello >/dev/null 2>&1
"$MKCTL" fn delete acc-zip >/dev/null 2>&1
acc_poll 60 "nothing left from an earlier run (no Function, no instance pod)" "^0 0$" sh -c \
  "echo \$(kubectl get functions --no-headers 2>/dev/null | grep -c '^acc-') \$(kubectl get pods -l '$FN_LABEL in (acc-hello,acc-zip)' --no-headers 2>/dev/null | wc -l)"

# Live instances of a function: pods with its label and no deletionTimestamp.
live() {
  kubectl get pods -l "$FN_LABEL=$1" -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}' 2>/dev/null |
    awk 'NF == 1 { print $1 }'
}
live_count() { live "$1" | grep -c .; }
# The invoke URL (mkctl fn url), and an HTTP call to it: curl -i, total time.
url_of() { "$MKCTL" fn url "$1"; }
call() {  # call NAME [curl args...]: prints status line, X-Instance, body, time
  local u; u=$(url_of "$1") || return 1; shift
  curl -sS -i --max-time 60 "$@" -w '\ntime_total %{time_total} s\n' "$u" | tr -d '\r' |
    grep -Eiv '^(date|content-length|connection|server):'
}
inst_of() { grep -i '^x-instance:' <<<"$1" | head -n1 | sed 's/^[^:]*: *//'; }

acc_step "the function code: a .py file (one module) and a .zip package (two modules)"
mkdir -p "$TMPD/pkg"
cat >"$TMPD/hello.py" <<'EOF'
# acc-hello, revision 1: the answer depends on the input (name, n).
import os, socket

def handler(event, context):
    name = event.get("name", "world")
    n = int(event.get("n", 1))
    return {"greeting": "hello, %s" % name, "square": n * n,
            "function": context.function_name, "revision": context.revision,
            "pod": socket.gethostname(), "version": "v1"}
EOF
cat >"$TMPD/hello_v2.py" <<'EOF'
# acc-hello, revision 2: a different greeting, and the cube instead of the square.
import socket

def handler(event, context):
    name = event.get("name", "world")
    n = int(event.get("n", 1))
    return {"greeting": "HELLO %s!" % name.upper(), "cube": n * n * n,
            "function": context.function_name, "revision": context.revision,
            "pod": socket.gethostname(), "version": "v2"}
EOF
cat >"$TMPD/pkg/main.py" <<'EOF'
# acc-zip: main.handler uses the second module of the package (textstats).
import textstats

def handler(event, context):
    text = event.get("text", "")
    return {"words": textstats.words(text), "reversed": textstats.reverse(text),
            "function": context.function_name}
EOF
cat >"$TMPD/pkg/textstats.py" <<'EOF'
# The package's second module.
def words(text):
    return len(text.split())

def reverse(text):
    return text[::-1]
EOF
(cd "$TMPD/pkg" && /usr/bin/python3 -m zipfile -c ../textpkg.zip main.py textstats.py)
acc_run cat "$TMPD/hello.py"
acc_run /usr/bin/python3 -m zipfile -l "$TMPD/textpkg.zip"
acc_expect "the zip holds two modules, main.py and textstats.py" "textstats\.py"

acc_step "upload: mkctl fn create from the .py file and from the .zip (idle period 30 s)"
acc_run "$MKCTL" fn create acc-hello -f "$TMPD/hello.py" --handler hello.handler --idle 30 --max-scale 5
acc_check "mkctl fn create acc-hello -f hello.py" test "$ACC_RC" -eq 0
acc_run "$MKCTL" fn create acc-zip -f "$TMPD/textpkg.zip" --handler main.handler --idle 30 --max-scale 2
acc_check "mkctl fn create acc-zip -f textpkg.zip" test "$ACC_RC" -eq 0
acc_run kubectl get function acc-hello acc-zip -o jsonpath='{range .items[*]}{.metadata.name} code {.spec.code.hash} {.spec.code.filename} handler {.spec.handler} idle {.spec.scale.scaleToZeroAfterSeconds}s{"\n"}{end}'
acc_expect "both stored in the code store: content hash, file name, idle 30 s" "acc-zip code sha256:[0-9a-f]{64} textpkg\.zip handler main\.handler idle 30s"

acc_step "list: mkctl fn get and kubectl get functions"
acc_poll 30 "mkctl fn get lists both functions" "acc-zip" sh -c "'$MKCTL' fn get | grep -E '^(NAME|acc-)'"
acc_run kubectl get functions
acc_expect "kubectl get functions: NAME READY URL AGE, both listed" "^acc-zip +[0-9]+/[0-9]+ +http://"
acc_check "kubectl get functions lists acc-hello too" grep -Eq "^acc-hello +[0-9]+/[0-9]+ +http://[^ ]+/functions/$NSNOW/acc-hello" <<<"$ACC_OUT"
acc_run "$MKCTL" fn url acc-hello
acc_expect "mkctl fn url prints the gateway URL" "^http://[^ ]+/functions/$NSNOW/acc-hello$"
acc_step "the warm pool: unspecialised runtime pods (label serverless.minik8s.io/pool=true) on every node"
# Ready pool pods, and the nodes that have none: "<ready> ready, <n> nodes without".
pool_state() {
  local pods nodes
  pods=$(kubectl get pods -l serverless.minik8s.io/pool=true -o jsonpath='{range .items[*]}{.spec.nodeName} {.status.conditions[?(@.type=="Ready")].status} {.metadata.deletionTimestamp}{"\n"}{end}' | awk 'NF == 2 && $2 == "True" { print $1 }')
  nodes=$(kubectl get nodes --no-headers | awk '$2 == "Ready" { print $1 }')
  echo "$(grep -c . <<<"$pods") ready, $(comm -23 <(sort <<<"$nodes") <(sort -u <<<"$pods") | grep -c .) nodes without"
  kubectl get pods -l serverless.minik8s.io/pool=true -o wide
}
acc_poll 120 "a Ready pool pod on every Ready node" "^[1-9][0-9]* ready, 0 nodes without" pool_state

acc_step "first call with no instance: it is held until an instance is ready, then answered"
acc_run kubectl get pods -l "$FN_LABEL=acc-hello" -o wide
acc_check "acc-hello has 0 instances before the first call" test "$(live_count acc-hello)" -eq 0
acc_run call acc-hello -H 'Content-Type: application/json' -d '{"name": "first", "n": 4}'
acc_expect "the first call is answered (200) with the handler's result" "^HTTP/1\.1 200"
acc_check "the answer is the handler's ('hello, first', square 16)" grep -q '"greeting": *"hello, first".*"square": *16' <<<"$ACC_OUT"
FIRST=$(inst_of "$ACC_OUT")
acc_check "the answer names the instance that served it (X-Instance: $FIRST)" test -n "$FIRST"
acc_poll 20 "the new instance is a pod of acc-hello (label $FN_LABEL=acc-hello)" "^$FIRST +1/1 +Running" \
  kubectl get pods -l "$FN_LABEL=acc-hello" -o wide -L serverless.minik8s.io/revision

acc_step "invoke with parameters: two inputs, two outputs (JSON body; query string)"
acc_run "$MKCTL" fn invoke acc-hello -d '{"name": "alice", "n": 3}'
acc_expect "mkctl fn invoke -d {name: alice, n: 3} → hello, alice / 9" '"greeting": *"hello, alice".*"square": *9'
OUT_A=$ACC_OUT
acc_run "$MKCTL" fn invoke acc-hello -q name=bob -q n=7
acc_expect "mkctl fn invoke -q name=bob -q n=7 → hello, bob / 49" '"greeting": *"hello, bob".*"square": *49'
acc_check "the two inputs gave different outputs" test "$OUT_A" != "$ACC_OUT"
acc_run sh -c "curl -sS --max-time 60 \"\$('$MKCTL' fn url acc-hello)?name=carol&n=5\""
acc_expect "plain HTTP GET with a query string → hello, carol / 25" '"greeting": *"hello, carol".*"square": *25'
acc_run call acc-zip -H 'Content-Type: application/json' -d '{"text": "to be or not to be"}'
acc_expect "the zip function (cold start) answers: 6 words, reversed text" '"words": *6.*"reversed": *"eb ot ton ro eb ot"'
ZIP1=$(inst_of "$ACC_OUT")
acc_run "$MKCTL" fn invoke acc-zip -d '{"text": "serverless on minik8s"}'
acc_expect "another text → 3 words" '"words": *3.*"reversed": *"s8kinim no sselrevres"'
ZIP_LAST=$(date +%s)
echo "[STEP] acc-zip's last call at $(date -u -d "@$ZIP_LAST" +%T) UTC; from here it is idle"

acc_step "each function in its own pods"
acc_poll 20 "acc-zip's instance $ZIP1 carries acc-zip's label" "^$ZIP1 " kubectl get pods -l "$FN_LABEL=acc-zip" --no-headers
acc_run kubectl get pods -l "$FN_LABEL in (acc-hello,acc-zip)" -o wide -L "$FN_LABEL,serverless.minik8s.io/revision,serverless.minik8s.io/pool"
HELLO_PODS=$(live acc-hello | sort); ZIP_PODS=$(live acc-zip | sort)
acc_check "acc-hello's instance ($FIRST) is labelled acc-hello" grep -qx "$FIRST" <<<"$HELLO_PODS"
acc_check "acc-zip's instance ($ZIP1) is labelled acc-zip" grep -qx "$ZIP1" <<<"$ZIP_PODS"
acc_run bash -c "comm -12 <(kubectl get pods -l '$FN_LABEL=acc-hello' -o name | sort) <(kubectl get pods -l '$FN_LABEL=acc-zip' -o name | sort) | wc -l"
acc_expect "no pod is in both functions' lists" "^0$"
acc_run kubectl get pods -l "$FN_LABEL in (acc-hello,acc-zip)" -o jsonpath='{range .items[*]}{.metadata.name} owner={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} pool={.metadata.labels.serverless\.minik8s\.io/pool}{"\n"}{end}'
acc_check "every instance is owned by its Function and is no longer a pool pod" \
  bash -c "! grep -Ev '^[^ ]+ owner=Function/acc-(hello|zip) pool=$' <<<\"\$1\"" _ "$ACC_OUT"

acc_step "scale to zero of acc-zip (idle 30 s) sampled in the background while the load test runs"
# One line per second: UTC time, seconds since acc-zip's last call, its live instances.
(while :; do
  n=$(live_count acc-zip); echo "$(date -u +%T) +$(($(date +%s) - ZIP_LAST))s acc-zip=$n acc-hello=$(live_count acc-hello)"
  sleep 1
done) >"$TMPD/samples" 2>&1 &
SAMPLER=$!

acc_step "load test: wrk -t2 -c20 -d20s, POST to acc-hello; the Lua script counts the X-Instance header of every response"
cat >"$TMPD/count.lua" <<'EOF'
-- POSTs {"name": "wrk", "n": 2}; counts responses per X-Instance header and
-- per status code in each thread, summed over the threads in done().
wrk.method = "POST"
wrk.body = '{"name": "wrk", "n": 2}'
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {}; statuses = {} end
function response(status, headers, body)
  local inst = "(no X-Instance header)"
  for k, v in pairs(headers) do if string.lower(k) == "x-instance" then inst = v end end
  counts[inst] = (counts[inst] or 0) + 1
  statuses[tostring(status)] = (statuses[tostring(status)] or 0) + 1
end
function done(summary, latency, requests)
  local c, s = {}, {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do c[k] = (c[k] or 0) + v end
    for k, v in pairs(t:get("statuses")) do s[k] = (s[k] or 0) + v end
  end
  for k, v in pairs(c) do io.write(string.format("instance %s %d\n", k, v)) end
  for k, v in pairs(s) do io.write(string.format("status %s %d\n", k, v)) end
  local e = summary.errors
  io.write(string.format("errors connect %d read %d write %d status %d timeout %d\n",
    e.connect, e.read, e.write, e.status, e.timeout))
end
EOF
acc_run cat "$TMPD/count.lua"
HELLO_URL=$(url_of acc-hello)
acc_run wrk -t2 -c20 -d20s --timeout 30s --latency -s "$TMPD/count.lua" "$HELLO_URL"
acc_check "wrk ran (exit 0) and reported its requests" grep -Eq "requests in [0-9.]+s" <<<"$ACC_OUT"
WRK=$TMPD/wrk.out
echo "$ACC_OUT" >"$WRK"
acc_check "0 errors: no socket error, no timeout, no non-2xx status" \
  bash -c 'grep -q "^errors connect 0 read 0 write 0 status 0 timeout 0$" "$1" && ! grep -q "Socket errors\|Non-2xx" "$1" && ! grep -Ev "^status 200 " "$1" | grep -q "^status "' _ "$WRK"
acc_run sh -c "grep '^instance ' '$WRK' | sort -k3 -rn"
NINST=$(grep -c '^instance ' "$WRK")
acc_check "more than one instance served the load ($NINST instances, counts above from the responses' X-Instance)" test "$NINST" -gt 1
acc_check "every response named an instance" sh -c '! grep -q "^instance (no X-Instance header)" "$1"' _ "$WRK"
acc_step "acc-hello's instances over time during the load (the background samples)"
acc_run grep -E 'acc-hello=' "$TMPD/samples"
acc_check "instances went up under load (max $(grep -Eo 'acc-hello=[0-9]+' "$TMPD/samples" | cut -d= -f2 | sort -n | tail -n1))" \
  test "$(grep -Eo 'acc-hello=[0-9]+' "$TMPD/samples" | cut -d= -f2 | sort -n | tail -n1)" -gt 1
acc_run bash -c "grep '^instance ' '$WRK' | awk '{print \$2}' | while read -r p; do kubectl get pod \"\$p\" -o jsonpath='{.metadata.name} {.metadata.labels.serverless\\.minik8s\\.io/function} {.spec.nodeName}{\"\\n\"}' 2>/dev/null || echo \"\$p (already scaled down)\"; done"
acc_check "the answering pods are acc-hello's (or already scaled down), on these nodes" \
  bash -c '! grep -Ev "^[^ ]+ acc-hello [^ ]+$|already scaled down" <<<"$1" | grep -q .' _ "$ACC_OUT"

acc_step "update acc-hello to revision 2: the same input gives a different result"
acc_run kubectl get function acc-hello -o jsonpath='revision {.status.revision} code {.spec.code.hash}'
REV1=$(kubectl get function acc-hello -o jsonpath='{.status.revision}')
acc_run "$MKCTL" fn invoke acc-hello -d '{"name": "dave", "n": 3}'
acc_expect "before the update: hello, dave / square 9 / v1" '"greeting": *"hello, dave".*"square": *9.*"version": *"v1"'
BEFORE=$ACC_OUT
acc_run "$MKCTL" fn update acc-hello -f "$TMPD/hello_v2.py"
acc_check "mkctl fn update acc-hello -f hello_v2.py" test "$ACC_RC" -eq 0
acc_poll 30 "a new revision in the status" "^revision [0-9]+$" sh -c \
  "r=\$(kubectl get function acc-hello -o jsonpath='{.status.revision}'); [ \"\$r\" != '$REV1' ] && echo \"revision \$r\""
acc_run "$MKCTL" fn invoke acc-hello -d '{"name": "dave", "n": 3}'
acc_expect "after the update: HELLO DAVE! / cube 27 / v2" '"greeting": *"HELLO DAVE!".*"cube": *27.*"version": *"v2"'
acc_check "the result differs from before the update" test "$BEFORE" != "$ACC_OUT"
REV2=$(kubectl get function acc-hello -o jsonpath='{.status.revision}')
acc_poll 60 "the old revision's ($REV1) instances are removed; acc-hello's pods carry revision $REV2 only" "^revisions: $REV2$" bash -c \
  "echo revisions: \$(kubectl get pods -l '$FN_LABEL=acc-hello' -o jsonpath='{range .items[*]}{.metadata.labels.serverless\\.minik8s\\.io/revision}{\"\\n\"}{end}' | sort -u | paste -sd' ')"

acc_step "scale to zero: acc-zip, idle since $(date -u -d "@$ZIP_LAST" +%T) UTC (idle period 30 s)"
deadline=$((ZIP_LAST + 90))
until grep -q 'acc-zip=0 ' "$TMPD/samples"; do
  [ "$(date +%s)" -ge "$deadline" ] && break
  sleep 1
done
kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null; SAMPLER=""
acc_run grep -Eo '^[0-9:]+ \+[0-9]+s acc-zip=[0-9]+' "$TMPD/samples"
ZERO_AT=$(awk '/acc-zip=0( |$)/ { sub(/^\+/, "", $2); sub(/s$/, "", $2); print $2; exit }' "$TMPD/samples")
acc_check "acc-zip went from 1 instance to 0 ${ZERO_AT:-never} s after its last call (idle period 30 s)" \
  test -n "$ZERO_AT" -a "${ZERO_AT:-0}" -ge 30 -a "${ZERO_AT:-0}" -le 75
acc_run kubectl get function acc-zip -o jsonpath='{.metadata.name} ready={.status.readyInstances} desired={.status.desiredInstances}'
acc_expect "acc-zip's status: 0 ready, 0 desired" "ready=0 desired=0"
acc_run kubectl get pods -l "$FN_LABEL=acc-zip"
acc_run "$MKCTL" fn invoke acc-zip -d '{"text": "back from zero"}'
acc_expect "invoked again from zero: answered (3 words)" '"words": *3'

acc_step "delete acc-hello: the Function and its pods go, then invoking fails with a 404"
acc_run "$MKCTL" fn delete acc-hello
acc_check "mkctl fn delete acc-hello" test "$ACC_RC" -eq 0
acc_poll 60 "acc-hello's pods are gone" "^0$" sh -c "kubectl get pods -l '$FN_LABEL=acc-hello' --no-headers 2>/dev/null | wc -l"
acc_run kubectl get functions
acc_check "kubectl get functions no longer lists acc-hello" bash -c '! grep -q "^acc-hello " <<<"$1"' _ "$ACC_OUT"
acc_run "$MKCTL" fn invoke acc-hello -d '{"name": "eve"}'
acc_check "mkctl fn invoke acc-hello exits non-zero (exit $ACC_RC)" test "$ACC_RC" -ne 0
acc_check "… with a clear message: 404 / not found" grep -Eqi '404|not found' <<<"$ACC_OUT"
acc_run curl -sS -i --max-time 10 "$HELLO_URL" -H 'Content-Type: application/json' -d '{"name": "eve"}'
acc_check "the gateway answers 404 with a Status body" bash -c 'grep -q "^HTTP/1.1 404" <<<"$1" && grep -q "\"kind\": *\"Status\"" <<<"$1"' _ "$ACC_OUT"

acc_step "cleanup"
acc_run "$MKCTL" fn delete acc-zip
acc_poll 60 "acc-zip's pods are gone" "^0$" sh -c "kubectl get pods -l '$FN_LABEL=acc-zip' --no-headers 2>/dev/null | wc -l"
trap - EXIT
rm -rf "$TMPD"
acc_end
