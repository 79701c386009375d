#!/usr/bin/env bash
# examples/gpu/ (issue 15, docs/gpu.md "CUDA programs"): builds and checks the
# example programs on this machine, in a copy under a temp dir (nothing is
# built in the source tree).
# - cpu-matmul: built with make, run at two sizes (the full and the sampled
#   check) → PASS, the RESULT line and the --out file; bad arguments → exit 2;
# - the CUDA kernels run on the CPU through the emulator
#   (gpu_kernel_emu.cc + gpu_emu.h, ASan/UBSan): edges, odd sizes, alignment;
# - with nvcc (PATH or /usr/local/cuda/bin; else one SKIP line): matadd and
#   matmul compile with their Makefiles — for the GPU present, else for one
#   architecture (GPU_ARCH, to stay fast); the fat-binary flags build.sh
#   picks without a GPU are checked without compiling them; without a GPU
#   the binaries must say "no usable CUDA device" and exit 2;
# - with a GPU (nvidia-smi -L): matadd and matmul (+ cuBLAS) at sizes that
#   are and are not multiples of the tile → PASS.
# No server, no node: runs beside the other tests (NOLOCK).
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SRC=$ROOT/examples/gpu
W=$E2E_DIR/gpu
mkdir -p "$W"
cp -r "$SRC/matadd" "$SRC/matmul" "$SRC/cpu-matmul" "$W/"
# Leftovers of a build in the source tree must not be mistaken for ours.
rm -f "$W/matadd/matadd" "$W/matmul/matmul" "$W/cpu-matmul/cpu-matmul"

# expect_rc NAME RC PATTERN COMMAND... : exits with RC and the output matches the ERE.
expect_rc() {
  local name=$1 want=$2 pattern=$3; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -eq "$want" ] && grep -Eq -- "$pattern" <<<"$out"; then
    echo "[PASS] $name"; E2E_PASSED=$((E2E_PASSED + 1))
  else
    echo "[FAIL] $name (exit $rc, wanted $want and /$pattern/)"; echo "$out" | sed 's/^/    /' | head -n 40
    E2E_FAILED=$((E2E_FAILED + 1))
  fi
}
# check_timed NAME COMMAND... : check, then how long the command took.
check_timed() {
  local t0=$SECONDS
  check "$@"
  echo "    (took $((SECONDS - t0)) s)"
}

# --- the copies that must stay identical, the job files -------------------
check "build.sh identical in matadd/ and matmul/" cmp "$SRC/matadd/build.sh" "$SRC/matmul/build.sh"
check "gpu_common.h identical in matadd/ and matmul/" cmp "$SRC/matadd/gpu_common.h" "$SRC/matmul/gpu_common.h"
for d in matadd matmul cpu-matmul; do
  check "$d/job.yaml: a GPUJob that builds with make and runs ./$d" \
    bash -c 'grep -qx "apiVersion: minik8s.io/v1" "$1" && grep -qx "kind: GPUJob" "$1" &&
      grep -qx "  build: make" "$1" && grep -qE "^  run: \./$2( |\$)" "$1"' _ "$SRC/$d/job.yaml" "$d"
done
expect_out "matmul/job.yaml asks for one GPU on partition gpu" "partition: gpu.*gpus: 1" \
  bash -c 'tr "\n" " " <"$1"' _ "$SRC/matmul/job.yaml"
expect_out "cpu-matmul/job.yaml: partition cpu, gpus 0" "partition: cpu.*gpus: 0" \
  bash -c 'tr "\n" " " <"$1"' _ "$SRC/cpu-matmul/job.yaml"

# --- the CPU example -----------------------------------------------------
check_timed "cpu-matmul: make" make -s -C "$W/cpu-matmul"
expect_out "cpu-matmul 150: every entry checked, PASS" \
  "^check: 22500 entries \(all\), max abs error [0-9.e+-]+, max rel error [0-9.e+-]+: PASS" \
  bash -c 'cd "$1" && ./cpu-matmul 150 2 --out result.txt' _ "$W/cpu-matmul"
expect_out "cpu-matmul --out: the summary file" "^RESULT cpu-matmul N=150 kernel_ms=[0-9.]+ kernel_gflops=[0-9.]+ .* PASS$" \
  cat "$W/cpu-matmul/result.txt"
expect_out "cpu-matmul 300: sampled check, PASS" "^check: 1624 entries \(rows 0 and N-1, 1024 random\).*: PASS" \
  "$W/cpu-matmul/cpu-matmul" 300 1
