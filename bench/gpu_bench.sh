#!/usr/bin/env bash
# GPU benchmark (issue 15, docs/gpu.md): prints Markdown rows for
# docs/benchmarks.md. One function per part; main runs them in order.
#
#   bench/gpu_bench.sh [BUILD_DIR]          (BUILD_DIR default build)
#
# kernels: on a machine with an NVIDIA GPU (nvidia-smi -L) and nvcc (PATH or
#   /usr/local/cuda/bin), builds examples/gpu/matmul and matadd for the GPU
#   present (in a temp copy) and runs the tiled SGEMM kernel at 1024², 4096²
#   and 8192² with cuBLAS SGEMM on the same inputs in the same run
#   (`matmul N R --cublas`), and matadd at 8192²; one row per size. Without a
#   GPU or nvcc it prints one SKIP line. GPU_BENCH_SIZES overrides the sizes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export BIN=${BIN:-$BUILD/bin}
source "$ROOT/bench/lib.sh"
TMP=$(mktemp -d /tmp/minik8s-gpubench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

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

main() {
  bench_kernels
}

main "$@"
