#!/usr/bin/env bash
# 7.6 of ACCEPTANCE.md (DNS and forwarding) on the multi-node cluster: a
# minik8s.io/v1 DNS object from a file (name, kind, host, paths → services),
# two paths under one host going to two different Services; create and get;
# from inside a pod and from a node's host network namespace, request each
# path and show that the responses come from different targets; delete and
# show the name and routes gone. Also the cluster DNS names of the Services.
# Uses the running cluster (KUBECONFIG or .cluster/), else brings up (and
# removes) a private 3-node one. Re-runnable: removes what it created.
source "$(dirname "$0")/../../test/e2e/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
FILE=examples/acceptance/dns-forwarding.yaml
cd "$ROOT"
acc_begin "06_dns_forwarding"
acc_multinode 3
trap 'acc_teardown_cluster' EXIT
kubectl delete -f "$FILE" --ignore-not-found >/dev/null 2>&1
kubectl delete pod -l acc=dns --ignore-not-found --wait=false >/dev/null 2>&1
acc_poll 60 "nothing left from an earlier run" "^0$" sh -c "kubectl get pods -l acc=dns --no-headers 2>/dev/null | wc -l"
N1=${ACC_NODES[0]} N2=${ACC_NODES[1]} N3=${ACC_NODES[2]}

acc_step "the two backends: acc-echo-a on $N2, acc-echo-b on $N3; a client pod on $N1"
acc_web_pod acc-echo-a "$N2" "app: acc-echo-a, acc: dns"
acc_web_pod acc-echo-b "$N3" "app: acc-echo-b, acc: dns"
acc_web_pod acc-dns-client "$N1" "app: acc-dns-client, acc: dns"
acc_poll 90 "the three pods Running" "^3$" sh -c "kubectl get pods -l acc=dns --no-headers | grep -c ' Running '"
acc_run kubectl get pods -l acc=dns -o wide

acc_step "7.6 the file: kind DNS, name, host, paths → service:port (and the two Services)"
acc_run cat "$FILE"
acc_expect "the file names kind, name, host and two paths" "serviceName: acc-svc-b"
acc_run kubectl apply -f "$FILE"
acc_expect "DNS object and Services created" "acc-example (created|configured)"
acc_run kubectl get dns
acc_expect "kubectl get dns shows the host and both paths" "acc-example +example.com +/a.*acc-svc-a:80.*/b.*acc-svc-b:8080"
acc_run kubectl get dns acc-example -o yaml
acc_expect "the stored object" "host: example.com"
acc_run kubectl get svc acc-svc-a acc-svc-b -o wide

acc_step "7.6 from inside a pod (acc-dns-client on $N1): the host resolves through the cluster DNS"
acc_poll 10 "nslookup example.com in the pod answers from the cluster DNS" "Address: [0-9.]+" \
  kubectl exec acc-dns-client -- nslookup example.com
acc_poll 10 "http://example.com/a → service a (pod acc-echo-a on $N2)" "^acc-echo-a on $N2" \
  acc_pod_get acc-dns-client http://example.com/a
acc_poll 10 "http://example.com/b → service b (pod acc-echo-b on $N3)" "^acc-echo-b on $N3" \
  acc_pod_get acc-dns-client http://example.com/b

acc_step "7.6 from a host: node $N2's network namespace (its hosts file has the managed block)"
acc_run "$CLUSTER_SH" exec "$N2" -- grep -A2 "BEGIN minik8s" /etc/hosts
acc_expect "the node's hosts file maps example.com" "example.com"
acc_run "$CLUSTER_SH" exec "$N2" -- curl -sS --max-time 5 http://example.com/a
acc_expect "host → http://example.com/a answered by acc-echo-a" "^acc-echo-a on $N2"
acc_run "$CLUSTER_SH" exec "$N2" -- curl -sS --max-time 5 http://example.com/b
acc_expect "host → http://example.com/b answered by acc-echo-b" "^acc-echo-b on $N3"
acc_run "$CLUSTER_SH" exec "$N3" -- curl -sS --max-time 5 http://example.com/a
acc_expect "and from node $N3's host namespace too" "^acc-echo-a on $N2"

acc_step "the Services' cluster DNS names (the forwarding targets)"
acc_run kubectl exec acc-dns-client -- nslookup acc-svc-a.$ACC_NS.svc.cluster.local
acc_expect "acc-svc-a.$ACC_NS.svc.cluster.local resolves to its cluster IP" \
  "Address: $(kubectl get svc acc-svc-a -o jsonpath='{.spec.clusterIP}')"
acc_run acc_pod_get acc-dns-client http://acc-svc-b:8080/
acc_expect "the short name acc-svc-b (search path) reaches service b" "^acc-echo-b on $N3"

acc_step "delete the DNS object: its name and routes go away"
acc_run kubectl delete dns acc-example
acc_expect "deleted" "deleted"
acc_poll 5 "node $N2's hosts file no longer maps example.com" "^0$" \
  sh -c "'$CLUSTER_SH' exec '$N2' -- grep -c example.com /etc/hosts; true"
acc_run "$CLUSTER_SH" exec "$N2" -- curl -sS --max-time 3 -H "Host: example.com" "http://$(acc_node_ip "$N2")/a"
acc_check "nginx no longer routes example.com/a (no acc-echo-a answer)" test "$(grep -c 'acc-echo-a on' <<<"$ACC_OUT")" -eq 0

acc_step "cleanup"
acc_run kubectl delete -f "$FILE" --ignore-not-found
acc_run kubectl delete pod -l acc=dns --wait=false
trap - EXIT
acc_end
