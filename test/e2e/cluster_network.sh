#!/usr/bin/env bash
# e2e on a 3-node cluster (scripts/cluster.sh, nodes as network namespaces):
# nodes Ready with pod CIDRs; pods pinned to each node with unique IPs;
# cross-node pod-to-pod, node→pod, pod→node, host→pod; a ClusterIP Service
# from pods on every node and from every node's host namespace, balanced;
# NodePort from a namespace outside the cluster; endpoints following pod
# add/relabel/delete; cluster DNS names (full and short) from a pod; the DNS
# forwarding object's paths from a pod and from a node's host namespace;
# after `cluster.sh down` nothing with the cluster's prefix remains.
# One cluster for the whole script (unique prefix and subnet); `down` runs on
# exit also on failure. Each check prints its own PASS/FAIL line.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export BIN=${BIN:-$ROOT/build/bin}
export MK_CLUSTER_PREFIX=${MK_CLUSTER_PREFIX:-mkt$(($$ % 100000))}
export MK_CLUSTER_SUBNET=${MK_CLUSTER_SUBNET:-10.98.$(($$ % 200 + 20)).0/24}
TMP=$(mktemp -d /tmp/minik8s-cluster-e2e.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
CL=$ROOT/scripts/cluster.sh
PASSED=0
FAILED=0
trap 'e2e_cluster_down; rm -rf "$TMP"' EXIT

. "$ROOT/test/e2e/check.sh"
. "$ROOT/test/e2e/cluster_lib.sh"
# In-pod HTTP GET (busybox wget -T segfaults: bound it with timeout).
pod_get() { kubectl exec "$1" -- timeout 5 wget -q -O - "$2"; }
# The API server speaks HTTPS (ECDSA P-256, SHA-256 signatures). busybox
# wget's TLS offers no signature algorithm OpenSSL 3 accepts, so the server
# ends the handshake with alert 40: that answer is the proof the pod reached
# the API server (a connection that goes nowhere times out or is refused).
pod_reach_tls() {
  kubectl exec "$1" -- sh -c "timeout 5 wget --no-check-certificate -q -O - '$2' 2>&1; true"
}
on_node() { local n=$1; shift; "$CL" exec "$n" -- "$@"; }

start=$SECONDS
e2e_cluster_up network
N1=${MK_CLUSTER_PREFIX}-node1 N2=${MK_CLUSTER_PREFIX}-node2 N3=${MK_CLUSTER_PREFIX}-node3
NODES=("$N1" "$N2" "$N3")
BASE=${MK_CLUSTER_SUBNET%.*}
IPS=("$BASE.11" "$BASE.12" "$BASE.13")

expect "up twice is refused with a clear message" "already exists" sh -c "'$CL' up 3; test \$? -ne 0"
expect "3 nodes Ready" "^3$" sh -c "kubectl get nodes --no-headers | grep -c ' Ready '"
expect "node 1 is control-plane and worker, the others workers" \
  "$N1 .*control-plane,worker.*$N2 .*worker" sh -c "kubectl get nodes --no-headers | tr '\n' ' '"
expect "get nodes -o wide shows INTERNAL-IP" "$N2 +Ready +worker +[^ ]+ +[^ ]+ +${IPS[1]}" kubectl get nodes -o wide --no-headers
eventually 20 "every node has a distinct spec.podCIDR" "^3$" \
  sh -c "kubectl get nodes -o jsonpath='{range .items[*]}{.spec.podCIDR}{\"\\n\"}{end}' | grep -E '^$POD_NET_RE\\.[0-9]+\\.0/24$' | sort -u | wc -l"
"$CL" routes >/dev/null 2>&1

# Pods: one web server per node (nodeSelector on the hostname label).
for i in 1 2 3; do
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: web-$i, labels: {app: web}}
spec:
  nodeSelector: {kubernetes.io/hostname: ${NODES[$((i - 1))]}}
  containers:
  - name: web
    image: busybox:1.36
    command: [sh, -c, 'mkdir -p /www && echo "web-$i" > /www/index.html && exec httpd -f -p 8080 -h /www']
    ports: [{containerPort: 8080, name: http}]
