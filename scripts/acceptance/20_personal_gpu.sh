#!/usr/bin/env bash
# 9.3 of ACCEPTANCE.md, GPU jobs (issue 15, docs/gpu.md), through a real
# Slurm (a private one, scripts/slurm.sh, registered as the cluster's
# SlurmCluster "default"):
# - the job YAML with its Slurm-aligned settings (partition, gpus,
#   cpusPerTask, mem, time …) submitted with `mkctl gpujob submit -f …
#   --source DIR`;
# - one submitter pod per job, labelled minik8s.io/gpujob=<job> and owned
#   by it;
# - `mkctl gpujob get` / `kubectl get gpujobs` showing the submission state
#   (phase, Slurm job id, node, times);
# - results fetched with a command (`mkctl gpujob download`), the program's
#   reference check PASS in them;
# - a job stuck pending prints its job id, submit time and the query command
#   (no GPU here: a GPU job waits for a GPU Slurm does not have; on a GPU
#   machine: a job held with --begin=now+3600);
# - on a machine with an NVIDIA GPU (nvidia-smi -L finds one): the CUDA
#   matrix add and multiply (examples/gpu/matadd, matmul) built with nvcc and
#   run through Slurm, their reference check PASS and GFLOP/s; else one line
#   saying the CUDA part is skipped, and the CPU job (examples/gpu/cpu-matmul,
#   the same object, submitter and Slurm) is what ran.
# The cluster: the running one (KUBECONFIG or .cluster/), else a private
# 3-node one (acc_multinode). Slurm runs in the root namespace with
# slurmctld on an address the nodes reach (the cluster.sh bridge,
# <subnet>.1; 127.0.0.1 for a single-node `minik8s up` cluster).
# Re-runnable: removes what it created (jobs, Slurm, SlurmCluster, Secret).
source "$(dirname "$0")/../../test/e2e/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export PATH=$PATH:/usr/sbin
export MINIK8S_IMAGE_CACHE=${MINIK8S_IMAGE_CACHE:-/var/tmp/minik8s-image-cache}
. "$ROOT/test/e2e/gpu_lib.sh"
acc_begin "20_personal_gpu"
EX=$ROOT/examples/gpu
TMPD=$(mktemp -d /tmp/minik8s-acc-gpu.XXXXXX)
JOBS="acc-cpu-matmul acc-pending acc-matadd acc-matmul"
cleanup() {
  local j deadline
  for j in $JOBS; do kubectl delete gpujob "$j" --ignore-not-found --wait=false >/dev/null 2>&1; done
  deadline=$((SECONDS + 30))
  while kubectl get gpujobs --no-headers 2>/dev/null | grep -q '^acc-' && [ $SECONDS -lt $deadline ]; do sleep 0.3; done
  [ -n "$GPU_SLURM_DIR" ] && echo "[CLEANUP] scripts/slurm.sh down (the private Slurm), SlurmCluster default, Secret kube-system/slurm-munge"
  gpu_slurm_down
  acc_teardown_cluster
  rm -rf "$TMPD"
}
trap cleanup EXIT
acc_multinode 3

acc_step "the submitter image minik8s.io/slurm-submitter:1 (offline, built once into $MINIK8S_IMAGE_CACHE)"
acc_run "$BIN/minik8s" image build slurm-submitter --cache-dir "$MINIK8S_IMAGE_CACHE"
acc_expect "the submitter image is built" "slurm-submitter"

acc_step "a private Slurm (munged, slurmctld, slurmd), registered as SlurmCluster default"
# The address the submitter pods (hostNetwork: their node's namespace) reach
# slurmctld at, and the admin kubeconfig (a shared cluster's KUBECONFIG is a
# namespaced copy; the SlurmCluster is cluster-scoped anyway).
# (a cluster.sh cluster named only by KUBECONFIG: its state file has the subnet)
[ -z "${MK_CLUSTER_SUBNET:-}" ] && [ -f "$(dirname "$KUBECONFIG")/state" ] &&
  MK_CLUSTER_SUBNET=$(sed -n 's/^subnet=//p' "$(dirname "$KUBECONFIG")/state" | tail -n1) MK_CLUSTER_DIR=$(dirname "$KUBECONFIG")
