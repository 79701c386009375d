#!/usr/bin/env bash
# 8.2 of ACCEPTANCE.md, the workflow and trigger items (issue 14;
# docs/workflows.md) on the 3-node cluster, with the examples in
# examples/serverless/workflows/ (names prefixed, so runs never collide):
# - a workflow defined in a file (classify: measure → Choice → tag-big |
#   tag-small), created with `mkctl wf create -f`, listed, drawn as a tree;
# - each function identifiable in the run's steps: FUNCTION and INSTANCE
#   columns, the instance a pod labelled with that function;
# - a branch taken both ways: a long and a short text, Big#0 in one run's
#   steps and Small#0 in the other's;
# - one function's output feeding the next: tag-big's recorded input is
#   measure's recorded output (and its answer carries measure's value);
# - Parallel and Map: fan-out to three branches, measure over a list;
# - POST /workflows/<ns>/<name> on the gateway: synchronous (200, the output,
#   X-Workflow-Run) and ?async=1 (202, the run's name);
# - a schedule trigger (@every 2s) firing at least twice: the trigger's
#   status and the function's own log lines;
# - a file-change trigger: a file dropped into the watched directory on node
#   1 reaches the function (its log names the file);
# - an objectChange trigger: a labelled ConfigMap starts a workflow run;
# - kill -9 of the server while a run is in its 3rd step, then the run
#   resumes: the steps show the finished steps once (not executed again) and
#   the interrupted one executed again (a new attempt);
# - the model app (examples/serverless/app/): a page of text and a digit
#   through the document pipeline (OCR, summariser, digit classifier) over
#   POST /workflows and from a PNG dropped into a watched directory.
# Uses the running cluster (KUBECONFIG or .cluster/), else brings up (and
# removes) a private 3-node one. Re-runnable: removes what it created.
source "$(dirname "$0")/../../test/e2e/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
acc_begin "09_workflow"
acc_multinode 3
EX=$ROOT/examples/serverless/workflows
P=accwf$(($$ % 100000))
TMPD=$(mktemp -d /tmp/minik8s-acc-wf.XXXXXX)
DROP=$TMPD/drop
FNS="measure tag-big tag-small slow stamp"
FN_LABEL=serverless.minik8s.io/function
NSNOW=$(kubectl config view --minify -o jsonpath='{..namespace}' 2>/dev/null); NSNOW=${NSNOW:-default}
# Everything this script (or an earlier, interrupted run of it) created: by prefix.
remove_ours() {
  local kind n
  for kind in triggers workflows functions; do
    for n in $(kubectl get "$kind" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' 2>/dev/null | grep -E '^accwf[0-9]+-'); do
      kubectl delete "$kind" "$n" --wait=false >/dev/null 2>&1
    done
  done
  for n in $(kubectl get configmaps -o name 2>/dev/null | grep -E '/accwf[0-9]+-'); do kubectl delete "$n" >/dev/null 2>&1; done
}
cleanup() {
  remove_ours
  acc_teardown_cluster
  rm -rf "$TMPD"
}
trap cleanup EXIT
remove_ours
acc_poll 90 "nothing left from an earlier run (no accwf* Function, Workflow, Trigger or instance pod)" "^0 0 0 0$" sh -c \
  "echo \$(kubectl get functions --no-headers 2>/dev/null | grep -c '^accwf') \$(kubectl get workflows --no-headers 2>/dev/null | grep -c '^accwf') \$(kubectl get triggers --no-headers 2>/dev/null | grep -c '^accwf') \$(kubectl get pods --no-headers 2>/dev/null | grep -c '^accwf')"

# render FILE: the example with every name prefixed ($P-…), into $TMPD.
render() {
  sed -E -e "s/^metadata: \{name: ([a-z0-9-]+)\}/metadata: {name: $P-\1}/" \
    -e "s/function: (measure|tag-big|tag-small|slow|stamp)([,} ]|$)/function: $P-\1\2/g" \
    -e "s/\{workflow: classify\}/{workflow: $P-classify}/" \
    -e "s/labelSelector: app=classify-me/labelSelector: app=$P-classify-me/" \
    "$EX/$1" >"$TMPD/$1"
}
# run_name OUTPUT: the run name in `mkctl wf run --wait`'s "… created" line.
run_name() { grep -o 'workflowrun\.serverless\.minik8s\.io/[^ ]*' <<<"$1" | head -n1 | cut -d/ -f2; }
# The run's steps as "KEY STATE FUNCTION INSTANCE ATTEMPT STATUS" lines.
steps_of() {
  kubectl get workflowrun "$1" -o json | /usr/bin/python3 -c '
import json, sys
for s in json.load(sys.stdin).get("status", {}).get("steps", []):
    print(s.get("key"), s.get("state"), s.get("function") or "-", s.get("instance") or "-", s.get("attempt"), s.get("status"))'
}

# task_instances RUN...: "RUN KEY function=F instance=POD pod-label=L" per
# Task step, L the instance pod's function label ("(gone)" once scaled down).
task_instances() {
  local r k f i l
  for r in "$@"; do
    kubectl get workflowrun "$r" -o jsonpath='{range .status.steps[?(@.type=="Task")]}{.key} {.function} {.instance}{"\n"}{end}' |
      while read -r k f i; do
        l=$(kubectl get pod "$i" -o jsonpath='{.metadata.labels.serverless\.minik8s\.io/function}' 2>/dev/null) || l="(gone)"
        echo "$r $k function=$f instance=$i pod-label=$l"
      done
  done
}
# feeds RUN FROM TO: the recorded output of step FROM and input of step TO, and whether they are equal.
feeds() {
  kubectl get workflowrun "$1" -o json | /usr/bin/python3 -c '
import json, sys
a, b = sys.argv[1], sys.argv[2]
steps = {s["key"]: s for s in json.load(sys.stdin)["status"]["steps"]}
m, t = steps[a], steps[b]
print("%s output: %s" % (a, json.dumps(m["output"], sort_keys=True)))
print("%s input:  %s" % (b, json.dumps(t["input"], sort_keys=True)))
print("%s output: %s" % (b, json.dumps(t["output"], sort_keys=True)))
print("input of %s == output of %s: %s" % (b, a, t["input"] == m["output"]))
print("%s saw value %s computed by %s" % (b, t["output"].get("sawValue"), t["output"].get("measuredBy")))' "$2" "$3"
}

acc_step "the functions (examples/serverless/workflows/*.py), one Function each"
for f in $FNS; do
  acc_run "$MKCTL" fn create "$P-$f" -f "$EX/${f//-/_}.py" --idle 120
  acc_check "mkctl fn create $P-$f -f ${f//-/_}.py" test "$ACC_RC" -eq 0
done
acc_run cat "$EX/measure.py"

acc_step "a workflow defined in a file: classify (measure → Route (Choice on \$.value) → tag-big | tag-small)"
render classify.yaml
acc_run cat "$TMPD/classify.yaml"
acc_run "$MKCTL" wf create -f "$TMPD/classify.yaml"
acc_expect "mkctl wf create -f classify.yaml" "^workflow\.serverless\.minik8s\.io/$P-classify created$"
acc_run kubectl get workflows
acc_expect "kubectl get workflows: NAME STATES START AGE" "^$P-classify +4 +Measure +"
acc_run "$MKCTL" wf describe "$P-classify"
acc_expect "mkctl wf describe draws the state tree: Measure calls $P-measure, then Route" "Measure \(Task\) function: $P-measure -> Route"
acc_check "… and the Choice's two ways (if \$.value > 10 -> Big, otherwise -> Small)" \
  bash -c 'grep -q "if \$.value > 10 -> Big" <<<"$1" && grep -q "otherwise -> Small" <<<"$1"' _ "$ACC_OUT"

acc_step "run 1: a long text (> 10 characters) takes the Big branch"
LONG="serverless workflows on minik8s"
acc_run "$MKCTL" wf run "$P-classify" -d "{\"text\": \"$LONG\"}" --wait --timeout 180s
acc_expect "the run succeeded; the output is tag-big's (tag big, value ${#LONG})" "\"tag\":\"big\".*\"value\":${#LONG}"
R1=$(run_name "$ACC_OUT")
acc_run "$MKCTL" wf describe run "$R1"
acc_expect "describe run: phase Succeeded" "^Phase: +Succeeded"
acc_check "the steps: Measure#0 ($P-measure), Route#0 (Choice), Big#0 ($P-tag-big); no Small" \
  bash -c 'grep -Eq "^ +Measure#0 +Measure +Task +$2-measure +[^ ]+ +1 +Succeeded" <<<"$1" &&
    grep -Eq "^ +Route#0 +Route +Choice" <<<"$1" && grep -Eq "^ +Big#0 +Big +Task +$2-tag-big +[^ ]+ +1 +Succeeded" <<<"$1" &&
    ! grep -q "Small#0" <<<"$1"' _ "$ACC_OUT" "$P"

acc_step "run 2: a short text takes the Small branch"
acc_run "$MKCTL" wf run "$P-classify" -d '{"text": "tiny"}' --wait --timeout 180s
acc_expect "the run succeeded; the output is tag-small's (tag small, value 4)" '"tag":"small".*"value":4'
R2=$(run_name "$ACC_OUT")
acc_run "$MKCTL" wf describe run "$R2"
acc_check "the steps: Measure#0, Route#0, Small#0 ($P-tag-small); no Big" \
  bash -c 'grep -Eq "^ +Small#0 +Small +Task +$2-tag-small +[^ ]+ +1 +Succeeded" <<<"$1" && ! grep -q "Big#0" <<<"$1"' _ "$ACC_OUT" "$P"
acc_run "$MKCTL" wf runs "$P-classify"
acc_check "mkctl wf runs lists both runs, Succeeded, 3 steps each" \
  bash -c 'grep -Eq "^$2 +[^ ]+ +Succeeded +3 " <<<"$1" && grep -Eq "^$3 +[^ ]+ +Succeeded +3 " <<<"$1"' _ "$ACC_OUT" "$R1" "$R2"

acc_step "each function identifiable: every Task step's INSTANCE is a pod of that step's FUNCTION"
acc_run task_instances "$R1" "$R2"
acc_check "4 Task steps, each instance labelled with its step's function" \
  bash -c '[ "$(grep -c " function=" <<<"$1")" -eq 4 ] && ! grep -Ev "function=([^ ]+) instance=[^ ]+ pod-label=\1$" <<<"$1" | grep -q .' _ "$ACC_OUT"

acc_step "one function's output feeds the next: tag-big's input is measure's output"
acc_run feeds "$R1" Measure#0 Big#0
acc_expect "Big#0's recorded input equals Measure#0's recorded output" "input of Big#0 == output of Measure#0: True"
acc_check "tag-big's answer carries the value measure computed (${#LONG}, by $P-measure)" grep -q "Big#0 saw value ${#LONG} computed by $P-measure" <<<"$ACC_OUT"

acc_step "Parallel: one input to three branches at once; Map: measure over a list"
render fanout.yaml
render map.yaml
acc_run "$MKCTL" wf create -f "$TMPD/fanout.yaml"
acc_run "$MKCTL" wf create -f "$TMPD/map.yaml"
acc_run "$MKCTL" wf run "$P-fanout" -d '{"text": "fan me out please"}' --wait --timeout 180s
acc_expect "fanout: \$.results holds the 3 branch outputs in branch order (measure: value 17, tag-big, tag-small), then the Pass's summary" \
  '"results":\[\{[^]]*"value":17.*"tag":"big".*"tag":"small".*"summary":\{"branches":3\}'
RF=$(run_name "$ACC_OUT")
acc_run "$MKCTL" wf describe run "$RF"
acc_check "fanout's steps: Fan#0 (Parallel) and one Task per branch (Fan#0/0/Measure#0, Fan#0/1/Big#0, Fan#0/2/Small#0)" \
  bash -c 'grep -q "Fan#0/0/Measure#0" <<<"$1" && grep -q "Fan#0/1/Big#0" <<<"$1" && grep -q "Fan#0/2/Small#0" <<<"$1"' _ "$ACC_OUT"
acc_run "$MKCTL" wf run "$P-measure-all" -d '{"docs": [{"text": "a"}, {"text": "bb bb"}, {"text": "ccc ccc ccc"}]}' --wait --timeout 180s
acc_expect "measure-all: value 1, 5, 11 for the three items, in order" '"measured":\[\{[^]]*"value":1[,}].*"value":5[,}].*"value":11[,}]'

acc_step "the gateway: POST /workflows/$NSNOW/$P-classify (synchronous), and ?async=1"
GW=$("$MKCTL" fn url "$P-measure" | sed 's|/functions/.*||')
acc_run curl -sS -i --max-time 120 -X POST -H 'Content-Type: application/json' -d '{"text": "from the gateway, a long text"}' "$GW/workflows/$NSNOW/$P-classify"
acc_check "200 with the output as the body and the run in X-Workflow-Run" \
  bash -c 'grep -q "^HTTP/1.1 200" <<<"$1" && grep -qi "^x-workflow-run: $2-classify-" <<<"$1" && grep -q "\"tag\": *\"big\"" <<<"$1"' _ "$ACC_OUT" "$P"
acc_run curl -sS -i --max-time 30 -X POST -H 'Content-Type: application/json' -d '{"text": "async"}' "$GW/workflows/$NSNOW/$P-classify?async=1"
acc_expect "?async=1: 202 and the run's name at once" "\"run\": *\"$P-classify-"
RA=$(grep -o "\"run\": *\"[^\"]*\"" <<<"$ACC_OUT" | sed 's/.*"\([^"]*\)"$/\1/')
acc_poll 120 "the async run ($RA) ends Succeeded on its own (tag small)" "Succeeded .*small" sh -c \
  "kubectl get workflowrun '$RA' -o jsonpath='{.status.phase} {.status.output.tag}'"
acc_run curl -sS -i --max-time 30 -X POST -d '{}' "$GW/workflows/$NSNOW/$P-nosuch"
acc_check "an unknown workflow: 404" grep -q "^HTTP/1.1 404" <<<"$ACC_OUT"

acc_step "a schedule trigger (@every 2s) calling $P-stamp"
render trigger-schedule.yaml
acc_run cat "$TMPD/trigger-schedule.yaml"
acc_run kubectl apply -f "$TMPD/trigger-schedule.yaml"
acc_check "kubectl apply -f trigger-schedule.yaml" test "$ACC_RC" -eq 0
acc_poll 60 "the trigger fired at least twice (status.firings ≥ 2, last result ok)" "^firings ([2-9]|[1-9][0-9]+) ok" sh -c \
  "kubectl get trigger '$P-stamp-every-2s' -o jsonpath='firings {.status.firings} {.status.lastResult.result} last {.status.lastFired} next {.status.nextFire}'"
acc_run kubectl get triggers
acc_expect "kubectl get triggers: NAME TYPE TARGET LAST FIRED FIRINGS" "^$P-stamp-every-2s +schedule +function/$P-stamp "
acc_poll 60 "the function's own log shows at least two schedule calls (STAMP <time> schedule)" "(STAMP [0-9.]+ schedule.*){2}" sh -c \
  "'$MKCTL' fn logs '$P-stamp' 2>/dev/null | grep 'STAMP .* schedule' | tr '\n' ' '"
acc_run sh -c "'$MKCTL' fn logs '$P-stamp' | grep 'STAMP .* schedule' | awk '{ print \$3 }' | head -n 5 | awk 'NR > 1 { printf \"%.1f s after the previous call\\n\", \$1 - p } { p = \$1 }'"
acc_run kubectl get events --field-selector "involvedObject.kind=Trigger,involvedObject.name=$P-stamp-every-2s"
acc_expect "an Event per firing (reason Fired)" "Fired"
acc_run kubectl delete trigger "$P-stamp-every-2s"

acc_step "a file-change trigger: a file dropped into $DROP on ${ACC_NODES[0]}"
render trigger-file.yaml
sed -i -e "s|node: node-1|node: ${ACC_NODES[0]}|" -e "s|path: /var/lib/minik8s-drop|path: $DROP|" "$TMPD/trigger-file.yaml"
acc_run cat "$TMPD/trigger-file.yaml"
acc_run kubectl apply -f "$TMPD/trigger-file.yaml"
acc_check "kubectl apply -f trigger-file.yaml" test "$ACC_RC" -eq 0
acc_poll 60 "the node's agent watches the directory (it creates it when missing)" "^directory$" sh -c "[ -d '$DROP' ] && echo directory"
# The agent may add its inotify watch just after creating the directory: a
# new file every 3 s until one is seen (each name unique, all reported).
DROPPED=""
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do
  name=dropped-$(date +%s%N).txt
  echo "dropped by 09_workflow at $(date -u +%T.%N)" >"$DROP/$name.tmp" && mv "$DROP/$name.tmp" "$DROP/$name"
  DROPPED="$DROPPED $name"
  echo "[STEP] wrote $DROP/$name"
  for _ in $(seq 1 15); do
    "$MKCTL" fn logs "$P-stamp" 2>/dev/null | grep -q "STAMP .* fileChange .* $name" && break 2
    sleep 0.2
  done
done
acc_run sh -c "'$MKCTL' fn logs '$P-stamp' | grep 'STAMP .* fileChange'"
acc_check "the function was called with the fileChange event naming a dropped file ($DROPPED)" \
  bash -c 'for n in $2; do grep -q "fileChange created $n\$" <<<"$1" && exit 0; done; exit 1' _ "$ACC_OUT" "$DROPPED"
acc_run kubectl get trigger "$P-stamp-on-drop" -o jsonpath='firings {.status.firings} {.status.lastResult.result} {.status.lastResult.message}'
acc_expect "the trigger's status counts the firing (ok)" "^firings [1-9][0-9]* ok"
acc_run kubectl delete trigger "$P-stamp-on-drop"

acc_step "an objectChange trigger: a ConfigMap labelled app=$P-classify-me starts a $P-classify run"
render trigger-object.yaml
acc_run kubectl apply -f "$TMPD/trigger-object.yaml"
acc_check "kubectl apply -f trigger-object.yaml" test "$ACC_RC" -eq 0
BEFORE=$(kubectl get workflowruns -l "serverless.minik8s.io/workflow=$P-classify" --no-headers 2>/dev/null | wc -l)
# The trigger's informer starts with the Trigger, and its initial list does
# not fire: a new labelled ConfigMap every 3 s until a run appears.
CM_DEADLINE=$((SECONDS + 60)); i=0
runs_now() { kubectl get workflowruns -l "serverless.minik8s.io/workflow=$P-classify" --no-headers 2>/dev/null | wc -l; }
until [ "$(runs_now)" -gt "$BEFORE" ] || [ $SECONDS -ge $CM_DEADLINE ]; do
  i=$((i + 1))
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, labels: {app: %s}}\ndata: {text: "configmap number %s"}\n' \
    "$P-cm-$i" "$P-classify-me" "$i" | kubectl apply -f - >/dev/null
  echo "[STEP] created ConfigMap $P-cm-$i (label app=$P-classify-me)"
  for _ in $(seq 1 15); do [ "$(runs_now)" -gt "$BEFORE" ] && break; sleep 0.2; done
