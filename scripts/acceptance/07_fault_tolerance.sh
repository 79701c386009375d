#!/usr/bin/env bash
# 7.7 of ACCEPTANCE.md (fault tolerance) on the 3-node cluster.sh cluster:
# 7.7.1 with pods and a Service running, the whole control plane restarts —
#       the server (API server, scheduler, controllers) and node 1's agent
#       (kubelet, proxy, DNS, nginx supervisor) are killed with SIGKILL and
#       started again; the store (SQLite on disk) is kept. Request loops to
#       the Service's virtual IP from two nodes count failures before,
#       during and after; afterwards every object is listed with the same
#       UIDs, the pods' containers are the same, the Service answers.
# 7.7.2 a worker node dies (scripts/cluster.sh stop-node: agent, containerd
#       and pod processes SIGKILLed, its link down): the control plane marks
#       it (Ready Unknown, unreachable taints), its pod leaves the Service's
#       endpoints and traffic goes only to the others, new pods do not land
#       on it, its pod is evicted after the toleration (Terminating while
#       the node is away); start-node: Ready and schedulable again, the
#       evicted pod deleted and its containers removed from the node.
# Uses the running cluster.sh cluster (KUBECONFIG or .cluster/), else brings
# up (and removes) a private one with short node-failure periods
# (MK_SERVER_ARGS: --node-monitor-grace-period 6s
# --default-unreachable-toleration-seconds 10); on a cluster with other
# settings the waits follow its recorded flags. Re-runnable.
source "$(dirname "$0")/../../test/e2e/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
acc_begin "07_fault_tolerance"
export MK_SERVER_ARGS=${MK_SERVER_ARGS:-"--node-monitor-grace-period 6s --default-unreachable-toleration-seconds 10"}
acc_multinode 3
trap 'acc_loop_stop; acc_teardown_cluster' EXIT
CL=$CLUSTER_SH
if ! acc_drill_env; then
  acc_fail "the cluster in KUBECONFIG=$KUBECONFIG is not a scripts/cluster.sh cluster (the drills need one; run with ACC_FRESH_CLUSTER=1)"
  acc_end; exit 1
fi
acc_run "$CL" status
acc_expect "3 nodes, each with a running agent" "node 3: .*agent pid [0-9]+ \(running\)"
N1=${ACC_NODES[0]} N2=${ACC_NODES[1]} N3=${ACC_NODES[2]}
GRACE=$(acc_server_flag --node-monitor-grace-period 20s); GRACE=${GRACE%s}
TOL=$(acc_server_flag --default-unreachable-toleration-seconds 30)
echo "[STEP] node failure settings of this cluster: grace period ${GRACE}s, unreachable toleration ${TOL}s"

kubectl delete svc acc-ft --ignore-not-found >/dev/null 2>&1
kubectl delete pod -l acc=ft --ignore-not-found --wait=false >/dev/null 2>&1
acc_poll 60 "nothing left from an earlier run" "^0$" sh -c "kubectl get pods -l acc=ft --no-headers 2>/dev/null | wc -l"

# Pods and containers: name uid node containerID startedAt restartCount.
pod_table() {
  kubectl get pods -l "${1:-acc=ft}" -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.uid} {.spec.nodeName} {.status.containerStatuses[0].containerID} {.status.containerStatuses[0].state.running.startedAt} {.status.containerStatuses[0].restartCount}{"\n"}{end}' | sort
}
ep_pods() {
  kubectl get endpoints acc-ft -o jsonpath='{range .subsets[*].addresses[*]}{.targetRef.name}{" "}{end}' |
    tr ' ' '\n' | grep . | sort | paste -sd' ' -
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# loops_made N FROM NAME...: each named loop has made at least N requests
# stamped after the epoch time FROM.
loops_made() {
  local n=$1 from=$2 l c; shift 2
  for l in "$@"; do
    c=$(awk -v f="$from" '$1 > f' "$ACC_LOOP_DIR/$l" 2>/dev/null | grep -c .)
    [ "$c" -ge "$n" ] || { echo "$l: $c requests"; return 1; }
  done
  echo "each loop made $n requests"
}
# first_after NAME T: the time stamp of NAME's first request line stamped at
# or after T. A loop line is stamped when its request ended, so that request
# may have started before T; every later one started after it.
first_after() { awk -v t="$2" '$1 >= t { print $1; exit }' "$ACC_LOOP_DIR/$1"; }

acc_step "setup: web pods acc-ft-1 on $N1, acc-ft-2 on $N2, acc-ft-3 on $N3 behind the Service acc-ft (ClusterIP, port 80 → 8080)"
acc_web_pod acc-ft-1 "$N1" "app: acc-ft, acc: ft"
acc_web_pod acc-ft-2 "$N2" "app: acc-ft, acc: ft"
acc_web_pod acc-ft-3 "$N3" "app: acc-ft, acc: ft"
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: acc-ft, labels: {acc: ft}}
spec:
  selector: {app: acc-ft}
  ports: [{name: http, port: 80, targetPort: 8080}]
