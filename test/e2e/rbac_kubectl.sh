#!/usr/bin/env bash
# RBAC with the stock kubectl (docs/auth.md "Authorization").
# 1. As the default kubeconfig's admin (system:masters; authentication is on
#    by default): kubectl create role|clusterrole|rolebinding|
#    clusterrolebinding (protobuf bodies on 1.32+), their Tables, explain,
#    roleRef immutability, `auth can-i` (SelfSubjectAccessReview, everything
#    allowed) and `--list` (the rules review: cluster-admin's).
# 2. With --token-auth-file and Node,RBAC: what a bound user may do, the
#    Forbidden message, can-i, impersonation (--as). kubectl sends bearer
#    tokens only over https, so this part runs once the server serves TLS
#    (its kubeconfig says https://); over plain HTTP it is reported skipped.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"

start_server
k() { kubectl --cache-dir "$E2E_DIR/cache" "$@"; }

expect_out "the default roles" "^cluster-admin +[0-9]{4}-" k get clusterroles
expect_out "cluster-admin binding Table" "^cluster-admin +ClusterRole/cluster-admin +" \
  k get clusterrolebindings
expect_out "create role" "role.rbac.authorization.k8s.io/pod-reader created" \
  k create role pod-reader --verb=get,list,watch --resource=pods -n default
expect_out "create rolebinding" "rolebinding.rbac.authorization.k8s.io/jane-read created" \
  k create rolebinding jane-read --role=pod-reader --user=jane -n default
expect_out "create clusterrole" "clusterrole.rbac.authorization.k8s.io/secret-reader created" \
  k create clusterrole secret-reader --verb=get --resource=secrets
expect_out "create clusterrolebinding" \
  "clusterrolebinding.rbac.authorization.k8s.io/managers created" \
  k create clusterrolebinding managers --clusterrole=secret-reader --group=manager \
  --serviceaccount=default:robot
expect_out "get roles Table" "^NAME +CREATED AT" k get roles -n default
expect_out "get rolebinding -o wide" "^jane-read +Role/pod-reader +[0-9a-z]+ +jane" \
  k get rolebindings -n default -o wide
expect_out "get clusterrolebinding -o wide" \
  "^managers +ClusterRole/secret-reader +[0-9a-z]+ +manager +default/robot" \
  k get clusterrolebinding managers -o wide
expect_out "the rule as sent" \
  '^\[\{"apiGroups":\[""\],"resources":\["pods"\],"verbs":\["get","list","watch"\]\}\]$' \
  k get role pod-reader -n default -o 'jsonpath={.rules}'
expect_out "the subject's defaulted apiGroup" "^rbac.authorization.k8s.io$" \
  k get rolebinding jane-read -n default -o 'jsonpath={.subjects[0].apiGroup}'
expect_out "explain role.rules" "verbs" k explain role.rules
expect_fail "roleRef is immutable" "cannot change roleRef" \
  k patch rolebinding jane-read -n default --type merge -p '{"roleRef":{"name":"other"}}'
cat >"$E2E_DIR/bad-role.yaml" <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: bad, namespace: default}
rules: [{verbs: [get], nonResourceURLs: [/healthz]}]
YAML
expect_fail "a Role may not have nonResourceURLs" \
  "rules\[0\].nonResourceURLs: Invalid value: .*namespaced rules cannot apply to non-resource URLs" \
  k create -f "$E2E_DIR/bad-role.yaml"
expect_out "can-i as the admin" "^yes" k auth can-i create pods
expect_out "can-i --list as the admin" '^\*\.\* +\[\] +\[\] +\[\*\]' k auth can-i --list

kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=""
rm -rf "$E2E_DIR/data"
cat >"$E2E_DIR/tokens.csv" <<'CSV'
jane-token,jane,1001
nobody-token,nobody,1002
CSV
start_server --token-auth-file "$E2E_DIR/tokens.csv" --authorization-mode Node,RBAC
if [[ "$SERVER_URL" != https://* ]]; then
  echo "[SKIP] authorization through kubectl: the server serves plain HTTP and kubectl sends bearer tokens only over https"
  # The same server through curl: the kubeconfig's (loopback) token is an admin.
  ADMIN=$(sed -n 's/^ *token: *//p' "$KUBECONFIG" | head -n1)
  c() { local t=$1; shift; curl -sS -H "Authorization: Bearer $t" -H 'Content-Type: application/json' "$@"; }
  code() { local t=$1; shift; c "$t" -o /dev/null -w '%{http_code}' "$@"; }
  expect_out "curl: admin creates a rolebinding" "^201$" code "$ADMIN" -X POST \
    "$SERVER_URL/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings" \
    -d '{"metadata":{"name":"jane-view"},"roleRef":{"kind":"ClusterRole","name":"view"},"subjects":[{"kind":"User","name":"jane"}]}'
  jane_lists() { [ "$(code jane-token "$SERVER_URL/api/v1/namespaces/default/pods")" = 200 ]; }
  check "curl: jane lists pods" poll 10 jane_lists
  expect_out "curl: jane may not create" \
    'pods is forbidden: User \\"jane\\" cannot create resource \\"pods\\" in API group \\"\\" in the namespace \\"default\\"' \
    c jane-token -X POST "$SERVER_URL/api/v1/namespaces/default/pods" -d '{}'
  expect_out "curl: nobody may not list" "^403$" code nobody-token "$SERVER_URL/api/v1/namespaces/default/pods"
  expect_out "curl: admin as jane lists" "^200$" \
    code "$ADMIN" -H 'Impersonate-User: jane' "$SERVER_URL/api/v1/namespaces/default/pods"
  expect_out "curl: admin as jane may not list secrets" "^403$" \
    code "$ADMIN" -H 'Impersonate-User: jane' "$SERVER_URL/api/v1/namespaces/default/secrets"
  expect_out "curl: jane may not impersonate" \
    'users \\"nobody\\" is forbidden: User \\"jane\\" cannot impersonate resource \\"users\\"' \
    c jane-token -H 'Impersonate-User: nobody' "$SERVER_URL/api/v1/namespaces/default/pods"
  expect_out "curl: SelfSubjectAccessReview as jane" '"allowed":true' \
    c jane-token -X POST "$SERVER_URL/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" \
    -d '{"spec":{"resourceAttributes":{"namespace":"default","verb":"list","resource":"pods"}}}'
  e2e_finish; exit $?
fi
# jane's own kubeconfig: the server and its CA, her token and no client
# certificate (the admin kubeconfig's certificate would win over --token).
JANE_KC="$E2E_DIR/jane.kubeconfig"
kubectl config --kubeconfig="$JANE_KC" set-cluster e2e --server="$SERVER_URL" \
  --certificate-authority="$E2E_DIR/data/pki/ca.crt" --embed-certs=true >/dev/null
kubectl config --kubeconfig="$JANE_KC" set-credentials jane --token=jane-token >/dev/null
kubectl config --kubeconfig="$JANE_KC" set-context e2e --cluster=e2e --user=jane >/dev/null
kubectl config --kubeconfig="$JANE_KC" use-context e2e >/dev/null
jane() { kubectl --kubeconfig="$JANE_KC" --cache-dir "$E2E_DIR/cache-jane" "$@"; }
expect_out "create role (auth on)" "created" \
  k create role pod-reader --verb=get,list,watch --resource=pods -n default
expect_out "create rolebinding (auth on)" "created" \
  k create rolebinding jane-read --role=pod-reader --user=jane -n default
expect_out "admin can-i anything" "^yes" k auth can-i create pods
poll 10 jane get pods -n default
expect_out "jane can-i list pods" "^yes" jane auth can-i list pods -n default
expect_fail "jane can-i create pods" "^no" jane auth can-i create pods -n default
expect_fail "jane can-i list pods elsewhere" "^no" jane auth can-i list pods -n kube-system
expect_out "jane can-i --list" "pods +\[\] +\[\] +\[get list watch\]" jane auth can-i --list -n default
expect_out "admin can-i as jane (impersonation)" "^yes" k auth can-i list pods -n default --as=jane
expect_fail "admin can-i as jane: create" "^no" k auth can-i create pods -n default --as=jane
expect_fail "jane may not impersonate" \
  'users "nobody" is forbidden: User "jane" cannot impersonate resource "users" in API group "" at the cluster scope' \
  jane get pods -n default --as=nobody
expect_out "jane lists pods" "No resources found" jane get pods -n default
expect_fail "jane may not create" \
  'pods is forbidden: User "jane" cannot create resource "pods" in API group "" in the namespace "default"' \
  jane run p --image=busybox -n default
expect_fail "nobody may not list" \
  'User "nobody" cannot list resource "pods" in API group "" in the namespace "default"' \
  kubectl --kubeconfig="$JANE_KC" --cache-dir "$E2E_DIR/cache-nobody" --token=nobody-token get pods -n default
expect_fail "a bad token is 401" "Unauthorized|provide credentials" \
  kubectl --kubeconfig="$JANE_KC" --cache-dir "$E2E_DIR/cache-bad" --token=bad get pods

e2e_finish
