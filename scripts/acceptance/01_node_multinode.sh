#!/usr/bin/env bash
# 7.1 of ACCEPTANCE.md (multi-node): the node config file and its fields;
# adding a node with the CLI (a 4th `minik8s agent --config node4.yaml`
# started by scripts/cluster.sh add, then removed again); get / describe
# node; at least three nodes; node 1 runs the control plane and pods, the
# others only pods.
# Uses the running cluster (KUBECONFIG or scripts/cluster.sh's .cluster/),
# else brings up (and removes) a private 3-node cluster. Re-runnable: removes
# the node and the pods it added.
source "$(dirname "$0")/../../test/e2e/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
acc_begin "01_node_multinode"
acc_multinode 3
trap 'acc_teardown_cluster' EXIT
kubectl delete pod -l acc=multinode --ignore-not-found --wait=false >/dev/null 2>&1
N1=${ACC_NODES[0]}

acc_step "7.1 the node config file (one per node, given to 'minik8s agent --config')"
acc_run cat "$MK_CLUSTER_DIR/node2.yaml"
acc_expect "node file names server, nodeName, nodeIP, roles, dataDir, runtime, pod network settings" \
  "nodeName: .*"
acc_run grep -cE "^(server|nodeName|nodeIP|roles|dataDir|containerRuntimeEndpoint|listen):" "$MK_CLUSTER_DIR/node2.yaml"
acc_expect "the 7 identity/runtime fields are present" "^7$"
acc_run sh -c "tr '\\0' ' ' </proc/$(sed -n 's/^agent2=//p' "$MK_CLUSTER_DIR/state" | tail -n1)/cmdline; echo"
acc_expect "node 2's agent runs from that file" "minik8s agent --config .*node2.yaml"
acc_run "$BIN/minik8s" agent --help
acc_expect "the agent's flags (the same settings on the command line)" "--node-ip"

acc_step "7.1 get nodes: at least three nodes, Ready"
acc_run kubectl get nodes -o wide
READY=$(grep -c " Ready " <<<"$ACC_OUT")
acc_check "$READY nodes Ready (>= 3)" test "$READY" -ge 3
acc_expect "node 1 carries the control-plane and worker roles" "^$N1 +Ready +control-plane,worker "
acc_run kubectl get nodes -l '!node-role.kubernetes.io/control-plane' --no-headers
acc_expect "the other nodes are workers only" "^${ACC_NODES[1]} +Ready +worker "

acc_step "7.1 describe node"
acc_run kubectl describe node "$N1"
acc_expect "describe shows capacity" "Capacity:"
acc_expect "describe shows allocatable" "Allocatable:"
acc_expect "describe shows conditions" "Ready +True"
acc_expect "describe shows the node's addresses" "InternalIP: +[0-9.]+"
if grep -q "PodCIDR" <<<"$ACC_OUT"; then acc_expect "describe shows the pod CIDR" "PodCIDRs?: +[0-9]+\.[0-9]+\.[0-9]+\.0/24"; else
  acc_partial "describe shows no PodCIDR: the node IPAM controller has not assigned one"; fi

acc_step "7.1 the control plane runs on node 1 (the server process lives in node 1's network namespace)"
SPID=$(sed -n 's/^server=//p' "$MK_CLUSTER_DIR/state" 2>/dev/null | tail -n1)
if [ -n "$SPID" ]; then
  acc_run sh -c "tr '\\0' ' ' </proc/$SPID/cmdline; echo"
  acc_expect "the server process (API server, scheduler, controllers)" "minik8s server --data-dir"
  acc_run ip netns identify "$SPID"
  acc_expect "it runs in node 1's network namespace" "^${MK_CLUSTER_PREFIX:-mkc}-node1$"
else
  acc_skip "the cluster in KUBECONFIG was not started by cluster.sh: the server's node cannot be shown"
fi
acc_run kubectl get --raw /readyz
acc_expect "the API server answers" "ok"

acc_step "7.1 pods run on node 1 and on the workers"
for n in "${ACC_NODES[@]:0:3}"; do
  kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: acc-on-$n, labels: {acc: multinode}}
spec:
  nodeName: $n
  containers: [{name: c, image: busybox:1.36, command: [sleep, "3600"]}]
EOF
done
acc_poll 90 "one pod Running on each of the first three nodes" "^3$" sh -c \
  "kubectl get pods -l acc=multinode --no-headers | grep -c ' Running '"
acc_run kubectl get pods -l acc=multinode -o wide
acc_expect "a pod runs on the control-plane node" "acc-on-$N1 +1/1 +Running .* $N1 "

acc_step "7.1 add a node with the CLI (scripts/cluster.sh add: a new namespace and 'minik8s agent --config nodeN.yaml')"
BEFORE=$(kubectl get nodes --no-headers | wc -l)
acc_run "$CLUSTER_SH" add
acc_expect "cluster.sh add started an agent that joined" " Ready "
NEW=$(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort -V | tail -n1)
acc_run cat "$MK_CLUSTER_DIR/node$((BEFORE + 1)).yaml"
acc_expect "the new node's config file" "nodeName: $NEW"
acc_poll 60 "the new node $NEW is Ready" "^$NEW +Ready +worker" kubectl get node "$NEW" --no-headers
acc_run kubectl get nodes
acc_check "node count went from $BEFORE to $((BEFORE + 1))" test "$(grep -c ' Ready ' <<<"$ACC_OUT")" -eq $((BEFORE + 1))
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: acc-on-new, labels: {acc: multinode}}
spec:
  nodeName: $NEW
  containers: [{name: c, image: busybox:1.36, command: [sleep, "3600"]}]
EOF
acc_poll 90 "a pod runs on the added node" "acc-on-new +1/1 +Running .* $NEW " kubectl get pod acc-on-new -o wide

acc_step "cleanup: the pods, then the added node"
acc_run kubectl delete pod -l acc=multinode --wait=false
# The added node's kubelet finishes the pod before the node goes (else the pod
# stays Terminating on a node that no longer exists).
acc_poll 60 "the pod on the added node is gone" "NotFound|not found" sh -c "kubectl get pod acc-on-new 2>&1; true"
acc_run "$CLUSTER_SH" remove
acc_expect "the added node was removed" "removed node"
acc_poll 20 "the cluster is back to $BEFORE nodes" "^$BEFORE$" sh -c "kubectl get nodes --no-headers | wc -l"

trap - EXIT
acc_end
