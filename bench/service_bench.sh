#!/usr/bin/env bash
# Service data-plane benchmark: requests through a ClusterIP and a NodePort
# beside the same requests straight to the pod IP, in the same run, with wrk.
# Brings up its own 2-node cluster (scripts/cluster.sh, unique prefix and
# subnet) and removes it on exit. The backend is one busybox httpd pod on
# node 2; wrk runs in node 1's host namespace (pod IP, ClusterIP) and in the
# cluster's "outside" namespace (NodePort). Prints Markdown rows.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export BIN=${BIN:-$ROOT/${1:-build}/bin}
export MK_CLUSTER_PREFIX=mkb$(($$ % 10000))
export MK_CLUSTER_SUBNET=10.97.$(($$ % 200 + 20)).0/24
TMP=$(mktemp -d /tmp/minik8s-svc-bench.XXXXXX)
export MK_CLUSTER_DIR=$TMP/cluster
export KUBECONFIG=$MK_CLUSTER_DIR/kubeconfig
CL=$ROOT/scripts/cluster.sh
trap '"$CL" down >/dev/null 2>&1; rm -rf "$TMP"' EXIT
"$CL" up 2 >"$TMP/up.log" 2>&1 || { tail -n 30 "$TMP/up.log" >&2; exit 1; }
N2=$(kubectl get nodes --no-headers -o custom-columns=N:.metadata.name | sed -n 2p)
kubectl apply -f - >/dev/null <<EOF2
apiVersion: v1
kind: Pod
metadata: {name: bench-web, labels: {app: bench-web}}
spec:
  nodeSelector: {kubernetes.io/hostname: $N2}
  containers:
  - name: web
    image: busybox:1.36
    command: [sh, -c, 'mkdir -p /www && echo ok >/www/index.html && exec httpd -f -p 8080 -h /www']
    ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: bench-web}
spec:
  type: NodePort
  selector: {app: bench-web}
  ports: [{port: 80, targetPort: 8080}]
EOF2
deadline=$((SECONDS + 120))
until [ "$(kubectl get endpoints bench-web -o jsonpath='{.subsets[0].addresses[0].ip}' 2>/dev/null)" != "" ]; do
  [ $SECONDS -lt $deadline ] || { echo "bench-web has no endpoint" >&2; exit 1; }
  sleep 0.2
done
POD=$(kubectl get pod bench-web -o jsonpath='{.status.podIP}')
CIP=$(kubectl get svc bench-web -o jsonpath='{.spec.clusterIP}')
NP=$(kubectl get svc bench-web -o jsonpath='{.spec.ports[0].nodePort}')
NIP=$(kubectl get node "$N2" -o jsonpath='{.status.addresses[0].address}')
D=${BENCH_SECONDS:-5}
# run NODE URL → "RPS p50 p99" from wrk --latency
run() {
  "$CL" exec "$1" -- wrk -t1 -c4 -d"${D}s" --latency "$2" 2>&1 |
    awk '/Requests\/sec/{r=$2} /^ +50%/{p50=$2} /^ +99%/{p99=$2} END{printf "%s req/s, p50 %s, p99 %s", r, p50, p99}'
}
# warm-up (ARP, conntrack, the first fork of httpd)
"$CL" exec 1 -- wrk -t1 -c1 -d1s "http://$POD:8080/" >/dev/null 2>&1 || true
echo "| pod IP $POD:8080 from node 1 (baseline), wrk -c4 ${D}s | $(run 1 "http://$POD:8080/") | |"
echo "| ClusterIP $CIP:80 from node 1 | $(run 1 "http://$CIP/") | |"
echo "| NodePort $NIP:$NP from outside the cluster | $(run outside "http://$NIP:$NP/") | |"
