#!/usr/bin/env bash
# GPU job benchmark (issue 15, docs/gpu.md). Prints Markdown rows for
# docs/benchmarks.md. Two parts, one function each:
#
#   overhead  the job overhead: GPUJob object created → its Slurm job RUNNING,
#             BENCH_GPU_JOBS sequential CPU jobs (default 10, after one
#             warm-up job that also imports the submitter image on the node)
#             on an idle private Slurm (scripts/slurm.sh, each job finished
#             and deleted before the next); beside it, in the same run on the
#             same Slurm, the baseline: plain `sbatch --wrap` submit →
#             RUNNING. Both are timed the same way: t0 just before the
#             command that creates the object (kubectl create) or the job
#             (sbatch), t1 when `squeue -t R` first lists the job (polled
#             every ~20 ms; the job runs `sleep 1`, so it is RUNNING long
#             enough to be seen). Target: p50 ≤ 1 s.
#             A single-node scripts/cluster.sh cluster (unique prefix and
#             subnet, the cluster lock held, removed on exit); slurmctld on
#             the bridge address the node's submitter pods reach.
#   kernel    the CUDA kernels' GFLOP/s beside cuBLAS (examples/gpu; on a
#             machine with an NVIDIA GPU): written with the CUDA programs.
#
#   bench/gpu_bench.sh [BUILD_DIR] [overhead|kernel|all]   (default all)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
PART=${2:-all}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export BIN=${BIN:-$BUILD/bin}
export PATH=$PATH:/usr/sbin
export MINIK8S_IMAGE_CACHE=${MINIK8S_IMAGE_CACHE:-/var/tmp/minik8s-image-cache}
source "$ROOT/bench/lib.sh"

# p50/p90 (nearest rank) of a file with one number of milliseconds per line.
p50_p90() {
  sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR == 0) { print "no samples"; exit }
    i50 = int(0.5 * (NR - 1) + 0.5) + 1; i90 = int(0.9 * (NR - 1) + 0.5) + 1
    printf "p50 %d ms, p90 %d ms (n=%d, max %d ms)", v[i50], v[i90], NR, v[NR] }'
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

