#!/usr/bin/env bash
# A private Slurm 22.05 on this machine, for development and CI (docs/gpu.md
# "Private Slurm"; RECIPES.md "Slurm 22.05 on one machine").
#
#   scripts/slurm.sh up [--kubeconfig FILE] [--dir DIR] [--address IP] [--port-base N]
#   scripts/slurm.sh down [--dir DIR]
#   scripts/slurm.sh status [--dir DIR]
#
# Everything lives under DIR (default /var/tmp/minik8s-slurm; env
# MINIK8S_SLURM_DIR): munged with its own generated key, socket, pid and log
# (DIR/munge), slurmctld and one slurmd with their own ports (SlurmctldPort =
# the port base, SlurmdPort = base + 1; default base 16817, env
# MINIK8S_SLURM_PORT_BASE), state, spool and logs (DIR/state, DIR/spool,
# DIR/log), the config DIR/slurm.conf, and DIR/work, the directory jobs run in
# (the SlurmCluster's workDir). Each daemon's command line names DIR, so
# `ps` tells which private Slurm a process belongs to; `down` stops them by
# the PIDs in their pid files, and only after checking that PID's command
# line still names DIR.
#
# Partitions: `cpu` (default) is this machine's node (its CPUs and memory);
# `gpu` is the same node with Gres=gpu:N when `nvidia-smi -L` lists N GPUs,
# otherwise a placeholder node (<host>-gpu0, Gres=gpu:1, State=DOWN) that
# never comes up: a GPU job is accepted and stays PENDING with Slurm's reason
# (ReqNodeNotAvail).
#
# --address: the address slurmctld and slurmd are reached at (SlurmctldHost
# and NodeAddr; default 127.0.0.1): for clusters whose nodes live in network
# namespaces, the root namespace's address on their bridge. The daemons
# listen on every address.
#
# --kubeconfig FILE: also registers this Slurm with that minik8s cluster: the
# Secret kube-system/slurm-munge (munge.key) and the SlurmCluster `default`
# (kubectl when on PATH, else build/bin/mkctl).
#
# `up` is idempotent (already up: prints the settings, registers again when
# asked); a failed `up` stops what it started and removes DIR. Clients need
# SLURM_CONF=DIR/slurm.conf (printed by up and status).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${MINIK8S_SLURM_DIR:-/var/tmp/minik8s-slurm}
ADDRESS=${MINIK8S_SLURM_ADDRESS:-127.0.0.1}
PORT_BASE=${MINIK8S_SLURM_PORT_BASE:-16817}
KUBECONFIG_FILE=""
CLUSTER_NAME=minik8s
MARKER=.minik8s-slurm   # marks DIR as ours: down removes only such a directory

# fd 4: stderr, also where a command's output is discarded (wait_for). The
# daemons must not inherit it (4>&-): they would hold a caller's pipe open.
exec 4>&2
say() { echo "slurm.sh: $*"; }
die() { echo "slurm.sh: $*" >&2; exit 1; }

usage() {
  sed -n 's/^#   \(scripts\/slurm.sh .*\)/\1/p' "$0" >&2
  exit 2
}