---
EOF
done | kubectl apply -f - >/dev/null
eventually 90 "web-1..3 Running" "^3$" sh -c "kubectl get pods --no-headers | grep -c 'web-[123] .*1/1 *Running'"
PODIP=()
for i in 1 2 3; do PODIP+=("$(kubectl get pod web-$i -o jsonpath='{.status.podIP}')"); done
expect "each pod on its own node" "web-1 $N1 web-2 $N2 web-3 $N3" \
  sh -c "kubectl get pods web-1 web-2 web-3 -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName} {end}'"
expect "pod IPs unique and inside their node's podCIDR" "^ok$" bash -c '
  ips="'"${PODIP[*]}"'"; [ "$(tr " " "\n" <<<"$ips" | sort -u | wc -l)" = 3 ] || { echo "dup: $ips"; exit 1; }
  i=0; for n in '"${NODES[*]}"'; do i=$((i+1)); c=$(kubectl get node $n -o jsonpath="{.spec.podCIDR}")
    ip=$(kubectl get pod web-$i -o jsonpath="{.status.podIP}"); [ "${ip%.*}.0/24" = "$c" ] || { echo "web-$i $ip not in $c"; exit 1; }; done; echo ok'

# Pod network.
expect "cross-node pod to pod (web-1 on node 1 → web-3 on node 3)" "^web-3$" pod_get web-1 "http://${PODIP[2]}:8080/"
expect "cross-node pod to pod (web-3 → web-2)" "^web-2$" pod_get web-3 "http://${PODIP[1]}:8080/"
expect "pod ping across nodes (web-2 → web-1)" "1 packets received" kubectl exec web-2 -- ping -c1 -W2 "${PODIP[0]}"
expect "node 1's host namespace → pod on node 2" "^web-2$" on_node 1 curl -sS --max-time 5 "http://${PODIP[1]}:8080/"
expect "node 3's host namespace → pod on node 1" "^web-1$" on_node 3 curl -sS --max-time 5 "http://${PODIP[0]}:8080/"
expect "pod → node (web-3 → the API server on node 1)" "^ok|TLS error from peer" pod_reach_tls web-3 "https://${IPS[0]}:6443/readyz"
eventually 10 "pod → the API server through the kubernetes Service (10.96.0.1:443)" "^ok|TLS error from peer" pod_reach_tls web-2 "https://10.96.0.1:443/readyz"
expect "root namespace → pod (routes via node IPs)" "^web-3$" curl -sS --max-time 5 "http://${PODIP[2]}:8080/"

# A Service over the three pods (NodePort, so it also has a cluster IP).
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
EOF
CIP=$(kubectl get svc web -o jsonpath='{.spec.clusterIP}')
NP=$(kubectl get svc web -o jsonpath='{.spec.ports[0].nodePort}')
eventually 10 "endpoints list the 3 pods on port 8080" "^(${PODIP[0]}|${PODIP[1]}|${PODIP[2]}):8080 .* .* $" \
  sh -c "kubectl get endpoints web -o jsonpath='{range .subsets[*].addresses[*]}{.ip}:8080 {end}'"
for i in 1 2 3; do
  eventually 15 "ClusterIP $CIP:80 from a pod on node $i" "^web-[123]$" pod_get web-$i "http://$CIP/"
done
for i in 1 2 3; do
  expect "ClusterIP from node $i's host namespace" "^web-[123]$" on_node "$i" curl -sS --max-time 5 "http://$CIP/"
done
expect "ClusterIP balanced: 12 requests from node 1 reach pods on ≥2 nodes" "^[23]$" sh -c \
  "for k in \$(seq 12); do '$CL' exec 1 -- curl -sS --max-time 1 http://$CIP/; done | sort -u | wc -l"
expect "hairpin: web-2 reaches its own Service" "^web-[123]$" pod_get web-2 "http://$CIP/"
expect "NodePort $NP on node 2 from outside the cluster" "^web-[123]$" on_node outside curl -sS --max-time 5 "http://${IPS[1]}:$NP/"
expect "NodePort $NP on node 3 from outside the cluster" "^web-[123]$" on_node outside curl -sS --max-time 5 "http://${IPS[2]}:$NP/"

