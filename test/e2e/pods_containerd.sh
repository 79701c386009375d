#!/usr/bin/env bash
# Pods on real containerd (issue 3): one server + one agent with its own
# containerd; every check reads real state (API status, cgroup files, the
# runtime, container output).
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
start_server
start_agent "e2e-pods-$$"
D=$E2E_DIR

cat >"$D/pair.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: pair}
spec:
  terminationGracePeriodSeconds: 2
  volumes: [{name: data, emptyDir: {}}]
  containers:
  - name: server
    image: busybox:1.36
    command: ["sh", "-c", "echo hello-from-server > /data/index.html && exec httpd -f -p 8080 -h /data"]
    ports: [{containerPort: 8080}]
    resources: {limits: {cpu: 250m, memory: 48Mi}}
    volumeMounts: [{name: data, mountPath: /data}]
  - name: client
    image: busybox:1.36
    command: ["sh", "-c", "echo client-up; while true; do sleep 1; done"]
    volumeMounts: [{name: data, mountPath: /shared}]
YAML
check "create multi-container pod" kubectl apply -f "$D/pair.yaml"
poll 60 sh -c "kubectl get pod pair | grep -q '2/2 *Running'" || { kubectl describe pod pair; tail -n 40 "$D/agent.log"; }
expect_out "pod is Running 2/2" "2/2 +Running" kubectl get pod pair
expect_out "localhost between containers" "hello-from-server" kubectl exec pair -c client -- sh -c 'timeout 3 wget -q -O - http://localhost:8080/index.html'
expect_out "emptyDir shared between containers" "hello-from-server" kubectl exec pair -c client -- cat /shared/index.html
expect_out "kubectl logs" "client-up" kubectl logs pair -c client
expect_out "mkctl logs --tail" "client-up" "$BIN/mkctl" logs pair -c client --tail 1
expect_out "mkctl exec exit code" "^7$" sh -c "$BIN/mkctl exec pair -c client -- sh -c 'exit 7'; echo \$?"

UID_=$(jp pair '{.metadata.uid}')
CID=$(jp pair '{.status.containerStatuses[?(@.name=="server")].containerID}'); CID=${CID#containerd://}
POD_IP=$(jp pair '{.status.podIP}')
CG_MEM=$(find /sys/fs/cgroup/memory -type d -name "$CID" | head -1)
CG_CPU=$(find /sys/fs/cgroup/cpu -type d -name "$CID" | head -1)
expect_out "memory limit in the container's cgroup" "^50331648$" cat "$CG_MEM/memory.limit_in_bytes"
expect_out "CPU quota in the container's cgroup" "^25000$" cat "$CG_CPU/cpu.cfs_quota_us"
check "pod cgroup parent exists" test -d "$(dirname "$CG_MEM")"
expect_out "pod IP reachable from the node" "hello-from-server" curl -sS --max-time 3 "http://$POD_IP:8080/index.html"

# kill -9 of the container's process from outside → restarted within the back-off.
PID=$(head -1 "$CG_MEM/cgroup.procs")
check "kill -9 the server process" kill -9 "$PID"
poll 30 sh -c "[ \"\$(kubectl get pod pair -o jsonpath='{.status.containerStatuses[?(@.name==\"server\")].restartCount}')\" = 1 ]"
expect_out "restartCount 1 with lastState exit 137" "^1 137$" jp pair '{.status.containerStatuses[?(@.name=="server")].restartCount} {.status.containerStatuses[?(@.name=="server")].lastState.terminated.exitCode}'
poll 30 sh -c "kubectl get pod pair | grep -q '2/2 *Running'"

# agent restart: adopts what runs, no restarts.
RESTARTS_BEFORE=$(jp pair '{.status.containerStatuses[*].restartCount}')
CIDS_BEFORE=$(jp pair '{.status.containerStatuses[*].containerID}')
stop_agent
start_agent "$AGENT_NODE"
poll 10 sh -c "kubectl get pod pair | grep -q '2/2 *Running'"
expect_out "agent restart: same containers, same restart counts" "^${CIDS_BEFORE} ${RESTARTS_BEFORE}$" \
  jp pair '{.status.containerStatuses[*].containerID} {.status.containerStatuses[*].restartCount}'

# OOM: a container allocating past its limit.
cat >"$D/oom.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: oom}
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: busybox:1.36
    command: ["sh", "-c", "x=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; while true; do x=$x$x; done"]
    resources: {limits: {memory: 16Mi}}
YAML
check "create OOM pod" kubectl apply -f "$D/oom.yaml"
poll 60 sh -c "kubectl get pod oom -o jsonpath='{.status.containerStatuses[0].state.terminated.reason}' | grep -q ."
expect_out "OOMKilled reason" "^OOMKilled 137$" jp oom '{.status.containerStatuses[0].state.terminated.reason} {.status.containerStatuses[0].state.terminated.exitCode}'

# Missing image.
check "create pod with a missing image" kubectl run missing --image=minik8s.invalid/nope:1 --restart=Never
poll 60 sh -c "kubectl get pod missing -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}' | grep -Eq 'ErrImagePull|ImagePullBackOff'"
expect_out "ErrImagePull / ImagePullBackOff with the runtime's message" "(ErrImagePull|ImagePullBackOff) .*(pull|resolve|not found|failed)" \
  jp missing '{.status.containerStatuses[0].state.waiting.reason} {.status.containerStatuses[0].state.waiting.message}'

# Volume paths (issue 11 item 6): subPath bind-mounted from the kubelet's
# descriptor, a symlink planted in the volume that points at the host refused,
# configMap volumes read-only, ".." refused by the API.
cat >"$D/subpath.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: subcfg}
data: {app.conf: "port=80"}
---
apiVersion: v1
kind: Pod
metadata: {name: subpath}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: data, emptyDir: {}}, {name: cfg, configMap: {name: subcfg}}]
  initContainers:
  - name: plant
    image: busybox:1.36
    command: ["sh", "-c", "mkdir -p /data/inner && echo inside > /data/inner/f && ln -s /etc /data/escape"]
    volumeMounts: [{name: data, mountPath: /data}]
  containers:
  - name: ok
    image: busybox:1.36
    command: ["sh", "-c", "cat /in/f /app.conf; echo; if touch /cfg/x 2>/dev/null; then echo cfg-writable; else echo cfg-read-only; fi; exec sleep 3600"]
    volumeMounts: [{name: data, mountPath: /in, subPath: inner}, {name: cfg, mountPath: /app.conf, subPath: app.conf},
                   {name: cfg, mountPath: /cfg}]
  - name: escape
    image: busybox:1.36
    command: ["sh", "-c", "ls /host; exec sleep 3600"]
    volumeMounts: [{name: data, mountPath: /host, subPath: escape}]
