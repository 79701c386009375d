#!/usr/bin/env bash
# e2e on a 3-node cluster (scripts/cluster.sh): Deployment rollouts with real
# containers.
# - a Deployment of 3 busybox httpd pods (readinessProbe httpGet, the version
#   in the page; the shell keeps httpd serving 3 s after SIGTERM so a pod
#   leaves the Service before its server stops) behind a ClusterIP Service;
# - RollingUpdate (maxSurge 1, maxUnavailable 0) by `kubectl apply` of a
#   changed template while a request loop in node 1's namespace hits the
#   ClusterIP every ~50 ms: zero failed requests, both versions seen, then
#   — once the rollout is complete, the endpoints hold only v2 pods and node
#   1's proxy sends the ClusterIP only to them — 20 consecutive v2 answers;
#   pod counts sampled throughout stay within the bounds
#   (≤ replicas+maxSurge pods not terminating, ≥ replicas−maxUnavailable
#   ready);
# - rollout status / history (kubectl, kubectl 1.27 and mkctl), undo back to
#   v1 re-using the old ReplicaSet (revision 3, no third ReplicaSet),
#   pause (a template change rolls out nothing) / resume, restart;
# - Recreate: no sample ever shows old and new pods at once;
#   revisionHistoryLimit 2: old ReplicaSets beyond it are deleted;
# - progressDeadlineSeconds 10 and `kubectl set image` to an image that does
#   not exist: Progressing=False ProgressDeadlineExceeded and `kubectl
#   rollout status` exits non-zero.
# Takes the machine-wide cluster lock; one cluster with a private prefix and
# subnet, taken down on exit also on failure.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BIN=${BIN:-$ROOT/build/bin}
export MK_CLUSTER_PREFIX=${MK_CLUSTER_PREFIX:-mkr$(($$ % 100000))}
export MK_CLUSTER_SUBNET=${MK_CLUSTER_SUBNET:-10.98.$(($$ % 200 + 20)).0/24}
TMP=$(mktemp -d /tmp/minik8s-rollout-e2e.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
CL=$ROOT/scripts/cluster.sh
MKCTL=$BIN/mkctl
K127=/usr/lib/google-cloud-sdk/bin/kubectl.1.27
PASSED=0
FAILED=0
LOOP_PID=""
SAMPLER_PID=""
cleanup() {
  touch "$TMP/stop"
  for p in $LOOP_PID $SAMPLER_PID; do
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  e2e_cluster_down
  rm -rf "$TMP"
}
trap cleanup EXIT

. "$ROOT/test/e2e/check.sh"
. "$ROOT/test/e2e/cluster_lib.sh"
# The ReplicaSets of Deployment $1: "name revision replicas image" lines.
rs_lines() {
  kubectl get rs -l "app=$1" -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.annotations.deployment\.kubernetes\.io/revision} {.spec.replicas} {.spec.template.spec.containers[0].env[0].value}{"\n"}{end}'
}

# A Deployment of $2 replicas named $1 serving "$1 <version>" on 8080.
deployment() {
  local name=$1 replicas=$2 version=$3 strategy=$4 extra=${5:-}
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $name
  annotations: {kubernetes.io/change-cause: "version $version"}
spec:
  replicas: $replicas
  $extra
  selector: {matchLabels: {app: $name}}
  strategy: $strategy
  template:
    metadata: {labels: {app: $name}}
    spec:
      terminationGracePeriodSeconds: 10
      containers:
      - name: c
        image: busybox:1.36
        env: [{name: VERSION, value: "$version"}]
        command: [sh, -c, 'mkdir -p /www && echo "$name \$VERSION" > /www/index.html && { httpd -f -p 8080 -h /www & pid=\$!; trap "sleep 3; kill \$pid; exit 0" TERM; wait \$pid; }']
        ports: [{containerPort: 8080, name: http}]
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
          failureThreshold: 1
EOF
}

start=$SECONDS
e2e_cluster_up rollout

# ---- RollingUpdate with zero failed requests.
ROLL='{type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}'
deployment web 3 v1 "$ROLL" | kubectl apply -f - >/dev/null
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
EOF
expect "kubectl rollout status: v1 rolled out" 'deployment "web" successfully rolled out' \
  kubectl rollout status deploy/web --timeout=180s
expect "get deploy shows 3/3 up-to-date available" '^web +3/3 +3 +3 ' kubectl get deploy web --no-headers
CIP=$(kubectl get svc web -o jsonpath='{.spec.clusterIP}')
eventually 20 "ClusterIP $CIP serves v1 from node 1" "^web v1$" "$CL" exec 1 -- curl -sS --max-time 2 "http://$CIP/"