EOF
acc_poll 90 "the three pods Running" "^3$" sh -c "kubectl get pods -l acc=ft --no-headers | grep -c ' Running '"
acc_poll 30 "the Service's endpoints are the three pods" "^acc-ft-1 acc-ft-2 acc-ft-3$" ep_pods
acc_run kubectl get pods,svc,endpoints -l acc=ft -o wide
CIP=$(kubectl get svc acc-ft -o jsonpath='{.spec.clusterIP}')
acc_poll 60 "the Service answers from $N3's network namespace" "acc-ft-[123] on " "$CL" exec "$N3" -- curl -sS --max-time 2 "http://$CIP/"

# ---------------------------------------------------------------------------
acc_step "7.7.1 restart the whole control plane: kill -9 the server and $N1's agent, start both again (the store is kept)"
acc_run pod_table
BEFORE_PODS=$ACC_OUT
acc_run sh -c "kubectl get pods,svc,endpoints -l acc=ft -o jsonpath='{range .items[*]}{.kind}/{.metadata.name} uid={.metadata.uid}{\"\\n\"}{end}' | sort"
BEFORE_OBJS=$ACC_OUT
acc_loop_start n3-to-svc "$N3" "http://$CIP/" "acc-ft-[123] on "
acc_loop_start n1-to-svc "$N1" "http://$CIP/" "acc-ft-[123] on "
acc_poll 60 "both loops are answered before the restart (10 requests each)" "^each loop made" loops_made 10 0 n3-to-svc n1-to-svc
T0=$(now)
acc_run sh -c "'$CL' restart-server & s=\$!; '$CL' restart-agent '$N1' & a=\$!; wait \$s; rs=\$?; wait \$a; ra=\$?; echo \"exit codes: restart-server \$rs, restart-agent \$ra\"; [ \$rs = 0 ] && [ \$ra = 0 ]"
T1=$(now)
acc_expect "the server was killed (SIGKILL) and answers /readyz again" "server pid [0-9]+ ready again after [0-9]+ ms"
acc_expect "$N1's agent was killed (SIGKILL) and is back (Lease renewed, Ready)" "agent pid [0-9]+ back \(Lease renewed, Ready\)"
echo "[STEP] control plane down and back in $(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.1f", b - a }') s; requests keep running for 20 more each"
acc_poll 60 "both loops go on after the restart (20 requests each)" "^each loop made" loops_made 20 "$T1" n3-to-svc n1-to-svc
T2=$(now)
for l in n3-to-svc n1-to-svc; do
  acc_run acc_loop_counts "$l" 0 "$T0"
  acc_expect "loop $l before the restart: requests answered, none failed" "^[1-9][0-9]* requests, [0-9]+ ok, 0 failed"
  acc_run acc_loop_counts "$l" "$T0" "$T1"
  acc_expect "loop $l during the restart (kill to back): requests answered, none failed" "^[1-9][0-9]* requests, [0-9]+ ok, 0 failed"
  acc_run acc_loop_counts "$l" "$T1" "$T2"
  acc_expect "loop $l after the restart: requests answered, none failed" "^[1-9][0-9]* requests, [0-9]+ ok, 0 failed"
  [ "$(acc_loop_counts "$l" | awk '{print $5}')" = 0 ] || acc_run acc_loop_failures "$l"
done
acc_loop_stop
acc_run kubectl get nodes
for n in "$N1" "$N2" "$N3"; do acc_expect "afterwards: node $n listed and Ready" "^$n +Ready "; done
acc_run kubectl get pods,svc,endpoints -l acc=ft -o wide
for o in pod/acc-ft-1 pod/acc-ft-2 pod/acc-ft-3 service/acc-ft endpoints/acc-ft; do
  acc_expect "afterwards: $o listed" "^$o "
