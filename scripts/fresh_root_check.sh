#!/usr/bin/env bash
# A second machine in miniature: a minimal Debian 12 root (mmdebstrap
# --variant=minbase bookworm, with this host's apt sources), then, inside it,
# exactly what a new user's `make run` does before starting the cluster:
# scripts/deps.sh, configure, and build minik8s and mkctl. Fails when deps.sh
# misses something the build needs. docs/development.md, "Dependencies".
#   scripts/fresh_root_check.sh            (root; ~3–6 min, mostly apt)
# The host's .deb cache is hard-linked into the root and the host's ccache
# is mounted, so a second run downloads and compiles little. The root lives
# under /var/tmp/minik8s-fresh-root.XXXXXX and is removed at exit, also on
# failure (mounts first, by the paths this script made).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "fresh-root: needs root (mmdebstrap, chroot, mounts)" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "fresh-root: mmdebstrap missing: run scripts/deps.sh" >&2; exit 1; }
# A mount namespace of its own with private propagation: no bind made here
# reaches the host's mount table (on a host whose / is shared, a bind over
# the checkout's build/ would otherwise show there too), nothing the host
# mounts meanwhile shows here, and every mount goes with the process, even
# when it is killed before its cleanup runs.
if [ -z "${MK_FRESH_ROOT_NS:-}" ]; then
  exec env MK_FRESH_ROOT_NS=1 unshare --mount --propagation private "$0" "$@"
fi
WORK=$(realpath "$(mktemp -d /var/tmp/minik8s-fresh-root.XXXXXX)")
R=$WORK/root
MOUNTS=()
cleanup() {
  local i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}" 2>/dev/null || true
  done
  # Never delete through a bind mount (the checkout, the ccache, /dev).
  if grep -q " $WORK/" /proc/self/mounts; then
    echo "fresh-root: mounts are left under $WORK; not removing it:" >&2
    grep " $WORK/" /proc/self/mounts >&2
    return 1
  fi
  rm -rf --one-file-system "$WORK"
}
trap 'rc=$?; cleanup || rc=1; exit $rc' EXIT
t0=$SECONDS
step() { echo "fresh-root [$((SECONDS - t0)) s]: $*"; }

# The host's apt sources (Debian 12 and its updates), so the root gets the
# same package versions as the host, whose .deb cache it then reuses.
sources=()
[ -s /etc/apt/sources.list ] && sources+=(/etc/apt/sources.list)
# Only Debian's own archives (a third-party list would need its keyring).
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
  if [ -f "$f" ] && grep -Eq '(deb|security)\.debian\.org|debian-archive-keyring' "$f" &&
    ! grep -Ev '^\s*(#|$)' "$f" | grep -E '^(URIs:|deb)' | grep -Evq '(deb|security)\.debian\.org'; then
    sources+=("$f")
  fi
done
[ ${#sources[@]} -gt 0 ] || sources=(http://deb.debian.org/debian)

step "mmdebstrap --variant=minbase bookworm $R"
mmdebstrap --variant=minbase --skip=cleanup/apt/cache \
  --setup-hook='cp -al /var/cache/apt/archives/*.deb "$1/var/cache/apt/archives/" 2>/dev/null || true' \
  bookworm "$R" "${sources[@]}" >"$WORK/mmdebstrap.log" 2>&1 ||
  { tail -n 30 "$WORK/mmdebstrap.log" >&2; exit 1; }
cp /etc/resolv.conf "$R/etc/resolv.conf"

bind() {  # bind SRC DST [ro]
  mkdir -p "$2"
  mount --bind "$1" "$2"
  MOUNTS+=("$2")
  if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}
mount -t proc proc "$R/proc"
MOUNTS+=("$R/proc")
bind /dev "$R/dev"
bind /sys "$R/sys"
# The checkout read-only at the same path (so ccache's keys match the host's
# build), an empty build directory over its build/, and the host's ccache.
# (build/ must exist before the checkout is read-only: a fresh clone has none)
mkdir -p "$ROOT/build" "$WORK/build"
bind "$ROOT" "$R$ROOT" ro
bind "$WORK/build" "$R$ROOT/build"
CCACHE_HOST=$(ccache -k cache_dir 2>/dev/null || echo /root/.cache/ccache)
mkdir -p "$CCACHE_HOST"
bind "$CCACHE_HOST" "$R/ccache"
# The environment inside: a clean one, but the host's locale (ccache hashes
# LANG and LC_*; another value would miss every entry the host build made).
ENV=(/usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root)
for v in LANG LC_ALL LC_CTYPE LC_MESSAGES; do if [ -n "${!v:-}" ]; then ENV+=("$v=${!v}"); fi; done

step "scripts/deps.sh inside the root"
chroot "$R" "${ENV[@]}" bash -c "cd '$ROOT' && scripts/deps.sh"
step "configure and build minik8s and mkctl inside the root"
if ! chroot "$R" "${ENV[@]}" CCACHE_DIR=/ccache bash -c "cd '$ROOT' && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
    cmake --build build -j\${JOBS:-2} --target minik8s mkctl" >"$WORK/build.log" 2>&1; then
  echo "fresh-root: the build failed in a fresh Debian 12 root after scripts/deps.sh; the end of its log:" >&2
  tail -n 40 "$WORK/build.log" >&2
  exit 1
fi
chroot "$R" "$ROOT/build/bin/minik8s" --help >/dev/null 2>&1 ||
  { echo "fresh-root: the built minik8s does not start in the root" >&2; exit 1; }
step "OK: deps.sh, configure and the build of minik8s and mkctl work on a minimal Debian 12"
