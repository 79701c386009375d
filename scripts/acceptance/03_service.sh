#!/usr/bin/env bash
# 7.3 of ACCEPTANCE.md (Services) on the multi-node cluster:
# 7.3.1 create/delete a Service from a file, the dynamic update shown;
# 7.3.2 get/describe svc: name, selector, virtual IP, port, targetPort,
#       NodePort, endpoints; the selector picks every matching pod;
# 7.3.3 a pod reaches (via the virtual IP) a Service backed by a pod on
#       another node; a host reaches the virtual IP;
# 7.3.4 a machine outside the cluster (the cluster.sh "outside" namespace)
#       reaches the Service through NodePort;
# 7.3.5 endpoints follow pods being added, deleted, relabelled.
# Uses the running cluster (KUBECONFIG or .cluster/), else brings up (and
# removes) a private 3-node one. Re-runnable: removes its pods and Service.
source "$(dirname "$0")/../../test/e2e/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
FILE=examples/acceptance/service.yaml
cd "$ROOT"
acc_begin "03_service"
acc_multinode 3
trap 'acc_teardown_cluster' EXIT
kubectl delete svc acc-web --ignore-not-found >/dev/null 2>&1
kubectl delete pod -l acc=svc --ignore-not-found --wait=false >/dev/null 2>&1
acc_poll 60 "nothing left from an earlier run" "^0$" sh -c "kubectl get pods -l acc=svc --no-headers 2>/dev/null | wc -l"
N1=${ACC_NODES[0]} N2=${ACC_NODES[1]} N3=${ACC_NODES[2]}

acc_step "backends: acc-web-1 on $N2 and acc-web-2 on $N3 (label app=acc-web), a client pod on $N1"
acc_web_pod acc-web-1 "$N2" "app: acc-web, acc: svc"
acc_web_pod acc-web-2 "$N3" "app: acc-web, acc: svc"
acc_web_pod acc-client "$N1" "app: acc-client, acc: svc"
acc_poll 90 "the three pods Running" "^3$" sh -c "kubectl get pods -l acc=svc --no-headers | grep -c ' Running '"
acc_run kubectl get pods -l acc=svc -o wide
IP1=$(kubectl get pod acc-web-1 -o jsonpath='{.status.podIP}')
IP2=$(kubectl get pod acc-web-2 -o jsonpath='{.status.podIP}')

acc_step "7.3.1 the Service file: kind, name, selector, port, targetPort"
acc_run cat "$FILE"
acc_expect "the file names kind, name, selector, port and targetPort" "targetPort: 8080"
acc_run kubectl apply -f "$FILE"
acc_expect "Service created from the file" "service/acc-web (created|configured)"

acc_step "7.3.2 get / describe svc"
acc_run kubectl get svc acc-web -o wide
acc_expect "get svc: name, type, cluster (virtual) IP, port:nodePort, selector" "acc-web +NodePort +10\.[0-9.]+ +<none> +80:3[0-9]{4}/TCP .*app=acc-web"
CIP=$(kubectl get svc acc-web -o jsonpath='{.spec.clusterIP}')
NP=$(kubectl get svc acc-web -o jsonpath='{.spec.ports[0].nodePort}')
acc_poll 10 "describe svc: selector, IP, port, targetPort, NodePort and both endpoints" \
  "Endpoints: +($IP1:8080,$IP2:8080|$IP2:8080,$IP1:8080)" kubectl describe svc acc-web
acc_expect "describe shows the target port" "TargetPort: +8080/TCP"
acc_expect "describe shows the NodePort" "NodePort: +http +$NP/TCP"
acc_run kubectl get endpoints acc-web
acc_expect "the selector picked every matching pod (both IPs)" "$IP1:8080|$IP2:8080"
acc_check "…and only them (2 addresses)" test "$(kubectl get endpoints acc-web -o jsonpath='{range .subsets[*].addresses[*]}{.ip}{"\n"}{end}' | grep -c .)" -eq 2