# Endpoints follow pods.
ep_count() { kubectl get endpoints web -o jsonpath='{range .subsets[*].addresses[*]}{.ip}{"\n"}{end}' | grep -c .; }
# (the Service's targetPort is the port name "http": the pod must name its port)
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: web-4, labels: {app: web}}
spec:
  nodeSelector: {kubernetes.io/hostname: $N2}
  containers:
  - name: web
    image: busybox:1.36
    command: [sh, -c, 'mkdir -p /www && echo web-4 >/www/index.html && exec httpd -f -p 8080 -h /www']
    ports: [{containerPort: 8080, name: http}]
EOF
eventually 60 "endpoints: a new matching pod is added" "^4$" ep_count
kubectl label pod web-4 app=other --overwrite >/dev/null
eventually 5 "endpoints: a relabelled pod leaves" "^3$" ep_count
kubectl label pod web-4 app=web --overwrite >/dev/null
eventually 5 "endpoints: relabelled back, it returns" "^4$" ep_count
kubectl delete pod web-4 --wait=false >/dev/null
eventually 10 "endpoints: a deleted pod leaves" "^3$" ep_count

# Cluster DNS.
expect "pod resolv.conf: search path and ndots" "search $NS.svc.cluster.local svc.cluster.local cluster.local" \
  kubectl exec web-1 -- cat /etc/resolv.conf
expect "nslookup web.$NS.svc.cluster.local → cluster IP" "Address: $CIP" \
  kubectl exec web-1 -- nslookup web.$NS.svc.cluster.local
expect "wget http://web.$NS.svc.cluster.local from a pod on node 3" "^web-[123]$" \
  pod_get web-3 "http://web.$NS.svc.cluster.local/"
expect "short name http://web through the search path" "^web-[123]$" pod_get web-2 "http://web/"

# The DNS forwarding object: /a → svc-a:80, /b → svc-b:8080.
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: echo-a, labels: {app: echo-a}}
spec:
  nodeSelector: {kubernetes.io/hostname: $N2}
  containers: [{name: c, image: busybox:1.36, command: [sh, -c, 'mkdir -p /www && echo from-service-a > /www/index.html && exec httpd -f -p 8080 -h /www']}]
---
apiVersion: v1
kind: Pod
metadata: {name: echo-b, labels: {app: echo-b}}
spec:
  nodeSelector: {kubernetes.io/hostname: $N3}
  containers: [{name: c, image: busybox:1.36, command: [sh, -c, 'mkdir -p /www && echo from-service-b > /www/index.html && exec httpd -f -p 8080 -h /www']}]
---
apiVersion: v1
kind: Service
metadata: {name: svc-a}
spec: {selector: {app: echo-a}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: svc-b}
spec: {selector: {app: echo-b}, ports: [{port: 8080, targetPort: 8080}]}
---
apiVersion: minik8s.io/v1
kind: DNS
metadata: {name: example}
spec:
  host: example.com
  paths:
  - {path: /a, serviceName: svc-a, servicePort: 80}
  - {path: /b, serviceName: svc-b, servicePort: 8080}
EOF
eventually 60 "echo-a and echo-b Running" "^2$" sh -c "kubectl get pods --no-headers | grep -c 'echo-[ab] .*Running'"
expect "kubectl get dns shows host and paths" "example +example.com +/a" kubectl get dns
eventually 10 "http://example.com/a from a pod → service a" "^from-service-a$" pod_get web-1 http://example.com/a
expect "http://example.com/b from a pod → service b" "^from-service-b$" pod_get web-1 http://example.com/b
eventually 5 "http://example.com/a from node 2's host namespace" "^from-service-a$" on_node node-2 curl -sS --max-time 5 http://example.com/a
expect "http://example.com/b from node 3's host namespace" "^from-service-b$" on_node 3 curl -sS --max-time 5 http://example.com/b
kubectl delete dns example >/dev/null
eventually 3 "DNS object deleted: the host leaves node 2's hosts file" "^0$" sh -c "grep -c example.com /etc/netns/$N2/hosts; true"

# Tear down and check that nothing with the prefix remains (a shared
# cluster: test/e2e/shared_cluster.sh down does this at the end of the run).
if [ "$E2E_SHARED" = 0 ]; then
  expect "cluster.sh down" "removed cluster" "$CL" down
  e2e_cluster_gone_checks
fi

echo "$PASSED passed, $FAILED failed ($((SECONDS - start)) s)"
[ "$FAILED" -eq 0 ]