YAML
check "create subPath pod" kubectl apply -f "$D/subpath.yaml"
poll 60 sh -c "kubectl get pod subpath -o jsonpath='{.status.containerStatuses[?(@.name==\"escape\")].state.waiting.reason}' | grep -q CreateContainerConfigError" ||
  { kubectl describe pod subpath; tail -n 40 "$D/agent.log"; }
expect_out "subPath symlink out of the volume refused" "CreateContainerConfigError .*subPath \"escape\" refused: it leaves the volume" \
  jp subpath '{.status.containerStatuses[?(@.name=="escape")].state.waiting.reason} {.status.containerStatuses[?(@.name=="escape")].state.waiting.message}'
poll 30 sh -c "kubectl logs subpath -c ok | grep -q cfg-"
expect_out "subPath of an emptyDir and of a configMap key" "inside" kubectl logs subpath -c ok
expect_out "configMap subPath file" "port=80" kubectl logs subpath -c ok
expect_out "configMap volume mounted read-only" "cfg-read-only" kubectl logs subpath -c ok
SP_UID=$(jp subpath '{.metadata.uid}')
check "subPath staged as a bind mount" grep -q "pods/$SP_UID/volume-subpaths/data/ok/0 " /proc/self/mountinfo
cat >"$D/dotdot.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: dotdot}
spec:
  volumes: [{name: d, emptyDir: {}}]
  containers: [{name: c, image: busybox:1.36, volumeMounts: [{name: d, mountPath: /d, subPath: ../x}]}]
YAML
expect_fail "API refuses subPath with '..' (422 naming the field)" "volumeMounts\[0\]\.subPath: Invalid value: \"\.\./x\": must not contain '\.\.'" \
  kubectl apply -f "$D/dotdot.yaml"
check "delete subPath pod" kubectl delete pod subpath --wait=false
poll 30 sh -c "! kubectl get pod subpath >/dev/null 2>&1"
check "subPath bind mounts gone with the pod" sh -c "! grep -q 'pods/$SP_UID/volume-subpaths' /proc/self/mountinfo"
kubectl delete configmap subcfg >/dev/null 2>&1

# Delete: containers, sandbox, cgroup and IP gone, object removed.
check "delete pod" kubectl delete pod pair --wait=false
poll 30 sh -c "! kubectl get pod pair >/dev/null 2>&1"
expect_fail "pod object removed" "NotFound" kubectl get pod pair
check "pod cgroup removed" sh -c "! find /sys/fs/cgroup/memory -type d -name 'pod$UID_' | grep -q ."
check "container cgroup removed" test ! -d "$CG_MEM"
check "pod IP released (no host-local IPAM reservation left)" sh -c "! find '$D/agent' /var/lib/cni/networks -name '$POD_IP' 2>/dev/null | grep -q ."
kubectl delete pod oom missing --wait=false >/dev/null 2>&1
e2e_finish
