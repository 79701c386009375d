#!/usr/bin/env bash
# 7.2.1, 7.2.2, 7.2.4 of ACCEPTANCE.md on a single node: a multi-container pod
# from a file; each parameter shown taking effect; a killed container is
# restarted; localhost between containers; a file shared through an emptyDir.
# Uses the cluster in $KUBECONFIG, or starts (and removes) a private one.
# Re-runnable: deletes the pod at the start and at the end.
source "$(dirname "$0")/lib.sh"
FILE=examples/acceptance/pod-lifecycle.yaml
cd "$ROOT"
acc_begin "02_pod_lifecycle"
acc_cluster
trap 'acc_teardown_cluster' EXIT
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

acc_step "7.2.1 the port is reachable (from the node, at the pod IP)"
acc_run curl -sS --max-time 3 "http://$POD_IP:8080/index.html"
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

trap - EXIT
acc_end
