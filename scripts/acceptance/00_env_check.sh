#!/usr/bin/env bash
# Environment check (ACCEPTANCE.md §5): OS/kernel, container runtime
# (containerd, runc, CNI plugins, iptables, nginx), build tools, whether the
# project builds, node count and connectivity (the multi-node cluster),
# NFS / GPU / Slurm availability, ports, permissions. Missing optional parts
# are SKIP/LIMITED with the reason; missing required parts FAIL.
# Uses the running cluster (KUBECONFIG or .cluster/), else brings up (and
# removes) a private 3-node one for the node checks.
source "$(dirname "$0")/../../test/e2e/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
BUILD_DIR=${BUILD_DIR:-$(dirname "$BIN")}
acc_begin "00_env_check"

acc_step "OS and kernel"
acc_run sh -c '. /etc/os-release; echo "$PRETTY_NAME"; uname -srm'
acc_expect "Linux with an identified distribution" "Linux"
acc_run sh -c 'grep -E "^(cgroup|cgroup2) " /proc/mounts | head -n 3; ls /sys/fs/cgroup | head -n 20 | paste -sd" " -'
acc_expect "cgroups mounted" "cgroup"

acc_step "container runtime and network tools"
for t in "containerd --version" "runc --version" "iptables --version" "ip -V" "nsenter --version" "conntrack --version"; do
  acc_run $t
  acc_expect "$t" "[0-9]+\.[0-9]+"
done
acc_run ls /usr/lib/cni
acc_expect "CNI plugins bridge, host-local, loopback, portmap" "host-local"
acc_run sh -c 'nginx -v 2>&1'
if [ "$ACC_RC" -eq 0 ]; then acc_pass "nginx (data plane of the DNS forwarding object)"; else acc_fail "nginx missing (DNS forwarding objects need it)"; fi
acc_run kubectl version --client
acc_expect "stock kubectl" "Client Version: v1\."

acc_step "build tools and the project build"
for t in "cmake --version" "ninja --version" "g++ --version" "protoc --version"; do
  acc_run $t
  acc_expect "$t" "[0-9]+\.[0-9]+"
done
if [ -f "$BUILD_DIR/build.ninja" ]; then
  acc_run bash -c "cmake --build '$BUILD_DIR' -j2 --target minik8s mkctl 2>&1 | tail -n 3; exit \${PIPESTATUS[0]}"
  acc_check "the project builds (minik8s, mkctl in $BUILD_DIR)" test "$ACC_RC" -eq 0
else
  acc_run ls -l "$BIN/minik8s" "$BIN/mkctl"
  acc_check "binaries present in $BIN (no build dir configured at $BUILD_DIR)" test "$ACC_RC" -eq 0
fi
acc_run "$BIN/minik8s" --help
acc_expect "minik8s runs" "server|agent"

acc_step "permissions and kernel features"
acc_run id -u
acc_expect "running as root (network namespaces, containerd, cgroups)" "^0$"
acc_run sh -c 'ip netns add acc-envchk-$$ && ip netns exec acc-envchk-$$ ip -br link && ip netns del acc-envchk-$$'
acc_expect "network namespaces can be created" "lo"
acc_run sh -c 'modprobe br_netfilter 2>/dev/null; sysctl net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables'
acc_expect "ip_forward and br_netfilter" "bridge-nf-call-iptables"
acc_run sh -c 'iptables -S FORWARD | head -n1'
acc_expect "root FORWARD policy (cluster.sh adds an ACCEPT chain for its bridge when DROP)" "-P FORWARD"

acc_step "ports in the root namespace (for information: the cluster's nodes are namespaces with their own ports, checked below)"
acc_run sh -c 'ss -ltnu | awk "NR>1 {print \$1, \$5}" | grep -E ":(6443|10250|53|80)$" || echo "none of 6443 10250 53 80 in use"'

acc_step "optional: NFS, GPU, Slurm"
if command -v mount.nfs >/dev/null || command -v exportfs >/dev/null; then
  acc_run sh -c 'command -v mount.nfs exportfs'; acc_pass "NFS tools present"
else acc_skip "NFS: no mount.nfs/exportfs installed (persistent volumes over NFS are issue 5+)"; fi
acc_run sh -c 'ls /dev/nvidia* 2>&1; nvidia-smi -L 2>&1; /usr/local/cuda/bin/nvcc --version 2>&1 | tail -n1'
if ls /dev/nvidia[0-9]* >/dev/null 2>&1; then acc_pass "GPU present"; else
  acc_limited "GPU: no NVIDIA device on this machine (nvcc may be installed; GPU jobs cannot run here)"; fi
acc_run sh -c 'command -v slurmctld slurmd sbatch 2>&1; sbatch --version 2>&1'
if command -v sbatch >/dev/null; then acc_pass "Slurm installed"; else acc_skip "Slurm: sbatch not installed"; fi

acc_step "nodes: count and connectivity (scripts/cluster.sh)"
acc_multinode 3
trap 'acc_teardown_cluster' EXIT
acc_run kubectl get nodes -o wide
COUNT=$(grep -c " Ready " <<<"$ACC_OUT")
acc_check "$COUNT nodes Ready (>= 3)" test "$COUNT" -ge 3
for n in "${ACC_NODES[@]:1}"; do
  acc_run "$CLUSTER_SH" exec "${ACC_NODES[0]}" -- busybox ping -c1 -W2 "$(acc_node_ip "$n")"
  acc_expect "${ACC_NODES[0]} reaches $n" "1 packets received"
done
# HTTPS: curl verifies the server with the CA the kubeconfig carries.
API_CA=$(mktemp /tmp/acc-ca.XXXXXX)
kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$API_CA"
acc_run "$CLUSTER_SH" exec outside -- curl -sS --max-time 3 --cacert "$API_CA" "$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')/readyz"
rm -f "$API_CA"
acc_expect "the API server is reachable from outside the nodes" "ok"

acc_step "ports: each node's listening sockets (its own network namespace) hold what docs/multi-node.md says"
acc_run acc_on_node "${ACC_NODES[0]}" ss -ltnp
acc_expect "${ACC_NODES[0]}: the API server (minik8s) listens on TCP 6443" 'LISTEN .*:6443 .*"minik8s"'
for n in "${ACC_NODES[@]}"; do
  acc_run acc_on_node "$n" ss -ltnp
  acc_expect "$n: the kubelet (minik8s agent) listens on TCP 10250" 'LISTEN .*:10250 .*"minik8s"'
  acc_expect "$n: the cluster DNS (minik8s agent) listens on TCP 53" 'LISTEN .*:53 .*"minik8s"'
  acc_expect "$n: nginx (DNS objects) listens on TCP 80" 'LISTEN .*:80 .*"nginx"'
done
# The kubelet's server speaks HTTPS and answers nobody anonymous (docs/auth.md
# "The kubelet's server"): from outside, without credentials, a 401.
acc_run "$CLUSTER_SH" exec outside -- curl -sS -k --max-time 3 -o /dev/null -w '%{http_code}\n' \
  "https://$(acc_node_ip "${ACC_NODES[-1]}"):10250/healthz"
acc_expect "${ACC_NODES[-1]}'s kubelet port answers from outside the nodes over HTTPS, 401 to an anonymous /healthz" "^401$"

trap - EXIT
acc_end
