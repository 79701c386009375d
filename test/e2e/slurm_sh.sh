#!/usr/bin/env bash
# scripts/slurm.sh on the real Slurm 22.05 and munge: up → a CPU job
# completes with its output in the work directory → a GPU job is accepted and
# (on a machine without GPUs) stays PENDING with Slurm's reason → status →
# down leaves no daemon, port or directory. Also: up twice is a no-op, bad
# flags are refused, and an up that fails half way (a slurmd that will not
# start) stops what it started and removes its directory. Everything lives
# under a unique directory and ports; the trap runs `down` also on failure.
source "$(dirname "$0")/lib.sh"
SLURM_SH=$(cd "$(dirname "$0")/../.." && pwd)/scripts/slurm.sh
for c in slurmctld slurmd sbatch munged; do
  command -v "$c" >/dev/null || { echo "SKIP: $c not installed (scripts/deps.sh)"; exit 77; }
done
SD=/var/tmp/mk-e2e-slurm-$$
SD2=/var/tmp/mk-e2e-slurm-fail-$$
trap '"$SLURM_SH" down --dir "$SD" >/dev/null 2>&1; "$SLURM_SH" down --dir "$SD2" >/dev/null 2>&1; e2e_cleanup' EXIT

# Two free ports in a row (SlurmctldPort, SlurmdPort), away from the default.
# (below the ephemeral ports, 32768+: a client's local port blocks a bind too)
port_free() { ! ss -Htan exclude time-wait "sport = :$1" | grep -q .; }
BASE=$((18000 + ($$ % 2000) * 3))
until port_free "$BASE" && port_free $((BASE + 1)) && port_free $((BASE + 2)); do BASE=$((BASE + 3)); done

expect_fail "a relative --dir is refused" "must be an absolute path" "$SLURM_SH" up --dir rel/dir
expect_fail "a bad --address is refused" "must be an IPv4 address" "$SLURM_SH" up --dir "$SD" --address 'x;y'
expect_fail "a bad --port-base is refused" "must be a number" "$SLURM_SH" up --dir "$SD" --port-base 80
check "nothing was created by refused flags" test ! -e "$SD"

expect_out "up" "SLURM_CONF=$SD/slurm.conf" "$SLURM_SH" up --dir "$SD" --port-base "$BASE"
# Registration with a cluster (a server on loopback): the munge key Secret
# and the SlurmCluster `default`, on an `up` that finds Slurm already up.
start_server
"$SLURM_SH" up --dir "$SD" --port-base "$BASE" --kubeconfig "$KUBECONFIG" >"$E2E_DIR/up2.log" 2>&1
expect_out "up again says it is up" "^slurm.sh: already up in $SD " cat "$E2E_DIR/up2.log"
expect_out "and registers" "registered: Secret kube-system/slurm-munge and SlurmCluster default" cat "$E2E_DIR/up2.log"
# field PATH...: a value of the SlurmCluster (or Secret) as JSON, by keys
field() {
  local what=$1; shift
  "$BIN/mkctl" get $what -o json | /usr/bin/python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1:]:
    v = v[k]
print(v)' "$@"
}
check "the Secret holds the munge key" sh -c "'$BIN/mkctl' get secret -n kube-system slurm-munge -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)[\"data\"][\"munge.key\"])' | base64 -d | cmp - '$SD/munge/munge.key'"
expect_out "the SlurmCluster names slurmctld's address" "^127.0.0.1$" field "slurmcluster default" spec controller host
expect_out "the SlurmCluster names slurmctld's port" "^$BASE$" field "slurmcluster default" spec controller port
expect_out "the SlurmCluster's workDir is DIR/work" "^$SD/work$" field "slurmcluster default" spec workDir
check "the registration manifest (it holds the key) is root-only" sh -c "[ \"\$(stat -c %a '$SD/run/register.yaml')\" = 600 ]"
export SLURM_CONF=$SD/slurm.conf
PIDS="$(cat "$SD/run/munged.pid") $(cat "$SD/run/slurmctld.pid") $(cat "$SD/run/slurmd.pid")"
for p in $PIDS; do
  check "daemon $p names $SD in its command line" sh -c "tr '\\0' ' ' </proc/$p/cmdline | grep -qF '$SD/'"
done
# slurmctld's helper child (": slurmscriptd") does not name DIR; it must go with it.
SCRIPTD=$(pgrep -P "$(cat "$SD/run/slurmctld.pid")" | head -n1)
check "slurmctld has its slurmscriptd child" test -n "$SCRIPTD"
expect_out "slurmctld listens on the port base" "LISTEN" ss -Hltn "sport = :$BASE"
expect_out "the cpu partition's node is idle" "^cpu\\* +up .* idle " sinfo -h