acc_step "7.3.3 a pod on $N1 reaches the Service (backed by pods on $N2 and $N3) via the virtual IP $CIP"
acc_poll 15 "acc-client → http://$CIP/ answered by a pod on another node" "acc-web-[12] on ($N2|$N3)" acc_pod_get acc-client "http://$CIP/"
acc_run sh -c "for i in \$(seq 1 12); do kubectl exec acc-client -- timeout 5 wget -q -O - http://$CIP/; done | sort | uniq -c"
acc_expect "12 requests: some reached acc-web-1 (random balancing, the default)" "acc-web-1 on"
acc_expect "12 requests: some reached acc-web-2" "acc-web-2 on"
for n in "$N1" "$N2" "$N3"; do
  acc_run "$CLUSTER_SH" exec "$n" -- curl -sS --max-time 5 "http://$CIP/"
  acc_expect "host (node $n's network namespace) reaches the virtual IP" "acc-web-[12] on "
done

acc_step "7.3.4 from outside the cluster (namespace ${MK_CLUSTER_PREFIX:-mkc}-outside, not a node) via NodePort $NP"
acc_run "$CLUSTER_SH" exec outside -- ip -br addr
acc_run "$CLUSTER_SH" exec outside -- curl -sS --max-time 5 "http://$(acc_node_ip "$N1"):$NP/"
acc_expect "$(acc_node_ip "$N1"):$NP (node 1) answers" "acc-web-[12] on "
acc_run "$CLUSTER_SH" exec outside -- curl -sS --max-time 5 "http://$(acc_node_ip "$N3"):$NP/"
acc_expect "$(acc_node_ip "$N3"):$NP (node 3) answers" "acc-web-[12] on "

acc_step "7.3.5 endpoints follow pods: add, relabel, delete"
# The pods behind the Service, by name, sorted, on one line.
ep_pods() {
  kubectl get endpoints acc-web -o jsonpath='{range .subsets[*].addresses[*]}{.targetRef.name}{" "}{end}' |
    tr ' ' '\n' | grep . | sort | paste -sd' ' -
}
acc_web_pod acc-web-3 "$N1" "app: acc-web, acc: svc"
acc_poll 60 "a new pod acc-web-3 with the label joined the endpoints" "^acc-web-1 acc-web-2 acc-web-3$" ep_pods
acc_run kubectl label pod acc-web-3 app=something-else --overwrite
acc_poll 5 "relabelled acc-web-3 left the endpoints" "^acc-web-1 acc-web-2$" ep_pods
acc_run kubectl label pod acc-web-3 app=acc-web --overwrite
acc_poll 5 "labelled back, it returned" "^acc-web-1 acc-web-2 acc-web-3$" ep_pods
acc_run kubectl delete pod acc-web-1 --wait=false
acc_poll 10 "deleted acc-web-1 left the endpoints" "^acc-web-2 acc-web-3$" ep_pods
# Every proxy on the way must have dropped acc-web-1 (it follows the Endpoints
# within one sync): 6 requests in a row must all be answered by the others.
acc_poll 30 "the Service still answers (from the remaining pods, 6 requests in a row)" \
  "^(acc-web-[23] on [^ ]+ \([0-9.]*\) ){6}$" \
  kubectl exec acc-client -- sh -c "for i in 1 2 3 4 5 6; do timeout 5 wget -q -O - http://$CIP/ | tr '\\n' ' '; done"

acc_step "7.3.1 delete the Service from the file"
acc_run kubectl delete -f "$FILE"
acc_expect "Service deleted" "service \"acc-web\" deleted"
acc_poll 10 "the Service is gone" "NotFound" sh -c "kubectl get svc acc-web 2>&1; true"
acc_poll 10 "its Endpoints are gone" "NotFound" sh -c "kubectl get endpoints acc-web 2>&1; true"
acc_run "$CLUSTER_SH" exec "$N1" -- curl -sS --max-time 3 "http://$CIP/"
acc_check "the virtual IP no longer answers" test "$ACC_RC" -ne 0

acc_step "cleanup"
acc_run kubectl delete pod -l acc=svc --wait=false
trap - EXIT
acc_end