done
acc_run kubectl get workflowruns -l "serverless.minik8s.io/workflow=$P-classify" --sort-by=.metadata.creationTimestamp
acc_check "a new run of $P-classify appeared after the ConfigMap was labelled ($i ConfigMap(s))" \
  test "$(grep -c "^$P-classify-" <<<"$ACC_OUT")" -gt "$BEFORE"
RO=$(kubectl get workflowruns -l "serverless.minik8s.io/workflow=$P-classify" --sort-by=.metadata.creationTimestamp -o name | tail -n1 | cut -d/ -f2)
acc_run kubectl get workflowrun "$RO" -o jsonpath='{.spec.input.type} {.spec.input.event} {.spec.input.object.kind} {.spec.input.object.metadata.name}'
acc_expect "its input is the objectChange event with the ConfigMap" "^objectChange (added|modified) ConfigMap $P-cm-"
acc_run kubectl delete trigger "$P-classify-configmaps"

acc_step "kill -9 of the server while a run is in its third step, then the run resumes"
RR="" F0=0
if ! acc_drill_env; then
  acc_fail "the cluster in KUBECONFIG=$KUBECONFIG is not a scripts/cluster.sh cluster (the restart needs one; run with ACC_FRESH_CLUSTER=1)"
else
  render resume.yaml
  acc_run cat "$TMPD/resume.yaml"
  acc_run "$MKCTL" wf create -f "$TMPD/resume.yaml"
  acc_run "$MKCTL" wf run "$P-resume" -d '{"text": "resume me", "seconds": 6}'
  RR=$(tail -n1 <<<"$ACC_OUT")
  acc_check "run started: $RR" grep -q "^$P-resume-" <<<"$RR"
  F0=$ACC_FAIL
  acc_poll 120 "Measure#0 and Slow1#0 are done and Slow2#0 is in flight" "Slow2#0 Slow2 [^ ]+ [^ ]+ 1 Running" steps_of "$RR"
