#!/usr/bin/env bash
# 7.5 of ACCEPTANCE.md (HorizontalPodAutoscaler) on the multi-node cluster,
# with examples/hpa (busybox httpd whose CGI burns CPU per request, a
# Service, an autoscaling/v2 HPA on cpu utilisation + memory, a load
# generator Deployment whose replicas are the load):
# 7.5.1 the HPA file (name, kind, target, min/max, two metrics incl. cpu
#       utilisation); create; get hpa;
# 7.5.2 raise load → metric samples (get hpa, top pods) with timestamps,
#       decisions (Events), pod counts, the max reached; lower load → the
#       same down to the min; how metrics are collected and acted on;
# 7.5.3 the configured speed, the timestamp of each change, observed vs
#       configured;
# 7.5.4 the new pods on different nodes, each answering through the Service.
# Uses the running cluster (KUBECONFIG or .cluster/), else (or with
# ACC_FRESH_CLUSTER=1) brings up a private 3-node one with
# --horizontal-pod-autoscaler-sync-period 2s --metric-resolution 1s.
# Re-runnable: removes the example's objects before and after. ~3–5 min.
source "$(dirname "$0")/../../test/e2e/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
EX=examples/hpa
cd "$ROOT"
acc_begin "05_hpa"
export MK_SERVER_ARGS=${MK_SERVER_ARGS:-"--horizontal-pod-autoscaler-sync-period 2s --metric-resolution 1s"}
acc_multinode 3
trap 'acc_teardown_cluster' EXIT
remove_example() {
  kubectl delete -f $EX/load.yaml -f $EX/hpa.yaml -f $EX/web.yaml --ignore-not-found --wait=false >/dev/null 2>&1
}
remove_example
acc_poll 90 "nothing left from an earlier run" "^0$" sh -c "kubectl get pods -l example=hpa --no-headers 2>/dev/null | wc -l"

SYNC=2s RES=1s
if acc_drill_env 2>/dev/null; then
  SYNC=$(acc_server_flag --horizontal-pod-autoscaler-sync-period 15s)
  RES=$(acc_server_flag --metric-resolution 5s)
fi
web_replicas() { kubectl get deployment hpa-web -o jsonpath='{.spec.replicas}'; }
# One metric sample: time, the Deployment's replicas, the HPA row, kubectl top.
sample() {
  echo "$(date -u +%H:%M:%S) hpa-web replicas=$(web_replicas) ready=$(kubectl get deployment hpa-web -o jsonpath='{.status.readyReplicas}')"
  kubectl get hpa hpa-web --no-headers
  kubectl top pods -l app=hpa-web --no-headers 2>&1 | sed 's/^/  top: /'
}
# sample_until SECS N: a sample every ~3 s until the Deployment asks for N
# replicas (and 2 more samples), at most SECS.
sample_until() {
  local deadline=$((SECONDS + $1)) extra=2
  while :; do
    acc_run sample
    if [ "$(web_replicas)" = "$2" ]; then extra=$((extra - 1)); [ $extra -lt 0 ] && break; fi
    [ $SECONDS -ge $deadline ] && break
    sleep 3
  done
}
# "<time> <message>" per SuccessfulRescale event of this run's hpa-web (by
# uid: an earlier run's events may still be listed), oldest first.
rescales() {
  local uid; uid=$(kubectl get hpa hpa-web -o jsonpath='{.metadata.uid}')
  kubectl get events -o jsonpath="{range .items[?(@.involvedObject.uid==\"$uid\")]}{.eventTime}{\" \"}{.reason}{\" \"}{.message}{\"\\n\"}{end}" |
    awk '$2 == "SuccessfulRescale" { $2 = ""; print }' | sort
}
# one_pod_steps: the sizes after each rescale, from 1; fails unless each
# differs from the one before by exactly one pod (the policy's "1 pod").
one_pod_steps() {
  local sizes; sizes=$(rescales | sed -n 's/.* New size: \([0-9]*\);.*/\1/p' | tr '\n' ' ')
  echo "1 → $sizes"
  awk -v s="$sizes" 'BEGIN { n = split(s, a, " "); prev = 1; if (n == 0) exit 1
    for (i = 1; i <= n; i++) { d = a[i] - prev; if (d != 1 && d != -1) exit 1; prev = a[i] } }'
}
# gaps RE: seconds between consecutive rescale events matching RE.
gaps() {
  rescales | grep -E -- "$1" | while read -r ts _; do date -d "$ts" +%s.%N; done |
    awk 'NR > 1 { printf "%.1f s\n", $1 - prev } { prev = $1 }'
}

