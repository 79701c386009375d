#!/usr/bin/env bash
# A node joins with a bootstrap token on real containerd (docs/auth.md
# "Bootstrap tokens and the join", docs/agent.md "Joining with a token"):
# a server with authentication on, `minik8s token create|list`, the
# bootstrap authenticator (a good token is system:bootstrap:<id>; unknown
# and expired ones get 401), cluster-info readable without credentials, an
# agent started with only --server --token --ca-cert-hash (a wrong pin:
# exit 2 naming both hashes), its CSR approved and issued, kubelet.conf with
# CN system:node:<node>, a pod running on the node, a restarted agent
# reusing kubelet.conf, and `kubectl certificate approve|deny`.
# Everything lives under a temp dir; the trap stops the agent and runs
# `minik8s down`.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"

cat >"$E2E_DIR/tokens.csv" <<'CSV'
e2e-join-reader-token,reader,1001,"readers"
CSV
# The token cleaner would delete the expired token below before it is tried
# (then it is merely unknown); it has its own test (TokenCleanerTest).
start_server --token-auth-file "$E2E_DIR/tokens.csv" --authorization-mode Node,RBAC \
  --disable-controllers tokencleaner
k() { kubectl --cache-dir "$E2E_DIR/cache" "$@"; }
CA=$E2E_DIR/data/pki/ca.crt
NODE="e2e-join-$$"
AGENT_DIR=$E2E_DIR/agent

