#!/usr/bin/env bash
# 7.4 of ACCEPTANCE.md (ReplicaSet) on the multi-node cluster:
# 7.4.1 a ReplicaSet file (name, template, replicas); create it; the
#       scheduler spreads the pods (node per pod printed); at the end delete
#       it and show what happens to its pods (the garbage collector deletes
#       them; --cascade=orphan would keep them);
# 7.4.2 a Service bound to the ReplicaSet by labels; every response names the
#       pod and node that answered, proving traffic reaches pods on several
#       nodes; the balancing policy is named (round-robin via the Service
#       annotation minik8s.io/load-balancing; the proxy's default is random);
# 7.4.3 recovery: a pod deleted, a container killed, a container past its
#       memory limit — the running count printed before, during and after.
# Uses the running cluster (KUBECONFIG or .cluster/), else brings up (and
# removes) a private 3-node one. Re-runnable: removes what it created.
source "$(dirname "$0")/../../test/e2e/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
acc_begin "04_replicaset"
acc_multinode 3
TMPD=$(mktemp -d /tmp/minik8s-acc-rs.XXXXXX)
trap 'acc_teardown_cluster; rm -rf "$TMPD"' EXIT
kubectl delete rs acc-rs --ignore-not-found >/dev/null 2>&1
kubectl delete svc acc-rs --ignore-not-found >/dev/null 2>&1
kubectl delete pod -l acc=rs --ignore-not-found --wait=false >/dev/null 2>&1
acc_poll 60 "nothing left from an earlier run" "^0$" sh -c "kubectl get pods -l acc=rs --no-headers 2>/dev/null | wc -l"
N1=${ACC_NODES[0]}
FILE=$TMPD/replicaset.yaml
SVC=$TMPD/service.yaml
cat >"$FILE" <<'EOF'
# A ReplicaSet: name, replicas, a selector and the pod template it stamps out.
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: acc-rs
spec:
  replicas: 6
  selector:
    matchLabels: {app: acc-rs}
  template:
    metadata:
      labels: {app: acc-rs, acc: rs}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: busybox:1.36
        env:
        - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
        - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
        - {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
        # httpd answers with the pod's name, node and IP; the shell becomes a
        # memory hog when /tmp/hog appears (the memory-limit drill below).
        command: [sh, -c, 'mkdir -p /www && echo "$POD on $NODE ($IP)" > /www/index.html && httpd -p 8080 -h /www && while [ ! -e /tmp/hog ]; do sleep 0.2; done; x=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; while true; do x=$x$x; done']
        ports: [{containerPort: 8080, name: http}]
        resources:
          limits: {memory: 24Mi}
EOF
cat >"$SVC" <<'EOF'
apiVersion: v1
kind: Service
metadata:
  name: acc-rs
  annotations: {minik8s.io/load-balancing: round-robin}
spec:
  selector: {app: acc-rs}
  ports: [{port: 80, targetPort: http}]
EOF
# One line per pod: name, phase, container ready, restarts, node, deletionTimestamp.
pod_table() {
  kubectl get pods -l app=acc-rs --no-headers -o custom-columns='POD:.metadata.name,PHASE:.status.phase,READY:.status.containerStatuses[0].ready,RESTARTS:.status.containerStatuses[0].restartCount,NODE:.spec.nodeName,DELETING:.metadata.deletionTimestamp' 2>/dev/null
}
# Running = phase Running, container ready, not being deleted.
running() { pod_table | awk '$2 == "Running" && $3 == "true" && $6 == "<none>"' | wc -l; }
# "Running: N" and the pod table, for before / during / after.
show_count() {
  local t; t=$(pod_table)
  echo "Running: $(awk '$2 == "Running" && $3 == "true" && $6 == "<none>"' <<<"$t" | wc -l)"
  echo "$t"
}

acc_step "7.4.1 the ReplicaSet file: name, replicas, template"
acc_run cat "$FILE"
acc_expect "the file has a name, replicas and a pod template" "replicas: 6"
acc_run kubectl apply -f "$FILE"
acc_expect "ReplicaSet created from the file" "replicaset.apps/acc-rs (created|configured)"
acc_poll 120 "6 pods Running" "^6$" running
acc_poll 20 "kubectl get rs: DESIRED 6, CURRENT 6, READY 6" "acc-rs +6 +6 +6" kubectl get rs acc-rs -o wide
acc_run kubectl get pods -l app=acc-rs -o custom-columns=POD:.metadata.name,NODE:.spec.nodeName,IP:.status.podIP,OWNER:.metadata.ownerReferences[0].name
acc_expect "each pod is owned by the ReplicaSet acc-rs" "acc-rs-[a-z0-9]+ .*acc-rs$"
NODES_USED=$(kubectl get pods -l app=acc-rs -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | uniq -c)
acc_run echo "$NODES_USED"
acc_check "the scheduler spread the pods over all 3 nodes" test "$(grep -c . <<<"$NODES_USED")" -eq 3

acc_step "7.4.2 a Service selecting app=acc-rs (policy: round-robin by annotation; the proxy's default is random)"
acc_run cat "$SVC"
acc_run kubectl apply -f "$SVC"
acc_expect "Service created" "service/acc-rs (created|configured)"
CIP=$(kubectl get svc acc-rs -o jsonpath='{.spec.clusterIP}')
acc_poll 15 "the Service's endpoints are the 6 pods" "^6$" sh -c "kubectl get endpoints acc-rs -o jsonpath='{range .subsets[*].addresses[*]}{.ip}{\"\\n\"}{end}' | grep -c ."
acc_poll 15 "the virtual IP $CIP answers from node $N1" "acc-rs-[a-z0-9]+ on " acc_on_node 1 curl -sS --max-time 3 "http://$CIP/"
acc_run sh -c "for i in \$(seq 1 12); do '$CLUSTER_SH' exec 1 -- curl -sS --max-time 3 http://$CIP/; done"
acc_check "12 requests, each answer names its pod: all 6 pods answered (round-robin)" \
  test "$(grep -Eo 'acc-rs-[a-z0-9]+' <<<"$ACC_OUT" | sort -u | wc -l)" -eq 6
acc_check "answers came from pods on several nodes" test "$(grep -Eo ' on [^ ]+' <<<"$ACC_OUT" | sort -u | wc -l)" -ge 2

acc_step "7.4.3 recovery (a): delete a pod"
acc_run show_count
acc_expect "before: 6 Running" "^Running: 6$"
VICTIM=$(kubectl get pods -l app=acc-rs -o jsonpath='{.items[0].metadata.name}')
acc_run kubectl delete pod "$VICTIM" --wait=false
acc_run show_count
acc_poll 15 "during: a replacement for $VICTIM was created (6 pods besides it)" "^6$" \
  sh -c "kubectl get pods -l app=acc-rs --no-headers | grep -v '^$VICTIM ' | grep -c ."
acc_poll 60 "after: 6 Running again" "^Running: 6$" show_count

acc_step "7.4.3 recovery (b): kill a container (kill -9 of its processes, as a crash would)"
POD=$(kubectl get pods -l app=acc-rs --field-selector=status.phase=Running \
  -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}' | awk 'NF == 1 { print $1; exit }')
CID=$(kubectl get pod "$POD" -o jsonpath='{.status.containerStatuses[0].containerID}'); CID=${CID#containerd://}
R0=$(kubectl get pod "$POD" -o jsonpath='{.status.containerStatuses[0].restartCount}')
acc_run show_count
PIDS=$(cat "$(find /sys/fs/cgroup/memory -type d -name "$CID" | head -1)/cgroup.procs" 2>/dev/null | tr '\n' ' ')
acc_run kill -9 $PIDS
acc_check "killed the processes of $POD's container ($PIDS)" test "$ACC_RC" -eq 0
acc_run show_count
acc_poll 30 "after: the kubelet restarted it in place (restartCount $R0 → $((R0 + 1)))" "^$((R0 + 1)) " \
  kubectl get pod "$POD" -o jsonpath='{.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].lastState.terminated.exitCode}'
acc_poll 30 "after: 6 Running" "^Running: 6$" show_count

acc_step "7.4.3 recovery (c): a container exceeds its 24Mi memory limit"
POD2=$(kubectl get pods -l app=acc-rs --field-selector=status.phase=Running \
  -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}' |
  awk -v skip="$POD" 'NF == 1 && $1 != skip { print $1; exit }')
R2=$(kubectl get pod "$POD2" -o jsonpath='{.status.containerStatuses[0].restartCount}')
acc_run show_count
acc_run kubectl exec "$POD2" -- touch /tmp/hog
acc_run show_count
acc_poll 30 "after: $POD2 was OOMKilled (exit 137) and restarted" "^$((R2 + 1)) OOMKilled 137$" \
  kubectl get pod "$POD2" -o jsonpath='{.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].lastState.terminated.reason} {.status.containerStatuses[0].lastState.terminated.exitCode}'
acc_poll 30 "after: 6 Running" "^Running: 6$" show_count
acc_run kubectl describe rs acc-rs
acc_expect "the ReplicaSet's events: SuccessfulCreate for every pod it made" "SuccessfulCreate +([^ ]+ +)?replicaset-controller +Created pod: acc-rs-"

acc_step "7.4.1 delete the ReplicaSet: its pods are deleted by the garbage collector (background propagation)"
acc_run kubectl delete -f "$FILE" --wait=false
acc_expect "ReplicaSet deleted" "replicaset.apps \"acc-rs\" deleted"
acc_run kubectl get pods -l app=acc-rs
acc_poll 30 "the pods are gone" "^0$" sh -c "kubectl get pods -l app=acc-rs --no-headers 2>/dev/null | wc -l"

acc_step "cleanup"
acc_run kubectl delete -f "$SVC"
trap - EXIT
rm -rf "$TMPD"
acc_end
