#!/usr/bin/env bash
# build.sh — finds nvcc and picks the -gencode flags for the GPU present.
# The Makefile asks it (bash build.sh --nvcc / --arch / --libdir); run alone
# it builds with make. The same file sits in every examples/gpu/ CUDA
# directory (a GPUJob uploads one directory); keep the copies identical.
#
#   nvcc:  $NVCC, else nvcc on PATH, else $CUDA_HOME/bin/nvcc, else
#          /usr/local/cuda/bin/nvcc.
#   arch:  $GPU_ARCH ("sm_80" or "sm_80 sm_90") when set; else the compute
#          capability of each GPU that nvidia-smi reports (8.0 → sm_80),
#          native code only; else (no GPU on the build machine) a fat binary:
#          the common architectures this nvcc supports (sm_70 … sm_90) plus
#          compute_90 PTX that the driver JIT-compiles for newer GPUs. An
#          architecture this nvcc does not support is replaced by PTX of the
#          newest one it does (the driver compiles it at load).
set -euo pipefail
cd "$(dirname "$0")"

find_nvcc() {
  local c
  if [ -n "${NVCC:-}" ] && ! [ -x "$NVCC" ]; then
    echo "build.sh: NVCC=$NVCC is not an executable file" >&2
    return 1
  fi
  for c in "${NVCC:-}" "$(command -v nvcc 2>/dev/null || true)" "${CUDA_HOME:+$CUDA_HOME/bin/nvcc}" \
    /usr/local/cuda/bin/nvcc; do
    if [ -n "$c" ] && [ -x "$c" ]; then
      echo "$c"
      return 0
    fi
  done
  echo "build.sh: nvcc not found (looked at \$NVCC, PATH, \$CUDA_HOME/bin, /usr/local/cuda/bin): install the CUDA toolkit" >&2
  return 1
}

# The directory with libcudart/libcublas beside this nvcc.
libdir() {
  local top
  top=$(cd "$(dirname "$(readlink -f "$(find_nvcc)")")/.." && pwd)
  for d in "$top/lib64" "$top/targets/$(uname -m)-linux/lib" "$top/lib"; do
    if [ -e "$d/libcudart.so" ] || [ -e "$d/libcudart_static.a" ]; then
      echo "$d"
      return 0
    fi
  done
  echo "$top/lib64"
}

gencode() { # sm_XY[a] → native code for it
  local n=${1#sm_}
  echo "-gencode=arch=compute_$n,code=sm_$n"
}

arch_flags() {
  local nvcc supported archs="" a caps oldest="" newest="" flags=""
  nvcc=$(find_nvcc)
  # "sm_75 sm_80 …" in numeric order; empty when this nvcc cannot list them
  # (then trust the request).
  supported=$("$nvcc" --list-gpu-code 2>/dev/null | grep -E '^sm_[0-9]+[a-z]?$' | sort -t_ -k2n | tr '\n' ' ' || true)
  for a in $supported; do
    [ -n "$oldest" ] || oldest=$a
    newest=$a
  done
  num() { local n=${1#sm_}; echo "${n%%[a-z]}"; }
  # sm_90a counts as sm_90 (the list names the base architectures only).
  supports() { [ -z "$supported" ] || [[ " $supported " == *" sm_$(num "$1") "* ]]; }

  if [ -n "${GPU_ARCH:-}" ]; then
    archs=$GPU_ARCH
  elif command -v nvidia-smi >/dev/null 2>&1 &&
    caps=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null) && [ -n "$caps" ]; then
    archs=$(echo "$caps" | tr -d ' .' | grep -E '^[0-9]+$' | sort -u | sed 's/^/sm_/' | tr '\n' ' ' || true)
    if [ -n "$archs" ]; then
      echo "build.sh: GPU compute capability $(echo "$caps" | sort -u | tr '\n' ' ')→ $archs" >&2
    else
      echo "build.sh: could not read a compute capability from nvidia-smi ('$(echo "$caps" | head -n1)')" >&2
    fi
  fi

  if [ -n "$archs" ]; then
    for a in $archs; do
      if ! [[ $a =~ ^sm_[0-9]+[a-z]?$ ]]; then
        echo "build.sh: bad architecture '$a' (want sm_XY, e.g. sm_80)" >&2
        return 1
      fi
      if supports "$a"; then
        flags+="$(gencode "$a") "
      elif [ "$(num "$a")" -lt "$(num "$oldest")" ]; then
        echo "build.sh: this nvcc ($("$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')) no longer supports $a (oldest: $oldest); build with an older CUDA toolkit" >&2
        return 1
      else
        echo "build.sh: this nvcc cannot compile for $a; embedding compute_${newest#sm_} PTX for the driver to JIT" >&2
        flags+="-gencode=arch=compute_${newest#sm_},code=compute_${newest#sm_} "
      fi
    done
  else
    local ptx=""
    for a in sm_70 sm_75 sm_80 sm_86 sm_89 sm_90; do
      if supports "$a"; then
        flags+="$(gencode "$a") "
        ptx=${a#sm_}
      fi
    done
    [ -n "$ptx" ] && flags+="-gencode=arch=compute_$ptx,code=compute_$ptx "
    echo "build.sh: no GPU found (nvidia-smi): fat binary $flags" >&2
  fi
  [ -n "$flags" ] || { echo "build.sh: no architecture to build for" >&2; return 1; }
  echo "${flags% }"
}

case "${1:-}" in
  --nvcc) find_nvcc ;;
  --arch) arch_flags ;;
  --libdir) libdir ;;
  "") exec make ;;
  *)
    echo "usage: build.sh [--nvcc|--arch|--libdir]" >&2
    exit 2
    ;;
esac