if [ -n "${MK_CLUSTER_SUBNET:-}" ]; then ADDR=${MK_CLUSTER_SUBNET%.*}.1; else ADDR=127.0.0.1; fi
ADMIN_KCFG=$KUBECONFIG
[ -n "${MK_CLUSTER_DIR:-}" ] && [ -f "$MK_CLUSTER_DIR/kubeconfig" ] && [ -n "${MK_CLUSTER_SUBNET:-}" ] && ADMIN_KCFG=$MK_CLUSTER_DIR/kubeconfig
echo "[RUN] scripts/slurm.sh up --kubeconfig $ADMIN_KCFG --dir <temp dir> --port-base <per PID> --address $ADDR"
if gpu_slurm_up acc "$ADMIN_KCFG" "$ADDR"; then ACC_RC=0; else ACC_RC=$?; fi
echo "[EXIT] $ACC_RC"
sed 's/^/[OUTPUT] /' "$GPU_SLURM_DIR.up.log"
acc_check "slurm.sh up (dir $GPU_SLURM_DIR, ports from $GPU_SLURM_PORT_BASE)" test "$ACC_RC" -eq 0
if [ "$ACC_RC" -ne 0 ]; then acc_end; exit 1; fi
acc_run env SLURM_CONF="$GPU_SLURM_CONF" sinfo
acc_expect "sinfo: partitions cpu and gpu" "^gpu "
acc_run kubectl get slurmcluster default -o yaml
acc_expect "SlurmCluster default: slurmctld at $ADDR, munge key in a Secret" "host: \"?$ADDR"

