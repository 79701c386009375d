#!/usr/bin/env bash
# e2e of the model application (issue 14, examples/serverless/app/README.md)
# on the 3-node cluster: the document pipeline's four python3-ml Functions in
# minik8s.io/python-ml-runtime:1 (numpy, Pillow, scikit-learn, tesseract),
# on inputs make_samples.py renders, so the answers are known:
# - the functions chained through the gateway (client.py chain): the page's
#   OCR text holds every expected word and the summariser's keywords are
#   real words of it; the digit image takes the fallback and is read as 7;
#   instances run the ML image; cold (first request: scale from zero and, on
#   a node that lacks it, the image import) and warm (median of 5) latency
#   per document printed;
# - when the workflow executor is in the tree (src/serverless/
#   workflow_controller.cc): the Workflow docpipe over POST
#   /workflows/<ns>/docpipe, both branches, the steps of each run;
# - when the fileChange watcher is in the tree (src/agent/file_triggers.cc):
#   a PNG dropped into a watched directory on node 1 runs the workflow
#   (Trigger with includeContent) to the same answer.
# On ctest's shared cluster (MK_E2E_SHARED_CLUSTER) in a namespace of its
# own, else on a private cluster (cluster lock; taken down on exit).
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BIN=${BIN:-$ROOT/build/bin}
export MK_CLUSTER_PREFIX=${MK_CLUSTER_PREFIX:-mkd$(($$ % 100000))}
export MK_CLUSTER_SUBNET=${MK_CLUSTER_SUBNET:-10.98.$(($$ % 200 + 20)).0/24}
TMP=$(mktemp -d /tmp/minik8s-model-app-e2e.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
CL=$ROOT/scripts/cluster.sh
APP=$ROOT/examples/serverless/app
export MKCTL=$BIN/mkctl
PASSED=0
FAILED=0
DROP=""
cleanup() {
  # The Trigger first: while it exists the node's agent recreates its directory.
  [ -n "$DROP" ] && kubectl delete trigger docpipe-drop --ignore-not-found >/dev/null 2>&1
  e2e_cluster_down
  [ -n "$DROP" ] && rm -rf "$DROP"
  rm -rf "$TMP"
}
trap cleanup EXIT
. "$ROOT/test/e2e/check.sh"
. "$ROOT/test/e2e/cluster_lib.sh"
FN_LABEL=serverless.minik8s.io/function
FNS="doc-preprocess doc-ocr doc-summarise doc-digit"

start=$SECONDS
e2e_cluster_up model-app

expect "make_samples.py renders the page and the digit (host Pillow + DejaVu)" "wrote" \
  /usr/bin/python3 "$APP/make_samples.py" "$TMP/samples"
expect "deploy.sh creates the four python3-ml Functions" "doc-digit" "$APP/deploy.sh"
expect "they are runtime python3-ml" "^python3-ml python3-ml python3-ml python3-ml $" \
  sh -c "for f in $FNS; do kubectl get function \$f -o jsonpath='{.spec.runtime} '; done"
eventually 30 "each has a URL" "^4$" sh -c "for f in $FNS; do $MKCTL fn url \$f; done | grep -c /functions/"
GW=$("$MKCTL" fn url doc-ocr | sed 's|/functions/.*||')
NSP=$("$MKCTL" fn url doc-ocr | sed 's|.*/functions/\([^/]*\)/.*|\1|')
echo "  gateway $GW, namespace $NSP"

# check_page FILE / check_digit FILE: the answers make_samples.py promised.
check_page() {
  /usr/bin/python3 - "$1" "$TMP/samples/expected.json" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want = json.load(open(sys.argv[2]))["page"]
bad = []
for r in lines:
    text = r["ocrText"].lower()
    missing = [w for w in want["words"] if w not in text]
    if missing: bad.append("OCR missed %s in %r" % (missing, r["ocrText"][:300]))
    res = r["result"]
    if res.get("kind") != "text": bad.append("kind %r, not text: %s" % (res.get("kind"), res))
    kw = res.get("keywords", [])
    if not kw or any(k not in text for k in kw): bad.append("keywords %s not all words of the text" % kw)
    if "pipeline" not in kw or "functions" not in kw: bad.append("keywords %s lack pipeline/functions" % kw)
    if not res.get("summary"): bad.append("no summary")
print("bad: " + "; ".join(bad) if bad else "ok %d words, keywords %s" % (lines[0]["result"]["words"], lines[0]["result"]["keywords"]))
PY
}
check_digit() {
  /usr/bin/python3 - "$1" "$TMP/samples/expected.json" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want = json.load(open(sys.argv[2]))["digit"]
bad = [r["result"] for r in lines if r["result"].get("kind") != "digit" or r["result"].get("digit") != want["digit"]]
print("bad: %s" % bad if bad else "ok digit %d" % want["digit"])
PY
}
# median of the "ms" of the lines of FILE
median_ms() { /usr/bin/python3 -c 'import json,sys,statistics; print(round(statistics.median(json.loads(l)["ms"] for l in open(sys.argv[1]) if l.strip())))' "$1"; }

# --- the functions through the gateway ----------------------------------
expect "cold: the page through preprocess → ocr → summarise" '"path": \["doc-preprocess", "doc-ocr", "doc-summarise"\]' \
  sh -c "/usr/bin/python3 '$APP/client.py' chain '$GW' '$NSP' '$TMP/samples/page.json' | tee '$TMP/page-cold'"
expect "the page's OCR text has every expected word; keywords from it; a summary" "^ok " check_page "$TMP/page-cold"
expect "cold: the digit through preprocess → ocr → digit (too few words)" '"path": \["doc-preprocess", "doc-ocr", "doc-digit"\]' \
  sh -c "/usr/bin/python3 '$APP/client.py' chain '$GW' '$NSP' '$TMP/samples/digit.json' | tee '$TMP/digit-cold'"
expect "the digit is recognised as 7 (SVC trained on sklearn's digits)" "^ok digit 7$" check_digit "$TMP/digit-cold"
expect "the instances run minik8s.io/python-ml-runtime:1" "^minik8s.io/python-ml-runtime:1$" \
  sh -c "kubectl get pods -l $FN_LABEL -o jsonpath='{range .items[*]}{.spec.containers[0].image}{\"\\n\"}{end}' | sort -u"
for i in 1 2 3 4 5; do
  /usr/bin/python3 "$APP/client.py" chain "$GW" "$NSP" "$TMP/samples/page.json" >>"$TMP/page-warm" || true
  /usr/bin/python3 "$APP/client.py" chain "$GW" "$NSP" "$TMP/samples/digit.json" >>"$TMP/digit-warm" || true
done
expect "warm: 5 more pages, the same answers" "^ok " check_page "$TMP/page-warm"
expect "warm: 5 more digits, the same answers" "^ok digit 7$" check_digit "$TMP/digit-warm"
echo "  latency (functions chained by the client), page: cold $(median_ms "$TMP/page-cold") ms, warm median $(median_ms "$TMP/page-warm") ms;" \
  "digit: cold $(median_ms "$TMP/digit-cold") ms, warm median $(median_ms "$TMP/digit-warm") ms"
steps_ms() { tail -n1 "$1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["stepsMs"])'; }
echo "  steps ms (preprocess, ocr, summarise|digit): page cold $(steps_ms "$TMP/page-cold"), warm $(steps_ms "$TMP/page-warm");" \
  "digit cold $(steps_ms "$TMP/digit-cold"), warm $(steps_ms "$TMP/digit-warm")"

# Bad input: an error naming it, not a crash (the instance keeps serving).
post_status() { curl -sS --max-time 60 -o "$TMP/bad" -w '%{http_code} ' -H 'Content-Type: application/json' -d "$2" "$GW/functions/$NSP/$1"; cat "$TMP/bad"; }
expect "no image → 500 BadInput" '^500 .*"error": *"BadInput".*no image' post_status doc-preprocess '{"name": "x"}'
expect "not base64 → 500 BadInput" '^500 .*"error": *"BadInput".*not base64' post_status doc-preprocess '{"image": "***"}'
expect "not an image → 500 BadInput" '^500 .*"error": *"BadInput".*not an image' post_status doc-preprocess '{"image": "aGVsbG8="}'
expect "doc-preprocess still answers a good page" '"angle": 2.5' sh -c \
  "curl -sS --max-time 60 -H 'Content-Type: application/json' --data @'$TMP/samples/page.json' '$GW/functions/$NSP/doc-preprocess'"

# Cold again, the image now on the nodes: the Functions deleted and made anew.
redeploy() {
  expect "the Functions deleted" "deleted" sh -c "for f in $FNS; do $MKCTL fn delete \$f; done"
  eventually 60 "their instances gone" "^0$" sh -c "kubectl get pods -l $FN_LABEL --no-headers 2>/dev/null | wc -l"
  expect "deploy.sh creates them again" "doc-digit" "$APP/deploy.sh"
  eventually 30 "each has a URL" "^4$" sh -c "for f in $FNS; do $MKCTL fn url \$f; done | grep -c /functions/"
}
redeploy
expect "cold, the image present: the page through the new instances" '"path": \["doc-preprocess", "doc-ocr", "doc-summarise"\]' \
  sh -c "/usr/bin/python3 '$APP/client.py' chain '$GW' '$NSP' '$TMP/samples/page.json' | tee '$TMP/page-cold2'"
expect "the same answers" "^ok " check_page "$TMP/page-cold2"
echo "  cold page with the image on the nodes: $(median_ms "$TMP/page-cold2") ms, steps $(steps_ms "$TMP/page-cold2")"

# --- the Workflow ---------------------------------------------------------
if [ -f "$ROOT/src/serverless/workflow_controller.cc" ]; then
  expect "the Workflow docpipe applies" "docpipe" "$MKCTL" apply -f "$APP/workflow.yaml"
  redeploy  # the first page below meets cold instances (the image on the nodes)
  for doc in page digit; do
    expect "POST /workflows/$NSP/docpipe with the $doc" '"path": \["docpipe"\]' \
      sh -c "/usr/bin/python3 '$APP/client.py' workflow '$GW' '$NSP' '$TMP/samples/$doc.json' | tee '$TMP/$doc-wf'"
  done
  expect "the workflow's page answer: the keywords and summary" "^ok " check_page "$TMP/page-wf"
  expect "the workflow's digit answer: 7" "^ok digit 7$" check_digit "$TMP/digit-wf"
  for i in 1 2 3 4 5; do
    /usr/bin/python3 "$APP/client.py" workflow "$GW" "$NSP" "$TMP/samples/page.json" >>"$TMP/page-wf-warm" || true
    /usr/bin/python3 "$APP/client.py" workflow "$GW" "$NSP" "$TMP/samples/digit.json" >>"$TMP/digit-wf-warm" || true
  done
  expect "warm workflow runs: the same digit" "^ok digit 7$" check_digit "$TMP/digit-wf-warm"
  echo "  latency (POST /workflows), cold (image on the nodes): page $(median_ms "$TMP/page-wf") ms, then digit $(median_ms "$TMP/digit-wf") ms (doc-digit cold);" \
    "warm: page median $(median_ms "$TMP/page-wf-warm") ms, digit median $(median_ms "$TMP/digit-wf-warm") ms"
  expect "the runs' steps show both branches (Summarise and Digit)" "Digit(.|\n)*Summarise|Summarise(.|\n)*Digit" \
    sh -c "kubectl get workflowruns -o jsonpath='{range .items[*]}{range .status.steps[*]}{.state} {end}{\"\\n\"}{end}'"
else
  echo "  (no workflow executor in this tree: the Workflow part is not run)"
fi

# --- a file dropped on node 1 ------------------------------------------
if [ -f "$ROOT/src/agent/file_triggers.cc" ] && [ -f "$ROOT/src/serverless/workflow_controller.cc" ]; then
  DROP=/tmp/minik8s-docs-$MK_CLUSTER_PREFIX-$NSP
  mkdir -p "$DROP"
  expect "the fileChange Trigger on $N1 applies" "docpipe-drop" sh -c \
    "sed -e 's|^    node: node1\$|    node: $N1|' -e 's|^    path: .*|    path: $DROP|' '$APP/trigger.yaml' | '$MKCTL' apply -f -"
  runs() { kubectl get workflowruns --no-headers 2>/dev/null | wc -l; }
  # Written under another name, then renamed into place (IN_MOVED_TO). The
  # agent may not watch the directory yet right after the apply: dropped
  # again every 5 s until a run appears (60 s at most).
  before=$(runs) deadline=$((SECONDS + 60)) started=0
  while [ $SECONDS -lt $deadline ] && [ $started = 0 ]; do
    cp "$TMP/samples/page.png" "$DROP/.page.tmp" && mv -f "$DROP/.page.tmp" "$DROP/page-$SECONDS.png"
    for _ in $(seq 25); do
      [ "$(runs)" -gt "$before" ] && { started=1; break; }
      sleep 0.2
    done
  done
  if [ $started = 1 ]; then pass "a page.png dropped into $DROP on $N1 starts a WorkflowRun"
  else fail "a page.png dropped into $DROP on $N1 starts a WorkflowRun (none in 60 s)"; fi
  eventually 120 "that run succeeds with the page's keywords" "pipeline" sh -c \
    "kubectl get workflowruns -o json | /usr/bin/python3 -c 'import json,sys; print([r[\"status\"].get(\"output\") for r in json.load(sys.stdin)[\"items\"] if r.get(\"status\",{}).get(\"phase\")==\"Succeeded\" and r[\"spec\"][\"input\"].get(\"type\")==\"fileChange\"])'"
else
  echo "  (no fileChange watcher in this tree: the Trigger part is not run)"
fi
echo "  model app e2e: $((SECONDS - start)) s"
finish
