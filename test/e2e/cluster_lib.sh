# The 3-node scripts/cluster.sh cluster a multi-node e2e test runs on (source
# it after check.sh; needs ROOT, CL and TMP).
#
#   e2e_cluster_up TAG   MK_E2E_SHARED_CLUSTER=DIR set (ctest does, see
#                        test/CMakeLists.txt): use that running cluster
#                        (test/e2e/shared_cluster.sh up brought it up). The
#                        test gets a namespace of its own, e2e-TAG, created
#                        empty and made the current namespace of a private
#                        kubeconfig copy. Otherwise: bring up a private
#                        cluster (prefix and subnet from the caller's
#                        MK_CLUSTER_* or the PID, dir $TMP/cluster, the
#                        caller's MK_SERVER_ARGS), one at a time on this
#                        machine (/tmp/mk-cluster.lock).
#                        Sets and exports MK_CLUSTER_PREFIX, MK_CLUSTER_SUBNET,
#                        MK_CLUSTER_DIR, KUBECONFIG; sets NS (the test's
#                        namespace), N1 N2 N3 (node names), E2E_SHARED (0|1),
#                        POD_CIDR (the pods' /16), POD_NET (its a.b) and
#                        POD_NET_RE (a.b as an ERE).
#   e2e_cluster_down     the exit half: deletes the namespace of a shared
#                        cluster (the cluster stays), takes a private one down.
#   e2e_cluster_gone_checks  after `cluster.sh down`: nothing with the
#                        prefix is left (netns, links, chains, processes,
#                        cgroups, data).
#   shared_cluster_use DIR   exports MK_CLUSTER_DIR, _PREFIX, _SUBNET of the
#                        running cluster.sh cluster in DIR
#   shared_ns_enter NS KCFG  KCFG: a copy of that cluster's kubeconfig whose
#                        current namespace is NS, exported as KUBECONFIG; NS
#                        is (re)created empty. Fails when NS cannot be made.
#   shared_ns_leave NS   deletes NS and waits until it and its pods are gone,
#                        so the next test sees only its own pods (scheduling
#                        and spread checks count every pod on the nodes)
# (scripts/acceptance/lib.sh uses these three too.)
E2E_SHARED=0
NS=default
shared_cluster_use() {
  export MK_CLUSTER_DIR=$1 MK_CLUSTER_PREFIX MK_CLUSTER_SUBNET
  MK_CLUSTER_PREFIX=$(sed -n 's/^prefix=//p' "$MK_CLUSTER_DIR/state" 2>/dev/null | tail -n1)
  MK_CLUSTER_SUBNET=$(sed -n 's/^subnet=//p' "$MK_CLUSTER_DIR/state" 2>/dev/null | tail -n1)
}
shared_ns_enter() {
  cp "$MK_CLUSTER_DIR/kubeconfig" "$2" || return 1
  export KUBECONFIG=$2
  kubectl config set-context --current --namespace "$1" >/dev/null || return 1
  shared_ns_leave "$1"
  kubectl create namespace "$1" >/dev/null
}
shared_ns_leave() {
  # The namespace goes first (so no controller recreates a pod), then its
  # pods at once (grace 0: the kubelets stop the containers right after;
  # nothing here needs their graceful end).
  kubectl delete namespace "$1" --ignore-not-found --wait=false >/dev/null 2>&1
  kubectl delete pods --all -n "$1" --grace-period=0 --force --wait=false >/dev/null 2>&1
  kubectl delete namespace "$1" --ignore-not-found --wait=true --timeout=120s >/dev/null 2>&1
}
e2e_cluster_up() {
  local tag=$1 start=$SECONDS n
  if [ -n "${MK_E2E_SHARED_CLUSTER:-}" ]; then
    E2E_SHARED=1
    shared_cluster_use "$MK_E2E_SHARED_CLUSTER"
    NS=e2e-$tag
    n=$(KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig kubectl get nodes --no-headers 2>/dev/null | grep -c ' Ready ')
    if [ -z "$MK_CLUSTER_PREFIX" ] || [ "$n" -lt 3 ]; then
      fail "the shared cluster in $MK_CLUSTER_DIR is not up with 3 Ready nodes (prefix '$MK_CLUSTER_PREFIX', $n Ready)"
      KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig kubectl get nodes 2>&1 | sed 's/^/    /'
      echo "$PASSED passed, $FAILED failed"; exit 1
    fi
    if ! shared_ns_enter "$NS" "$TMP/kubeconfig"; then
      fail "create namespace $NS on the shared cluster"; echo "$PASSED passed, $FAILED failed"; exit 1
    fi
    pass "shared cluster $MK_CLUSTER_PREFIX ($MK_CLUSTER_DIR), namespace $NS"
  else
    export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
    exec 9>/tmp/mk-cluster.lock
    flock 9
    echo "cluster prefix $MK_CLUSTER_PREFIX subnet $MK_CLUSTER_SUBNET dir $MK_CLUSTER_DIR${MK_SERVER_ARGS:+ server args: $MK_SERVER_ARGS}"
    if ! "$CL" up 3 >"$TMP/up.log" 2>&1; then
      fail "cluster.sh up 3"; tail -n 40 "$TMP/up.log" | sed 's/^/    /'
      echo "$PASSED passed, $FAILED failed"; exit 1
    fi
    pass "cluster.sh up 3 in $((SECONDS - start)) s"
  fi
  N1=${MK_CLUSTER_PREFIX}-node1 N2=${MK_CLUSTER_PREFIX}-node2 N3=${MK_CLUSTER_PREFIX}-node3
  POD_CIDR=$(sed -n 's/^pod_cidr=//p' "$MK_CLUSTER_DIR/state" 2>/dev/null | tail -n1)
  POD_CIDR=${POD_CIDR:-10.244.0.0/16}
  POD_NET=${POD_CIDR%.0.0/16}
  POD_NET_RE=${POD_NET//./\\.}
}
e2e_cluster_down() {
  if [ "$E2E_SHARED" = 1 ]; then
    shared_ns_leave "$NS"
  else
    "$CL" down >/dev/null 2>&1
  fi
}
e2e_cluster_gone_checks() {
  local P=$MK_CLUSTER_PREFIX
  expect "no netns left" "^0$" sh -c "ip netns list | grep -c '^$P-'; true"
  expect "no link left" "^0$" sh -c "ip -o link show | grep -c ': $P-'; true"
  expect "no root iptables chain left" "^0$" sh -c "(iptables -S; iptables -t nat -S) | grep -c -- '$P-'; true"
  # ([/] keeps the pattern from matching the sh -c that runs pgrep)
  # (processes cluster.sh down SIGKILLed may take a moment to be reaped)
  # (a path below the dir: the test's own command line may name the dir itself)
  eventually 10 "no process left" "^0$" sh -c "pgrep -af '[/]${MK_CLUSTER_DIR#/}/'; pgrep -f '[/]${MK_CLUSTER_DIR#/}/' | wc -l"
  expect "no cgroup left" "^0$" sh -c "ls -d /sys/fs/cgroup/*/minik8s/$P-node* 2>/dev/null | wc -l"
  expect "no /etc/netns copy, no data left" "^0$" sh -c "ls -d /etc/netns/$P-* '$MK_CLUSTER_DIR' 2>/dev/null | wc -l"
  expect "down again is a no-op" "nothing to remove" "$CL" down
}
