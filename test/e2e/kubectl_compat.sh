#!/usr/bin/env bash
# Drives the stock kubectl (the dispatcher and the oldest and newest versioned
# clients) against a live minik8s server and checks real output.
# Usage: kubectl_compat.sh [KUBECTL...]   (default: kubectl kubectl.1.27 kubectl.1.33)
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
SDK=/usr/lib/google-cloud-sdk/bin
clients=("$@")
[ ${#clients[@]} -eq 0 ] && clients=(kubectl kubectl.1.27 kubectl.1.33)

start_server

for client in "${clients[@]}"; do
  K=$(command -v "$client" || echo "$SDK/$client")
  if [ ! -x "$K" ]; then echo "[FAIL] $client: not found"; E2E_FAILED=$((E2E_FAILED + 1)); continue; fi
  ver=${client#kubectl}; ver=${ver#.}; ver=${ver:-default}
  ns="compat-${ver//./-}"
  k() { "$K" --cache-dir "$E2E_DIR/cache-$ver" "$@"; }
  sed -e "s/__NS__/$ns/" -e "s/__IMAGE__/nginx:1.25/" "$HERE/compat.yaml.in" >"$E2E_DIR/$ns.yaml"
  sed -e "s/__NS__/$ns/" -e "s/__IMAGE__/nginx:1.26/" "$HERE/compat.yaml.in" >"$E2E_DIR/$ns-v2.yaml"
  # The file without the pod `solo`, which the plain `delete pod` test below
  # removes first: delete -f then finds every object it names.
  awk 'BEGIN{RS="---\n"; ORS="---\n"} !/kind: Pod\nmetadata:\n  name: solo\n/' "$E2E_DIR/$ns-v2.yaml" \
    >"$E2E_DIR/$ns-delete.yaml"
  echo "== $client ($K)"

  expect_out "$client apply creates every kind" \
    "deployment.apps/web created" k apply -f "$E2E_DIR/$ns.yaml"
  expect_out "$client apply created the DNS object" "dns.minik8s.io/routes (created|unchanged)" \
    k apply -f "$E2E_DIR/$ns.yaml"
  expect_out "$client re-apply is unchanged" "deployment.apps/web unchanged" k apply -f "$E2E_DIR/$ns.yaml"
  expect_out "$client apply of a changed image configures" "deployment.apps/web configured" \
    k apply -f "$E2E_DIR/$ns-v2.yaml"
  expect_out "$client apply changed only the image" "^nginx:1.26 blue 8080$" \
    k get deploy web -n "$ns" -o 'jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].value} {.spec.template.spec.containers[0].ports[0].containerPort}'

  expect_out "$client get pods table" "^NAME +READY +STATUS +RESTARTS +AGE" k get pods -n "$ns"
  expect_out "$client get pods -o wide" "^NAME +READY +STATUS +RESTARTS +AGE +IP +NODE" k get pods -n "$ns" -o wide
  expect_out "$client get svc shows a cluster IP and node port" "^web +NodePort +10\.[0-9.]+ +<none> +80:3[0-9]{4}/TCP" \
    k get svc -n "$ns"
  expect_out "$client get deploy -o json" '"kind": "Deployment"' k get deploy web -n "$ns" -o json
  expect_out "$client get cm -o yaml" "^  mode: blue" k get cm cfg -n "$ns" -o yaml
  expect_out "$client get -l selects by label" "^solo " k get pods -n "$ns" -l 'tier in (backend),app=solo'
  expect_out "$client get -l with no match" "No resources found" k get pods -n "$ns" -l app=nothing
  expect_out "$client get -A has NAMESPACE" "^$ns +solo " k get pods -A
  expect_out "$client get hpa shows TARGETS" "^web +Deployment/web +.*/50%" k get hpa -n "$ns"
  expect_out "$client get dns shows HOST" "^routes +example.com" k get dns -n "$ns"
  expect_out "$client describe pod" "Events:" k describe pod solo -n "$ns"
  expect_out "$client describe deploy" "^Name: +web" k describe deployment web -n "$ns"
  expect_out "$client patch (strategic)" "patched" k patch deployment web -n "$ns" -p '{"spec":{"replicas":3}}'
  expect_out "$client patch took effect" "^3$" k get deploy web -n "$ns" -o 'jsonpath={.spec.replicas}'
  expect_out "$client patch (merge) on our own kind" "patched" \
    k patch dns routes -n "$ns" --type merge -p '{"spec":{"host":"example.org"}}'
  expect_out "$client scale deployment" "scaled" k scale deployment web -n "$ns" --replicas=4
  expect_out "$client scale took effect" "^4$" k get deploy web -n "$ns" -o 'jsonpath={.spec.replicas}'

  # get -w sees a change made by another client.
  k get cm cfg -n "$ns" -w -o 'jsonpath={.data.mode}{"\n"}' >"$E2E_DIR/watch-$ver.out" 2>&1 &
  wpid=$!
  poll 10 grep -q blue "$E2E_DIR/watch-$ver.out"
  k patch cm cfg -n "$ns" -p '{"data":{"mode":"green"}}' >/dev/null
  check "$client get -w sees the change" poll 10 grep -q green "$E2E_DIR/watch-$ver.out"
  kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null

  expect_out "$client api-resources" "^deployments +deploy +apps/v1 +true +Deployment" k api-resources
  expect_out "$client explain" "KIND: *Pod" k explain pods
  expect_fail "$client unknown resource type" "doesn't have a resource type" k get frobnicators
  expect_fail "$client NotFound" 'NotFound.*"nope" not found' k get pod nope -n "$ns"
  printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\n  namespace: %s\nspec:\n  containers:\n  - name: c\n' "$ns" >"$E2E_DIR/bad-$ver.yaml"
  expect_fail "$client invalid object names the field" "spec.containers\[0\].image" k apply -f "$E2E_DIR/bad-$ver.yaml"
  expect_fail "$client invalid object was not stored" "NotFound" k get pod bad -n "$ns"
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: strict\n  namespace: %s\ndataa:\n  x: y\n' "$ns" >"$E2E_DIR/strict-$ver.yaml"
  expect_fail "$client unknown field rejected" "dataa" k create -f "$E2E_DIR/strict-$ver.yaml"

  # Generators: kubectl 1.32+ send these bodies as Kubernetes protobuf.
  gen="$ns-gen"
  expect_out "$client create namespace" "namespace/$gen created" k create namespace "$gen"
  expect_out "$client create configmap --from-literal" "configmap/gen created" \
    k create configmap gen -n "$gen" --from-literal=greeting=hello
  expect_out "$client create secret generic" "secret/gen created" \
    k create secret generic gen -n "$gen" --from-literal=token=s3cr3t
  expect_out "$client create deployment" "deployment.apps/gen created" \
    k create deployment gen -n "$gen" --image=nginx:1.25 --replicas=2 --port=80
  expect_out "$client create service nodeport" "service/gen created" \
    k create service nodeport gen -n "$gen" --tcp=80:8080
  expect_out "$client generated objects read back" "^hello czNjcjN0 2 nginx:1.25 8080$" bash -c \
    "'$K' --cache-dir '$E2E_DIR/cache-$ver' get cm gen -n $gen -o jsonpath='{.data.greeting} ' &&
     '$K' --cache-dir '$E2E_DIR/cache-$ver' get secret gen -n $gen -o jsonpath='{.data.token} ' &&
     '$K' --cache-dir '$E2E_DIR/cache-$ver' get deploy gen -n $gen -o jsonpath='{.spec.replicas} {.spec.template.spec.containers[0].image} ' &&
     '$K' --cache-dir '$E2E_DIR/cache-$ver' get svc gen -n $gen -o jsonpath='{.spec.ports[0].targetPort}'"
  expect_out "$client delete generated namespace" "namespace \"$gen\" deleted" k delete namespace "$gen"

  expect_out "$client delete" 'pod "solo" deleted' k delete pod solo -n "$ns"
  # The whole file, its Namespace first: the namespace stays Terminating (its
  # contents found) until the namespace controller has emptied it, and
  # kubectl waits for every object to be gone; a NotFound would exit 1.
  expect_out "$client delete -f with the Namespace first" \
    "namespace \"$ns\" deleted" k delete -f "$E2E_DIR/$ns-delete.yaml"  # exit 0: no object was NotFound
  ns_gone() { ! k get ns "$ns" >/dev/null 2>&1; }
  check "$client namespace gone once emptied" poll 90 ns_gone
  expect_out "$client delete -f removed everything" "No resources found" k get all -n "$ns"
done

e2e_finish