acc_step "7.5.1 the HPA file: name, kind, target workload, min/max replicas, two metrics (cpu utilisation, memory average)"
acc_run cat $EX/hpa.yaml
acc_expect "kind HorizontalPodAutoscaler (autoscaling/v2), name hpa-web" "kind: HorizontalPodAutoscaler"
acc_expect "target: the Deployment hpa-web" "kind: Deployment"
acc_expect "min 1 replica" "minReplicas: 1"
acc_expect "max 4 replicas" "maxReplicas: 4"
acc_expect "cpu utilisation metric (50% of the request)" "target: \{type: Utilization, averageUtilization: 50\}"
acc_expect "second metric: memory AverageValue" "target: \{type: AverageValue, averageValue: 64Mi\}"
acc_run cat $EX/web.yaml
acc_expect "the target: httpd + CPU-burning CGI, cpu request 100m, behind the Service hpa-web" "requests: \{cpu: 100m"
acc_run kubectl apply -f $EX/web.yaml -f $EX/load.yaml
acc_expect "target Deployment, Service and (idle) load generator created" "deployment.apps/hpa-web (created|configured)"
acc_poll 120 "hpa-web: 1 pod Ready" "^1$" kubectl get deployment hpa-web -o jsonpath='{.status.readyReplicas}'
acc_run kubectl apply -f $EX/hpa.yaml
acc_expect "HPA created from the file" "horizontalpodautoscaler.autoscaling/hpa-web (created|configured)"
acc_run kubectl get hpa hpa-web
acc_expect "get hpa: NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS" "hpa-web +Deployment/hpa-web +cpu: .*/50%, memory: .*/64Mi +1 +4 "

acc_step "7.5.2 how metrics are collected and acted on: every ${RES} the metrics server (in minik8s server) scrapes each node's kubelet /stats/summary (CPU usageNanoCores and memory working set per container, from containerd's CRI stats) and serves them as metrics.k8s.io/v1beta1 PodMetrics (kubectl top); every ${SYNC} (--horizontal-pod-autoscaler-sync-period) the HPA controller reads the Deployment's scale subresource (replicas + label selector), the pods' PodMetrics, computes per metric ceil(current × usage / target) (cpu: usage as % of the summed requests; tolerance 0.1; unready/missing pods as Kubernetes does), takes the largest, applies behavior (stabilization window, 1 pod per 10 s) and min/max, writes spec.replicas through the scale subresource, its status and a SuccessfulRescale Event"
acc_poll 60 "a first metric sample reached the HPA (TARGETS no longer <unknown>)" \
  "cpu: [0-9]+%/50%, memory: [0-9.]+[KMG]?i?/64Mi" kubectl get hpa hpa-web
acc_run kubectl top pods -l app=hpa-web
acc_expect "kubectl top pods shows hpa-web's usage (metrics API)" "hpa-web-"

acc_step "7.5.2 raise the load: hpa-load → 2 replicas, each requesting http://hpa-web/cgi-bin/burn in a loop"
acc_run kubectl scale deployment hpa-load --replicas=2
T_UP=$SECONDS
sample_until 150 4
acc_check "the max (4 replicas) was reached under load, in $((SECONDS - T_UP)) s" test "$(web_replicas)" = 4
acc_run sh -c "kubectl get events | grep -E '^LAST SEEN|horizontalpodautoscaler/hpa-web'"
acc_run rescales
acc_expect "decisions: SuccessfulRescale events with the reason" "New size: 4; reason: cpu resource utilization \(percentage of request\) above target"
acc_run kubectl get hpa hpa-web -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}'
acc_expect "status conditions AbleToScale / ScalingActive / ScalingLimited" "ScalingActive=True ValidMetricFound"
acc_poll 120 "all 4 pods Ready" "^4$" kubectl get deployment hpa-web -o jsonpath='{.status.readyReplicas}'