overhead_part() {
  local b
  for b in minik8s mkctl; do
    [ -x "$BIN/$b" ] || { echo "gpu_bench: $BIN/$b is missing (cmake --build $BUILD --target $b)" >&2; return 2; }
  done
  for b in sbatch squeue scontrol slurmctld slurmd munged; do
    command -v "$b" >/dev/null || { echo "gpu_bench: $b is missing (scripts/deps.sh installs slurm-wlm and munge)" >&2; return 2; }
  done
  export MK_CLUSTER_PREFIX=mkgb$(($$ % 10000))
  export MK_CLUSTER_SUBNET=10.96.$(($$ % 200 + 20)).0/24
  TMP=$(mktemp -d /tmp/minik8s-gpu-bench.XXXXXX)
  export MK_CLUSTER_DIR=$TMP/cluster
  export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
  CL=$ROOT/scripts/cluster.sh
  local n=${BENCH_GPU_JOBS:-10} i t0 t1 id uid name
  # (the trap runs after this function returns: globals only)
  trap 'set +e; kubectl delete gpujobs --all --wait=false >/dev/null 2>&1; gpu_slurm_down; "$CL" down >/dev/null 2>&1; rm -rf "$TMP"' EXIT
  . "$ROOT/test/e2e/gpu_lib.sh"
  exec 9>/tmp/mk-cluster.lock
  flock 9
  "$BIN/minik8s" image build slurm-submitter --cache-dir "$MINIK8S_IMAGE_CACHE" >"$TMP/image.log" 2>&1 ||
    { cat "$TMP/image.log" >&2; return 1; }
  "$CL" up 1 >"$TMP/up.log" 2>&1 || { tail -n 30 "$TMP/up.log" >&2; return 1; }
  gpu_slurm_up bench "$KUBECONFIG" "${MK_CLUSTER_SUBNET%.*}.1" || { cat "$GPU_SLURM_DIR.up.log" >&2; return 1; }
  export SLURM_CONF=$GPU_SLURM_CONF

  # running_id ARGS...: the id squeue lists for ARGS among RUNNING jobs.
  running_id() { squeue -h -t R -o %i "$@" 2>/dev/null | head -n1; }
  # Baseline: sbatch --wrap on the same idle Slurm.
  : >"$TMP/sbatch.ms"
  for i in $(seq 0 "$n"); do
    t0=$(now_ms)
    id=$(sbatch --parsable --partition=cpu --wrap 'sleep 1')
    until [ -n "$(running_id -j "$id")" ]; do
      [ $(($(now_ms) - t0)) -lt 30000 ] || { echo "gpu_bench: sbatch job $id not RUNNING within 30 s" >&2; return 1; }
      sleep 0.02
    done
    t1=$(now_ms)
    [ "$i" -gt 0 ] && echo $((t1 - t0)) >>"$TMP/sbatch.ms"  # (job 0: warm-up)
    wait_for 30 "sbatch job $id to end" sh -c "[ -z \"\$(squeue -h -j $id -o %i 2>/dev/null)\" ]"
  done

  # GPUJob created → Slurm job RUNNING (the job is named mk-<uid>).
  : >"$TMP/gpujob.ms"
  for i in $(seq 0 "$n"); do
    name=gb-$i
    t0=$(now_ms)
    uid=$(kubectl create -o jsonpath='{.metadata.uid}' -f - <<EOF
apiVersion: minik8s.io/v1
kind: GPUJob
metadata: {name: $name}
spec:
  run: sleep 1
  slurm: {partition: cpu, cpusPerTask: 1, time: "00:02:00"}
EOF
)
    # (job 0 also imports the submitter image on the node: a longer deadline)
    until [ -n "$(running_id -n "mk-$uid")" ]; do
      [ $(($(now_ms) - t0)) -lt $((i == 0 ? 300000 : 30000)) ] ||
        { echo "gpu_bench: GPUJob $name not RUNNING in Slurm in time: $(kubectl get gpujob "$name" -o jsonpath='{.status}')" >&2; return 1; }
      sleep 0.02
    done
    t1=$(now_ms)
    [ "$i" -gt 0 ] && echo $((t1 - t0)) >>"$TMP/gpujob.ms"
    wait_for 60 "GPUJob $name to complete" sh -c "[ \"\$(kubectl get gpujob $name -o jsonpath='{.status.phase}')\" = Completed ]"
    kubectl delete gpujob "$name" >/dev/null
    wait_for 30 "GPUJob $name and its submitter pod to go" sh -c \
      "[ -z \"\$(kubectl get gpujob $name -o name 2>/dev/null)\$(kubectl get pods -l minik8s.io/gpujob=$name -o name 2>/dev/null)\" ]"
  done
  echo "| plain \`sbatch --wrap\` submit → RUNNING (squeue), $n sequential, idle private Slurm (baseline) | $(p50_p90 "$TMP/sbatch.ms") | |"
  echo "| GPUJob created → its Slurm job RUNNING (submitter pod start, sbatch, squeue), $n sequential CPU jobs, same Slurm | $(p50_p90 "$TMP/gpujob.ms") | p50 ≤ 1 s |"
}

kernel_part() {
  # The CUDA kernels beside cuBLAS: on a machine with an NVIDIA GPU only
  # (written with examples/gpu/, helper "cuda").
  if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
    echo "| CUDA kernels (GFLOP/s beside cuBLAS) | skipped: no NVIDIA GPU on this machine | |"
    return 0
  fi
  echo "| CUDA kernels (GFLOP/s beside cuBLAS) | kernel part not in this tree yet | |"
}

case $PART in
  overhead) overhead_part ;;
  kernel) kernel_part ;;
  all) overhead_part; kernel_part ;;
  *) echo "usage: bench/gpu_bench.sh [BUILD_DIR] [overhead|kernel|all]" >&2; exit 2 ;;
esac
