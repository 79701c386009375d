#!/usr/bin/env bash
# RBAC with the stock kubectl (docs/auth.md "Authorization"): a server with
# a token file and Node,RBAC; kubectl create role|clusterrole|rolebinding|
# clusterrolebinding (protobuf bodies on 1.32+), their Tables, explain,
# `auth can-i` (SelfSubjectAccessReview) and `--list` (the rules review),
# and Kubernetes' Forbidden for a user without rights.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"

cat >"$E2E_DIR/tokens.csv" <<'CSV'
jane-token,jane,1001
nobody-token,nobody,1002
CSV
start_server --token-auth-file "$E2E_DIR/tokens.csv" --authorization-mode Node,RBAC
k() { kubectl --cache-dir "$E2E_DIR/cache" "$@"; }
jane() { kubectl --cache-dir "$E2E_DIR/cache-jane" --token=jane-token "$@"; }

expect_out "admin reads the default roles" "^cluster-admin +[0-9]{4}-" k get clusterroles
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
expect_out "get clusterrolebinding -o wide" "^managers +ClusterRole/secret-reader +[0-9a-z]+ +manager +default/robot" \
  k get clusterrolebinding managers -o wide
expect_out "the rule as sent" '^\[\{"apiGroups":\[""\],"resources":\["pods"\],"verbs":\["get","list","watch"\]\}\]$' \
  k get role pod-reader -n default -o 'jsonpath={.rules}'
expect_out "explain role.rules" "verbs" k explain role.rules
expect_fail "roleRef is immutable" "cannot change roleRef" \
  k patch rolebinding jane-read -n default --type merge -p '{"roleRef":{"name":"other"}}'

expect_out "admin can-i anything" "^yes" k auth can-i create pods
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
  kubectl --cache-dir "$E2E_DIR/cache-nobody" --token=nobody-token get pods -n default
expect_fail "a bad token is 401" "Unauthorized|provide credentials" \
  kubectl --cache-dir "$E2E_DIR/cache-bad" --token=bad get pods

e2e_finish
