#!/usr/bin/env bash
# 7.2.1, 7.2.2, 7.2.4 of ACCEPTANCE.md: a multi-container pod from a file;
# each parameter shown taking effect; a killed container is restarted;
# localhost between containers; a file shared through an emptyDir.
# 7.2.3: multi-node scheduling — each new pod's node, and the proof that the
# server's policy (--scheduler-policy, default least-allocated) chose it.
# Uses the cluster in $KUBECONFIG or the running scripts/cluster.sh cluster,
# else brings up (and removes) a private 3-node one (ACC_SINGLE_NODE=1: a
# private `minik8s up` single node instead; 7.2.3 is then skipped).
# Re-runnable: deletes its pods at the start and at the end.
source "$(dirname "$0")/../../test/e2e/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
FILE=examples/acceptance/pod-lifecycle.yaml
cd "$ROOT"
acc_begin "02_pod_lifecycle"
if [ "${ACC_SINGLE_NODE:-0}" = 1 ]; then acc_cluster; else acc_multinode 3; fi
trap 'acc_teardown_cluster' EXIT
kubectl delete pod -l acc=sched --ignore-not-found --wait=false >/dev/null 2>&1
kubectl delete pod acc-pod --ignore-not-found --wait=false >/dev/null 2>&1
acc_poll 60 "no pod left from an earlier run" "NotFound|not found" sh -c "'$MKCTL' get pod acc-pod 2>&1; true"

acc_step "7.2.1 the pod file: kind, name, image:tag, command, resource limits, ports"
acc_run grep -nE "kind:|name: acc-pod|image:|command:|limits:|cpu:|memory:|containerPort:" "$FILE"
acc_expect "the file names kind, name, image:tag, command, limits and ports" "containerPort: 8080"

acc_step "7.2.1 create"
acc_run "$MKCTL" apply -f "$FILE"
acc_expect "pod created" "pod/acc-pod (created|configured)"
acc_poll 90 "both containers running, pod Ready" "acc-pod +2/2 +Running" "$MKCTL" get pod acc-pod -o wide

acc_step "7.2.1 show the pod"
acc_run kubectl get pod acc-pod -o jsonpath='{.spec.containers[*].image}{"\n"}{.status.podIP}{"\n"}{range .status.containerStatuses[*]}{.name}={.state.running.startedAt} restarts={.restartCount}{"\n"}{end}'
acc_expect "kubectl shows images, pod IP and running containers" "server=20[0-9-]+T"
POD_IP=$(kubectl get pod acc-pod -o jsonpath='{.status.podIP}')
POD_UID=$(kubectl get pod acc-pod -o jsonpath='{.metadata.uid}')
acc_run "$MKCTL" describe pod acc-pod
acc_expect "describe shows the node, IP and containers" "server"

acc_step "7.2.1 the command took effect (container logs)"
acc_poll 20 "client's command output appears in its log" "fetched: served by acc-pod" "$MKCTL" logs acc-pod -c client --tail 3

acc_step "7.2.1 the port is reachable (from the pod's node, at the pod IP)"
POD_NODE=$(kubectl get pod acc-pod -o jsonpath='{.spec.nodeName}')
if [ -f "${MK_CLUSTER_DIR:-/nonexistent}/state" ]; then
  acc_run "$CLUSTER_SH" exec "$POD_NODE" -- curl -sS --max-time 3 "http://$POD_IP:8080/index.html"
else
  acc_run curl -sS --max-time 3 "http://$POD_IP:8080/index.html"
fi
acc_expect "GET http://$POD_IP:8080 answers from the server container" "served by acc-pod"

acc_step "7.2.1 the resource limits are enforced (the container's own cgroup)"
acc_run "$MKCTL" exec acc-pod -c server -- sh -c 'echo $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us)'
acc_expect "memory limit 32Mi = 33554432 bytes, CPU quota 20000 per 100000 µs = 200m" "^33554432 20000 100000$"

