# Shell helpers shared by the bench/*.sh scripts (source it; bash only).

# wait_for SECS WHAT CMD... : polls CMD every 0.1 s until it succeeds; after
# SECS prints "<script>: timed out waiting for WHAT" and returns 1.
wait_for() {
  local secs=$1 what=$2 deadline; shift 2
  deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "$(basename "$0" .sh): timed out waiting for $what" >&2; return 1; }
    sleep 0.1
  done
}

# pcts FILE [DECIMALS]: "p50 X ms, p99 Y ms (n=N, max Z ms)" of a file with
# one number of milliseconds per line (nearest rank); DECIMALS default 1.
pcts() {
  sort -n "$1" | awk -v d="${2:-1}" '{ v[NR] = $1 } END { if (NR == 0) { print "no samples"; exit }
    i50 = int(0.5 * (NR - 1) + 0.5) + 1; i99 = int(0.99 * (NR - 1) + 0.5) + 1
    f = "%." d "f"
    printf "p50 " f " ms, p99 " f " ms (n=%d, max " f " ms)", v[i50], v[i99], NR, v[NR] }'
}
