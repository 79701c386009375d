#!/usr/bin/env bash
# GPU benchmark (issue 15, docs/gpu.md): prints Markdown rows for
# docs/benchmarks.md. One function per part; main runs them in order.
#
#   bench/gpu_bench.sh [BUILD_DIR] [overhead|kernels|all]   (default build, all)
#
# overhead: the job overhead, GPUJob object created → its Slurm job RUNNING,
#   BENCH_GPU_JOBS sequential CPU jobs (default 10, after one warm-up job that
#   also imports the submitter image on the node) on an idle private Slurm
#   (scripts/slurm.sh; each job finished and deleted before the next); beside
#   it, in the same run on the same Slurm, the baseline: plain `sbatch --wrap`
#   submit → RUNNING. Both timed the same way: t0 just before the command
#   that creates the object (kubectl create) or the job (sbatch), t1 when
#   `squeue -t R` first lists the job (polled every ~20 ms; the job runs
#   `sleep 1`, RUNNING long enough to be seen), each after a pause of
#   BENCH_GPU_IDLE_S (default 2) s plus a random fraction of a second. Target: p50 ≤ 1 s. A
#   single-node scripts/cluster.sh cluster (unique prefix and subnet, the
#   cluster lock held, removed on exit); slurmctld on the bridge address the
#   node's submitter pods reach. Needs slurm-wlm and munge, no GPU.
# kernels: on a machine with an NVIDIA GPU (nvidia-smi -L) and nvcc (PATH or
#   /usr/local/cuda/bin), builds examples/gpu/matmul and matadd for the GPU
#   present (in a temp copy) and runs the tiled SGEMM kernel at 1024², 4096²
#   and 8192² with cuBLAS SGEMM on the same inputs in the same run
#   (`matmul N R --cublas`), and matadd at 8192²; one row per size. Without a
#   GPU or nvcc it prints one SKIP line. GPU_BENCH_SIZES overrides the sizes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
PART=${2:-all}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export BIN=${BIN:-$BUILD/bin}
source "$ROOT/bench/lib.sh"
export PATH=$PATH:/usr/sbin
export MINIK8S_IMAGE_CACHE=${MINIK8S_IMAGE_CACHE:-/var/tmp/minik8s-image-cache}
TMP=$(mktemp -d /tmp/minik8s-gpubench.XXXXXX)
OWN_CLUSTER=""
cleanup() {
  set +e
  if [ -n "$OWN_CLUSTER" ]; then
    kubectl delete gpujobs --all --wait=false >/dev/null 2>&1
    gpu_slurm_down
    "$ROOT/scripts/cluster.sh" down >/dev/null 2>&1
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

find_nvcc() {
  if command -v nvcc >/dev/null 2>&1; then command -v nvcc
  elif [ -x /usr/local/cuda/bin/nvcc ]; then echo /usr/local/cuda/bin/nvcc
  fi
}

have_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; }

# A part prints its rows and returns non-zero when a measurement failed.