fi
if [ -n "${RR:-}" ] && [ "$ACC_FAIL" -eq "$F0" ]; then
  acc_run "$CLUSTER_SH" restart-server
  acc_expect "the server was killed (SIGKILL) and answers /readyz again" "server pid [0-9]+ ready again after [0-9]+ ms"
  acc_poll 180 "the run finished after the restart (Succeeded)" "^Succeeded$" kubectl get workflowrun "$RR" -o jsonpath='{.status.phase}'
  acc_run "$MKCTL" wf describe run "$RR"
  acc_run steps_of "$RR"
  STEPS=$ACC_OUT
  acc_check "Measure#0 and Slow1#0 ran once (one record each, attempt 1, Succeeded): not executed again" \
    bash -c '[ "$(grep -c "^Measure#0 " <<<"$1")" -eq 1 ] && [ "$(grep -c "^Slow1#0 " <<<"$1")" -eq 1 ] &&
      grep -Eq "^Measure#0 Measure [^ ]+ [^ ]+ 1 Succeeded$" <<<"$1" && grep -Eq "^Slow1#0 Slow1 [^ ]+ [^ ]+ 1 Succeeded$" <<<"$1"' _ "$STEPS"
  acc_check "Slow2#0, in flight at the kill: Interrupted (attempt 1), then executed again (a later attempt Succeeded, once)" \
    bash -c 'grep -Eq "^Slow2#0 Slow2 [^ ]+ [^ ]+ 1 Interrupted$" <<<"$1" && [ "$(grep -Ec "^Slow2#0 Slow2 [^ ]+ [^ ]+ [2-9] Succeeded$" <<<"$1")" -eq 1 ]' _ "$STEPS"
  acc_check "then Tag#0 ran once" bash -c '[ "$(grep -c "^Tag#0 .* Succeeded$" <<<"$1")" -eq 1 ]' _ "$STEPS"
  acc_run kubectl get workflowrun "$RR" -o jsonpath='{.status.output}'
  acc_expect "the output went through both slow steps once each (slept [6, 6]) and tag-small" '"slept": *\[6(\.0)?, *6(\.0)?\].*"tag": *"small"'
