#!/usr/bin/env bash
# ServiceAccounts on real containerd through `minik8s up` (docs/auth.md
# "Authentication"): the default ServiceAccount, the kube-api-access volume
# in a pod (token, namespace, ca.crt once the server has a CA), the token
# valid through TokenReview and bound to the pod, `kubectl create token`,
# and a call from inside a pod to https://kubernetes.default.svc (and to
# $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT) with the mounted token
# (image minik8s.io/python-kubernetes:1, built here when the cache lacks it).
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

# In-cluster HTTPS: `minik8s up` publishes its advertise address (the host's
# default-route address, where the server listens too) as the kubernetes
# Service's endpoint; the pod calls https://kubernetes.default.svc (cluster
# DNS) verified with the mounted ca.crt, and the same through
# $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT.
check "the pod has the cluster CA" kubectl exec sa-pod -- test -s $SA_DIR/ca.crt
expect_out "the kubernetes Service has an endpoint pods reach (not loopback)" '^[0-9.]+$' \
  sh -c "kubectl get endpoints kubernetes -o jsonpath='{.subsets[0].addresses[0].ip}' | grep -v '^127\.'"
expect_out "KUBERNETES_SERVICE_HOST/PORT in the container" '^KUBERNETES_SERVICE_HOST=10\.96\.0\.1 443$' \
  kubectl exec sa-pod -- sh -c 'echo KUBERNETES_SERVICE_HOST=$KUBERNETES_SERVICE_HOST $KUBERNETES_SERVICE_PORT'
check "build the python-kubernetes image" "$BIN/minik8s" image build python-kubernetes --cache-dir "$MINIK8S_IMAGE_CACHE"
cat >"$E2E_DIR/py-pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: sa-py}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
  - name: app
    image: minik8s.io/python-kubernetes:1
    command:
    - python3
    - -c
    - |
      import os, ssl, urllib.request, urllib.error
      d = "/var/run/secrets/kubernetes.io/serviceaccount/"
      tok = open(d + "token").read()
      ns = open(d + "namespace").read()
      ctx = ssl.create_default_context(cafile=d + "ca.crt")
      env = os.environ["KUBERNETES_SERVICE_HOST"] + ":" + os.environ["KUBERNETES_SERVICE_PORT"]
      for host in ("kubernetes.default.svc", env):
          req = urllib.request.Request("https://" + host + "/api/v1/namespaces/" + ns + "/pods",
                                       headers={"Authorization": "Bearer " + tok})
          try:
              print(host, "code", urllib.request.urlopen(req, context=ctx, timeout=10).status)
          except urllib.error.HTTPError as e:
              print(host, "code", e.code)  # 403 without RBAC rights: still authenticated
          except Exception as e:
              print(host, "error", e)
YAML
check "create the in-cluster client pod" kubectl apply -f "$E2E_DIR/py-pod.yaml"
poll 300 sh -c "kubectl get pod sa-py -o jsonpath='{.status.phase}' | grep -Eq 'Succeeded|Failed'" ||
  { kubectl describe pod sa-py; tail -n 40 "$E2E_DIR/up.log"; }
expect_out "in-cluster HTTPS to kubernetes.default.svc with the mounted token (200 or 403)" \
  "^kubernetes.default.svc code (200|403)$" kubectl logs sa-py
expect_out "... and to \$KUBERNETES_SERVICE_HOST:\$KUBERNETES_SERVICE_PORT" "^10\.96\.0\.1:443 code (200|403)$" kubectl logs sa-py

check "delete the pod" kubectl delete pod sa-pod --wait=false
token_dead() { review "$TOKEN" | grep -q '"authenticated":false'; }  # a function: sh -c would not see review
check "the bound token dies with the pod" poll 60 token_dead
e2e_finish