# The pin, computed here with openssl (kubeadm's recipe), not by minik8s.
HASH=$(openssl x509 -in "$CA" -pubkey -noout | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)
check "the CA hash was computed" test ${#HASH} -eq 64

# --- tokens
TOKEN=$("$BIN/minik8s" token create --data-dir "$E2E_DIR/data" --ttl 1h 2>"$E2E_DIR/token.err")
check "token create prints <id>.<secret>" sh -c "echo '$TOKEN' | grep -Eq '^[a-z0-9]{6}\.[a-z0-9]{16}$'"
[ -n "$TOKEN" ] || cat "$E2E_DIR/token.err"
ID=${TOKEN%%.*}
expect_out "the token is a Secret of the bootstrap type" "^bootstrap.kubernetes.io/token$" \
  k get secret -n kube-system "bootstrap-token-$ID" -o 'jsonpath={.type}'
expect_out "token list shows it" "^$ID\.<secret> +[0-9hm]+ " "$BIN/minik8s" token list --data-dir "$E2E_DIR/data"
expect_out "token create --print-join-command" \
  "^minik8s agent --server $SERVER_URL --token [a-z0-9]{6}\.[a-z0-9]{16} --ca-cert-hash sha256:$HASH$" \
  "$BIN/minik8s" token create --data-dir "$E2E_DIR/data" --print-join-command
expect_fail "a bad --ttl is refused" "ttl" "$BIN/minik8s" token create --data-dir "$E2E_DIR/data" --ttl soon

whoami() {  # whoami TOKEN: SelfSubjectReview as that bearer (curl: kubectl sends the admin cert too)
  curl -sS -X POST -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
    -d '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}' \
    "$SERVER_URL/apis/authentication.k8s.io/v1/selfsubjectreviews"
}
code_with() {  # code_with TOKEN PATH: the HTTP status
  curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "$SERVER_URL$2"
}
expect_out "the token authenticates as system:bootstrap:<id>" "\"username\":\"system:bootstrap:$ID\"" whoami "$TOKEN"
expect_out "... in system:bootstrappers" '"system:bootstrappers"' whoami "$TOKEN"
expect_out "an unknown token: 401" "^401$" code_with "abcdef.0123456789abcdef" /api/v1/nodes
expect_out "the right id with a wrong secret: 401" "^401$" code_with "$ID.0123456789abcdef" /api/v1/nodes
cat >"$E2E_DIR/expired.yaml" <<'YAML'
apiVersion: v1
kind: Secret
metadata: {name: bootstrap-token-zzzzzz, namespace: kube-system}
type: bootstrap.kubernetes.io/token
stringData:
  token-id: zzzzzz
  token-secret: 0123456789abcdef
  expiration: "2020-01-01T00:00:00Z"
  usage-bootstrap-authentication: "true"
YAML
check "create an expired token" k apply -f "$E2E_DIR/expired.yaml"
expect_out "an expired token: 401" "^401$" code_with "zzzzzz.0123456789abcdef" /api/v1/nodes
expect_fail "a bootstrap Secret with a malformed secret is refused" "token-secret" \
  k create secret generic bootstrap-token-yyyyyy -n kube-system --type bootstrap.kubernetes.io/token \
  --from-literal token-id=yyyyyy --from-literal token-secret=short
expect_out "a bootstrapper may not list pods" "^403$" code_with "$TOKEN" /api/v1/pods
expect_out "cluster-info without credentials" '"kubeconfig"' \
  curl -sS "$SERVER_URL/api/v1/namespaces/kube-public/configmaps/cluster-info"
expect_out "... but nothing else" "^401$" \
  curl -sS -o /dev/null -w '%{http_code}' "$SERVER_URL/api/v1/namespaces/kube-public/configmaps"

# --- a wrong pin: exit 2 naming both hashes, nothing posted
WRONG=$(printf '0%.0s' $(seq 1 64))
out=$(timeout 60 "$BIN/minik8s" agent --server "$SERVER_URL" --token "$TOKEN" --ca-cert-hash "sha256:$WRONG" \
  --data-dir "$E2E_DIR/wrong" --node-name "$NODE-wrong" --node-ip 127.0.0.1 --listen 127.0.0.1:0 2>&1); rc=$?
check "a wrong --ca-cert-hash: exit 2" test "$rc" -eq 2
check "... naming both hashes" sh -c "echo \"\$1\" | grep -q 'sha256:$HASH' && echo \"\$1\" | grep -q 'sha256:$WRONG'" _ "$out"
[ "$rc" -eq 2 ] || echo "$out" | tail -n 20
expect_fail "a token without --ca-cert-hash is refused" "ca-cert-hash" \
  "$BIN/minik8s" agent --server "$SERVER_URL" --token "$TOKEN" --data-dir "$E2E_DIR/wrong"

# --- the join: only --server, --token and --ca-cert-hash
join_agent() {
  "$BIN/minik8s" agent --server "$SERVER_URL" "$@" \
    --data-dir "$AGENT_DIR" --node-name "$NODE" --node-ip 127.0.0.1 --listen 127.0.0.1:0 \
    --image-cache "$MINIK8S_IMAGE_CACHE" >>"$E2E_DIR/agent.log" 2>&1 &
  AGENT_PID=$!
  AGENT_NODE=$NODE
}
node_ready() { k get node "$NODE" --no-headers 2>/dev/null | grep -Eq "^$NODE +Ready"; }
join_agent --token "$TOKEN" --ca-cert-hash "sha256:$HASH"
if ! poll 180 node_ready; then
  echo "node not Ready"; tail -n 60 "$E2E_DIR/agent.log"; tail -n 30 "$E2E_DIR/server.log"
fi
check "the joined node is Ready" node_ready
expect_out "kubectl get csr: Approved,Issued, requested by the token" \
  "^node-csr-$NODE-[a-z0-9]+ +[0-9a-z]+ +kubernetes.io/kube-apiserver-client-kubelet +system:bootstrap:$ID +<none> +Approved,Issued$" \
  k get csr --no-headers
expect_out "the node's certificate: CN system:node:<node>, O system:nodes" \
  "O ?= ?system:nodes, CN ?= ?system:node:$NODE" \
  openssl x509 -in "$AGENT_DIR/pki/kubelet-client.crt" -noout -subject
check "it chains to the cluster CA" openssl verify -CAfile "$CA" "$AGENT_DIR/pki/kubelet-client.crt"
expect_out "kubelet.conf names that certificate" "client-certificate: .*kubelet-client.crt" cat "$AGENT_DIR/kubelet.conf"
expect_out "kubelet.conf and the key are private (0600)" "^600 600$" \
  sh -c "stat -c %a '$AGENT_DIR/kubelet.conf' '$AGENT_DIR/pki/kubelet-client.key' | paste -sd' '"
check "no token in kubelet.conf" sh -c "! grep -q '$TOKEN' '$AGENT_DIR/kubelet.conf'"

cat >"$E2E_DIR/pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: joined-pod}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox:1.36, command: ["sh", "-c", "echo hello-from-joined-node; exec sleep 3600"]}
YAML
check "create a pod" k apply -f "$E2E_DIR/pod.yaml"
poll 90 sh -c "kubectl --cache-dir '$E2E_DIR/cache' get pod joined-pod | grep -q '1/1 *Running'" ||
  { k describe pod joined-pod; tail -n 40 "$E2E_DIR/agent.log"; }
expect_out "it runs on the joined node" "^$NODE Running$" \
  k get pod joined-pod -o 'jsonpath={.spec.nodeName} {.status.phase}'

# --- restart: kubelet.conf is reused, no second CSR (and no token needed)
stop_agent
BEFORE=$(k get csr --no-headers | wc -l)
: >"$E2E_DIR/agent.log"
join_agent
poll 60 grep -q "using $AGENT_DIR/kubelet.conf" "$E2E_DIR/agent.log"
expect_out "the restarted agent uses kubelet.conf" "join: using .*kubelet.conf" cat "$E2E_DIR/agent.log"
check "the node stays Ready after the restart" poll 60 node_ready
check "the restart posted no CSR" test "$(k get csr --no-headers | wc -l)" -eq "$BEFORE"
check "the pod still runs" poll 30 sh -c "kubectl --cache-dir '$E2E_DIR/cache' get pod joined-pod | grep -q '1/1 *Running'"

# --- a person's approval: kubectl certificate approve|deny
for who in alice mallory; do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$E2E_DIR/$who.key" \
    -subj "/O=devs/CN=$who" -out "$E2E_DIR/$who.csr" 2>/dev/null
  cat >"$E2E_DIR/$who-csr.yaml" <<YAML
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: $who}
spec:
  request: $(base64 -w0 "$E2E_DIR/$who.csr")
  signerName: kubernetes.io/kube-apiserver-client
  expirationSeconds: 86400
  usages: [client auth]
YAML
  check "create the CSR for $who" k create -f "$E2E_DIR/$who-csr.yaml"
done
expect_out "a user's CSR waits: Pending, requestor the admin" "^alice +[0-9a-z]+ +kubernetes.io/kube-apiserver-client +system:admin +24h +Pending$" \
  k get csr alice --no-headers
expect_out "kubectl certificate approve" "approved" k certificate approve alice
expect_out "kubectl certificate deny" "denied" k certificate deny mallory
check "alice is issued" poll 30 sh -c "kubectl --cache-dir '$E2E_DIR/cache' get csr alice --no-headers | grep -q 'Approved,Issued$'"
expect_out "mallory stays Denied" "Denied$" k get csr mallory --no-headers
k get csr alice -o jsonpath='{.status.certificate}' | base64 -d >"$E2E_DIR/alice.crt"
expect_out "alice's certificate: CN alice" "CN ?= ?alice" openssl x509 -in "$E2E_DIR/alice.crt" -noout -subject
expect_fail "approving a denied CSR is refused" "Approved|Denied|exclusive|Invalid" k certificate approve mallory --force

e2e_finish
