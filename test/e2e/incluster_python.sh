#!/usr/bin/env bash
# In-cluster clients (docs/auth.md "In-cluster clients"; issue 16): a pod
# reads its ServiceAccount token and lists pods through Debian's Python
# Kubernetes client, `kubernetes.config.load_incluster_config()`, on real
# containerd with authentication and RBAC on (--token-auth-file). The
# client finds the API server through KUBERNETES_SERVICE_HOST/PORT (the
# kubelet's Service variables) and reaches it at the ClusterIP of the
# kubernetes Service, whose endpoint is the server's advertise address (it
# listens on loopback for the host and on the advertise address for the pods).
# A ServiceAccount bound to `view` lists the pods of its namespace; the
# default ServiceAccount, unbound, gets 403 with Kubernetes' message.
# Image: minik8s.io/python-kubernetes:1 (built here when the cache lacks it,
# first time ~80 s with mmdebstrap).
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
D=$E2E_DIR
NODE=e2e-incl-$$
NS=incl
IMAGE=minik8s.io/python-kubernetes:1
SA_DIR=/var/run/secrets/kubernetes.io/serviceaccount

# The address pods reach the server at: this host's default-route address.
ADV=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p' | head -n1)
if [ -z "$ADV" ]; then
  echo "[FAIL] this host has no default route: no address pods could reach the API server at"; exit 1
fi
check "build the python-kubernetes image" "$BIN/minik8s" image build python-kubernetes --cache-dir "$MINIK8S_IMAGE_CACHE"

echo "e2e-admin-token,e2e-admin,1000,system:masters" >"$D/tokens.csv"
start_server --token-auth-file "$D/tokens.csv" --advertise-address "$ADV" --local-node "$NODE"
start_agent "$NODE"
k() { kubectl --cache-dir "$D/cache" "$@"; }

expect_out "the kubernetes Service's endpoint is the advertise address" "^$ADV:[0-9]+$" \
  k get endpoints kubernetes -o 'jsonpath={.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}'
EP_PORT=$(k get endpoints kubernetes -o 'jsonpath={.subsets[0].ports[0].port}')
expect_out "the server answers at the advertise address with the cluster CA" '^ok$' \
  curl -fsS --max-time 5 "https://$ADV:$EP_PORT/readyz"
expect_out "the serving certificate names the Service's ClusterIP" "IP Address:10\.96\.0\.1\b" \
  sh -c "openssl s_client -connect $ADV:$EP_PORT </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName"

check "namespace" k create namespace $NS
# (apply, not `kubectl create serviceaccount`: kubectl 1.32 sends that one as
# protobuf, which the server does not decode for ServiceAccounts yet)
printf 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: lister, namespace: %s}\n' $NS >"$D/sa.yaml"
check "ServiceAccount lister" k apply -f "$D/sa.yaml"
check "the default ServiceAccount exists" poll 30 k get serviceaccount default -n $NS
check "RoleBinding lister → ClusterRole view" \
  k create rolebinding lister-view -n $NS --clusterrole=view --serviceaccount=$NS:lister

# The client: lists the pods of its namespace; an API error prints its status
# and message and exits 3.
pod_yaml() {  # pod_yaml NAME SERVICEACCOUNT
  cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: $NS, labels: {app: incl}}
spec:
  serviceAccountName: $2
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: client
    image: $IMAGE
    command:
    - python3
    - -c
    - |
      import json, os, sys
      from kubernetes import client, config
      from kubernetes.client.rest import ApiException
      d = "$SA_DIR/"
      for f in ("token", "ca.crt", "namespace"):
          print("file", f, os.path.getsize(d + f))
      print("env", os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"])
      config.load_incluster_config()
      ns = open(d + "namespace").read()
      try:
          pods = client.CoreV1Api().list_namespaced_pod(ns)
      except ApiException as e:
          print("status", e.status)
          print("message", json.loads(e.body)["message"])
          sys.exit(3)
      for p in pods.items:
          print("pod", p.metadata.name)
YAML
}
pod_yaml lister lister >"$D/lister.yaml"
pod_yaml nobody default >"$D/nobody.yaml"
check "create the pod of the bound ServiceAccount" k apply -f "$D/lister.yaml"
check "create the pod of the unbound one" k apply -f "$D/nobody.yaml"
done_pod() { k get pod "$1" -n $NS -o jsonpath='{.status.phase}' | grep -Eq 'Succeeded|Failed'; }
poll 300 done_pod lister || { k describe pod lister -n $NS; tail -n 30 "$D/agent.log"; }
poll 60 done_pod nobody || k describe pod nobody -n $NS

logs() { k logs "$1" -n $NS; }
expect_out "the token file is there" "^file token [1-9][0-9]*$" logs lister
expect_out "ca.crt is there" "^file ca.crt [1-9][0-9]*$" logs lister
expect_out "the namespace file is there" "^file namespace 4$" logs lister
expect_out "KUBERNETES_SERVICE_HOST/PORT name the kubernetes Service" "^env 10\.96\.0\.1 443$" logs lister
expect_out "bound to view: load_incluster_config + list_namespaced_pod list the pods" "^pod lister$" logs lister
expect_out "... all of them" "^pod nobody$" logs lister
expect_out "the bound pod Succeeded" "^Succeeded$" k get pod lister -n $NS -o jsonpath='{.status.phase}'
expect_out "unbound: 403" "^status 403$" logs nobody
expect_out "unbound: Kubernetes' Forbidden message" \
  "^message pods is forbidden: User \"system:serviceaccount:$NS:default\" cannot list resource \"pods\" in API group \"\" in the namespace \"$NS\"$" \
  logs nobody
expect_out "the unbound pod Failed (exit 3)" "^Failed$" k get pod nobody -n $NS -o jsonpath='{.status.phase}'

check "delete the pods" k delete pod lister nobody -n $NS --wait=false
e2e_finish