done
acc_run sh -c "kubectl get pods,svc,endpoints -l acc=ft -o jsonpath='{range .items[*]}{.kind}/{.metadata.name} uid={.metadata.uid}{\"\\n\"}{end}' | sort"
acc_check "the same objects (same UIDs) as before the restart: the store was kept" test "$ACC_OUT" = "$BEFORE_OBJS"
acc_run pod_table
acc_check "the pods kept running: same container IDs, start times and restart counts" test "$ACC_OUT" = "$BEFORE_PODS"
acc_run "$CL" exec "$N2" -- curl -sS --max-time 2 "http://$CIP/"
acc_expect "the Service still answers" "acc-ft-[123] on "
kubectl delete pod acc-ft-new --ignore-not-found >/dev/null 2>&1
acc_run kubectl run acc-ft-new --labels=acc=ft-new --image=busybox:1.36 --restart=Never -- sleep 3600
acc_poll 60 "the scheduler and kubelets resumed: a new pod is scheduled and Running" "^Running [^ ]+$" \
  kubectl get pod acc-ft-new -o jsonpath='{.status.phase} {.spec.nodeName}'
kubectl delete pod acc-ft-new --wait=false >/dev/null 2>&1

# ---------------------------------------------------------------------------
acc_step "7.7.2 $N3 dies: scripts/cluster.sh stop-node $N3 (agent, containerd, pods SIGKILLed; link down)"
IP3=$(kubectl get pod acc-ft-3 -o jsonpath='{.status.podIP}')
acc_loop_start n1-to-svc-2 "$N1" "http://$CIP/" "acc-ft-[123] on "
T0=$(now)
acc_run "$CL" stop-node "$N3"
acc_expect "node $N3 stopped" "stopped: agent, containerd"
acc_run "$CL" status
acc_expect "the harness shows it stopped" "node 3: .*STOPPED"
F=$ACC_FAIL
acc_poll $((GRACE + 30)) "the control plane notices: $N3 NotReady (Ready condition Unknown, the kubelet stopped posting)" "^Unknown" \
  kubectl get node "$N3" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}'
[ "$ACC_FAIL" = "$F" ] && echo "[STEP] $N3 marked $(since "$T0") s after it died (grace period ${GRACE}s)"
acc_run kubectl get nodes
acc_expect "kubectl get nodes shows $N3 NotReady" "$N3 +NotReady"
acc_poll 10 "$N3 carries the unreachable taints (NoExecute, NoSchedule)" "node.kubernetes.io/unreachable:NoExecute" \
  kubectl get node "$N3" -o jsonpath='{range .spec.taints[*]}{.key}:{.effect}{"\n"}{end}'
F=$ACC_FAIL
acc_poll 10 "its pod acc-ft-3 left the Service's endpoints (traffic stops going to it)" "^acc-ft-1 acc-ft-2$" ep_pods
T_EP=$(now)
[ "$ACC_FAIL" = "$F" ] && echo "[STEP] endpoints without acc-ft-3 $(since "$T0") s after $N3 died"
acc_run kubectl get endpoints acc-ft -o wide
# Where $N1's proxy sends the Service: the pod IPs of its SVC chain's jumps.
SVC_NS=$(kubectl get svc acc-ft -o jsonpath='{.metadata.namespace}')
n1_rules_to() {
  acc_on_node "$N1" iptables-save -t nat | grep -o -- "--comment \"$SVC_NS/acc-ft:http -> [0-9.]*:8080\"" |
    sed 's/.*-> \([0-9.]*\):.*/\1/' | sort | paste -sd' ' -
}
EP12=$(kubectl get pod acc-ft-1 acc-ft-2 -o jsonpath='{range .items[*]}{.status.podIP}{"\n"}{end}' | sort | paste -sd' ' -)
acc_poll 30 "$N1's proxy sends the Service only to acc-ft-1 and acc-ft-2 ($EP12), no longer to acc-ft-3 ($IP3)" "^$EP12\$" n1_rules_to
T_PROG=$(now)
acc_run "$CL" exec "$N1" -- sh -c "for i in \$(seq 1 10); do curl -sS --max-time 2 http://$CIP/; done | sort | uniq -c"
answered_by_others() {  # the uniq -c output: 10 answers in all, from acc-ft-1/2 only
  [ "$(grep -Eo '[0-9]+ acc-ft-[12] on' <<<"$ACC_OUT" | awk '{s += $1} END {print s}')" = 10 ] && ! grep -q acc-ft-3 <<<"$ACC_OUT"
}
acc_check "10 requests to the Service: all answered, none by acc-ft-3 on $N3" answered_by_others
acc_step "no new pods land on $N3: 4 new pods without a node"
for i in 1 2 3 4; do
  kubectl run "acc-ft-sched-$i" --labels=acc=ft-sched --image=busybox:1.36 --restart=Never -- sleep 3600 >/dev/null