# field NAME LINE: the value of NAME=value in a RESULT line.
field() { sed -n "s/.* $1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

# The tiled SGEMM kernel beside cuBLAS, and matadd's bandwidth.
bench_kernels() {
  local nvcc_bin
  nvcc_bin=$(find_nvcc)
  if ! have_gpu; then
    echo "gpu_bench: kernels: SKIP (no NVIDIA GPU: nvidia-smi -L found none)"
    return 0
  fi
  if [ -z "$nvcc_bin" ]; then
    echo "gpu_bench: kernels: SKIP (nvcc not found on PATH or in /usr/local/cuda/bin)"
    return 0
  fi
  cp -r "$ROOT/examples/gpu/matmul" "$ROOT/examples/gpu/matadd" "$TMP/"
  rm -f "$TMP/matmul/matmul" "$TMP/matadd/matadd"
  make -s -C "$TMP/matmul" NVCC="$nvcc_bin" >"$TMP/build.log" 2>&1 &&
    make -s -C "$TMP/matadd" NVCC="$nvcc_bin" >>"$TMP/build.log" 2>&1 ||
    { cat "$TMP/build.log" >&2; echo "gpu_bench: the CUDA examples did not build" >&2; return 1; }
  echo "GPU: $(nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader | head -n1);" \
    "nvcc $("$nvcc_bin" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
  echo
  echo "| N | tiled kernel | cuBLAS SGEMM | kernel / cuBLAS | check |"
  echo "| --- | --- | --- | --- | --- |"
  local n reps out line k c failed=0
  for n in ${GPU_BENCH_SIZES:-1024 4096 8192}; do
    reps=20
    [ "$n" -ge 4096 ] && reps=10
    [ "$n" -ge 8192 ] && reps=5
    if ! out=$("$TMP/matmul/matmul" "$n" "$reps" --cublas 2>&1); then
      echo "$out" >&2
      echo "| $n | matmul failed (see above) | | | FAIL |"
      failed=1
      continue
    fi
    line=$(grep '^RESULT matmul' <<<"$out")
    k=$(field kernel_gflops "$line")
    c=$(field cublas_gflops "$line")
    echo "| ${n}² | $k GFLOP/s ($(field kernel_ms "$line") ms) | $c GFLOP/s |" \
      "$(awk -v k="$k" -v c="$c" 'BEGIN { printf "%.0f %%", c > 0 ? 100 * k / c : 0 }') |" \
      "$(grep -q ' PASS$' <<<"$line" && echo PASS || echo FAIL), max abs err $(field max_abs_err "$line") |"
  done
  echo
  echo "| matadd | bandwidth (3·4·N² bytes / time) | check |"
  echo "| --- | --- | --- |"
  if out=$("$TMP/matadd/matadd" 8192 20 2>&1); then
    line=$(grep '^RESULT matadd' <<<"$out")
    echo "| matadd 8192² | $(field gbs "$line") GB/s ($(field kernel_ms "$line") ms) | $(grep -q ' PASS$' <<<"$line" && echo PASS || echo FAIL) |"
  else
    echo "$out" >&2
    echo "| matadd 8192² | failed (see above) | FAIL |"
    failed=1
  fi
  return "$failed"
}

# p50/p90 (nearest rank) of a file with one number of milliseconds per line.
p50_p90() {
  sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR == 0) { print "no samples"; exit }
    i50 = int(0.5 * (NR - 1) + 0.5) + 1; i90 = int(0.9 * (NR - 1) + 0.5) + 1
    printf "p50 %d ms, p90 %d ms (n=%d, max %d ms)", v[i50], v[i90], NR, v[NR] }'
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

bench_overhead() {
  local b
  for b in minik8s mkctl; do
    [ -x "$BIN/$b" ] || { echo "gpu_bench: $BIN/$b is missing (cmake --build $BUILD --target $b)" >&2; return 2; }
  done
  for b in sbatch squeue scontrol slurmctld slurmd munged; do
    command -v "$b" >/dev/null || { echo "gpu_bench: $b is missing (scripts/deps.sh installs slurm-wlm and munge)" >&2; return 2; }
  done
  export MK_CLUSTER_PREFIX=mkgb$(($$ % 10000))
  export MK_CLUSTER_SUBNET=10.96.$(($$ % 200 + 20)).0/24
  export MK_CLUSTER_DIR=$TMP/cluster
  export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
  CL=$ROOT/scripts/cluster.sh
  local n=${BENCH_GPU_JOBS:-10} i t0 t1 id uid name
  . "$ROOT/test/e2e/gpu_lib.sh"
  exec 9>/tmp/mk-cluster.lock
  flock 9
  "$BIN/minik8s" image build slurm-submitter --cache-dir "$MINIK8S_IMAGE_CACHE" >"$TMP/image.log" 2>&1 ||
    { cat "$TMP/image.log" >&2; return 1; }
  OWN_CLUSTER=1
  "$CL" up 1 >"$TMP/up.log" 2>&1 || { tail -n 30 "$TMP/up.log" >&2; return 1; }
  gpu_slurm_up bench "$KUBECONFIG" "${MK_CLUSTER_SUBNET%.*}.1" || { cat "$GPU_SLURM_DIR.up.log" >&2; return 1; }
  export SLURM_CONF=$GPU_SLURM_CONF

  # running_id ARGS...: the id squeue lists for ARGS among RUNNING jobs.
  running_id() { squeue -h -t R -o %i "$@" 2>/dev/null | head -n1; }
  # Baseline: sbatch --wrap on the same idle Slurm.
  : >"$TMP/sbatch.ms"
  # Each measurement starts on an idle Slurm: the previous job gone, then a
  # pause of $idle s plus a random fraction of a second, so that submissions
  # do not line up with slurmctld's periodic work.
  local idle=${BENCH_GPU_IDLE_S:-2}
  for i in $(seq 0 "$n"); do
    sleep "$idle.$((RANDOM % 1000))"
    t0=$(now_ms)
    id=$(sbatch --parsable --partition=cpu --chdir="$GPU_SLURM_DIR/work" --output=/dev/null --wrap 'sleep 1')
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
    sleep "$idle.$((RANDOM % 1000))"
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

main() {
  case $PART in
    overhead) bench_overhead ;;
    kernels) bench_kernels ;;
    all) bench_overhead; bench_kernels ;;
    *) echo "usage: bench/gpu_bench.sh [BUILD_DIR] [overhead|kernels|all]" >&2; exit 2 ;;
  esac
}

main "$@"