acc_step "7.2.2 one container serves, the other reaches it on localhost"
acc_run "$MKCTL" exec acc-pod -c client -- sh -c 'timeout 3 wget -q -O - http://localhost:8080/index.html'
acc_expect "client container fetched the server's page over localhost" "served by acc-pod"

acc_step "7.2.4 shared volume: a file written in one container is read in the other"
acc_run "$MKCTL" exec acc-pod -c client -- sh -c "echo written-by-client-$$ > /data/from-client.txt"
acc_run "$MKCTL" exec acc-pod -c server -- cat /data/from-client.txt
acc_expect "server reads the file client wrote" "written-by-client-$$"

acc_step "7.2.1 kill a container from outside (kill -9 of its process) and show it restarted"
CID=$(kubectl get pod acc-pod -o jsonpath='{.status.containerStatuses[?(@.name=="server")].containerID}')
CID=${CID#containerd://}
# The container's processes, from its own cgroup (runc names it after the container ID).
acc_run sh -c "cat \$(find /sys/fs/cgroup/memory -type d -name '$CID*' | head -1)/cgroup.procs"
PID=$(head -1 <<<"$ACC_OUT")
acc_run kill -9 "$PID"
acc_check "kill -9 $PID (container ${CID:0:12}) succeeded" test "$ACC_RC" -eq 0
acc_poll 30 "server restarted: restartCount 1, last state terminated with exit code 137" "restarts=1 last=137" \
  kubectl get pod acc-pod -o jsonpath='{range .status.containerStatuses[?(@.name=="server")]}restarts={.restartCount} last={.lastState.terminated.exitCode}{end}'
acc_poll 30 "pod back to 2/2 Running" "acc-pod +2/2 +Running" "$MKCTL" get pod acc-pod

acc_step "7.2.1 delete"
acc_run "$MKCTL" delete -f "$FILE"
acc_expect "delete accepted" "deleted"
acc_poll 30 "pod gone from the API" "NotFound|not found" sh -c "'$MKCTL' get pod acc-pod 2>&1; true"
acc_run sh -c "find /sys/fs/cgroup/memory -type d -name 'pod*' | grep -c '$POD_UID' || true"
acc_expect "its pod cgroup is gone" "^0$"

acc_step "7.2.3 multi-node scheduling: the nodes and the scheduler policy"
acc_run kubectl get nodes -o wide
NNODES=$(kubectl get nodes --no-headers 2>/dev/null | grep -c " Ready")
POLICY=least-allocated
SPID=$(sed -n 's/^server=//p' "${MK_CLUSTER_DIR:-/nonexistent}/state" 2>/dev/null | tail -n1)
if [ -n "$SPID" ]; then
  acc_run sh -c "tr '\\0' ' ' </proc/$SPID/cmdline; echo"
  if grep -q -- "--scheduler-policy" <<<"$ACC_OUT"; then POLICY=$(sed 's/.*--scheduler-policy \([a-z-]*\).*/\1/' <<<"$ACC_OUT"); fi
  echo "[STEP] the server runs with policy $POLICY (flag --scheduler-policy; default least-allocated)"
fi
if [ "$NNODES" -lt 2 ]; then
  acc_skip "7.2.3 needs at least 2 Ready nodes (this cluster has $NNODES): run with scripts/cluster.sh up"
else
  # Least-allocated, as the scheduler scores it (src/scheduler/framework.cc):
  # per node ((alloc - requested) / alloc) averaged over cpu and memory, where
  # containers without requests count 100m / 200Mi; the highest score wins.
  scores() {
    python3 - "$1" "$2" <<'PY'
import json, subprocess, sys
want_cpu, want_mem = int(sys.argv[1]), int(sys.argv[2])
def q(v, milli):
    v = str(v); mult = {'Ki': 2**10, 'Mi': 2**20, 'Gi': 2**30, 'k': 1000, 'M': 10**6, 'G': 10**9}
    if v.endswith('m'): return int(v[:-1]) if milli else int(v[:-1]) // 1000
    for s, m in mult.items():
        if v.endswith(s): return int(float(v[:-len(s)]) * m) * (1000 if milli else 1)
    return int(float(v) * (1000 if milli else 1))
nodes = json.loads(subprocess.check_output(['kubectl', 'get', 'nodes', '-o', 'json']))['items']
pods = json.loads(subprocess.check_output(['kubectl', 'get', 'pods', '-A', '-o', 'json']))['items']
used = {}
for p in pods:
    n = p['spec'].get('nodeName')
    if not n or p.get('status', {}).get('phase') in ('Succeeded', 'Failed'): continue
    c = m = 0
    for ct in p['spec']['containers']:
        r = ct.get('resources', {}); req = dict(r.get('limits', {})); req.update(r.get('requests', {}))
        c += q(req['cpu'], True) if 'cpu' in req else 100
        m += q(req['memory'], False) if 'memory' in req else 200 * 2**20
    u = used.setdefault(n, [0, 0]); u[0] += c; u[1] += m
best, rows = -1, []
for nd in nodes:
    if nd['spec'].get('unschedulable'): continue
    a = nd['status']['allocatable']; ac, am = q(a['cpu'], True), q(a['memory'], False)
    uc, um = used.get(nd['metadata']['name'], [0, 0])
    part = lambda al, r: 0 if r > al else (al - r) * 1000000 // al
    s = (part(ac, uc + want_cpu) + part(am, um + want_mem)) // 2
    rows.append((nd['metadata']['name'], uc, um >> 20, s)); best = max(best, s)
for n, c, m, s in rows: print(f"{n} requested cpu={c}m memory={m}Mi score={s}")
print("expected:", " ".join(n for n, _, _, s in rows if s == best))
PY
  }
  PLACED=()
  for k in 1 2 3 4 5 6; do
    if [ "$POLICY" = least-allocated ]; then
      acc_run scores 200 $((64 << 20))
      EXPECTED=$(sed -n 's/^expected: //p' <<<"$ACC_OUT")
    fi
    kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: acc-sched-$k, labels: {acc: sched}}