parse_flags() {
  local cmd=$1; shift
  while [ $# -gt 0 ]; do
    case "$1" in
      --dir) [ $# -ge 2 ] || die "--dir needs a value"; DIR=$2; shift 2 ;;
      --dir=*) DIR=${1#--dir=}; shift ;;
      --address) [ "$cmd" = up ] && [ $# -ge 2 ] || usage; ADDRESS=$2; shift 2 ;;
      --address=*) [ "$cmd" = up ] || usage; ADDRESS=${1#--address=}; shift ;;
      --port-base) [ "$cmd" = up ] && [ $# -ge 2 ] || usage; PORT_BASE=$2; shift 2 ;;
      --port-base=*) [ "$cmd" = up ] || usage; PORT_BASE=${1#--port-base=}; shift ;;
      --kubeconfig) [ "$cmd" = up ] && [ $# -ge 2 ] || usage; KUBECONFIG_FILE=$2; shift 2 ;;
      --kubeconfig=*) [ "$cmd" = up ] || usage; KUBECONFIG_FILE=${1#--kubeconfig=}; shift ;;
      -h|--help) usage ;;
      *) echo "slurm.sh: unknown argument '$1'" >&2; usage ;;
    esac
  done
  # DIR reaches config files and rm -rf: absolute, plain characters, not /.
  [[ "$DIR" =~ ^/[A-Za-z0-9._/-]+$ ]] && [[ "$DIR" != *..* ]] ||
    die "--dir must be an absolute path of [A-Za-z0-9._/-] without '..' (got '$DIR')"
  DIR=${DIR%/}
  [ -n "$DIR" ] && [ "$DIR" != / ] || die "--dir must not be /"
  [[ "$ADDRESS" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] || die "--address must be an IPv4 address (got '$ADDRESS')"
  [[ "$PORT_BASE" =~ ^[0-9]{1,5}$ ]] && [ "$PORT_BASE" -ge 1024 ] && [ "$PORT_BASE" -le 65533 ] ||
    die "--port-base must be a number 1024..65533 (got '$PORT_BASE')"
  if [ -n "$KUBECONFIG_FILE" ]; then
    [ -f "$KUBECONFIG_FILE" ] || die "--kubeconfig: no such file '$KUBECONFIG_FILE'"
  fi
  CONF=$DIR/slurm.conf
  MUNGE_SOCKET=$DIR/munge/munge.socket
  WORK=$DIR/work
}

# pid_of NAME: the PID in DIR/run/NAME.pid when that process runs and its
# command line names DIR; empty otherwise.
pid_of() {
  local f=$DIR/run/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(tr -dc 0-9 <"$f")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
  if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$DIR/"; then echo "$pid"; fi
}

# stop NAME: SIGTERM to its PID, SIGKILL after 10 s.
stop() {
  local pid
  pid=$(pid_of "$1")
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + 10))
  while [ -d "/proc/$pid" ] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      say "$1 (pid $pid) did not stop on SIGTERM; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.05
  done
  say "stopped $1 (pid $pid)"
}

slurm_env() { SLURM_CONF=$CONF "$@"; }

# The settings clients and the SlurmCluster need.
print_settings() {
  cat <<EOF
SLURM_CONF=$CONF
slurmctld: $(ctl_name)($(conf_value SlurmctldHost | sed 's/.*(\(.*\))/\1/')) port $(conf_value SlurmctldPort)
slurmd:    port $(conf_value SlurmdPort)
munge:     socket $MUNGE_SOCKET, key $DIR/munge/munge.key
workDir:   $WORK
partitions: cpu (default), gpu ($(gpu_mode))
EOF
  echo "use it:  export SLURM_CONF=$CONF; sbatch --wrap hostname"
}

conf_value() { sed -n "s/^$1=//p" "$CONF" | head -n1; }
ctl_name() { conf_value SlurmctldHost | sed 's/(.*//'; }
gpu_mode() {
  if grep -q '^# gpu: real' "$CONF" 2>/dev/null; then echo "this node's GPUs"; else
    echo "placeholder node, no GPU: GPU jobs stay PENDING"; fi
}

# ---- up ----

STARTED_BY_US=0
up_failed() {
  local rc=$?
  [ "$STARTED_BY_US" = 1 ] || exit $rc
  echo "slurm.sh: up failed; stopping what it started and removing $DIR" >&2
  for f in slurmd.log slurmctld.log; do
    [ -f "$DIR/log/$f" ] && { echo "--- the end of $DIR/log/$f:" >&2; tail -n 15 "$DIR/log/$f" >&2; }
  done
  [ -f "$DIR/munge/munged.log" ] && { echo "--- the end of $DIR/munge/munged.log:" >&2; tail -n 5 "$DIR/munge/munged.log" >&2; }
  stop slurmd || true; stop slurmctld || true; stop munged || true
  [ -f "$DIR/$MARKER" ] && rm -rf "$DIR"
  exit $rc
}

# Any TCP socket on the port, listening or not: an outgoing connection's local
# port blocks a listener's bind too (keep --port-base below the ephemeral
# range, /proc/sys/net/ipv4/ip_local_port_range, 32768+ on Debian).
port_in_use() { ss -Htan exclude time-wait "sport = :$1" 2>/dev/null | grep -q .; }

