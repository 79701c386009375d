# need_kubectl (source it, then call it before anything else): the test
# drives a cluster with the stock kubectl. kubectl 1.27+ is not a Debian
# package, so scripts/deps.sh cannot install it; where none is on PATH the
# test prints one line saying so and exits 77, which ctest counts as
# Skipped (SKIP_RETURN_CODE 77 in test/CMakeLists.txt), and the rest of the
# suite still runs. MINIK8S_REQUIRE_KUBECTL=1 turns the skip into a failure.
need_kubectl() {
  local why="" minor
  if ! command -v kubectl >/dev/null 2>&1; then
    why="no kubectl on PATH"
  else
    minor=$(kubectl version --client -o json 2>/dev/null | sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p' | head -n1)
    if [ -z "$minor" ]; then why="'kubectl version --client' on PATH did not answer"
    elif [ "$minor" -lt 27 ]; then why="kubectl on PATH is 1.$minor"; fi
  fi
  [ -z "$why" ] && return 0
  echo "SKIPPED $(basename "$0"): it drives the cluster with stock kubectl 1.27+ and $why (kubectl is not a Debian package: install it by hand, see docs/development.md)"
  [ "${MINIK8S_REQUIRE_KUBECTL:-0}" = 1 ] && exit 1
  exit 77
}
