#!/usr/bin/env bash
# Authentication and RBAC on by default (docs/auth.md "Where it stands"): a
# plain `minik8s server` (HTTPS) refuses anonymous requests except health and
# version, the default kubeconfig is an admin for kubectl, and a node
# credential from `minik8s kubeconfig node` is governed by the Node
# authorizer: it reads the Secret of a pod bound to its node, not another's.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
start_server
k() { kubectl --cache-dir "$E2E_DIR/cache" "$@"; }
anon() { curl -sS -o /dev/null -w '%{http_code}' "$SERVER_URL$1"; }

expect_out "the server serves https" "^https://" echo "$SERVER_URL"
expect_out "anonymous GET /api/v1/pods is 401" "^401$" anon /api/v1/pods
expect_out "anonymous GET /api/v1/namespaces/default/secrets is 401" "^401$" anon /api/v1/namespaces/default/secrets
expect_out "anonymous GET /healthz is 200" "^200$" anon /healthz
expect_out "anonymous GET /readyz is 200" "^200$" anon /readyz
expect_out "anonymous GET /version is 200" "^200$" anon /version
expect_out "a bad bearer token is 401" "^401$" \
  curl -sS -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope' "$SERVER_URL/healthz"
expect_out "api_curl (the kubeconfig's certificate) lists pods" "^200$" \
  api_curl -sS -o /dev/null -w '%{http_code}' "$SERVER_URL/api/v1/pods"
expect_out "kubectl with the default kubeconfig is system:admin" "system:admin" \
  k auth whoami -o jsonpath='{.status.userInfo.username}'
expect_out "kubectl with the default kubeconfig may do anything" "^yes" k auth can-i '*' '*'

# Two nodes' credentials; a Secret used by a pod bound to node A only.
for n in auth-a auth-b; do
  check "minik8s kubeconfig node $n" "$BIN/minik8s" kubeconfig node "$n" --data-dir "$E2E_DIR/data" \
    -o "$E2E_DIR/$n.kubeconfig"
done
expect_out "the node kubeconfig is mode 0600" "^600$" stat -c '%a' "$E2E_DIR/auth-a.kubeconfig"
expect_fail "a bad node name is refused" "RFC 1123" \
  "$BIN/minik8s" kubeconfig node "Bad_Name" --data-dir "$E2E_DIR/data" -o "$E2E_DIR/bad.kubeconfig"
check "create the secret" k create secret generic auth-s --from-literal=k=v
cat >"$E2E_DIR/pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: auth-pod}
spec:
  nodeName: auth-a
  containers:
  - name: c
    image: busybox:1.36
    env: [{name: K, valueFrom: {secretKeyRef: {name: auth-s, key: k}}}]
YAML
check "create a pod bound to auth-a" k apply -f "$E2E_DIR/pod.yaml"
as_node() { local n=$1; shift; kubectl --kubeconfig "$E2E_DIR/$n.kubeconfig" --cache-dir "$E2E_DIR/cache-$n" "$@"; }
expect_out "node auth-a is system:node:auth-a" "^system:node:auth-a$" \
  as_node auth-a auth whoami -o jsonpath='{.status.userInfo.username}'
check "node auth-a reads the Secret of its pod" poll 10 as_node auth-a get secret auth-s
expect_fail "node auth-b may not read it (403)" \
  'secrets "auth-s" is forbidden: User "system:node:auth-b" cannot get resource "secrets"' \
  as_node auth-b get secret auth-s
expect_fail "a node may not list secrets" "forbidden" as_node auth-a get secrets
expect_out "a node reads pods" "auth-pod" as_node auth-b get pods -A
expect_fail "a node may not create pods" "forbidden" as_node auth-a run x --image=busybox:1.36

# A GPUJob's submitter pod runs as a ServiceAccount the gpujob controller
# binds (docs/gpu.md "The submitter's rights"); what the server's authorizer
# lets that account do (impersonated by the admin):
cat >"$E2E_DIR/gpu.yaml" <<'YAML'
apiVersion: minik8s.io/v1
kind: SlurmCluster
metadata: {name: auth-slurm}
spec:
  controller: {host: 127.0.0.1}
  auth: {secretRef: {namespace: kube-system, name: auth-munge}}
---
apiVersion: minik8s.io/v1
kind: GPUJob
metadata: {name: auth-job}
spec:
  run: ./matmul 64
  slurm: {cluster: auth-slurm, partition: cpu}
YAML
check "create a SlurmCluster and a GPUJob" k apply -f "$E2E_DIR/gpu.yaml"
check "its submitter pod is created (so its ServiceAccount exists)" poll 30 k get pod auth-job-submitter
expect_out "the submitter pod runs as minik8s-gpujob-submitter" "^minik8s-gpujob-submitter$" \
  k get pod auth-job-submitter -o jsonpath='{.spec.serviceAccountName}'
SUB=system:serviceaccount:default:minik8s-gpujob-submitter
can() { k auth can-i --as="$SUB" "$@"; }
expect_out "submitter: update gpujobs/status" "^yes" can update gpujobs.minik8s.io/auth-job --subresource=status
expect_out "submitter: update gpujobs (its finalizer)" "^yes" can update gpujobs.minik8s.io/auth-job
expect_out "submitter: get its SlurmCluster" "^yes" can get slurmclusters.minik8s.io/auth-slurm
# The blob store is not in discovery (kubectl cannot name it): its own token.
SUB_TOKEN=$(k create token minik8s-gpujob-submitter)
as_sub() { curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $SUB_TOKEN" "$@"; }
expect_out "submitter token: upload a blob" "^20[01]$" \
  as_sub -X POST -H 'Content-Type: application/octet-stream' --data-binary 'auth-blob' "$SERVER_URL/apis/minik8s.io/v1/blobs"
expect_out "submitter token: read its GPUJob" "^200$" as_sub "$SERVER_URL/apis/minik8s.io/v1/namespaces/default/gpujobs/auth-job"
expect_out "submitter token: not list pods" "^403$" as_sub "$SERVER_URL/api/v1/namespaces/default/pods"
expect_out "submitter: create events" "^yes" can create events
expect_out "submitter: get the munge key Secret" "^yes" can get secret/auth-munge -n kube-system
expect_fail "submitter: not another Secret" "^no" can get secret/other -n kube-system
expect_fail "submitter: not list Secrets" "^no" can list secrets -n kube-system
expect_fail "submitter: not GPUJobs of another namespace" "^no" can get gpujobs.minik8s.io -n kube-system
expect_fail "submitter: not create pods" "^no" can create pods
e2e_finish
