#!/usr/bin/env bash
# `minik8s up` / `minik8s down` on real containerd: up → node Ready (kubectl)
# → a busybox pod Running → SIGTERM up → the pod's container still runs →
# down → no containers, cgroups, bridge, mounts or data left; down again is a
# no-op. Everything lives under a temp dir and a unique node name; the trap
# runs `minik8s down` also on failure.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
start_up "e2e-up-$$"
expect_out "up prints how to use it" "export KUBECONFIG=$UP/kubeconfig" cat "$E2E_DIR/up.log"
expect_out "up.pid is the up process" "^$UP_PID\$" cat "$UP/up.pid"
expect_out "kubectl get nodes: Ready" "^$NODE +Ready +control-plane,worker" kubectl get nodes --no-headers
expect_out "node lease renewed in kube-node-lease" "\"holderIdentity\": \"$NODE\"" kubectl get lease -n kube-node-lease "$NODE" -o json

cat >"$E2E_DIR/sleeper.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: busybox:1.36, command: ["sh", "-c", "echo started; exec sleep 3600"]}
YAML
check "create a busybox pod" kubectl apply -f "$E2E_DIR/sleeper.yaml"
poll 60 sh -c "kubectl get pod sleeper | grep -q '1/1 *Running'" || { kubectl describe pod sleeper; tail -n 40 "$E2E_DIR/up.log"; }
expect_out "pod Running" "1/1 +Running" kubectl get pod sleeper
CID=$(kubectl get pod sleeper -o jsonpath='{.status.containerStatuses[0].containerID}'); CID=${CID#containerd://}
CG=$(find "/sys/fs/cgroup/memory/minik8s/$NODE" -type d -name "$CID" 2>/dev/null | head -1)
check "container cgroup under /minik8s/$NODE" test -n "$CG"
# What down must remove, read while it exists: the CNI bridge the node's
# config names (present now, since the pod has its network) and the managed
# containerd (running now). Empty means the layout changed: fail, do not skip.
BRIDGES=$(cat "$UP"/agent/containerd/cni/net.d/* 2>/dev/null | grep -o '"bridge" *: *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/' | sort -u)
CONTAINERD_PID=$(cat "$UP"/agent/containerd/containerd.pid 2>/dev/null)
check "the CNI config in $UP/agent/containerd/cni/net.d names a bridge" test -n "$BRIDGES"
for br in $BRIDGES; do check "bridge $br exists while the node runs" ip link show "$br"; done
check "containerd.pid names a running containerd" sh -c "[ -n '$CONTAINERD_PID' ] && grep -q containerd /proc/$CONTAINERD_PID/cmdline"

# SIGTERM: server and agent stop, pods keep running.
kill -TERM "$UP_PID"
for _ in $(seq 1 400); do kill -0 "$UP_PID" 2>/dev/null || break; sleep 0.05; done
wait "$UP_PID"; RC=$?
expect_out "up exits 0 on SIGTERM" "^0$" echo "$RC"
UP_PID=""
check "up.pid removed" test ! -e "$UP/up.pid"
expect_fail "API server stopped" "" kubectl get nodes --request-timeout=2s
check "pod's container still running after up stopped" sh -c "[ -n \"\$(cat '$CG/cgroup.procs')\" ]"
check "the node's containerd still running after up stopped" kill -0 "$CONTAINERD_PID"

# down: everything goes.
expect_out "minik8s down" "minik8s down: removed" "$BIN/minik8s" down --data-dir "$UP"
check "container processes gone" sh -c "[ ! -d '$CG' ] || [ -z \"\$(cat '$CG/cgroup.procs')\" ]"
check "node cgroups gone" sh -c "! ls -d /sys/fs/cgroup/*/minik8s/$NODE 2>/dev/null | grep -q ."
# (an orphaned containerd is reaped by init a moment after it exits: a zombie counts as stopped)
check "containerd stopped" poll 10 sh -c "[ -n '$CONTAINERD_PID' ] && { ! kill -0 $CONTAINERD_PID 2>/dev/null || grep -q '^State:.*Z' /proc/$CONTAINERD_PID/status; }"
for br in $BRIDGES; do check "bridge $br deleted" sh -c "! ip link show $br 2>/dev/null"; done
check "no mounts under the data dir" sh -c "! grep -q ' $UP[/ ]' /proc/self/mountinfo"
check "data dir removed" test ! -e "$UP"
expect_out "down again is a no-op" "nothing to remove" "$BIN/minik8s" down --data-dir "$UP"
e2e_finish