fi

# ===== MODEL APP SECTION (examples/serverless/app/) =========================
# The document pipeline: python3-ml Functions (numpy, Pillow, scikit-learn,
# tesseract in minik8s.io/python-ml-runtime:1), the Workflow docpipe with a
# Choice on the OCR word count, over HTTP and from a file dropped on a node.
# Its names are its own (doc-*, docpipe): removed at the end of the section.
APP=$ROOT/examples/serverless/app
DOCS=$TMPD/docs
remove_app() {
  kubectl delete trigger docpipe-drop --ignore-not-found --wait=false >/dev/null 2>&1
  kubectl delete workflow docpipe --ignore-not-found --wait=false >/dev/null 2>&1
  for f in doc-preprocess doc-ocr doc-summarise doc-digit; do
    kubectl delete function "$f" --ignore-not-found --wait=false >/dev/null 2>&1
  done
}
remove_app
acc_step "the model app: samples rendered with known answers, four python3-ml Functions, the Workflow docpipe"
acc_run /usr/bin/python3 "$APP/make_samples.py" "$TMPD/samples"
acc_check "make_samples.py: a page of known English text (2.5° skew) and a digit 7" test "$ACC_RC" -eq 0
acc_run env MKCTL="$MKCTL" "$APP/deploy.sh" --workflow
acc_check "deploy.sh --workflow: the Functions (--runtime python3-ml) and the Workflow" test "$ACC_RC" -eq 0
acc_run "$MKCTL" wf describe docpipe
acc_run kubectl get functions doc-preprocess doc-ocr doc-summarise doc-digit -o jsonpath='{range .items[*]}{.metadata.name} {.spec.runtime}{"\n"}{end}'
acc_expect "all four are runtime python3-ml" "doc-digit python3-ml"
acc_step "the model app over HTTP: POST /workflows/$NSNOW/docpipe (first use: cold instances; a node imports the ML image)"
acc_run /usr/bin/python3 "$APP/client.py" workflow "$GW" "$NSNOW" "$TMPD/samples/page.json"
acc_expect "the page: OCR (tesseract) → enough words → Summarise (kind text)" '"kind": "text"'
acc_expect "... its keywords include pipeline" '"keywords": \[[^]]*"pipeline"'
PAGE_OUT=$ACC_OUT
acc_check "the OCR text holds every word make_samples.py rendered and expects" /usr/bin/python3 -c '
import json, sys
r = json.loads([l for l in sys.argv[1].splitlines() if l.startswith("{")][-1])
want = json.load(open(sys.argv[2]))["page"]["words"]
missing = [w for w in want if w not in r["ocrText"].lower()]
print("missing:", missing) if missing else None
sys.exit(1 if missing else 0)' "$PAGE_OUT" "$TMPD/samples/expected.json"
acc_run /usr/bin/python3 "$APP/client.py" workflow "$GW" "$NSNOW" "$TMPD/samples/digit.json"
acc_expect "the digit: no words → Digit (scikit-learn SVC on its bundled digits)" '"kind": "digit"'
acc_expect "... read as 7" '"digit": 7[,}]'
acc_run sh -c "kubectl get workflowruns -l serverless.minik8s.io/workflow=docpipe -o jsonpath='{range .items[*]}{.metadata.name}: {range .status.steps[*]}{.state}({.function}) {end}{\"\\n\"}{end}'"
acc_expect "the runs' steps: Preprocess, OCR, EnoughText, then Summarise in one and Digit in the other" \
  'Preprocess\(doc-preprocess\) OCR\(doc-ocr\) EnoughText\(\) Summarise\(doc-summarise\)'