acc_step "7.5.4 the new pods run on different nodes and each receives traffic through the Service hpa-web"
acc_run kubectl get pods -l app=hpa-web -o wide
NODES_USED=$(kubectl get pods -l app=hpa-web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u | grep -c .)
acc_check "hpa-web pods on $NODES_USED different nodes (≥ 2)" test "$NODES_USED" -ge 2
LOADER=$(kubectl get pods -l app=hpa-load -o jsonpath='{.items[0].metadata.name}')
acc_run sh -c "kubectl exec $LOADER -- sh -c 'for i in \$(seq 1 40); do timeout 5 wget -q -O- http://hpa-web/cgi-bin/burn; done' | sort | uniq -c"
for p in $(kubectl get pods -l app=hpa-web -o jsonpath='{.items[*].metadata.name}'); do
  acc_expect "pod $p answered through the Service" "served-by $p\$"
done

acc_step "7.5.3 the configured scaling speed (behavior) vs the observed one"
acc_run kubectl get hpa hpa-web -o jsonpath='scaleUp: {.spec.behavior.scaleUp.policies} window {.spec.behavior.scaleUp.stabilizationWindowSeconds}s{"\n"}scaleDown: {.spec.behavior.scaleDown.policies} window {.spec.behavior.scaleDown.stabilizationWindowSeconds}s{"\n"}'
acc_expect "configured: scale up by at most 1 pod per 10 s" '"periodSeconds":10,"type":"Pods","value":1'
# The policy bounds the speed from one side: no step sooner than 10 s after
# the previous one (− 1 s: an Event is stamped a little after the decision it
# reports). How much later a step comes depends on the load and the metric
# lag, so the observed gaps are shown, not bounded from above.
acc_run one_pod_steps
acc_expect "observed: every step moved by one pod, up to 4" "^1 → ([0-9]+ )*4 $"
acc_run gaps "above target"
if [ -n "$ACC_OUT" ] && awk '$1 < 9 { bad = 1 } END { exit bad }' <<<"$ACC_OUT"; then
  acc_pass "observed scale-up speed: at most one pod per 10 s (every gap ≥ 9 s)"
else
  acc_fail "observed scale-up: a step came sooner than 1 pod per 10 s allows (or fewer than two steps)"
fi

acc_step "7.5.2 lower the load: hpa-load → 0; after the 15 s stabilization window, back down one pod per 10 s to the min"
acc_run kubectl scale deployment hpa-load --replicas=0
T_DOWN=$SECONDS
sample_until 150 1
acc_check "back at the min (1 replica) in $((SECONDS - T_DOWN)) s" test "$(web_replicas)" = 1
acc_run rescales
acc_expect "decisions: scale-down events" "New size: 1; reason: All metrics below target"
acc_run one_pod_steps
acc_expect "observed: every step, up and down, moved by one pod, back to 1" "^1 → ([0-9]+ )*1 $"
acc_run gaps "below target"
if [ -n "$ACC_OUT" ] && awk '$1 < 9 { bad = 1 } END { exit bad }' <<<"$ACC_OUT"; then
  acc_pass "observed scale-down speed: at most one pod per 10 s (every gap ≥ 9 s)"
else
  acc_fail "observed scale-down: a step came sooner than 1 pod per 10 s allows (or fewer than two steps)"
fi
acc_poll 60 "get hpa at rest: 1 replica" "hpa-web +Deployment/hpa-web +cpu: [0-9]+%/50%.* +1 +4 +1 " kubectl get hpa hpa-web
acc_run kubectl describe hpa hpa-web

acc_step "cleanup"
remove_example
acc_poll 90 "the example's pods are gone" "^0$" sh -c "kubectl get pods -l example=hpa --no-headers 2>/dev/null | wc -l"
trap - EXIT
acc_end
