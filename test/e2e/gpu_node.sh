#!/usr/bin/env bash
# GPU nodes (docs/gpu.md "GPU nodes") on a machine with an NVIDIA GPU and its
# driver: `minik8s up` → the Node advertises nvidia.com/gpu = what
# `nvidia-smi -L` lists → a pod asking for one GPU runs `nvidia-smi -L` and
# cuInit through the driver's libcuda inside its container (the python-runtime
# image: a Debian rootfs with glibc, which the driver's nvidia-smi and
# libraries need; busybox is static and has no loader) → a pod asking for
# one GPU more than the node has stays Pending with kube-scheduler's message.
# Without a GPU it first checks that the agent does probe for GPUs (an agent
# asked for one GPU more than the machine has refuses to start, naming the
# field), then prints one SKIPPED line and exits 77 (ctest: Skipped).
HAVE=0
if command -v nvidia-smi >/dev/null 2>&1; then HAVE=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU [0-9]'); fi
GBIN=${BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/bin}
GDIR=$(mktemp -d /tmp/mk-gpu-node.XXXXXX)
GOUT=$(timeout 30 "$GBIN/minik8s" agent --gpus $((HAVE + 1)) --data-dir "$GDIR" --server http://127.0.0.1:1 2>&1)
GRC=$?
rm -rf "$GDIR"
if [ "$GRC" -ne 2 ] || ! grep -q 'field "gpus": '"$((HAVE + 1))"' asked for' <<<"$GOUT"; then
  echo "FAIL: minik8s agent --gpus $((HAVE + 1)) on a machine with $HAVE GPU(s) should exit 2 naming the field; rc=$GRC: $GOUT"
  exit 1
fi
echo "PASS: the agent probes GPUs (--gpus $((HAVE + 1)) refused: $HAVE found)"
if [ "$HAVE" -eq 0 ]; then
  echo "SKIPPED $(basename "$0"): no NVIDIA GPU on this machine (nvidia-smi -L lists none)"
  exit 77
fi
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
NGPU=$(nvidia-smi -L | grep -c '^GPU [0-9]')
# CUDA needs /dev/nvidia-uvm; the driver creates it on first CUDA use on the
# host, which may not have happened yet (the agent looks once, at start-up).
if [ ! -e /dev/nvidia-uvm ] && command -v nvidia-modprobe >/dev/null 2>&1; then nvidia-modprobe -u -c=0; fi
start_up "e2e-gpu-$$"
D=$E2E_DIR
expect_out "node advertises nvidia.com/gpu: $NGPU" "^$NGPU $NGPU$" \
  kubectl get node "$NODE" -o jsonpath='{.status.capacity.nvidia\.com/gpu} {.status.allocatable.nvidia\.com/gpu}'

cat >"$D/smi.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: gpu-smi}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: smi
    image: minik8s.io/python-runtime:1
    command:
    - sh
    - -c
    - |
      nvidia-smi -L
      echo "visible=$NVIDIA_VISIBLE_DEVICES"
      ls /dev/nvidia*
      python3 -c 'import ctypes; print("cuInit", ctypes.CDLL("libcuda.so.1").cuInit(0))'
    resources: {limits: {nvidia.com/gpu: 1}}
YAML
check "create a pod asking for one GPU" kubectl apply -f "$D/smi.yaml"
poll 180 sh -c "[ \"\$(kubectl get pod gpu-smi -o jsonpath='{.status.phase}')\" = Succeeded ]" ||
  { kubectl describe pod gpu-smi; kubectl logs gpu-smi; tail -n 40 "$D/up.log"; }
expect_out "the GPU pod Succeeded" "^Succeeded$" jp gpu-smi '{.status.phase}'
expect_out "nvidia-smi -L in the container lists a GPU" "^GPU 0: " kubectl logs gpu-smi
expect_out "NVIDIA_VISIBLE_DEVICES names one GPU" "^visible=[0-9]+$" kubectl logs gpu-smi
expect_out "its device node and nvidiactl are in the container" "^/dev/nvidiactl$" kubectl logs gpu-smi
expect_out "cuInit through the mounted libcuda returns CUDA_SUCCESS" "^cuInit 0$" kubectl logs gpu-smi

cat >"$D/greedy.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: gpu-greedy}
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: ["sleep", "3600"]
    resources: {limits: {nvidia.com/gpu: $((NGPU + 1))}}
YAML
check "create a pod asking for $((NGPU + 1)) GPUs" kubectl apply -f "$D/greedy.yaml"
poll 30 sh -c "kubectl get pod gpu-greedy -o jsonpath='{.status.conditions[?(@.type==\"PodScheduled\")].reason}' | grep -q Unschedulable"
expect_out "it stays Pending: Insufficient nvidia.com/gpu" "^Pending 0/1 nodes are available: 1 Insufficient nvidia.com/gpu\.$" \
  jp gpu-greedy '{.status.phase} {.status.conditions[?(@.type=="PodScheduled")].message}'
e2e_finish
