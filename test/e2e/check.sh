# Shared checks for the shell e2e tests (source it): counters and the
# pass/fail/expect/eventually helpers every cluster test uses.
#   expect NAME REGEX CMD...         CMD exits 0 and its output matches
#   expect_fail NAME REGEX CMD...    CMD fails and its output matches
#   eventually SECS NAME REGEX CMD...  like expect, polled (every
#                                    $E2E_POLL s, default 0.3) until SECS pass
#   finish                           prints the counts; exit 1 on any failure
# A REGEX containing (.|\n) spans lines: it is matched against the whole
# output with newlines turned into spaces; any other REGEX line by line.
PASSED=${PASSED:-0}
FAILED=${FAILED:-0}
E2E_POLL=${E2E_POLL:-0.3}
pass() { echo "[PASS] $*"; PASSED=$((PASSED + 1)); }
fail() { echo "[FAIL] $*"; FAILED=$((FAILED + 1)); }
matches() {
  case "$1" in
    *'(.|\n)'*) grep -Eq -- "${1//'(.|\n)'/.}" <<<"$(tr '\n' ' ' <<<"$2")" ;;
    *) grep -Eq -- "$1" <<<"$2" ;;
  esac
}
expect() {
  local name=$1 re=$2 out rc; shift 2
  out=$("$@" 2>&1); rc=$?
  if [ $rc -eq 0 ] && matches "$re" "$out"; then pass "$name"; else
    fail "$name (exit $rc, wanted /$re/)"; sed 's/^/    /' <<<"$out" | head -n 20; fi
}
expect_fail() {
  local name=$1 re=$2 out rc; shift 2
  out=$("$@" 2>&1); rc=$?
  if [ $rc -ne 0 ] && matches "$re" "$out"; then pass "$name"; else
    fail "$name (exit $rc, wanted failure /$re/)"; sed 's/^/    /' <<<"$out" | head -n 20; fi
}
eventually() {
  local secs=$1 name=$2 re=$3 out rc deadline; shift 3
  deadline=$((SECONDS + secs))
  while :; do
    out=$("$@" 2>&1); rc=$?
    if [ $rc -eq 0 ] && matches "$re" "$out"; then pass "$name"; return 0; fi
    if [ $SECONDS -ge $deadline ]; then
      fail "$name (exit $rc, wanted /$re/ within ${secs}s)"; sed 's/^/    /' <<<"$out" | head -n 20; return 1
    fi
    sleep "$E2E_POLL"
  done
}
finish() { echo "$PASSED passed, $FAILED failed"; [ "$FAILED" -eq 0 ]; exit $?; }
