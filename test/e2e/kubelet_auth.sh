#!/usr/bin/env bash
# The kubelet's server locked down (docs/auth.md "The kubelet's server"), on
# real containerd: a server with authentication and authorization on
# (--token-auth-file, Node,RBAC) and one agent.
#   - the kubelet speaks only HTTPS, with a certificate of the cluster CA
#     that names the node's address: first one it got through a
#     kubernetes.io/kubelet-serving CSR (approved and signed by the server),
#     at the end one given with --tls-cert-file;
#   - anonymous requests to exec, containerLogs, stats are 401; a client
#     certificate or a token of a user without rights 403 (Kubernetes'
#     message); a user granted nodes/stats reads stats and nothing else;
#   - through the API server (its kube-apiserver-kubelet-client
#     certificate, bound to system:kubelet-api-admin) kubectl logs, exec and
#     the metrics scraper still work.
# Client certificates for the test users are issued here with openssl from
# the server's CA. Everything lives under a temp dir; the trap runs
# `minik8s down` also on failure.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"

cat >"$E2E_DIR/tokens.csv" <<'CSV'
nobody-token,nobody,2001
stats-token,stats-reader,2002
CSV
start_server --token-auth-file "$E2E_DIR/tokens.csv" --authorization-mode Node,RBAC
[[ "$SERVER_URL" == https://* ]] || { echo "FAIL: the server does not serve https"; exit 1; }
PKI=$E2E_DIR/data/pki
k() { kubectl --cache-dir "$E2E_DIR/cache" "$@"; }

# issue NAME SUBJECT EXT: a P-256 key and a certificate of the cluster CA.
issue() {
  local name=$1 subj=$2 ext=$3
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$subj" \
    -keyout "$E2E_DIR/$name.key" -out "$E2E_DIR/$name.csr" 2>/dev/null &&
    printf '%s\n' "$ext" >"$E2E_DIR/$name.ext" &&
    openssl x509 -req -in "$E2E_DIR/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
      -CAserial "$E2E_DIR/ca.srl" -CAcreateserial -days 1 -extfile "$E2E_DIR/$name.ext" \
      -out "$E2E_DIR/$name.crt" 2>/dev/null
}
check "a client certificate for user nobody" issue nobody "/CN=nobody" "extendedKeyUsage=clientAuth"
check "a client certificate for user stats-reader" issue stats "/CN=stats-reader/O=readers" \
  "extendedKeyUsage=clientAuth"
other_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=other-ca" -days 1 \
    -keyout "$E2E_DIR/other-ca.key" -out "$E2E_DIR/other-ca.crt" 2>/dev/null &&
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=system:admin/O=system:masters" \
      -keyout "$E2E_DIR/forged.key" -out "$E2E_DIR/forged.csr" 2>/dev/null &&
    openssl x509 -req -in "$E2E_DIR/forged.csr" -CA "$E2E_DIR/other-ca.crt" -CAkey "$E2E_DIR/other-ca.key" \
      -CAcreateserial -CAserial "$E2E_DIR/other.srl" -days 1 -out "$E2E_DIR/forged.crt" 2>/dev/null
}
check "a system:masters certificate of another CA" other_ca
check "the kubelet's serving certificate (IP 127.0.0.1)" issue kubelet "/CN=system:node:e2e-kauth-$$/O=system:nodes" \
  "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth"

NODE=e2e-kauth-$$
start_agent "$NODE"
PORT=$(k get node "$NODE" -o 'jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}')
KURL=https://127.0.0.1:$PORT
echo "[INFO] kubelet at $KURL"
# The serving certificate came from a CSR the server approved and signed.
expect_out "the agent's kubelet-serving CSR is Approved,Issued" \
  "^kubelet-serving-$NODE-[0-9a-f]+ .*kubernetes.io/kubelet-serving .*Approved,Issued" k get csr --no-headers
served() { openssl s_client -connect "127.0.0.1:$1" -CAfile "$PKI/ca.crt" </dev/null 2>/dev/null | openssl x509 -noout -subject -ext subjectAltName 2>/dev/null; }
expect_out "the kubelet serves the CSR's certificate (CN system:node:$NODE)" "CN *= *system:node:$NODE" served "$PORT"
expect_out "... naming 127.0.0.1" "IP Address:127.0.0.1" served "$PORT"
expect_out "... kept in the data dir" "subject=.*system:node:$NODE" \
  openssl x509 -in "$E2E_DIR/agent/pki/kubelet-serving.crt" -noout -subject
expect_out "... which verifies against the cluster CA" ": OK$" \
  openssl verify -CAfile "$PKI/ca.crt" "$E2E_DIR/agent/pki/kubelet-serving.crt"

cat >"$E2E_DIR/pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: talk}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox:1.36, command: ["sh", "-c", "echo hello-from-talk; exec sleep 3600"]}
YAML
check "create a pod" k apply -f "$E2E_DIR/pod.yaml"
poll 90 sh -c "kubectl get pod talk | grep -q '1/1 *Running'" || k describe pod talk

code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
body() { curl -s "$@"; }
# Anonymous: 401 on every endpoint (curl verifies the kubelet with the cluster CA).
expect_out "anonymous GET /stats/summary is 401" "^401$" code "$KURL/stats/summary"
expect_out "anonymous GET /containerLogs is 401" "^401$" code "$KURL/containerLogs/default/talk/app"
expect_out "anonymous exec (WebSocket upgrade) is 401" "^401$" code \
  -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
  -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Protocol: v5.channel.k8s.io' \
  "$KURL/exec/default/talk/app?command=id&stdout=1"
expect_out "anonymous POST /exec is 401" "^401$" code -X POST "$KURL/exec/default/talk/app?command=id"
expect_out "anonymous GET /metrics is 401" "^401$" code "$KURL/metrics"
expect_out "the 401 is a Kubernetes Status" '"reason":"Unauthorized"' body "$KURL/stats/summary"
expect_out "a bad token is 401" "^401$" code -H 'Authorization: Bearer not-a-token' "$KURL/stats/summary"
expect_out "a system:masters certificate of another CA is anonymous: 401" "^401$" code \
  --cert "$E2E_DIR/forged.crt" --key "$E2E_DIR/forged.key" "$KURL/stats/summary"
expect_fail "no plain HTTP on the kubelet's port" "^(000)?$" code --max-time 5 "http://127.0.0.1:$PORT/stats/summary"
expect_fail "the kubelet's certificate is refused by another CA" "certificate" \
  curl -sS --cacert "$E2E_DIR/other-ca.crt" "$KURL/stats/summary"

# Authenticated without rights: 403 with Kubernetes' kubelet message.
NOBODY=(--cert "$E2E_DIR/nobody.crt" --key "$E2E_DIR/nobody.key")
expect_out "certificate user nobody: stats is 403" "^403$" code "${NOBODY[@]}" "$KURL/stats/summary"
expect_out "the 403 names user, verb, resource, subresource" \
  'Forbidden \(user=nobody, verb=get, resource=nodes, subresource=stats\)' body "${NOBODY[@]}" "$KURL/stats/summary"
expect_out "certificate user nobody: logs is 403" "^403$" code "${NOBODY[@]}" "$KURL/containerLogs/default/talk/app"
expect_out "certificate user nobody: exec is 403 (create nodes/proxy)" \
  'Forbidden \(user=nobody, verb=create, resource=nodes, subresource=proxy\)' \
  body -X POST "${NOBODY[@]}" "$KURL/exec/default/talk/app?command=id"
expect_out "token user nobody: stats is 403" "^403$" code -H 'Authorization: Bearer nobody-token' "$KURL/stats/summary"

# A user granted nodes/stats (RBAC, asked by SubjectAccessReview).
check "a ClusterRole for nodes/stats" k create clusterrole kubelet-stats --verb=get --resource=nodes/stats
check "bound to stats-reader" k create clusterrolebinding kubelet-stats --clusterrole=kubelet-stats --user=stats-reader
STATS=(--cert "$E2E_DIR/stats.crt" --key "$E2E_DIR/stats.key")
expect_out "stats-reader (certificate) reads /stats/summary" '"nodeName" *: *"'"$NODE"'"' \
  body "${STATS[@]}" "$KURL/stats/summary"
expect_out "stats-reader (token) reads /stats/summary" "^200$" code -H 'Authorization: Bearer stats-token' \
  "$KURL/stats/summary"
expect_out "stats-reader may not read logs" "^403$" code "${STATS[@]}" "$KURL/containerLogs/default/talk/app"
expect_out "the admin certificate (system:masters) reads logs" "^hello-from-talk$" \
  body --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$KURL/containerLogs/default/talk/app"

# Through the API server.
expect_out "system:kubelet-api-admin is bound to kube-apiserver-kubelet-client" \
  "^ClusterRole/system:kubelet-api-admin +[0-9a-z]+ +kube-apiserver-kubelet-client" \
  sh -c "kubectl get clusterrolebinding system:kubelet-api-admin -o wide --no-headers | awk '{print \$2, \$3, \$4}'"
expect_out "the API server's kubelet client certificate has no group" "^subject=CN *= *kube-apiserver-kubelet-client$" \
  openssl x509 -in "$PKI/apiserver-kubelet-client.crt" -noout -subject
expect_out "kubectl logs through the API server" "^hello-from-talk$" k logs talk
expect_out "kubectl exec through the API server" "^uid=0" k exec talk -- id
expect_out "kubectl exec -i through the API server" "^got:hi$" sh -c "echo hi | kubectl exec -i talk -- sh -c 'read x; echo got:\$x'"
metrics() { k get --raw "/apis/metrics.k8s.io/v1beta1/nodes/$NODE" | grep -q '"usage"'; }
check "the metrics server scrapes the kubelet over HTTPS" poll 60 metrics
expect_fail "nobody may not use pods/log through the API server either" "forbidden" \
  kubectl --cache-dir "$E2E_DIR/cache-nobody" --kubeconfig=/dev/null --server="$SERVER_URL" \
  --certificate-authority="$PKI/ca.crt" --token=nobody-token logs talk

# Restarted with a given serving certificate: that one is served, the CSR
# one is left alone.
stop_agent
CSRS_BEFORE=$(k get csr --no-headers | wc -l)
start_agent "$NODE" --tls-cert-file "$E2E_DIR/kubelet.crt" --tls-private-key-file "$E2E_DIR/kubelet.key"
# The Node still says Ready from before: wait until its registered kubelet
# port serves the given certificate (the new agent re-registered).
GIVEN_SERIAL=$(openssl x509 -in "$E2E_DIR/kubelet.crt" -noout -serial)
given_served() {
  PORT=$(kubectl get node "$NODE" -o 'jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}')
  [ "$(openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$PKI/ca.crt" </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null)" = "$GIVEN_SERIAL" ]
}
check "with --tls-cert-file the given certificate is served" poll 60 given_served
PORT=$(k get node "$NODE" -o 'jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}')
expect_out "... and no new CSR was posted" "^$CSRS_BEFORE$" sh -c "kubectl get csr --no-headers | wc -l"
expect_out "anonymous is still 401" "^401$" code "https://127.0.0.1:$PORT/containerLogs/default/talk/app"
expect_out "kubectl logs through the API server still works" "^hello-from-talk$" k logs talk
check "delete the pod" k delete pod talk --wait=false
e2e_finish