write_conf() {
  local short_host cpus mem_mb gpus node_name gpu_node
  short_host=$(hostname -s)
  [[ "$short_host" =~ ^[A-Za-z0-9][A-Za-z0-9-]*$ ]] || die "this host's name '$short_host' is not a usable Slurm node name"
  node_name=$short_host
  cpus=$(nproc --all)
  # RealMemory: a little under MemTotal (slurmd reports what it sees).
  mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.95 }' /proc/meminfo)
  gpus=0
  if command -v nvidia-smi >/dev/null 2>&1; then
    gpus=$( (nvidia-smi -L 2>/dev/null || true) | grep -c '^GPU [0-9]' || true)
  fi
  {
    echo "# Written by scripts/slurm.sh up: a private Slurm under $DIR."
    if [ "$gpus" -gt 0 ]; then echo "# gpu: real, $gpus GPU(s)"; else echo "# gpu: placeholder"; fi
    cat <<EOF
ClusterName=$CLUSTER_NAME
SlurmctldHost=$short_host($ADDRESS)
SlurmctldPort=$PORT_BASE
SlurmdPort=$((PORT_BASE + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/slurmd
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
MinJobAge=600
SchedulerType=sched/backfill
# Schedule a submitted batch job at once instead of batching submissions
# (defaults: batch_sched_delay 3 s, sched_min_interval 2 ms): on an idle
# node sbatch → RUNNING falls from 1.9–2.5 s to under 1 s.
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
GresTypes=gpu
EOF
    if [ "$gpus" -gt 0 ]; then
      echo "NodeName=$node_name NodeAddr=$ADDRESS CPUs=$cpus RealMemory=$mem_mb Gres=gpu:$gpus State=UNKNOWN"
      echo "PartitionName=cpu Nodes=$node_name Default=YES MaxTime=INFINITE State=UP"
      echo "PartitionName=gpu Nodes=$node_name Default=NO MaxTime=INFINITE State=UP"
    else
      # The placeholder: DOWN with a Reason (FUTURE is accepted too, but the
      # partition then shows no node and the job's reason is a vague
      # "ReqNodeNotAvail, May be reserved for other job"), on a port nothing
      # listens on, so it is never pinged back to life. As large as this
      # machine: a job asking for more CPUs or memory than any node of the
      # partition has is refused at submit ("Requested node configuration
      # is not available") instead of pending.
      gpu_node=$short_host-gpu0
      echo "NodeName=$node_name NodeAddr=$ADDRESS CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN"
      echo "NodeName=$gpu_node NodeAddr=$ADDRESS Port=$((PORT_BASE + 2)) CPUs=$cpus RealMemory=$mem_mb Gres=gpu:1 State=DOWN Reason=\"no GPU on this machine (scripts/slurm.sh placeholder)\""
      echo "PartitionName=cpu Nodes=$node_name Default=YES MaxTime=INFINITE State=UP"
      echo "PartitionName=gpu Nodes=$gpu_node Default=NO MaxTime=INFINITE State=UP"
    fi
  } >"$CONF"
  {
    echo "# Written by scripts/slurm.sh up."
    echo "AutoDetect=off"
    if [ "$gpus" -gt 0 ]; then
      local i=0 f
      for f in $(ls /dev/nvidia[0-9]* 2>/dev/null | sort -V); do  # nvidia2 before nvidia10
        [ -e "$f" ] && [ $i -lt "$gpus" ] || continue
        echo "NodeName=$node_name Name=gpu File=$f"
        i=$((i + 1))
      done
    fi
  } >"$DIR/gres.conf"
}

cmd_up() {
  for c in munged mungekey slurmctld slurmd sinfo sbatch; do
    command -v "$c" >/dev/null 2>&1 || die "$c not found: run scripts/deps.sh (Debian packages slurmctld slurmd slurm-client munge)"
  done
  local ctl d mu
  ctl=$(pid_of slurmctld); d=$(pid_of slurmd); mu=$(pid_of munged)
  if [ -n "$ctl" ] && [ -n "$d" ] && [ -n "$mu" ]; then
    say "already up in $DIR (munged $mu, slurmctld $ctl, slurmd $d)"
    print_settings
    [ -z "$KUBECONFIG_FILE" ] || register
    return 0
  fi
  if [ -e "$DIR" ]; then
    if [ -f "$DIR/$MARKER" ]; then
      say "$DIR holds a private Slurm that is not fully up (munged '${mu}', slurmctld '${ctl}', slurmd '${d}'): taking it down first"
      cmd_down
    else
      die "$DIR exists and is not a scripts/slurm.sh directory (no $MARKER): choose another --dir"
    fi
  fi
  for p in "$PORT_BASE" $((PORT_BASE + 1)); do
    port_in_use "$p" && die "port $p is in use (SlurmctldPort/SlurmdPort): choose another --port-base"
  done

  local t0=$SECONDS
  STARTED_BY_US=1
  trap up_failed EXIT
  trap 'exit 130' INT TERM
  mkdir -p "$DIR"
  chmod 0755 "$DIR"
  : >"$DIR/$MARKER"
  mkdir -p "$DIR/munge" "$DIR/state" "$DIR/spool/slurmd" "$DIR/log" "$DIR/run" "$WORK"
  # munged: the socket directory must be searchable by all; the key is 0400.
  chmod 0755 "$DIR/munge"
  chmod 0700 "$DIR/state"
  # Jobs may run as any user: the work directory is shared, like /tmp.
  chmod 1777 "$WORK"

  mungekey --create --keyfile="$DIR/munge/munge.key"
  chmod 0400 "$DIR/munge/munge.key"
  # munged forks; --pid-file is written by the daemon.
  munged --socket="$MUNGE_SOCKET" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/run/munged.pid" --log-file="$DIR/munge/munged.log" \
    --seed-file="$DIR/munge/munged.seed" --num-threads=2 4>&-
  wait_for "munged socket" 10 test -S "$MUNGE_SOCKET"
  # the pid file can trail the socket by a moment
  wait_for "munged pid file" 10 sh -c "[ -s '$DIR/run/munged.pid' ]"

  write_conf
  slurmctld -f "$CONF" 4>&-
  slurmd -f "$CONF" -N "$(hostname -s)" 4>&-
  # (each daemon writes its pid file a moment after its parent returns)
  wait_for "slurmctld pid file" 10 test -s "$DIR/run/slurmctld.pid"
  wait_for "slurmd pid file" 10 test -s "$DIR/run/slurmd.pid"
  wait_for "slurmctld answering" 20 daemons_alive_and slurm_env scontrol ping
  wait_for "node $(hostname -s) idle" 30 daemons_alive_and node_idle
  [ -n "$(pid_of slurmctld)" ] && [ -n "$(pid_of slurmd)" ] && [ -n "$(pid_of munged)" ] ||
    die "a daemon is not running after start (munged '$(pid_of munged)', slurmctld '$(pid_of slurmctld)', slurmd '$(pid_of slurmd)')"
  [ -z "$KUBECONFIG_FILE" ] || register
  # Up: from here on a failure (even a closed stdout) leaves it running.
  trap - EXIT INT TERM
  STARTED_BY_US=0
  say "up in $DIR in $((SECONDS - t0)) s (munged $(pid_of munged), slurmctld $(pid_of slurmctld), slurmd $(pid_of slurmd))"
  print_settings
}

# daemons_alive_and COMMAND...: the command's status while munged, slurmctld
# and slurmd run; a daemon that died (a port taken, a bad config) ends up
# at once instead of at the deadline.
daemons_alive_and() {
  local n
  for n in munged slurmctld slurmd; do
    [ -n "$(pid_of "$n")" ] || { echo "slurm.sh: $n exited during start" >&4; exit 1; }
  done
  "$@"
}

node_idle() { slurm_env sinfo -h -N -n "$(hostname -s)" -p cpu -o %T | grep -qx idle; }

# wait_for WHAT SECONDS COMMAND...: polls the command until it succeeds.
wait_for() {
  local what=$1 limit=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "timed out after ${limit} s waiting for $what"
    sleep 0.05
  done
}

# register: the munge Secret and the SlurmCluster `default` in the cluster
# of KUBECONFIG_FILE.
register() {
  local kc
  if command -v kubectl >/dev/null 2>&1; then
    kc=(kubectl --kubeconfig "$KUBECONFIG_FILE")
  elif [ -x "$ROOT/build/bin/mkctl" ]; then
    kc=("$ROOT/build/bin/mkctl" --kubeconfig "$KUBECONFIG_FILE")
  else
    die "--kubeconfig needs kubectl on PATH or $ROOT/build/bin/mkctl"
  fi
  local key_b64 ctl_host
  key_b64=$(base64 -w0 "$DIR/munge/munge.key")
  ctl_host=$(conf_value SlurmctldHost | sed 's/.*(\(.*\))/\1/')
  local manifest=$DIR/run/register.yaml
  # it holds the key: readable by root only
  rm -f "$manifest"
  (umask 077; : >"$manifest")
  cat >"$manifest" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: slurm-munge
  namespace: kube-system
  labels: {app.kubernetes.io/managed-by: minik8s-slurm-sh}
type: Opaque
data:
  munge.key: $key_b64
---
apiVersion: minik8s.io/v1
kind: SlurmCluster
metadata:
  name: default
  labels: {app.kubernetes.io/managed-by: minik8s-slurm-sh}
spec:
  controller: {host: "$ctl_host", name: "$(ctl_name)", port: $(conf_value SlurmctldPort)}
  clusterName: $CLUSTER_NAME
  auth:
    type: munge
    secretRef: {namespace: kube-system, name: slurm-munge, key: munge.key}
  workDir: "$WORK"
  submitterImage: minik8s.io/slurm-submitter:1
  pollIntervalSeconds: 1
EOF
  # Replace, not merge: a previous `up` had another key and maybe other settings.
  "${kc[@]}" delete -f "$manifest" --ignore-not-found >/dev/null 2>&1 || true
  "${kc[@]}" apply -f "$manifest" || die "registering with the cluster of $KUBECONFIG_FILE failed"
  say "registered: Secret kube-system/slurm-munge and SlurmCluster default (kubeconfig $KUBECONFIG_FILE)"
}

# ---- down ----

cmd_down() {
  if [ ! -e "$DIR" ]; then say "nothing to remove at $DIR"; return 0; fi
  [ -f "$DIR/$MARKER" ] || die "$DIR is not a scripts/slurm.sh directory (no $MARKER): not touching it"
  if [ -n "$(pid_of slurmctld)" ] && [ -n "$(pid_of munged)" ]; then
    local ids
    ids=$(slurm_env squeue -h -o %A 2>/dev/null || true)
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086
      slurm_env scancel $ids 2>/dev/null || true
      say "cancelled jobs: $(echo $ids)"
      # Running jobs end through slurmd; wait until none is left in
      # a running or completing state, so no job step outlives slurmd
      # (without slurmd nothing would ever report them ended).
      local deadline=$((SECONDS + 15))
      while [ -n "$(pid_of slurmd)" ] && slurm_env squeue -h -t RUNNING,COMPLETING,CONFIGURING,SUSPENDED -o %A 2>/dev/null | grep -q .; do
        [ $SECONDS -lt $deadline ] || { say "jobs still ending after 15 s; stopping the daemons anyway"; break; }
        sleep 0.1
      done
    fi
  fi
  stop slurmd
  stop slurmctld
  stop munged
  rm -rf "$DIR"
  say "removed $DIR"
}

# ---- status ----

cmd_status() {
  if [ ! -f "$DIR/$MARKER" ]; then say "no private Slurm in $DIR"; return 3; fi
  local up=1 n pid
  for n in munged slurmctld slurmd; do
    pid=$(pid_of "$n")
    if [ -n "$pid" ]; then echo "$n: running (pid $pid)"; else echo "$n: NOT running"; up=0; fi
  done
  print_settings
  if [ -n "$(pid_of slurmctld)" ] && [ -n "$(pid_of munged)" ]; then
    echo "--- sinfo"; slurm_env sinfo || true
    echo "--- squeue"; slurm_env squeue || true
  fi
  [ $up = 1 ]
}

[ $# -ge 1 ] || usage
cmd=$1; shift
case "$cmd" in
  up|down|status) parse_flags "$cmd" "$@"; "cmd_$cmd" ;;
  -h|--help|help) usage ;;
  *) echo "slurm.sh: unknown command '$cmd'" >&2; usage ;;
esac