acc_expect "... and Digit" 'EnoughText\(\) Digit\(doc-digit\)'
acc_run /usr/bin/python3 "$APP/client.py" workflow "$GW" "$NSNOW" "$TMPD/samples/page.json" "$TMPD/samples/digit.json"
acc_expect "again, warm: the same answers (each line's ms is the end-to-end latency)" '"digit": 7[,}]'
acc_step "the model app from a file: page.png dropped into $DOCS on ${ACC_NODES[0]} (Trigger docpipe-drop, includeContent)"
sed -e "s|^    node: node1\$|    node: ${ACC_NODES[0]}|" -e "s|^    path: .*|    path: $DOCS|" "$APP/trigger.yaml" >"$TMPD/docpipe-drop.yaml"
acc_run kubectl apply -f "$TMPD/docpipe-drop.yaml"
acc_check "kubectl apply -f trigger.yaml (node and path filled in)" test "$ACC_RC" -eq 0
acc_poll 60 "the node's agent watches $DOCS" "^directory$" sh -c "[ -d '$DOCS' ] && echo directory"
file_runs() {
  kubectl get workflowruns -l serverless.minik8s.io/workflow=docpipe -o json | /usr/bin/python3 -c '
import json, sys
for r in json.load(sys.stdin)["items"]:
    if r["spec"].get("input", {}).get("type") == "fileChange":
        o = r.get("status", {}).get("output") or {}
        print(r["metadata"]["name"], r["spec"]["input"].get("name"), r.get("status", {}).get("phase"), o.get("kind"), o.get("keywords"))'
}
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ] && [ -z "$(file_runs)" ]; do
  name=page-$(date +%s%N).png
  cp "$TMPD/samples/page.png" "$DOCS/.$name.tmp" && mv "$DOCS/.$name.tmp" "$DOCS/$name"
  echo "[STEP] dropped $DOCS/$name"
  for _ in $(seq 1 15); do [ -n "$(file_runs)" ] && break 2; sleep 0.2; done
done
acc_poll 120 "a run of docpipe started by the file ends Succeeded with the page's keywords" "Succeeded text .*pipeline" file_runs
acc_run kubectl get triggers docpipe-drop
acc_step "the model app: cleanup"
remove_app
acc_poll 90 "its functions' pods are gone" "^0$" sh -c "kubectl get pods --no-headers 2>/dev/null | grep -c '^doc-'; true"
# ===== END OF MODEL APP SECTION =============================================

acc_step "cleanup"
acc_run "$MKCTL" wf delete "$P-classify"
acc_check "mkctl wf delete $P-classify" test "$ACC_RC" -eq 0
acc_poll 60 "the deleted workflow's runs go with it (ownerReferences)" "^0$" sh -c \
  "kubectl get workflowruns -l 'serverless.minik8s.io/workflow=$P-classify' --no-headers 2>/dev/null | wc -l"
remove_ours
acc_poll 90 "the functions' pods are gone" "^0$" sh -c "kubectl get pods --no-headers 2>/dev/null | awk '/^$P-/ { n++ } END { print n + 0 }'"
trap - EXIT
rm -rf "$TMPD"
acc_end