# A CPU job runs to COMPLETED and writes its output in the work directory.
JOB=$(cd "$SD/work" && sbatch --parsable --wrap 'echo ran-on-$(hostname)')
check "sbatch gave a job id" test -n "$JOB"
poll 20 sh -c "scontrol show job -o $JOB | grep -q 'JobState=COMPLETED'"
expect_out "the CPU job completed with exit code 0" "JobState=COMPLETED .*ExitCode=0:0" scontrol show job -o "$JOB"
expect_out "the job's output is in the work directory" "^ran-on-" cat "$SD/work/slurm-$JOB.out"

# A GPU job: accepted; without GPUs it pends on the placeholder node.
GJOB=$(sbatch --parsable -p gpu --gres=gpu:1 --mem=1G --time=00:10:00 --chdir "$SD/work" --wrap true 2>&1)
check "sbatch -p gpu --gres=gpu:1 is accepted" test "$GJOB" -gt 0
if grep -q '^# gpu: real' "$SD/slurm.conf"; then
  poll 30 sh -c "scontrol show job -o $GJOB | grep -q 'JobState=COMPLETED'"
  expect_out "with GPUs the GPU job completes" "JobState=COMPLETED" scontrol show job -o "$GJOB"
else
  poll 10 sh -c "squeue -h -j $GJOB -o '%T %r' | grep -Eq '^PENDING (ReqNodeNotAvail|Nodes required)'"
  expect_out "the GPU job stays PENDING with Slurm's reason (squeue)" \
    "^PENDING (ReqNodeNotAvail|Nodes required for job are DOWN)" squeue -h -j "$GJOB" -o '%T %r'
  expect_out "scontrol shows the reason too" "JobState=PENDING Reason=(ReqNodeNotAvail|Resources|Nodes_required)" \
    scontrol show job -o "$GJOB"
  expect_out "the placeholder node is down with its reason" "no GPU on this machine" sinfo -h -R -o %E
fi
expect_out "status: daemons up, sinfo, squeue" "slurmctld: running .*" "$SLURM_SH" status --dir "$SD"

# down: jobs cancelled, daemons stopped, ports free, directory gone.
JOB2=$(cd "$SD/work" && sbatch --parsable --wrap 'sleep 600')
poll 10 sh -c "squeue -h -j $JOB2 -o %T | grep -q RUNNING"
expect_out "a long job runs before down" "RUNNING" squeue -h -j "$JOB2" -o %T
job_pids() {  # the processes of job $1 (their environment names it)
  local p
  for p in $(pgrep -x sleep); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "SLURM_JOB_ID=$1" && echo "$p"
  done
}
deadline=$((SECONDS + 5))
until SLEEP_PID=$(job_pids "$JOB2"); [ -n "$SLEEP_PID" ] || [ $SECONDS -ge $deadline ]; do sleep 0.05; done
check "the job's sleep runs" test -n "$SLEEP_PID"
expect_out "down" "removed $SD" "$SLURM_SH" down --dir "$SD"
for p in $PIDS; do
  check "daemon $p stopped" poll 5 sh -c "! kill -0 $p 2>/dev/null || grep -q '^State:.*Z' /proc/$p/status"
done
check "slurmscriptd ($SCRIPTD) stopped" poll 5 sh -c "! kill -0 $SCRIPTD 2>/dev/null || grep -q '^State:.*Z' /proc/$SCRIPTD/status"
check "no process names $SD" poll 5 sh -c "! pgrep -af -- '$SD/' | grep -v pgrep | grep -q ."
for p in $SLEEP_PID; do check "the job's sleep ($p) is gone" poll 5 sh -c "! kill -0 $p 2>/dev/null"; done
check "ports free" sh -c "! ss -Hltn | grep -Eq ':($BASE|$((BASE + 1))) '"
check "directory removed" test ! -e "$SD"
expect_out "down again is a no-op" "nothing to remove" "$SLURM_SH" down --dir "$SD"
expect_fail "status of nothing" "no private Slurm" "$SLURM_SH" status --dir "$SD"

# An up that fails half way (slurmd will not start) cleans up after itself.
mkdir -p "$E2E_DIR/fakebin"
printf '#!/bin/sh\necho "fake slurmd: refusing to start" >&2\nexit 1\n' >"$E2E_DIR/fakebin/slurmd"
chmod +x "$E2E_DIR/fakebin/slurmd"
expect_fail "up with a failing slurmd fails" "up failed; stopping what it started" \
  env PATH="$E2E_DIR/fakebin:$PATH" "$SLURM_SH" up --dir "$SD2" --port-base "$BASE"
check "the failed up removed its directory" test ! -e "$SD2"
check "the failed up left no process" poll 5 sh -c "! pgrep -af -- '$SD2/' | grep -v pgrep | grep -q ."
mkdir -p "$SD2"
expect_fail "a directory not made by slurm.sh is never taken over" "not a scripts/slurm.sh directory" \
  "$SLURM_SH" up --dir "$SD2" --port-base "$BASE"
check "and is left alone by down" sh -c "'$SLURM_SH' down --dir '$SD2'; test -d '$SD2'"
rmdir "$SD2"
e2e_finish
