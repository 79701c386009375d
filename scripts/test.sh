#!/usr/bin/env bash
# `make test`: the whole suite. A bounded fuzz run first, then every ctest
# label (unit, integration, e2e); ctest's summary is the last thing printed.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}

if [ "$FUZZ_SECONDS" -gt 0 ]; then
  echo "== fuzz (${FUZZ_SECONDS}s)"
  scripts/fuzz.sh "$FUZZ_SECONDS"
fi
echo "== ctest"
ctest --test-dir "$BUILD" --output-on-failure -j2 --timeout 900