spec:
  containers:
  - {name: c, image: busybox:1.36, command: [sleep, "3600"], resources: {requests: {cpu: 200m, memory: 64Mi}}}
EOF
    acc_poll 30 "acc-sched-$k is bound to a node" "^[a-z0-9-]+$" kubectl get pod acc-sched-$k -o jsonpath='{.spec.nodeName}'
    NODE=$ACC_OUT
    PLACED+=("$NODE")
    if [ "$POLICY" = least-allocated ]; then
      acc_check "least-allocated: acc-sched-$k went to $NODE, a node with the highest score ($EXPECTED)" grep -qw -- "$NODE" <<<"$EXPECTED"
    fi
  done
  acc_run kubectl get pods -l acc=sched -o wide
  acc_run sh -c "kubectl get pods -l acc=sched -o jsonpath='{range .items[*]}{.spec.nodeName}{\"\\n\"}{end}' | sort | uniq -c"
  DISTINCT=$(printf '%s\n' "${PLACED[@]}" | sort -u | wc -l)
  acc_check "the 6 pods landed on $DISTINCT different nodes (spread over >= 2)" test "$DISTINCT" -ge 2
  if [ "$POLICY" = round-robin ]; then
    mapfile -t SORTED < <(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort)
    ok=1
    for k in 1 2 3 4 5; do
      for j in "${!SORTED[@]}"; do [ "${SORTED[$j]}" = "${PLACED[$((k - 1))]}" ] && prev=$j; done
      [ "${PLACED[$k]}" = "${SORTED[$(((prev + 1) % ${#SORTED[@]}))]}" ] || ok=0
    done
    acc_check "round-robin: consecutive pods took the nodes in name order (${PLACED[*]})" test $ok = 1
  fi
  acc_run kubectl delete pod -l acc=sched --wait=false
  acc_expect "scheduling pods deleted" "deleted"
fi

trap - EXIT
acc_end
