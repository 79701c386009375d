#!/usr/bin/env bash
# The submitter image (minik8s.io/slurm-submitter:1) against the private
# Slurm of scripts/slurm.sh, on real containerd: a hostNetwork pod on a
# `minik8s up` node (the node imports the image on demand) starts munged with
# the cluster's key, writes a client slurm.conf, and with sbatch gets a CPU
# job to COMPLETED (its output in the shared work directory) and a GPU job
# accepted and PENDING with Slurm's reason (no GPU here). The image is built
# into the shared image cache (first time ~1 min: mmdebstrap) with
# build/bin/minik8s-submitter, or, until that exists, mkctl standing in for
# it (the pod runs its own command). Everything is removed on exit.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
SLURM_SH=$(cd "$(dirname "$0")/../.." && pwd)/scripts/slurm.sh
for c in slurmctld slurmd sbatch munged mmdebstrap; do
  command -v "$c" >/dev/null || { echo "SKIP: $c not installed (scripts/deps.sh)"; exit 77; }
done
SD=/var/tmp/mk-e2e-slurmimg-$$
trap 'up_cleanup; e2e_cleanup_node; "$SLURM_SH" down --dir "$SD" >/dev/null 2>&1; e2e_cleanup' EXIT
if [ ! -x "$BIN/minik8s-submitter" ]; then
  export MINIK8S_SUBMITTER=$BIN/mkctl
  echo "note: $BIN/minik8s-submitter not built; mkctl stands in for it in the image"
fi

# (below the ephemeral ports, 32768+: a client's local port blocks a bind too)
port_free() { ! ss -Htan exclude time-wait "sport = :$1" | grep -q .; }
BASE=$((25000 + ($$ % 2000) * 3))
until port_free "$BASE" && port_free $((BASE + 1)) && port_free $((BASE + 2)); do BASE=$((BASE + 3)); done
check "slurm.sh up" "$SLURM_SH" up --dir "$SD" --port-base "$BASE"
CTL_NAME=$(sed -n 's/^SlurmctldHost=\(.*\)(.*/\1/p' "$SD/slurm.conf")

start_up "e2e-slurmimg-$$"
# The GPU job pends on the placeholder node; on a machine with GPUs it runs.
GPU_WANT='PENDING (ReqNodeNotAvail|Nodes required)'
grep -q '^# gpu: real' "$SD/slurm.conf" && GPU_WANT='(RUNNING|COMPLETING|COMPLETED)'
cat >"$E2E_DIR/pod.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: slurm-client}
spec:
  hostNetwork: true
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  volumes:
  - {name: key, hostPath: {path: $SD/munge}}
  - {name: work, hostPath: {path: $SD/work}}
  containers:
  - name: c
    image: minik8s.io/slurm-submitter:1
    volumeMounts:
    - {name: key, mountPath: /slurm/munge, readOnly: true}
    - {name: work, mountPath: $SD/work}
    command:
    - bash
    - -c
    - |
      set -e
      R=/run/minik8s
      mkdir -p \$R
      cp /slurm/munge/munge.key \$R/munge.key; chmod 400 \$R/munge.key
      munged --socket=\$R/munge.socket --key-file=\$R/munge.key --pid-file=\$R/munged.pid --log-file=\$R/munged.log --seed-file=\$R/munged.seed
      printf '%s\n' ClusterName=minik8s 'SlurmctldHost=$CTL_NAME(127.0.0.1)' SlurmctldPort=$BASE \
        AuthType=auth/munge AuthInfo=socket=\$R/munge.socket GresTypes=gpu >\$R/slurm.conf
      export SLURM_CONF=\$R/slurm.conf
      j=\$(sbatch --parsable --chdir=$SD/work --wrap 'echo from-pod-job')
      echo "cpu job \$j"
      for i in \$(seq 300); do scontrol show job -o \$j | grep -q 'JobState=COMPLETED' && break; sleep 0.1; done
      scontrol show job -o \$j | grep -q 'JobState=COMPLETED' || { echo "cpu job not COMPLETED in 30 s"; exit 1; }
      cat $SD/work/slurm-\$j.out
      g=\$(sbatch --parsable -p gpu --gres=gpu:1 --chdir=$SD/work --wrap true)
      echo "gpu job \$g"
      want='$GPU_WANT'
      for i in \$(seq 300); do squeue -h -t all -j \$g -o '%T %r' | grep -Eq "\$want" && break; sleep 0.1; done
      squeue -h -t all -j \$g -o '%T %r' | grep -Eq "\$want" || { echo "gpu job not \$want in 30 s"; exit 1; }
      echo "gpu job state: \$(squeue -h -j \$g -o '%T %r')"
      scancel \$g
      echo client-done
YAML
check "create the client pod" kubectl apply -f "$E2E_DIR/pod.yaml"
poll 240 sh -c "kubectl get pod slurm-client -o jsonpath='{.status.phase}' | grep -Eq 'Succeeded|Failed'" ||
  { kubectl describe pod slurm-client | tail -n 20; tail -n 30 "$E2E_DIR/up.log"; }
kubectl logs slurm-client >"$E2E_DIR/pod.log" 2>&1
expect_out "the pod succeeded" "^Succeeded$" kubectl get pod slurm-client -o jsonpath='{.status.phase}'
expect_out "the node imported the image on demand" "image minik8s.io/slurm-submitter:1 imported on demand" cat "$E2E_DIR/up.log"
expect_out "sbatch from the pod: the CPU job ran (its output)" "^from-pod-job$" cat "$E2E_DIR/pod.log"
expect_out "sbatch from the pod: the GPU job $GPU_WANT" "^gpu job state: $GPU_WANT" cat "$E2E_DIR/pod.log"
expect_out "the client finished" "^client-done$" cat "$E2E_DIR/pod.log"
JOB=$(sed -n 's/^cpu job //p' "$E2E_DIR/pod.log")
expect_out "slurmctld has the pod's job as COMPLETED" "JobState=COMPLETED" env SLURM_CONF="$SD/slurm.conf" scontrol show job -o "$JOB"
expect_out "slurm.sh down" "removed $SD" "$SLURM_SH" down --dir "$SD"
e2e_finish