acc_step "the job YAML with Slurm-aligned settings (a CPU job: same object, submitter and Slurm as a CUDA one)"
CPU_YAML=$(ls "$EX"/cpu-matmul/*.yaml 2>/dev/null | head -n1)
sed -E "s/^(metadata:.*name: *)[a-z0-9-]+/\1acc-cpu-matmul/; s/^(  name: *)[a-z0-9-]+$/\1acc-cpu-matmul/" "${CPU_YAML:-/dev/null}" >"$TMPD/cpu.yaml"
acc_run cat "$TMPD/cpu.yaml"
acc_expect "kind GPUJob, name, and spec.slurm (partition, cpus, time …)" "^  slurm:"
acc_run ls "$EX/cpu-matmul"
acc_run "$MKCTL" gpujob submit -f "$TMPD/cpu.yaml" --source "$EX/cpu-matmul"
acc_expect "mkctl gpujob submit uploads the source and creates the job" "acc-cpu-matmul"
acc_run kubectl get gpujob acc-cpu-matmul -o jsonpath='{.spec.source.hash} {.spec.source.filename}{"\n"}'
acc_expect "the source is in the server's blob store (content hash)" "^sha256:[0-9a-f]{64} "

acc_step "one submitter pod per job (label minik8s.io/gpujob, owned by the job)"
acc_poll 30 "the job's submitter pod exists" "acc-cpu-matmul-submitter" \
  kubectl get pods -l minik8s.io/gpujob=acc-cpu-matmul -L minik8s.io/gpujob -o wide
acc_run kubectl get pods -l minik8s.io/gpujob=acc-cpu-matmul -o jsonpath='{range .items[*]}{.metadata.name} owner {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} hostNetwork {.spec.hostNetwork}{"\n"}{end}'
acc_expect "exactly one pod, owned by GPUJob acc-cpu-matmul" "^acc-cpu-matmul-submitter owner GPUJob/acc-cpu-matmul hostNetwork true$"
acc_check "…and only one" test "$(grep -c . <<<"$ACC_OUT")" -eq 1

acc_step "get shows the submission state"
acc_poll 90 "the job runs to Completed (mkctl gpujob get)" "acc-cpu-matmul +Completed +[0-9]+" "$MKCTL" gpujob get acc-cpu-matmul
acc_run kubectl get gpujobs -o wide
acc_expect "kubectl get gpujobs: PHASE, JOBID, NODE, SUBMITTED, DURATION" "^acc-cpu-matmul +Completed +[0-9]+ +[^ ]+ "
acc_run kubectl get gpujob acc-cpu-matmul -o jsonpath='jobId={.status.jobId} submit={.status.submitTime} start={.status.startTime} end={.status.endTime} exit={.status.exitCode} node={.status.nodeList} query="{.status.queryCommand}"{"\n"}'
acc_expect "status: Slurm job id, times, exit code 0, node, query command" "^jobId=[0-9]+ submit=20.* exit=0 node=[^ ]+ query=\"[a-z]+ "
CPUID=$(gj_field acc-cpu-matmul .status.jobId)
acc_run env SLURM_CONF="$GPU_SLURM_CONF" scontrol show job "$CPUID"
acc_expect "Slurm itself has job $CPUID COMPLETED" "JobState=COMPLETED"

acc_step "results fetched with a command"
acc_run "$MKCTL" gpujob logs acc-cpu-matmul
acc_expect "mkctl gpujob logs: the program's output" "PASS"
acc_run "$MKCTL" gpujob download acc-cpu-matmul -o "$TMPD/cpu-results"
acc_check "mkctl gpujob download exits 0" test "$ACC_RC" -eq 0
acc_run sh -c "cd '$TMPD/cpu-results' && ls -l && grep -rH -E 'PASS|error|GFLOP' ."
acc_expect "the result files hold the reference check's PASS" "PASS"

acc_step "a job stuck pending: job id, submit time and the query command"
if gpu_has_gpu; then
  echo "[STEP] this machine has a GPU: the pending case is a job held by Slurm until an hour from now (--begin)"
  PENDING_SLURM='{partition: gpu, gpus: 1, time: "00:01:00", sbatchArgs: ["--begin=now+3600"]}'
else
  echo "[STEP] no GPU here: a job asking for 1 GPU waits for a GPU node this Slurm does not have"
  PENDING_SLURM='{partition: gpu, gpus: 1, cpusPerTask: 1, time: "00:01:00"}'
fi
cat >"$TMPD/pending.yaml" <<EOF
apiVersion: minik8s.io/v1
kind: GPUJob
metadata: {name: acc-pending}
spec:
  run: nvidia-smi -L
  slurm: $PENDING_SLURM
EOF
acc_run cat "$TMPD/pending.yaml"
acc_run "$MKCTL" gpujob submit -f "$TMPD/pending.yaml"
acc_expect "submitted" "acc-pending"
acc_poll 40 "it is Queued with Slurm's reason" "^Queued [A-Za-z]" \
  kubectl get gpujob acc-pending -o jsonpath='{.status.phase} {.status.reason}{"\n"}'
PID_=$(gj_field acc-pending .status.jobId)
SUBMIT=$(gj_field acc-pending .status.submitTime)
acc_run "$MKCTL" gpujob get acc-pending
acc_check "get prints the job id ($PID_)" grep -q -- "${PID_:-no-job-id}" <<<"$ACC_OUT"
# (printed as "2026-12-07T18:00:00Z" or "2026-12-07 18:00:00")
SUBMIT_RE="${SUBMIT%%T*}[T ]${SUBMIT:11:8}"; [ -n "$SUBMIT" ] || SUBMIT_RE=no-submit-time
acc_check "get prints the submit time ($SUBMIT)" grep -Eq -- "$SUBMIT_RE" <<<"$ACC_OUT"
acc_check "get prints the query command" grep -Eq -- "(scontrol show job|squeue|sacct).*${PID_:-no-job-id}" <<<"$ACC_OUT"
acc_run "$MKCTL" gpujob describe acc-pending
acc_expect "describe prints them too" "${PID_:-no-job-id}"
QUERY=$(gj_field acc-pending .status.queryCommand)
acc_run env SLURM_CONF="$GPU_SLURM_CONF" sh -c "$QUERY"
acc_expect "the query command, run as printed, shows the job PENDING" "PENDING|PD"
acc_run kubectl get pods -l minik8s.io/gpujob -L minik8s.io/gpujob
acc_expect "one submitter pod for each of the two jobs" "acc-pending-submitter"

acc_step "CUDA: matrix addition and multiplication on the GPU (examples/gpu/matadd, matmul)"
if gpu_has_gpu; then
  acc_run nvidia-smi -L
  for prog in matadd matmul; do
    y=$(ls "$EX/$prog"/*.yaml 2>/dev/null | head -n1)
    sed -E "s/^(metadata:.*name: *)[a-z0-9-]+/\1acc-$prog/; s/^(  name: *)[a-z0-9-]+$/\1acc-$prog/" "${y:-/dev/null}" >"$TMPD/$prog.yaml"
    acc_run cat "$TMPD/$prog.yaml"
    acc_expect "$prog: the job YAML asks Slurm for a GPU" "gpus: *[1-9]"
    acc_run "$MKCTL" gpujob submit -f "$TMPD/$prog.yaml" --source "$EX/$prog"
    acc_expect "$prog submitted with its source and build script" "acc-$prog"
  done
  for prog in matadd matmul; do
    acc_poll 300 "$prog runs to Completed (nvcc build + run through Slurm)" "acc-$prog +Completed" "$MKCTL" gpujob get "acc-$prog"
    acc_run "$MKCTL" gpujob download "acc-$prog" -o "$TMPD/$prog-results"
    acc_run sh -c "cd '$TMPD/$prog-results' && ls -l && grep -rH -E 'PASS|FAIL|error|GFLOP' ."
    acc_expect "$prog: the CPU reference check PASS" "PASS"
  done
else
  acc_skip "CUDA part: no NVIDIA GPU on this machine (nvidia-smi -L finds none), so the CUDA add and multiply jobs are not run; the CPU job above went through the same GPUJob, submitter pod and Slurm path, and the GPU job shows the pending case"
  for prog in matadd matmul; do
    y=$(ls "$EX/$prog"/*.yaml 2>/dev/null | head -n1)
    acc_run cat "${y:-$EX/$prog/(no yaml)}"
  done
fi
acc_end
