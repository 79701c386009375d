#!/usr/bin/env bash
# Stock kubectl (the dispatcher and the oldest and newest versioned clients)
# and mkctl against a live minik8s server, for the issue-4 objects: Nodes
# (get -o wide, describe, cordon/uncordon, delete), Services (get -o wide,
# describe with endpoints), Endpoints, EndpointSlices and DNS objects.
# No agent runs: Nodes, their Leases and pod statuses are written through the
# API, as a kubelet would.
# Usage: kubectl_net_compat.sh [KUBECTL...]   (default: kubectl kubectl.1.27 kubectl.1.33)
source "$(dirname "$0")/need_kubectl.sh"; need_kubectl
source "$(dirname "$0")/lib.sh"
SDK=/usr/lib/google-cloud-sdk/bin
clients=("$@")
[ ${#clients[@]} -eq 0 ] && clients=(kubectl kubectl.1.27 kubectl.1.33)

start_server

api() {  # api METHOD PATH [BODY] [CONTENT-TYPE]
  api_curl -fsS -X "$1" "$SERVER_URL$2" -H "Content-Type: ${4:-application/json}" ${3:+--data "$3"}
}
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
NS=net

node_json() {  # node_json NAME IP CIDR READY(True|False|"") [ROLE]
  local conds="[]"
  [ -n "$4" ] && conds='[{"type":"MemoryPressure","status":"False","reason":"KubeletHasSufficientMemory","message":"kubelet has sufficient memory available","lastHeartbeatTime":"'$now'","lastTransitionTime":"'$now'"},{"type":"Ready","status":"'$4'","reason":"KubeletReady","message":"kubelet is posting ready status","lastHeartbeatTime":"'$now'","lastTransitionTime":"'$now'"}]'
  local labels='"kubernetes.io/hostname":"'$1'","kubernetes.io/os":"linux"'
  [ -n "${5:-}" ] && labels+=',"node-role.kubernetes.io/'$5'":""'
  cat <<EOF
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$1","labels":{$labels}},
 "spec":{"podCIDR":"$3","podCIDRs":["$3"]},
 "status":{"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},
   "allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},
   "conditions":$conds,
   "addresses":[{"type":"InternalIP","address":"$2"},{"type":"Hostname","address":"$1"}],
   "nodeInfo":{"kernelVersion":"6.1.0-test","osImage":"Debian GNU/Linux 12 (bookworm)",
     "containerRuntimeVersion":"containerd://1.6.20","kubeletVersion":"v1.32.0-minik8s",
     "operatingSystem":"linux","architecture":"amd64","machineID":"m","systemUUID":"u","bootID":"b",
     "kubeProxyVersion":"v1.32.0-minik8s"}}}
EOF
}

setup() {
  local n
  for n in "node-a 10.99.0.11 10.244.1.0/24 True control-plane" "node-b 10.99.0.12 10.244.2.0/24 False" \
           "node-c 10.99.0.13 10.244.3.0/24"; do
    set -- $n
    api POST /api/v1/nodes "$(node_json "$1" "$2" "$3" "${4:-}" "${5:-}")" >/dev/null || return 1
    # Status as the kubelet writes it (a create may drop status); read and
    # written again on a conflict (the node lifecycle controller may have
    # written the node in between).
    put_status() {
      api PUT "/api/v1/nodes/$1/status" "$(api GET "/api/v1/nodes/$1" | python3 -c '
import json,sys; o=json.load(sys.stdin); o["status"]=json.loads(sys.argv[1])["status"]; print(json.dumps(o))' \
        "$(node_json "$1" "$2" "$3" "${4:-}" "${5:-}")")"
    }
    poll 10 put_status "$1" "$2" "$3" "${4:-}" "${5:-}" || return 1
  done
  api POST /api/v1/namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"kube-node-lease"}}' >/dev/null 2>&1
  api POST /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases \
    '{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"node-a","namespace":"kube-node-lease"},"spec":{"holderIdentity":"node-a","leaseDurationSeconds":40,"renewTime":"'"${now%Z}"'.000000Z"}}' >/dev/null || return 1
  api POST /api/v1/namespaces '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"'$NS'"}}' >/dev/null || return 1
  # A running pod bound to node-a, and a finished one that describe node leaves out.
  api POST /api/v1/namespaces/$NS/pods '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","labels":{"app":"web"}},
    "spec":{"nodeName":"node-a","containers":[{"name":"nginx","image":"nginx:1.25","ports":[{"name":"http","containerPort":8080}],
    "resources":{"requests":{"cpu":"250m","memory":"64Mi"},"limits":{"cpu":"500m","memory":"128Mi"}}}]}}' >/dev/null || return 1
  api PATCH /api/v1/namespaces/$NS/pods/web-1/status '{"status":{"phase":"Running","podIP":"10.244.1.5","podIPs":[{"ip":"10.244.1.5"}],
    "conditions":[{"type":"Ready","status":"True"}]}}' application/merge-patch+json >/dev/null || return 1
  api POST /api/v1/namespaces/$NS/pods '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"done-1"},
    "spec":{"nodeName":"node-a","restartPolicy":"Never","containers":[{"name":"c","image":"busybox:1.36"}]}}' >/dev/null || return 1
  api PATCH /api/v1/namespaces/$NS/pods/done-1/status '{"status":{"phase":"Succeeded"}}' application/merge-patch+json >/dev/null || return 1
  # A NodePort Service with a selector, and one without (its Endpoints and
  # EndpointSlice are written by hand; an endpoints controller leaves those alone).
  api POST /api/v1/namespaces/$NS/services '{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","labels":{"app":"web"}},
    "spec":{"type":"NodePort","selector":{"app":"web"},"ports":[{"name":"http","port":80,"targetPort":8080}]}}' >/dev/null || return 1
  api POST /api/v1/namespaces/$NS/services '{"apiVersion":"v1","kind":"Service","metadata":{"name":"ext"},
    "spec":{"ports":[{"port":80,"targetPort":80}]}}' >/dev/null || return 1
  api POST /api/v1/namespaces/$NS/endpoints '{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"ext"},
    "subsets":[{"addresses":[{"ip":"10.244.2.3"},{"ip":"10.244.3.4"},{"ip":"10.244.1.6"},{"ip":"10.244.2.7"}],"ports":[{"port":80}]}]}' >/dev/null || return 1
  api POST /apis/discovery.k8s.io/v1/namespaces/$NS/endpointslices '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",
    "metadata":{"name":"ext-1","labels":{"kubernetes.io/service-name":"ext"}},"addressType":"IPv4",
    "endpoints":[{"addresses":["10.244.2.3"],"conditions":{"ready":true},"nodeName":"node-b"},
                 {"addresses":["10.244.3.4"],"conditions":{"ready":true},"nodeName":"node-c"},
                 {"addresses":["10.244.1.6"],"conditions":{"ready":true},"nodeName":"node-a"},
                 {"addresses":["10.244.2.7"],"conditions":{"ready":true},"nodeName":"node-b"}],
    "ports":[{"port":80,"protocol":"TCP"}]}' >/dev/null || return 1
  api POST /apis/minik8s.io/v1/namespaces/$NS/dnses '{"apiVersion":"minik8s.io/v1","kind":"DNS","metadata":{"name":"routes"},
    "spec":{"host":"example.com","paths":[{"path":"/a","serviceName":"svc-a","servicePort":80},
    {"path":"/b","serviceName":"svc-b","servicePort":8080}]}}' >/dev/null || return 1
}
check "objects created through the API" setup

