# Helpers shared by the GPUJob tests (test/e2e/gpujob.sh,
# scripts/acceptance/20_personal_gpu.sh, bench/gpu_bench.sh; docs/gpu.md).
# Source it after setting ROOT and BIN; needs kubectl and KUBECONFIG.
#
#   gpu_slurm_up TAG KCFG ADDRESS  a private Slurm (scripts/slurm.sh up) in
#                        DIR = <a fresh temp dir /tmp/minik8s-slurm-TAG.XXXXXX>/slurm
#                        (slurm.sh wants a DIR that does not exist yet), ports
#                        from a base unique to this PID, slurmctld on ADDRESS,
#                        registered as SlurmCluster "default" (+ the munge key
#                        Secret) on the cluster of kubeconfig KCFG. Sets
#                        GPU_SLURM_DIR, GPU_SLURM_PORT_BASE, GPU_SLURM_CONF
#                        (its slurm.conf, for squeue/scontrol here). Output in
#                        $GPU_SLURM_DIR.up.log. Returns slurm.sh's status.
#   gpu_slurm_down       slurm.sh down (cancels its jobs, stops its daemons by
#                        PID, removes its dir); deletes the SlurmCluster
#                        "default" and the Secret kube-system/slurm-munge
#                        it registered. Idempotent; safe when up never ran.
#   gpu_slurm CMD...     CMD (squeue, scontrol, sbatch, sinfo, scancel) against
#                        that Slurm (SLURM_CONF set)
#   gpu_has_gpu          true when `nvidia-smi -L` lists a GPU
#   gj_field NAME JSONPATH   kubectl's jsonpath of GPUJob NAME (e.g. .status.phase)
#   gj_wait SECS NAME REGEX  polls the job's phase (every 0.2 s) until it
#                        matches ^(REGEX)$ or SECS pass; the distinct phases
#                        seen, in order, go to GJ_SEEN ("Pending Queued
#                        Running Completed"). 0 when it matched.
#   gj_phases_ordered "P1 P2 …"  true when the phases only go forwards
#                        (Pending < Submitted < Queued < Running < one terminal)
#   gj_pods NAME         the names of the pods labelled minik8s.io/gpujob=NAME
GPU_SLURM_TMP=""
GPU_SLURM_DIR=""
GPU_SLURM_PORT_BASE=""
GPU_SLURM_CONF=""
GPU_SLURM_KCFG=""
gpu_slurm_up() {
  local tag=$1 rc
  GPU_SLURM_KCFG=$2
  GPU_SLURM_TMP=$(mktemp -d "/tmp/minik8s-slurm-$tag.XXXXXX")
  chmod 0755 "$GPU_SLURM_TMP"  # (munged wants every directory above its socket searchable by all)
  GPU_SLURM_DIR=$GPU_SLURM_TMP/slurm
  # Ports: a base per PID (20000–27990 in steps of 10), so two runs side by
  # side (an e2e test and a bench) never share one.
  GPU_SLURM_PORT_BASE=$((20000 + ($$ % 800) * 10))
  "$ROOT/scripts/slurm.sh" up --kubeconfig "$GPU_SLURM_KCFG" --dir "$GPU_SLURM_DIR" \
    --port-base "$GPU_SLURM_PORT_BASE" --address "$3" >"$GPU_SLURM_DIR.up.log" 2>&1
  rc=$?
  GPU_SLURM_CONF=$GPU_SLURM_DIR/slurm.conf
  return $rc
}
gpu_slurm_down() {
  [ -n "$GPU_SLURM_TMP" ] || return 0
  "$ROOT/scripts/slurm.sh" down --dir "$GPU_SLURM_DIR" >"$GPU_SLURM_DIR.down.log" 2>&1 ||
    { echo "slurm.sh down reported a problem:"; sed 's/^/    /' "$GPU_SLURM_DIR.down.log"; }
  if [ -n "$GPU_SLURM_KCFG" ] && [ -f "$GPU_SLURM_KCFG" ]; then
    KUBECONFIG=$GPU_SLURM_KCFG kubectl delete slurmcluster default --ignore-not-found --wait=false >/dev/null 2>&1
    KUBECONFIG=$GPU_SLURM_KCFG kubectl -n kube-system delete secret slurm-munge --ignore-not-found >/dev/null 2>&1
  fi
  rm -rf "$GPU_SLURM_TMP"
  GPU_SLURM_TMP="" GPU_SLURM_DIR=""
}
gpu_slurm() { SLURM_CONF=$GPU_SLURM_CONF "$@"; }
gpu_has_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; }
gj_field() { kubectl get gpujob "$1" -o jsonpath="{$2}" 2>/dev/null; }
GJ_SEEN=""
gj_wait() {
  local secs=$1 name=$2 re=$3 deadline p last=""
  deadline=$((SECONDS + secs))
  GJ_SEEN=""
  while :; do
    p=$(gj_field "$name" .status.phase)
    p=${p:-Pending}  # (no status yet: the job was just created)
    if [ "$p" != "$last" ]; then GJ_SEEN="${GJ_SEEN:+$GJ_SEEN }$p"; last=$p; fi
    [[ "$p" =~ ^($re)$ ]] && return 0
    [ $SECONDS -ge $deadline ] && return 1
    sleep 0.2
  done
}
gj_phase_rank() {
  case $1 in
    Pending) echo 0 ;; Submitted) echo 1 ;; Queued) echo 2 ;; Running) echo 3 ;;
    Completed | Failed | Cancelled) echo 4 ;; *) echo 9 ;;
  esac
}
gj_phases_ordered() {
  local prev=-1 r p
  for p in $1; do
    r=$(gj_phase_rank "$p")
    # (strictly up: the seen list has no repeats, and a terminal phase never changes)
    [ "$r" -gt "$prev" ] && [ "$r" -ne 9 ] || return 1
    prev=$r
  done
}
gj_pods() { kubectl get pods -l "minik8s.io/gpujob=$1" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' 2>/dev/null; }