expect_rc "cpu-matmul 0: exit 2 naming N" 2 "N must be an integer in \[1, 4096\], got '0'" "$W/cpu-matmul/cpu-matmul" 0
expect_rc "cpu-matmul without N: usage, exit 2" 2 "usage: cpu-matmul N" "$W/cpu-matmul/cpu-matmul"

# --- the CUDA kernels on the CPU (emulated) -------------------------------
check_timed "kernel emulator: g++ with ASan/UBSan" \
  g++ -std=c++20 -O1 -g -Wall -Wextra -Werror -Wno-unknown-pragmas -fsanitize=address,undefined \
  -fno-sanitize-recover=all -fno-strict-aliasing -pthread -I "$W" -o "$W/emu" "$(dirname "$0")/gpu_kernel_emu.cc"
expect_out "kernel emulator: sgemm (odd shapes, scalar and float4 paths) and matadd PASS" "^emu: all 19 cases PASS$" \
  env ASAN_OPTIONS=detect_leaks=0 "$W/emu"

# --- the CUDA programs ----------------------------------------------------
NVCC=$(command -v nvcc 2>/dev/null || true)
[ -n "$NVCC" ] || { [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc; }
HAVE_GPU=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then HAVE_GPU=1; fi

if [ -z "$NVCC" ]; then
  echo "SKIP CUDA programs: nvcc not found on PATH or in /usr/local/cuda/bin (install the CUDA toolkit to compile examples/gpu/matadd and matmul)"
else
  echo "nvcc: $NVCC ($("$NVCC" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'))"
  export NVCC
  if [ "$HAVE_GPU" = 1 ]; then
    nvidia-smi -L
    ARCH=""  # build.sh picks the GPU's own
  else
    # One architecture this nvcc supports, to keep the compile short.
    ARCH=""
    codes=" $("$NVCC" --list-gpu-code 2>/dev/null | tr '\n' ' ') "
    for a in sm_80 sm_90 sm_86 sm_89 sm_75 sm_100 sm_120; do
      if [[ $codes == *" $a "* ]]; then ARCH=$a; break; fi
    done
    ARCH=${ARCH:-sm_80}
    expect_out "build.sh without a GPU: a fat binary with PTX" \
      "-gencode=arch=compute_80,code=sm_80 .*-gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_90,code=compute_90$" \
      env -u GPU_ARCH PATH="/usr/bin:/bin" bash "$W/matmul/build.sh" --arch
    expect_rc "build.sh: GPU_ARCH with a bad name → error" 1 "bad architecture 'sm_8;0'" \
      env GPU_ARCH='sm_8;0' bash "$W/matmul/build.sh" --arch
  fi
  # The Makefile's flags plus warnings as errors (host and device).
  flags="-O3 -std=c++17 -lineinfo -Xcompiler -Wall,-Wextra,-Werror -Werror all-warnings"
  for p in matadd matmul; do
    check_timed "$p: make${ARCH:+ GPU_ARCH=$ARCH} (warnings are errors)" \
      make -s -C "$W/$p" ${ARCH:+GPU_ARCH=$ARCH} NVCCFLAGS="$flags"
  done
  if [ "$HAVE_GPU" = 0 ]; then
    for p in matadd matmul; do
      expect_rc "$p without a GPU: 'no usable CUDA device', exit 2" 2 "^$p: no usable CUDA device: cudaGetDeviceCount: " \
        "$W/$p/$p" 64
    done
    expect_rc "matmul: unknown option → exit 2 before touching the GPU" 2 "unknown option '-5x'" \
      "$W/matmul/matmul" -5x
    expect_rc "matmul: N not a number → exit 2" 2 "N must be an integer in \[1, 16384\], got '5x'" "$W/matmul/matmul" 5x
  else
    expect_out "matadd 1000 (n % 4 = 0) on the GPU: PASS" "^RESULT matadd N=1000 .* PASS$" "$W/matadd/matadd" 1000 3
    expect_out "matadd 1001 (a tail) on the GPU: PASS" "^RESULT matadd N=1001 .* PASS$" "$W/matadd/matadd" 1001 3
    expect_out "matmul 512 + cuBLAS on the GPU: PASS" "^RESULT matmul N=512 .* PASS$" "$W/matmul/matmul" 512 3 --cublas
    expect_out "matmul 1001 (edges, scalar loads) on the GPU: PASS" "^RESULT matmul N=1001 .* PASS$" "$W/matmul/matmul" 1001 3
    expect_out "matmul 1028 (partial tiles, float4 loads) on the GPU: PASS" "^RESULT matmul N=1028 .* PASS$" \
      "$W/matmul/matmul" 1028 3
  fi
fi
e2e_finish