EXT_EPS='10\.244\.2\.3:80,10\.244\.3\.4:80,10\.244\.1\.6:80 \+ 1 more\.\.\.'
# One client's checks; node-c is deleted by the last one.
run_checks() {  # run_checks LABEL COMMAND...
  local c=$1; shift
  local K=("$@")
  expect_out "$c get nodes header" "^NAME +STATUS +ROLES +AGE +VERSION$" "${K[@]}" get nodes
  expect_out "$c get nodes -o wide header" \
    "^NAME +STATUS +ROLES +AGE +VERSION +INTERNAL-IP +EXTERNAL-IP +OS-IMAGE +KERNEL-VERSION +CONTAINER-RUNTIME$" \
    "${K[@]}" get nodes -o wide
  expect_out "$c get nodes -o wide row" \
    "^node-a +Ready +control-plane +[0-9smhd]+ +v1\.32\.0-minik8s +10\.99\.0\.11 +<none> +Debian GNU/Linux 12 \(bookworm\) +6\.1\.0-test +containerd://1\.6\.20$" \
    "${K[@]}" get nodes -o wide
  expect_out "$c NotReady node" "^node-b +NotReady +<none> " "${K[@]}" get nodes
  expect_out "$c node without conditions is Unknown" "^node-c +Unknown +<none> " "${K[@]}" get nodes
  local d
  d=$("${K[@]}" describe node node-a 2>&1)
  local want
  for want in "^Name: +node-a$" "^Roles: +control-plane$" "^Unschedulable: +false$" "^Conditions:" \
              "^  Ready +True " "^Addresses:" "^  InternalIP: +10\.99\.0\.11$" "^Capacity:" "^  cpu: +4$" \
              "^Allocatable:" "^  memory: +8Gi$" "^PodCIDR: +10\.244\.1\.0/24$" "^PodCIDRs: +10\.244\.1\.0/24$" \
              "^Non-terminated Pods: +\(1 in total\)" "^  $NS +web-1 +250m \(6%\) +500m \(12%\) +64Mi \(0%\) +128Mi \(1%\) " \
              "^Allocated resources:" "^  cpu +250m \(6%\) +500m \(12%\)$" "^Events:"; do
    expect_out "$c describe node: /$want/" "$want" echo "$d"
  done
  check "$c describe node leaves out the Succeeded pod" bash -c "! grep -q done-1 <<<\"\$1\"" _ "$d"
  if [ "$c" = mkctl ]; then  # mkctl has no cordon verb: the same strategic merge patch
    expect_out "$c cordon (patch)" "patched" "${K[@]}" patch node node-a -p '{"spec":{"unschedulable":true}}'
  else
    expect_out "$c cordon" "node/node-a cordoned" "${K[@]}" cordon node-a
  fi
  expect_out "$c cordoned STATUS" "^node-a +Ready,SchedulingDisabled +control-plane " "${K[@]}" get nodes
  expect_out "$c describe cordoned node" "^Unschedulable: +true$" "${K[@]}" describe node node-a
  if [ "$c" = mkctl ]; then
    expect_out "$c uncordon (patch)" "patched" "${K[@]}" patch node node-a -p '{"spec":{"unschedulable":null}}'
  else
    expect_out "$c uncordon" "node/node-a uncordoned" "${K[@]}" uncordon node-a
  fi
  expect_out "$c uncordoned STATUS" "^node-a +Ready +control-plane " "${K[@]}" get nodes

  expect_out "$c get svc -o wide header" "^NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +AGE +SELECTOR$" \
    "${K[@]}" get svc -n $NS -o wide
  expect_out "$c get svc -o wide row" "^web +NodePort +10\.[0-9.]+ +<none> +80:3[0-9]{4}/TCP +[0-9smhd]+ +app=web$" \
    "${K[@]}" get svc -n $NS -o wide
  expect_out "$c get svc without selector" "^ext +ClusterIP +10\.[0-9.]+ +<none> +80/TCP +[0-9smhd]+ +<none>$" \
    "${K[@]}" get svc -n $NS -o wide
  d=$("${K[@]}" describe svc web -n $NS 2>&1)
  for want in "^Name: +web$" "^Namespace: +$NS$" "^Labels: +app=web$" "^Selector: +app=web$" "^Type: +NodePort$" \
              "^IP: +10\.[0-9.]+$" "^IPs: +10\.[0-9.]+$" "^Port: +http +80/TCP$" "^TargetPort: +8080/TCP$" \
              "^NodePort: +http +3[0-9]{4}/TCP$" "^Endpoints:" "^Session Affinity: +None$" "^Events:"; do
    expect_out "$c describe svc web: /$want/" "$want" echo "$d"
  done
  expect_out "$c describe svc shows the endpoints" "^Endpoints: +$EXT_EPS$" "${K[@]}" describe svc ext -n $NS
  expect_out "$c get endpoints" "^ext +$EXT_EPS +[0-9smhd]+$" "${K[@]}" get endpoints -n $NS
  expect_out "$c get endpointslices header" "^NAME +ADDRESSTYPE +PORTS +ENDPOINTS +AGE$" \
    "${K[@]}" get endpointslices -n $NS
  expect_out "$c get endpointslices row" \
    "^ext-1 +IPv4 +80 +10\.244\.2\.3,10\.244\.3\.4,10\.244\.1\.6 \+ 1 more\.\.\. +[0-9smhd]+$" \
    "${K[@]}" get endpointslices -n $NS
  expect_out "$c get endpointslices -l" "^ext-1 " "${K[@]}" get endpointslices -n $NS -l kubernetes.io/service-name=ext
  expect_out "$c get dns header" "^NAME +HOST +PATHS +AGE$" "${K[@]}" get dns -n $NS
  expect_out "$c get dns HOST/PATHS" "^routes +example\.com +/a→svc-a:80,/b→svc-b:8080 +[0-9smhd]+$" \
    "${K[@]}" get dns -n $NS
}

for client in "${clients[@]}"; do
  K=$(command -v "$client" || echo "$SDK/$client")
  if [ ! -x "$K" ]; then echo "[FAIL] $client: not found"; E2E_FAILED=$((E2E_FAILED + 1)); continue; fi
  ver=${client#kubectl}; ver=${ver#.}; ver=${ver:-default}
  echo "== $client ($K)"
  run_checks "$client" "$K" --cache-dir "$E2E_DIR/cache-$ver"
done

MK=$BIN/mkctl
[ -x "$MK" ] || MK="$BIN/minik8s ctl"
echo "== mkctl ($MK)"
# shellcheck disable=SC2086
run_checks mkctl $MK

K=(kubectl --cache-dir "$E2E_DIR/cache-delete")
expect_out "delete node" 'node "node-c" deleted' "${K[@]}" delete node node-c
expect_fail "deleted node is gone" 'NotFound' "${K[@]}" get node node-c
expect_out "other nodes remain" "^node-b " "${K[@]}" get nodes

e2e_finish