done
acc_poll 60 "the 4 new pods are scheduled" "^4$" sh -c "kubectl get pods -l acc=ft-sched -o jsonpath='{range .items[*]}{.spec.nodeName}{\"\\n\"}{end}' | grep -c ."
acc_run kubectl get pods -l acc=ft-sched -o wide
acc_check "none of them on $N3" sh -c "! kubectl get pods -l acc=ft-sched -o jsonpath='{range .items[*]}{.spec.nodeName}{\"\\n\"}{end}' | grep -qx '$N3'"
kubectl delete pod -l acc=ft-sched --wait=false >/dev/null 2>&1
F=$ACC_FAIL
# Evicted = deleted gracefully: with its kubelet away the pod stays
# Terminating (deletionTimestamp set) until the node returns and confirms.
acc_poll $((TOL + 40)) "after the toleration (${TOL}s) acc-ft-3 is evicted from $N3 (deletionTimestamp set: Terminating)" \
  "^(deleted at [0-9TZ:-]+|NotFound)" \
  sh -c "kubectl get pod acc-ft-3 -o jsonpath='deleted at {.metadata.deletionTimestamp}' 2>&1 | grep -E 'deleted at .|NotFound' | sed 's/.*NotFound.*/NotFound/'"
[ "$ACC_FAIL" = "$F" ] && echo "[STEP] acc-ft-3 evicted $(since "$T0") s after $N3 died"
acc_run kubectl get pods -l acc=ft -o wide

acc_step "7.7.2 $N3 comes back: scripts/cluster.sh start-node $N3"
T_BACK=$(now)
acc_run "$CL" start-node "$N3"
acc_expect "start-node: agent started, Lease renewed, node Ready" "back: agent pid [0-9]+, Lease renewed and Ready"
acc_poll 30 "$N3 Ready again" "^True" \
  kubectl get node "$N3" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'
acc_poll 30 "the unreachable taints are gone" "^none$" \
  sh -c "t=\$(kubectl get node $N3 -o jsonpath='{range .spec.taints[*]}{.key}{\"\\n\"}{end}' | grep -c node.kubernetes.io/); [ \"\$t\" = 0 ] && echo none || echo \$t"
acc_run kubectl get nodes
acc_expect "kubectl get nodes: all Ready" "$N3 +Ready"
acc_poll 60 "the evicted acc-ft-3 is gone from the API (its kubelet confirmed the delete)" "NotFound" \
  sh -c "kubectl get pod acc-ft-3 2>&1; true"
SOCK=$MK_CLUSTER_DIR/node3/containerd/containerd.sock
acc_poll 60 "$N3 removed the containers of the pod evicted while it was away (acc-ft-3)" "^0$" \
  sh -c "ctr -a '$SOCK' -n k8s.io containers ls -q 'labels.\"io.kubernetes.pod.name\"==acc-ft-3' | wc -l"
acc_web_pod acc-ft-4 "$N3" "app: acc-ft, acc: ft"
acc_poll 90 "schedulable again: a new pod on $N3 Running" "^Running $N3$" \
  kubectl get pod acc-ft-4 -o jsonpath='{.status.phase} {.spec.nodeName}'
acc_poll 30 "and back in the Service's endpoints" "^acc-ft-1 acc-ft-2 acc-ft-4$" ep_pods
acc_poll 20 "the Service answers from $N3 again" "acc-ft-[124] on " "$CL" exec "$N3" -- curl -sS --max-time 2 "http://$CIP/"
acc_loop_stop
acc_run acc_loop_counts n1-to-svc-2 0 "$T_EP"
echo "[STEP] requests from $N1 between the death of $N3 and the removal of its endpoint (some went to the dead pod): $ACC_OUT"
# From the first request that started after $N1's proxy dropped acc-ft-3 (the
# one after the first line stamped at or after T_PROG) to $N3's return.
# (None at all: T_FROM lies past T_BACK, the count is 0 and the check fails.)
T_FROM=$(awk -v t="$(first_after n1-to-svc-2 "$T_PROG")" -v b="$T_BACK" 'BEGIN { printf "%.6f", t == "" ? b + 1 : t + 0.001 }')
acc_run acc_loop_counts n1-to-svc-2 "$T_FROM" "$T_BACK"
acc_expect "requests from $N1 started after its proxy dropped acc-ft-3, to $N3's return: none failed" "^[1-9][0-9]* requests, [0-9]+ ok, 0 failed"
[ "$ACC_RC" = 0 ] && grep -q " 0 failed" <<<"$ACC_OUT" || acc_run acc_loop_failures n1-to-svc-2

acc_step "cleanup"
acc_run kubectl delete pod,svc -l acc=ft --wait=false
trap - EXIT
acc_end
