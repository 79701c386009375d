#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/) and runs each for
# SECONDS / number-of-targets seconds. Exits non-zero if any target crashes,
# leaks, times out or fails to build. Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
total=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
jobs=${FUZZ_BUILD_JOBS:-2}

# binutils' ar/ranlib (build-essential): CMake would take llvm-ar where the
# llvm package happens to be installed, which scripts/deps.sh does not install.
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DMINIK8S_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_AR=/usr/bin/ar -DCMAKE_RANLIB=/usr/bin/ranlib >/dev/null
cmake --build "$build" -j"$jobs" --target fuzz_all

targets=(fuzz_yaml fuzz_json fuzz_selector fuzz_quantity fuzz_patch fuzz_protobuf fuzz_dns)
per=$(( total / ${#targets[@]} ))
(( per < 1 )) && per=1
status=0
for t in "${targets[@]}"; do
  work="$build/fuzz-corpus/$t"
  artifacts="$build/fuzz-artifacts/$t/"
  mkdir -p "$work" "$artifacts"
  echo "== $t for ${per}s"
  if ! "$build/fuzz/$t" -max_total_time="$per" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
      -print_final_stats=1 -artifact_prefix="$artifacts" \
      "$work" "$root/test/fuzz/corpus/$t" >"$build/fuzz-$t.log" 2>&1; then
    echo "!! $t FAILED (log: $build/fuzz-$t.log, artifacts: $artifacts)"
    tail -n 40 "$build/fuzz-$t.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$build/fuzz-$t.log" | tail -n 1 || true
  fi
done
exit $status
