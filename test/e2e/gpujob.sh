#!/usr/bin/env bash
# e2e of GPU jobs through Slurm (issue 15, docs/gpu.md) with a real private
# Slurm (scripts/slurm.sh: munged, slurmctld, slurmd) and the real submitter
# pods:
# - a CPU job (examples/gpu/cpu-matmul, `mkctl gpujob submit -f … --source
#   DIR`): its phases only go forwards to Completed (Events Submitted and
#   Completed), exactly one submitter pod labelled minik8s.io/gpujob=<name>
#   and owned by the job, `mkctl gpujob get` and `kubectl get gpujobs` show
#   the job id and phase, `logs` shows the program's output, `download`
#   brings the result files and the reference check's PASS is in them;
# - a build that fails (a C file that does not compile) → Failed, reason
#   BuildFailed, the compiler's message in status.buildLog and in describe;
# - cancel of a long job (sleep 300) once Running → Cancelled, and Slurm no
#   longer runs it (squeue);
# - a GPU job (partition gpu, gpus: 1): on this GPU-less machine it stays
#   Queued with Slurm's reason, and `get`/`describe` print its job id, submit
#   time and the query command (on a machine with a GPU it runs to Completed
#   instead);
# - deleting jobs deletes their submitter pods and (the Queued one) its Slurm
#   job; a missing --source path is a clear error.
#
# Which cluster: ctest's shared 3-node cluster (MK_E2E_SHARED_CLUSTER), in a
# namespace of its own — it is already up, so this test pays no cluster
# start-up (a private single-node `minik8s up` would cost a start and a
# stop, and still hold the node lock). Its nodes are network namespaces: the
# submitter pod (hostNetwork: the node's namespace) reaches the API server at
# node 1's address, and slurmctld at the bridge's root-namespace address
# <subnet>.1 — so Slurm runs in the root namespace with `slurm.sh up
# --address <subnet>.1`; slurmd (root namespace) runs the jobs, and the
# job directories are on the same filesystem the submitter sees through its
# hostPath. Without the shared cluster the test brings up a private 3-node
# cluster.sh cluster (cluster lock) the same way and takes it down again.
# Cleanup on every exit: the jobs, slurm.sh down, the SlurmCluster and
# Secret it registered, the namespace (or the private cluster), temp files.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BIN=${BIN:-$ROOT/build/bin}
export MK_CLUSTER_PREFIX=${MK_CLUSTER_PREFIX:-mkg$(($$ % 100000))}
export MK_CLUSTER_SUBNET=${MK_CLUSTER_SUBNET:-10.98.$(($$ % 200 + 20)).0/24}
export MINIK8S_IMAGE_CACHE=${MINIK8S_IMAGE_CACHE:-/var/tmp/minik8s-image-cache}
TMP=$(mktemp -d /tmp/minik8s-gpujob-e2e.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
CL=$ROOT/scripts/cluster.sh
MKCTL=$BIN/mkctl
EX=$ROOT/examples/gpu
PASSED=0
FAILED=0
CLUSTER_UP=0
. "$ROOT/test/e2e/check.sh"
. "$ROOT/test/e2e/cluster_lib.sh"
. "$ROOT/test/e2e/gpu_lib.sh"
cleanup() {
  if [ "$CLUSTER_UP" = 1 ]; then
    # The jobs first, while Slurm and the submitters still run (they scancel
    # and remove the finalizer); then Slurm; then the namespace / cluster.
    kubectl delete gpujobs --all --wait=false >/dev/null 2>&1
    local deadline=$((SECONDS + 30))
    while [ -n "$(kubectl get gpujobs -o name 2>/dev/null)" ] && [ $SECONDS -lt $deadline ]; do sleep 0.3; done
  fi
  gpu_slurm_down
  [ "$CLUSTER_UP" = 1 ] && e2e_cluster_down
  rm -rf "$TMP"
}
trap cleanup EXIT

export PATH=$PATH:/usr/sbin
for t in sbatch squeue scontrol sinfo slurmctld slurmd munged; do
  command -v "$t" >/dev/null || { echo "e2e_gpujob: $t is missing (scripts/deps.sh installs slurm-wlm and munge)"; exit 1; }
done

start=$SECONDS
# The submitter image, built once into the shared image cache (the first
# build runs mmdebstrap, ~1–2 min; every later run finds it cached) before any
# node needs it.
t=$SECONDS
expect "submitter image minik8s.io/slurm-submitter:1 in $MINIK8S_IMAGE_CACHE" "slurm-submitter" \
  "$BIN/minik8s" image build slurm-submitter --cache-dir "$MINIK8S_IMAGE_CACHE"
echo "  (image: $((SECONDS - t)) s)"

e2e_cluster_up gpujob
CLUSTER_UP=1
BRIDGE=${MK_CLUSTER_SUBNET%.*}.1
KCFG_ADMIN=$MK_CLUSTER_DIR/kubeconfig
t=$SECONDS
if gpu_slurm_up e2e "$KCFG_ADMIN" "$BRIDGE"; then
  pass "slurm.sh up in $((SECONDS - t)) s: dir $GPU_SLURM_DIR, ports from $GPU_SLURM_PORT_BASE, slurmctld on $BRIDGE"
else
  fail "slurm.sh up --dir $GPU_SLURM_DIR --port-base $GPU_SLURM_PORT_BASE --address $BRIDGE"
  sed 's/^/    /' "$GPU_SLURM_DIR.up.log" | tail -n 30
  finish
fi
check "its slurm.conf is there" test -s "$GPU_SLURM_CONF"
expect "sinfo: partitions cpu and gpu" "^cpu\*? (.|\n)*gpu" gpu_slurm sinfo -h -o '%P %a'
expect "SlurmCluster default registered, slurmctld at $BRIDGE" "^$BRIDGE$" \
  kubectl get slurmcluster default -o jsonpath='{.spec.controller.host}'
expect "the munge key Secret kube-system/slurm-munge" "slurm-munge" kubectl -n kube-system get secret slurm-munge -o name

# --- the jobs: CPU (from the example), failing build, GPU; cancel later ----
CPU=gj-cpu BROKEN=gj-broken GPU=gj-gpu LONG=gj-long
CPU_YAML=$(ls "$EX"/cpu-matmul/*.yaml 2>/dev/null | head -n1)
expect "examples/gpu/cpu-matmul has a job YAML" "\.yaml$" echo "$CPU_YAML"
sed -E "s/^(metadata:.*name: *)[a-z0-9-]+/\1$CPU/; s/^(  name: *)[a-z0-9-]+$/\1$CPU/" "$CPU_YAML" >"$TMP/cpu.yaml"
expect "the CPU job YAML names its Slurm settings (spec.slurm)" "^  slurm:" cat "$TMP/cpu.yaml"
printf 'int main( {\n  return 0;\n}\n' >"$TMP/broken.c"
cat >"$TMP/broken.yaml" <<EOF
apiVersion: minik8s.io/v1
kind: GPUJob
metadata: {name: $BROKEN}
spec:
  build: cc -o broken broken.c
  run: ./broken
  slurm: {partition: cpu, cpusPerTask: 1, time: "00:02:00"}
EOF
cat >"$TMP/gpu.yaml" <<EOF
apiVersion: minik8s.io/v1
kind: GPUJob
metadata: {name: $GPU}
spec:
  run: nvidia-smi -L
  slurm: {partition: gpu, gpus: 1, cpusPerTask: 1, time: "00:02:00"}
EOF
cat >"$TMP/long.yaml" <<EOF
apiVersion: minik8s.io/v1
kind: GPUJob
metadata: {name: $LONG}
spec:
  run: echo started; sleep 300
  slurm: {partition: cpu, cpusPerTask: 1, time: "00:10:00"}
EOF

expect_fail "submit with a missing --source path: a clear error naming it" "$TMP/no-such-dir" \
  "$MKCTL" gpujob submit -f "$TMP/broken.yaml" --source "$TMP/no-such-dir"
expect "no job was created by the failed submit" "^$" sh -c "kubectl get gpujob $BROKEN -o name 2>/dev/null; true"

expect "submit the CPU job with its source directory" "$CPU" \
  "$MKCTL" gpujob submit -f "$TMP/cpu.yaml" --source "$EX/cpu-matmul"
expect "submit the failing build (a single .c file)" "$BROKEN" \
  "$MKCTL" gpujob submit -f "$TMP/broken.yaml" --source "$TMP/broken.c"
expect "submit the GPU job" "$GPU" "$MKCTL" gpujob submit -f "$TMP/gpu.yaml"
expect "spec.source set by submit (sha256 blob, the file name)" "^sha256:[0-9a-f]{64} broken.c$" \
  sh -c "kubectl get gpujob $BROKEN -o jsonpath='{.spec.source.hash} {.spec.source.filename}'"

# --- the CPU job to Completed -------------------------------------------
if gj_wait 60 "$CPU" "Completed|Failed|Cancelled" && [ "$(gj_field $CPU .status.phase)" = Completed ]; then
  pass "CPU job Completed (phases seen: $GJ_SEEN)"
else
  fail "CPU job Completed within 60 s (phases seen: $GJ_SEEN; message: $(gj_field $CPU .status.message))"
  kubectl get gpujob "$CPU" -o yaml 2>&1 | sed 's/^/    /' | head -n 50
  kubectl describe pod "$CPU-submitter" 2>&1 | tail -n 20 | sed 's/^/    /'
fi
if gj_phases_ordered "$GJ_SEEN"; then pass "its phases only went forwards: $GJ_SEEN"; else fail "phases out of order: $GJ_SEEN"; fi
JOBID=$(gj_field $CPU .status.jobId)
JOBID=${JOBID:-no-job-id}
expect "status: job id, submit/start/end times, exit code 0, node, query command" \
  "^[0-9]+ 20[0-9-]+T[0-9:]+Z 20[0-9-]+T[0-9:]+Z 20[0-9-]+T[0-9:]+Z 0 [^ ]+ .*$JOBID" \
  sh -c "kubectl get gpujob $CPU -o jsonpath='{.status.jobId} {.status.submitTime} {.status.startTime} {.status.endTime} {.status.exitCode} {.status.nodeList} {.status.queryCommand}'"
expect "Events Submitted, Running and Completed on the job" "Submitted(.|\n)*Completed" \
  sh -c "kubectl get events --field-selector involvedObject.name=$CPU -o jsonpath='{range .items[*]}{.reason}{\"\\n\"}{end}'"
expect "Slurm ran it: scontrol (or sacct) knows job $JOBID" "(JobId=|^)$JOBID[ |]" \
  sh -c "SLURM_CONF=$GPU_SLURM_CONF scontrol show job -o $JOBID 2>&1 || SLURM_CONF=$GPU_SLURM_CONF sacct -n -P -j $JOBID"
expect "exactly one submitter pod labelled minik8s.io/gpujob=$CPU" "^$CPU-submitter$" gj_pods "$CPU"
expect "owned by the job (GPUJob $CPU, controller)" "^GPUJob $CPU true$" \
  sh -c "kubectl get pod $CPU-submitter -o jsonpath='{.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].name} {.metadata.ownerReferences[0].controller}'"
expect "the submitter pod: hostNetwork, image minik8s.io/slurm-submitter:1" "^true minik8s.io/slurm-submitter:1$" \
  sh -c "kubectl get pod $CPU-submitter -o jsonpath='{.spec.hostNetwork} {.spec.containers[0].image}'"
expect "mkctl gpujob get: the job, Completed, its job id" "$CPU +Completed +$JOBID" "$MKCTL" gpujob get "$CPU"
expect "kubectl get gpujobs: NAME PHASE JOBID NODE SUBMITTED DURATION AGE" \
  "^NAME +PHASE +JOBID +NODE +SUBMITTED +DURATION +AGE(.|\n)*$CPU +Completed +$JOBID" kubectl get gpujobs
expect "download brings the result files" "." "$MKCTL" gpujob download "$CPU" -o "$TMP/results"
expect "the reference check's PASS is in the result files" "PASS" sh -c "grep -rh PASS '$TMP/results'"
PASSLINE=$(grep -rh PASS "$TMP/results" 2>/dev/null | head -n1)
expect "mkctl gpujob logs shows the program's output (the same PASS line)" "PASS" \
  sh -c "'$MKCTL' gpujob logs $CPU | grep -F -- '$PASSLINE'"

# --- the failing build ----------------------------------------------------
if gj_wait 40 "$BROKEN" "Completed|Failed|Cancelled"; then :; fi
expect "failing build → Failed, reason BuildFailed" "^Failed BuildFailed$" \
  sh -c "kubectl get gpujob $BROKEN -o jsonpath='{.status.phase} {.status.reason}'"
expect "status.buildLog: the compiler's error (the build log's tail)" "broken\.c.*error" \
  kubectl get gpujob "$BROKEN" -o jsonpath='{.status.buildLog}'
expect "describe shows BuildFailed and the log tail" "BuildFailed(.|\n)*broken\.c" "$MKCTL" gpujob describe "$BROKEN"

# --- cancel of a long job -------------------------------------------------
expect "submit a long job (sleep 300)" "$LONG" "$MKCTL" gpujob submit -f "$TMP/long.yaml"
if gj_wait 40 "$LONG" "Running|Completed|Failed|Cancelled" && [ "$(gj_field $LONG .status.phase)" = Running ]; then
  pass "long job Running (phases seen: $GJ_SEEN)"
else
  fail "long job Running within 40 s (phases seen: $GJ_SEEN; reason: $(gj_field $LONG .status.reason))"
fi
LONGID=$(gj_field $LONG .status.jobId)
LONGID=${LONGID:-no-job-id}
expect "squeue shows it running (R)" "^$LONGID R$" gpu_slurm squeue -h -j "$LONGID" -o '%i %t'
expect "mkctl gpujob cancel" "." "$MKCTL" gpujob cancel "$LONG"
expect "spec.cancel is true" "^true$" kubectl get gpujob "$LONG" -o jsonpath='{.spec.cancel}'
gj_wait 30 "$LONG" "Completed|Failed|Cancelled"
expect "cancelled job → Cancelled" "^Cancelled$" gj_field "$LONG" .status.phase
eventually 20 "Slurm no longer has job $LONGID running (squeue)" "^$" \
  sh -c "SLURM_CONF=$GPU_SLURM_CONF squeue -h -t PD,R,CG,S -o %i | grep -x '$LONGID'; true"

# --- the GPU job: the pending case (or a real run on a GPU machine) -----
if gpu_has_gpu; then
  gj_wait 60 "$GPU" "Completed|Failed|Cancelled"
  expect "GPU machine: the GPU job ran to Completed" "^Completed$" gj_field "$GPU" .status.phase
  expect "its output lists the GPU" "GPU 0" "$MKCTL" gpujob logs "$GPU"
else
  gj_wait 40 "$GPU" "Queued|Running|Completed|Failed|Cancelled"
  expect "no GPU here: the GPU job stays Queued with Slurm's reason" "^Queued [A-Za-z]" \
    sh -c "kubectl get gpujob $GPU -o jsonpath='{.status.phase} {.status.reason}'"
  GPUID=$(gj_field $GPU .status.jobId)
  GPUID=${GPUID:-no-job-id}
  SUBMIT=$(gj_field $GPU .status.submitTime)
  # (the CLI may print it as "2026-12-07T18:00:00Z" or "2026-12-07 18:00:00")
  SUBMIT_RE="${SUBMIT%%T*}[T ]${SUBMIT:11:8}"
  [ -n "$SUBMIT" ] || SUBMIT_RE=no-submit-time
  expect "squeue agrees: job $GPUID pending (PD)" "^$GPUID PD" gpu_slurm squeue -h -j "$GPUID" -o '%i %t %r'
  # pending_info CMD…: which of job id, submit time, query command CMD prints
  pending_info() {
    local out; out=$("$@" 2>&1) || { echo "exit $?: $out"; return 1; }
    grep -q -- "$GPUID" <<<"$out" && echo -n "id "
    grep -Eq -- "$SUBMIT_RE" <<<"$out" && echo -n "time "
    grep -Eq -- "(scontrol show job|squeue|sacct).*$GPUID" <<<"$out" && echo -n "query"
    echo; echo "$out"
  }
  expect "get prints its job id, submit time and query command" "^id time query$" pending_info "$MKCTL" gpujob get "$GPU"
  expect "describe prints them too" "^id time query$" pending_info "$MKCTL" gpujob describe "$GPU"
  QUERY=$(gj_field $GPU .status.queryCommand)
  expect "the query command runs and shows the pending job: $QUERY" "$GPUID(.|\n)*(PENDING|PD)" \
    sh -c "SLURM_CONF=$GPU_SLURM_CONF $QUERY"
  # (scontrol writes "ReqNodeNotAvail,_UnavailableNodes:…" where squeue has
  # a space: the reason's first word is compared)
  R=$(gj_field $GPU .status.reason)
  expect "status.reason is Slurm's own pending reason (squeue %r): $R" "^${R%%[,_ (]*}" \
    gpu_slurm squeue -h -j "$GPUID" -o '%r'
fi
expect "one submitter pod per job: 4 jobs, 4 pods, each with its own label" "^$BROKEN-submitter $CPU-submitter $GPU-submitter $LONG-submitter $" \
  sh -c "for j in $BROKEN $CPU $GPU $LONG; do kubectl get pods -l minik8s.io/gpujob=\$j -o jsonpath='{range .items[*]}{.metadata.name} {end}'; done"

# --- deletion ------------------------------------------------------------
expect "mkctl gpujob delete $CPU" "." "$MKCTL" gpujob delete "$CPU"
eventually 30 "deleting the job deletes its submitter pod" "^0$" sh -c "kubectl get pods -l minik8s.io/gpujob=$CPU --no-headers 2>/dev/null | wc -l"
eventually 30 "and the job is gone (finalizer removed)" "^$" kubectl get gpujob "$CPU" --ignore-not-found -o name
GPUID=$(gj_field $GPU .status.jobId)
expect "delete the queued GPU job" "." "$MKCTL" gpujob delete "$GPU"
eventually 30 "its submitter pod goes" "^0$" sh -c "kubectl get pods -l minik8s.io/gpujob=$GPU --no-headers 2>/dev/null | wc -l"
if [ -n "$GPUID" ]; then
  eventually 30 "its Slurm job $GPUID is cancelled (not pending in squeue)" "^$" \
    sh -c "SLURM_CONF=$GPU_SLURM_CONF squeue -h -t PD,R,CG -o %i | grep -x '$GPUID'; true" ||
    kubectl get events --field-selector involvedObject.name=$GPU 2>&1 | sed 's/^/    /'
fi
echo "  ($((SECONDS - start)) s)"
finish