# The request loop (node 1's namespace → ClusterIP) and the pod sampler.
"$CL" exec 1 -- bash -c "while [ ! -e '$TMP/stop' ]; do
    if out=\$(curl -sS --max-time 2 http://$CIP/ 2>&1); then echo \"ok \$out\"; else echo \"FAIL \$out\"; fi
    sleep 0.05; done" >"$TMP/requests.log" 2>&1 &
LOOP_PID=$!
sample_pods() {  # label → lines "live ready hashes..." every 0.3 s into $2
  while [ ! -e "$TMP/stop-sampler" ]; do
    kubectl get pods -l "app=$1" -o jsonpath='{range .items[*]}{.metadata.deletionTimestamp}|{.metadata.labels.pod-template-hash}|{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null |
      awk -F'|' '{ if ($1 == "") { live++; if ($3 == "True") ready++ } h[$2]++ }
                 END { printf "%d %d", live, ready; for (k in h) printf " %s", k; printf "\n" }' >>"$2"
    sleep 0.3
  done
}
rm -f "$TMP/stop-sampler"
sample_pods web "$TMP/samples.log" &
SAMPLER_PID=$!
lines() { cat "$1" 2>/dev/null | grep -c .; }
eventually 30 "the request loop and the sampler run before the rollout (20 requests, 3 samples)" "^ok$" \
  sh -c "[ \$(cat '$TMP/requests.log' | grep -c .) -ge 20 ] && [ \$(cat '$TMP/samples.log' | grep -c .) -ge 3 ] && echo ok"
deployment web 3 v2 "$ROLL" | kubectl apply -f - >/dev/null
expect "kubectl apply of a changed template: rollout status follows to the end" \
  'Waiting for deployment "web" rollout to finish.*(.|\n)*successfully rolled out' kubectl rollout status deploy/web --timeout=180s
# "Only v2 from now on" holds once the endpoints list only v2 pods and node
# 1's proxy (where the loop runs) sends the ClusterIP only to them. The v1
# pods keep serving 3 s after SIGTERM, so until then a v1 answer is right.
version_pod_ips() {  # version_pod_ips V: the IPs of the web pods of version V not terminating
  kubectl get pods -l app=web -o jsonpath='{range .items[*]}{.metadata.deletionTimestamp}|{.spec.containers[0].env[0].value}|{.status.podIP}{"\n"}{end}' |
    awk -F'|' -v v="$1" '$1 == "" && $2 == v { print $3 }' | sort | paste -sd' ' -
}
ep_ips() { kubectl get endpoints web -o jsonpath='{range .subsets[*].addresses[*]}{.ip}{"\n"}{end}' | sort | paste -sd' ' -; }
SVC_NS=$(kubectl get svc web -o jsonpath='{.metadata.namespace}')
node1_dnat_ips() {  # where node 1's proxy sends the ClusterIP (its SVC chain's "-> ip:port" jumps)
  "$CL" exec 1 -- iptables-save -t nat | grep -o -- "--comment \"$SVC_NS/web: -> [0-9.]*:8080\"" |
    sed 's/.*-> \([0-9.]*\):.*/\1/' | sort -u | paste -sd' ' -
}
only_version_everywhere() {  # only_version_everywhere V: 3 pods of V, and only they in the endpoints and node 1's rules
  local pods ep rules; pods=$(version_pod_ips "$1"); ep=$(ep_ips); rules=$(node1_dnat_ips)
  echo "$1 pods: $pods; endpoints: $ep; node 1 rules: $rules"
  [ "$(wc -w <<<"$pods")" = 3 ] && [ "$ep" = "$pods" ] && [ "$rules" = "$pods" ]
}
eventually 60 "the endpoints and node 1's proxy hold only the 3 v2 pods" "^v2 pods: " only_version_everywhere v2
# From here on every answer must be v2. The request that was in flight when
# the state was observed may have been sent to a v1 pod: skip it, then take
# the next 20.
from=$(( $(lines "$TMP/requests.log") + 2 ))
eventually 60 "20 more requests made after that" "^ok$" \
  sh -c "[ \$(cat '$TMP/requests.log' | grep -c .) -ge $((from + 19)) ] && echo ok"
touch "$TMP/stop" "$TMP/stop-sampler"
wait "$LOOP_PID" "$SAMPLER_PID" 2>/dev/null
LOOP_PID="" SAMPLER_PID=""
total=$(grep -c . "$TMP/requests.log")
failed=$(grep -c '^FAIL' "$TMP/requests.log")
echo "    requests: $total, failed: $failed, v1: $(grep -c 'web v1' "$TMP/requests.log"), v2: $(grep -c 'web v2' "$TMP/requests.log")"
if [ "$failed" -eq 0 ] && [ "$total" -gt 50 ]; then pass "zero failed requests during the rollout ($total requests)"; else
  fail "failed requests during the rollout: $failed of $total"; grep '^FAIL' "$TMP/requests.log" | head -5 | sed 's/^/    /'; fi
expect "both versions answered during the rollout" "^2$" sh -c "grep -o 'web v[12]' '$TMP/requests.log' | sort -u | wc -l"
expect "only v2 once the rollout is programmed (20 consecutive requests)" "^ok web v2 20$" \
  sh -c "sed -n '$from,$((from + 19))p' '$TMP/requests.log' | sort | uniq -c | awk '{print \$2, \$3, \$4, \$1}'"
maxlive=$(awk '{print $1}' "$TMP/samples.log" | sort -n | tail -1)
minready=$(awk 'NF > 2 {print $2}' "$TMP/samples.log" | sort -n | head -1)
echo "    $(wc -l <"$TMP/samples.log") samples: at most $maxlive pods not terminating, at least $minready ready"
expect "never more than replicas+maxSurge (4) pods not terminating" "^ok$" sh -c "[ '$maxlive' -le 4 ] && echo ok"
expect "never fewer than replicas-maxUnavailable (3) ready pods" "^ok$" sh -c "[ '$minready' -ge 3 ] && echo ok"
expect "both ReplicaSets seen side by side in the samples" "^ok$" sh -c "awk 'NF > 3' '$TMP/samples.log' | grep -q . && echo ok"

# ---- history, undo, pause/resume, restart.
expect "kubectl rollout history" 'REVISION +CHANGE-CAUSE(.|\n)*1 +version v1(.|\n)*2 +version v2' kubectl rollout history deploy/web
expect "kubectl 1.27 rollout history" '2 +version v2' "$K127" rollout history deployment/web
expect "mkctl rollout history" 'REVISION +CHANGE-CAUSE(.|\n)*1 +version v1(.|\n)*2 +version v2' "$MKCTL" rollout history deploy/web
expect "mkctl rollout history --revision 1 shows the v1 template" 'with revision #1(.|\n)*VERSION: +v1' \
  "$MKCTL" rollout history deploy/web --revision 1
V1RS=$(rs_lines web | awk '$4 == "v1" {print $1}')
expect "kubectl rollout undo" 'deployment.apps/web rolled back' kubectl rollout undo deploy/web
expect "rollout status after undo" 'successfully rolled out' kubectl rollout status deploy/web --timeout=180s
expect "undo re-used the v1 ReplicaSet (revision 3, 3 replicas), no third one" "^2 $V1RS 3 3 3 v1\$" \
  sh -c "echo \$(kubectl get rs -l app=web --no-headers | wc -l) \$(kubectl get rs '$V1RS' -o jsonpath='{.metadata.name} {.metadata.annotations.deployment\\.kubernetes\\.io/revision} {.spec.replicas} {.status.availableReplicas} {.spec.template.spec.containers[0].env[0].value}')"
eventually 10 "the Service answers v1 again" "^web v1$" "$CL" exec 1 -- curl -sS --max-time 2 "http://$CIP/"
expect "mkctl rollout undo --to-revision 2" 'deployment.apps/web rolled back' "$MKCTL" rollout undo deploy/web --to-revision 2
expect "mkctl rollout status" 'deployment "web" successfully rolled out' "$MKCTL" rollout status deploy/web --timeout 180s
expect "mkctl rollout pause" 'deployment.apps/web paused' "$MKCTL" rollout pause deploy/web
expect_fail "kubectl rollout pause twice is refused" 'already paused' kubectl rollout pause deploy/web
eventually 10 "paused: Progressing Unknown DeploymentPaused" "^Unknown DeploymentPaused$" \
  kubectl get deploy web -o jsonpath='{.status.conditions[?(@.type=="Progressing")].status} {.status.conditions[?(@.type=="Progressing")].reason}'
deployment web 3 v3 "$ROLL" | kubectl apply -f - >/dev/null
# The controller has seen the change once it reports the new generation.
eventually 30 "paused: the Deployment controller observed the template change" "^ok$" \
  sh -c "[ \"\$(kubectl get deploy web -o jsonpath='{.metadata.generation}')\" = \"\$(kubectl get deploy web -o jsonpath='{.status.observedGeneration}')\" ] && echo ok"
expect "paused: a template change creates no ReplicaSet" "^2$" sh -c "kubectl get rs -l app=web --no-headers | wc -l"
expect "kubectl rollout resume" 'deployment.apps/web resumed' kubectl rollout resume deploy/web
expect "resumed: v3 rolls out" 'successfully rolled out' kubectl rollout status deploy/web --timeout=180s
# The v2 pods serve 3 s after SIGTERM: "v3 serves" holds once node 1's proxy sends only to v3.
eventually 60 "the endpoints and node 1's proxy hold only the 3 v3 pods" "^v3 pods: " only_version_everywhere v3
expect "v3 serves" "^web v3$" "$CL" exec 1 -- curl -sS --max-time 2 "http://$CIP/"
expect "kubectl rollout restart" 'deployment.apps/web restarted' kubectl rollout restart deploy/web
expect "restart: a new ReplicaSet with the restartedAt annotation rolls out" 'successfully rolled out' \
  kubectl rollout status deploy/web --timeout=180s
expect "restart: the new template carries kubectl.kubernetes.io/restartedAt" '[0-9]{4}-' \
  kubectl get deploy web -o jsonpath='{.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}'
expect "ScalingReplicaSet events on the Deployment" 'ScalingReplicaSet.*Scaled (up|down) replica set web-' \
  sh -c "kubectl get events --field-selector involvedObject.name=web -o custom-columns=R:.reason,M:.message --no-headers"

# ---- Recreate + revisionHistoryLimit.
REC='{type: Recreate}'
deployment rec 2 v1 "$REC" "revisionHistoryLimit: 2" | kubectl apply -f - >/dev/null
expect "Recreate v1 rolled out" 'successfully rolled out' kubectl rollout status deploy/rec --timeout=180s
rm -f "$TMP/stop-sampler"
sample_pods rec "$TMP/rec-samples.log" &
SAMPLER_PID=$!
deployment rec 2 v2 "$REC" "revisionHistoryLimit: 2" | kubectl apply -f - >/dev/null
expect "Recreate v2 rolled out" 'successfully rolled out' kubectl rollout status deploy/rec --timeout=180s
touch "$TMP/stop-sampler"; wait "$SAMPLER_PID" 2>/dev/null; SAMPLER_PID=""
expect "Recreate: no sample shows old and new pods at once" "^ok$" \
  sh -c "[ \$(awk 'NF > 3' '$TMP/rec-samples.log' | wc -l) -eq 0 ] && [ \$(grep -c . '$TMP/rec-samples.log') -gt 3 ] && echo ok"
for v in v3 v4; do
  deployment rec 2 $v "$REC" "revisionHistoryLimit: 2" | kubectl apply -f - >/dev/null
  kubectl rollout status deploy/rec --timeout=180s >/dev/null 2>&1
done
eventually 15 "revisionHistoryLimit 2: 3 ReplicaSets left (v2, v3 and the current v4)" "^v2 v3 v4 $" \
  sh -c "kubectl get rs -l app=rec -o jsonpath='{range .items[*]}{.spec.template.spec.containers[0].env[0].value}{\"\\n\"}{end}' | sort | tr '\n' ' '"

# ---- progressDeadlineSeconds.
deployment stuck 2 v1 "$ROLL" "progressDeadlineSeconds: 10" | kubectl apply -f - >/dev/null
expect "stuck v1 rolled out" 'successfully rolled out' kubectl rollout status deploy/stuck --timeout=180s
expect "kubectl set image to an image that does not exist" 'image updated' \
  kubectl set image deploy/stuck c=registry.invalid/none:1
eventually 40 "Progressing False ProgressDeadlineExceeded" "^False ProgressDeadlineExceeded$" \
  kubectl get deploy stuck -o jsonpath='{.status.conditions[?(@.type=="Progressing")].status} {.status.conditions[?(@.type=="Progressing")].reason}'
expect_fail "kubectl rollout status exits non-zero" 'exceeded its progress deadline' kubectl rollout status deploy/stuck --timeout=30s
expect_fail "mkctl rollout status exits non-zero" 'exceeded its progress deadline' "$MKCTL" rollout status deploy/stuck
expect "the old pods keep serving (2 ready v1 pods)" "^2$" sh -c "kubectl get deploy stuck -o jsonpath='{.status.availableReplicas}'"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
