#!/usr/bin/env bash
# `make test`: the whole suite. The fresh-root dependency check when its
# inputs changed, a bounded fuzz run, then every ctest label (unit,
# integration, deps, e2e, acceptance); ctest's summary and its time per label
# are the last thing printed, then the time of each phase.
#   FUZZ_SECONDS=N        fuzz budget (default 60; 0 skips the fuzz run)
#   MINIK8S_FRESH_ROOT=   auto (default): scripts/fresh_root_check.sh runs when
#                         scripts/deps.sh, a CMakeLists.txt or the dependency
#                         check changed since its last pass on this machine
#                         (a sha256 of those files in /var/tmp/minik8s-fresh-root.ok);
#                         1 always; 0 never
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
t_all=$SECONDS
times=()
fresh_failed=0

fresh_inputs() {
  { cat scripts/deps.sh scripts/check_deps.py scripts/fresh_root_check.sh
    find . -name CMakeLists.txt -not -path './build*' -not -path './.*' -print0 | LC_ALL=C sort -z | xargs -0 cat
  } | sha256sum | cut -d' ' -f1
}
STAMP=/var/tmp/minik8s-fresh-root.ok
case ${MINIK8S_FRESH_ROOT:-auto} in
  0) echo "== fresh root: skipped (MINIK8S_FRESH_ROOT=0)" ;;
  *)
    sum=$(fresh_inputs)
    if [ "${MINIK8S_FRESH_ROOT:-auto}" != 1 ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$sum" ]; then
      echo "== fresh root: deps.sh, the CMakeLists.txt files and the check are unchanged since its last pass here ($STAMP)"
    else
      echo "== fresh root: deps.sh + build of minik8s and mkctl in a minimal Debian 12 (scripts/fresh_root_check.sh)"
      t=$SECONDS
      # A failure (or a mirror that does not answer) fails make test at the
      # end; the rest of the suite still runs.
      if scripts/fresh_root_check.sh; then echo "$sum" >"$STAMP"; else fresh_failed=1; fi
      times+=("fresh root $((SECONDS - t)) s")
    fi ;;
esac

if [ "$FUZZ_SECONDS" -gt 0 ]; then
  echo "== fuzz (${FUZZ_SECONDS}s)"
  t=$SECONDS
  scripts/fuzz.sh "$FUZZ_SECONDS"
  times+=("fuzz build + run $((SECONDS - t)) s")
fi
echo "== ctest"
t=$SECONDS
rc=0
ctest --test-dir "$BUILD" --output-on-failure -j2 --timeout 900 || rc=$?
times+=("ctest $((SECONDS - t)) s")
# Why each skipped test was skipped (the one line it printed, e.g. no kubectl).
grep -h '^SKIPPED ' "$BUILD/Testing/Temporary/LastTest.log" 2>/dev/null | sort -u || true
echo "== make test phases: ${times[*]/%/;} total $((SECONDS - t_all)) s"
if [ "$fresh_failed" = 1 ]; then
  echo "== FAILED: scripts/fresh_root_check.sh (deps.sh or the build in a minimal Debian 12 root; its output is above)"
  rc=1
fi
exit $rc
