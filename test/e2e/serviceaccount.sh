#!/usr/bin/env bash
# ServiceAccounts on real containerd through `minik8s up` (docs/auth.md
# "Authentication"): the default ServiceAccount, the kube-api-access volume
# in a pod (token, namespace, ca.crt once the server has a CA), the token
# valid through TokenReview and bound to the pod, `kubectl create token`,
# and — when the server serves HTTPS with a CA and the kubernetes Service
# has endpoints pods can reach — a call from inside the pod to
# https://kubernetes.default.svc with the mounted token (SKIP line otherwise).
# Everything lives under a temp dir; the trap runs `minik8s down`.
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
start_up "e2e-sa-$$"
SA_DIR=/var/run/secrets/kubernetes.io/serviceaccount

check "the default ServiceAccount exists" poll 30 kubectl get serviceaccount default
expect_out "kubectl get sa (Table)" "^default +0 " kubectl get sa --no-headers

cat >"$E2E_DIR/sa-pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: sa-pod}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox:1.36, command: ["sh", "-c", "exec sleep 3600"]}
YAML
check "create a pod" kubectl apply -f "$E2E_DIR/sa-pod.yaml"
poll 90 sh -c "kubectl get pod sa-pod | grep -q '1/1 *Running'" || { kubectl describe pod sa-pod; tail -n 40 "$E2E_DIR/up.log"; }
expect_out "serviceAccountName defaulted" "^default$" jp sa-pod '{.spec.serviceAccountName}'
expect_out "the kube-api-access volume is mounted" "/var/run/secrets/kubernetes.io/serviceaccount" \
  jp sa-pod '{.spec.containers[0].volumeMounts[*].mountPath}'
expect_out "namespace file" "^default$" kubectl exec sa-pod -- cat $SA_DIR/namespace
TOKEN=$(kubectl exec sa-pod -- cat $SA_DIR/token 2>/dev/null)
check "the token file holds a JWT" sh -c "echo '$TOKEN' | grep -Eq '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$'"

review() {  # review TOKEN: the TokenReview status as JSON
  kubectl create -o jsonpath='{.status}' -f - <<JSON
{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"$1"}}
JSON
}
expect_out "the pod's token authenticates as the ServiceAccount" '"username":"system:serviceaccount:default:default"' review "$TOKEN"
expect_out "bound to the pod" '"authentication.kubernetes.io/pod-name":\["sa-pod"\]' review "$TOKEN"

CREATED=$(kubectl create token default --duration 15m 2>"$E2E_DIR/create-token.err")
check "kubectl create token prints a token" test -n "$CREATED"
[ -n "$CREATED" ] || cat "$E2E_DIR/create-token.err"
expect_out "kubectl create token: the token authenticates" '"authenticated":true' review "$CREATED"
expect_out "a garbage token does not" '"authenticated":false' review "not-a-token"

# In-cluster HTTPS: needs the cluster CA (kube-root-ca.crt) and a reachable
# kubernetes Service.
EP=$(kubectl get endpoints kubernetes -o jsonpath='{.subsets[0].addresses[0].ip}' 2>/dev/null)
if kubectl exec sa-pod -- test -s $SA_DIR/ca.crt 2>/dev/null && [ -n "$EP" ]; then
  cat >"$E2E_DIR/py-pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: sa-py}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
  - name: app
    image: docker.io/library/python:3.11
    command:
    - python3
    - -c
    - |
      import ssl, urllib.request, urllib.error
      d = "/var/run/secrets/kubernetes.io/serviceaccount/"
      tok = open(d + "token").read()
      ns = open(d + "namespace").read()
      ctx = ssl.create_default_context(cafile=d + "ca.crt")
      req = urllib.request.Request("https://kubernetes.default.svc/api/v1/namespaces/" + ns + "/pods",
                                   headers={"Authorization": "Bearer " + tok})
      try:
          print("code", urllib.request.urlopen(req, context=ctx, timeout=10).status)
      except urllib.error.HTTPError as e:
          print("code", e.code)  # 403 without RBAC rights: still authenticated
YAML
  check "create the in-cluster client pod" kubectl apply -f "$E2E_DIR/py-pod.yaml"
  poll 120 sh -c "kubectl get pod sa-py -o jsonpath='{.status.phase}' | grep -Eq 'Succeeded|Failed'"
  expect_out "in-cluster HTTPS call with the mounted token is authenticated (200 or 403)" "^code (200|403)$" kubectl logs sa-py
else
  echo "SKIP in-cluster HTTPS call: no cluster CA in the pod or no reachable kubernetes endpoints"
fi

check "delete the pod" kubectl delete pod sa-pod --wait=false
token_dead() { review "$TOKEN" | grep -q '"authenticated":false'; }  # a function: sh -c would not see review
check "the bound token dies with the pod" poll 60 token_dead
e2e_finish
