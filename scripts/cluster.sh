#!/usr/bin/env bash
# scripts/cluster.sh — an N-node minik8s cluster on one machine (docs/multi-node.md).
#
#   scripts/cluster.sh up [N]            N nodes (default 3); node 1 = control plane + worker
#   scripts/cluster.sh add               one more worker node on the running cluster
#   scripts/cluster.sh remove            takes the last node out again
#   scripts/cluster.sh status            nodes, processes, addresses
#   scripts/cluster.sh exec NODE -- CMD  run CMD in a node's network namespace
#                                        (NODE: node-2 | 2 | mkc-node2 | outside)
#   scripts/cluster.sh routes            root-namespace routes to every node's pod CIDR
#   scripts/cluster.sh env               prints `export KUBECONFIG=…`
#   scripts/cluster.sh down              removes everything up/add created (idempotent)
# Fault drills (docs/fault-tolerance.md):
#   scripts/cluster.sh restart-server    kill -9 the server, start it again (same flags, same store)
#   scripts/cluster.sh restart-agent NODE  kill -9 a node's agent only, start it again
#   scripts/cluster.sh stop-node NODE [--keep-containers]
#                                        the node crashes: agent, containerd, shims and pod
#                                        processes SIGKILLed, its link to the bridge down
#                                        (--keep-containers: only the agent dies, the rest
#                                        keeps running unreachable); not node 1
#   scripts/cluster.sh start-node NODE   link up, agent started again, waits for Ready
# High availability (docs/ha.md):
#   scripts/cluster.sh up [N] --ha       a 3-member etcd cluster and 3 servers (--storage etcd,
#                                        leader election), one of each in nodes 1-3 (N >= 3)
#   scripts/cluster.sh kill-server I     kill -9 server I (1-3)     start-server I: start it again
#   scripts/cluster.sh kill-etcd I       kill -9 etcd member I      start-etcd I: start it again
#   (status shows the etcd members, the servers and who leads)
#
# Nodes are network namespaces <P>-node<i> joined by the bridge <P>-br in the
# root namespace (node i = <subnet>.(10+i)/24, the bridge = <subnet>.1);
# <P>-outside (<subnet>.250) stands for a machine outside the cluster. The
# server runs in node 1 (http://<subnet>.11:6443); every node runs
# `minik8s agent` with its own containerd. Processes are started with
# `nsenter --net` (network namespace only: `ip netns exec` remounts /sys and
# hides the cgroup hierarchy from containerd).
#
# Environment: MK_CLUSTER_PREFIX (default mkc), MK_CLUSTER_SUBNET (a /24,
# default 10.99.0.0/24), MK_CLUSTER_DIR (default <repo>/.cluster),
# MK_CLUSTER_POD_CIDR (the pods' /16, default 10.244.0.0/16: two clusters
# up at once need different ones, as root-namespace routes go to it),
# MK_CLUSTER_BACKEND (auto|host-gw|vxlan, default auto), MK_SCHEDULER_POLICY
# (least-allocated|round-robin|random), MK_CLUSTER_NAT=1 (masquerade the node
# subnet in the root namespace so nodes reach the host's upstream DNS),
# BUILD_DIR / BIN (binaries), MINIK8S_IMAGE_CACHE (offline images),
# MK_SERVER_ARGS (extra `minik8s server` flags, word-split; recorded, so
# restart-server reuses them; with --ha every server gets them).
#
# --ha: node i (1-3) also runs etcd member <P>-etcd<i> (http://<node i>:2379,
# peers on :2380, data <dir>/etcd<i>) and server i (https://<node i>:6443,
# data <dir>/server for server 1, <dir>/server<i> for the others), all three
# with --storage etcd --etcd-servers (member i first: each server talks to its
# own node's member and fails over to the others). Server 1 makes the cluster
# CA; servers 2 and 3 get --ca-cert/--ca-key and the ServiceAccount signing
# key of server 1 and make their own serving certificates. The agents get the
# three URLs (server: URL1,URL2,URL3). <dir>/kubeconfig names server 1 (for
# kubectl, which takes one URL); <dir>/kubeconfig-ha names all three (mkctl
# and the client library fail over between them).
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BIN=${BIN:-$BUILD_DIR/bin}
P=${MK_CLUSTER_PREFIX:-mkc}
SUBNET=${MK_CLUSTER_SUBNET:-10.99.0.0/24}
DIR=${MK_CLUSTER_DIR:-$ROOT/.cluster}
BACKEND=${MK_CLUSTER_BACKEND:-auto}
POD_CIDR=${MK_CLUSTER_POD_CIDR:-10.244.0.0/16}
export MINIK8S_IMAGE_CACHE=${MINIK8S_IMAGE_CACHE:-/var/tmp/minik8s-image-cache}
BASE=${SUBNET%.*}          # 10.99.0
BR=$P-br
OUTSIDE=$P-outside
STATE=$DIR/state
KCFG=$DIR/kubeconfig

die() { echo "cluster.sh: $*" >&2; exit 1; }
log() { echo "cluster.sh: $*"; }

[[ "$P" =~ ^[a-z][a-z0-9]{1,8}$ ]] || die "MK_CLUSTER_PREFIX must be 2-9 lower-case letters/digits (got '$P')"
[[ "$SUBNET" =~ ^([0-9]+\.){3}0/24$ ]] || die "MK_CLUSTER_SUBNET must be an a.b.c.0/24 network (got '$SUBNET')"
[[ "$POD_CIDR" =~ ^([0-9]+\.){2}0\.0/16$ ]] || die "MK_CLUSTER_POD_CIDR must be an a.b.0.0/16 network (got '$POD_CIDR')"

# Node i: netns <P>-node<i>, node name node-<i> (default prefix) or <P>-node<i>
# (other prefixes, so clusters of different prefixes never share a node
# name — the kubelet's cgroups are /minik8s/<node name>).
node_ns() { echo "$P-node$1"; }
node_name() { if [ "$P" = mkc ]; then echo "node-$1"; else echo "$P-node$1"; fi; }
node_ip() { echo "$BASE.$((10 + $1))"; }
server_url() { echo "https://$(node_ip 1):6443"; }
# The cluster CA the server made (docs/auth.md "TLS"): curl verifies with it.
server_ca() { echo "$DIR/server/pki/ca.crt"; }
# The function gateway (minik8s server's default: the API's host, port 31080).
gateway_url() { echo "http://$(node_ip 1):31080"; }
# --ha (docs/ha.md): etcd member i and server i run in node i (i = 1..3).
HA_N=3
etcd_client_url() { echo "http://$(node_ip "$1"):2379"; }
etcd_peer_url() { echo "http://$(node_ip "$1"):2380"; }
etcd_all_client_urls() { local i u=(); for i in $(seq 1 $HA_N); do u+=("$(etcd_client_url "$i")"); done; (IFS=,; echo "${u[*]}"); }
# Server i's --etcd-servers: its own node's member first, then the others.
etcd_urls_for() {
  local i=$1 j u=("$(etcd_client_url "$1")")
  for j in $(seq 1 $HA_N); do [ "$j" = "$i" ] || u+=("$(etcd_client_url "$j")"); done
  (IFS=,; echo "${u[*]}")
}
ha_server_url() { echo "https://$(node_ip "$1"):6443"; }
ha_server_urls() { local i u=(); for i in $(seq 1 $HA_N); do u+=("$(ha_server_url "$i")"); done; (IFS=,; echo "${u[*]}"); }
server_dir() { if [ "$1" = 1 ]; then echo "$DIR/server"; else echo "$DIR/server$1"; fi; }
# What the agents are given: the server, or with --ha all three (they fail over).
agent_servers() { if [ "$(state_get ha)" = 1 ]; then ha_server_urls; else server_url; fi; }
# curl as the cluster admin (the certificate server 1 made), verifying the server.
admin_curl() {
  curl -fsS --cacert "$(server_ca)" --cert "$DIR/server/pki/admin.crt" --key "$DIR/server/pki/admin.key" "$@"
}

state_add() { echo "$1" >>"$STATE"; }
state_get() { [ -f "$STATE" ] && sed -n "s/^$1=//p" "$STATE" | tail -n1; }
node_count() { local n; n=$(state_get nodes); echo "${n:-0}"; }
# A running cluster keeps the pod CIDR it was brought up with.
[ -z "${MK_CLUSTER_POD_CIDR:-}" ] && [ -n "$(state_get pod_cidr)" ] && POD_CIDR=$(state_get pod_cidr)

# kubectl takes one URL: with --ha, the first server that runs.
kctl() {
  if [ "$(state_get ha)" = 1 ]; then
    local i
    for i in 1 2 3; do
      kill -0 "$(state_get "server$i")" 2>/dev/null || continue
      KUBECONFIG=$KCFG kubectl --server "$(ha_server_url "$i")" "$@"
      return
    done
  fi
  KUBECONFIG=$KCFG kubectl "$@"
}

ensure_binaries() {
  if [ -x "$BIN/minik8s" ] && [ -x "$BIN/mkctl" ]; then return 0; fi
  log "building minik8s and mkctl in $BUILD_DIR"
  [ -f "$BUILD_DIR/build.ninja" ] || cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja >/dev/null || die "cmake configure failed"
  cmake --build "$BUILD_DIR" -j2 --target minik8s mkctl || die "build failed"
  [ -x "$BIN/minik8s" ] || die "no $BIN/minik8s after the build (set BIN or BUILD_DIR)"
}

# start_in NS PIDFILE LOG CMD...: runs CMD detached (own session) in NS's
# network namespace; the PID written is the PID of CMD itself.
start_in() {
  local ns=$1 pidfile=$2 logf=$3; shift 3
  setsid nsenter --net="/run/netns/$ns" -- sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$logf" 2>&1 &
  local deadline=$((SECONDS + 5))
  until [ -s "$pidfile" ]; do
    [ $SECONDS -ge $deadline ] && die "could not start $1 in $ns (see $logf)"
    sleep 0.05
  done
}

# make_netns NS VETH IP: a namespace with eth0 on the bridge, lo up, a default route.
make_netns() {
  local ns=$1 veth=$2 ip=$3
  ip netns add "$ns" || die "ip netns add $ns failed"
  state_add "netns=$ns"
  ip link add "$veth" type veth peer name "$veth-p" || die "veth $veth failed"
  state_add "link=$veth"
  ip link set "$veth-p" netns "$ns"
  ip -n "$ns" link set "$veth-p" name eth0
  ip link set "$veth" master "$BR" up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$BASE.1"
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$ns" sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  # `ip netns exec NS` bind-mounts /etc/netns/NS/hosts over /etc/hosts: each
  # node gets its own hosts file (the ingress keeps its block there).
  mkdir -p "/etc/netns/$ns"
  state_add "etcnetns=$ns"
  cp /etc/hosts "/etc/netns/$ns/hosts"
}

write_node_yaml() {
  local i=$1 roles=$2 f=$DIR/node$1.yaml
  # The node's own credential (CN system:node:<name>, O system:nodes) from
  # the cluster CA: the Node authorizer and system:node govern the agent.
  mkdir -p "$DIR/node$i"
  "$BIN/minik8s" kubeconfig node "$(node_name "$i")" --data-dir "$DIR/server" \
    --server "$(server_url)" -o "$DIR/node$i/kubelet.conf" >/dev/null ||
    die "minik8s kubeconfig node $(node_name "$i") failed"
  cat >"$f" <<EOF
# minik8s agent config for node $i of the cluster.sh cluster (docs/multi-node.md).
server: $(agent_servers)
# The node's credential and the cluster CA (docs/auth.md "Node credentials").
kubeconfig: $DIR/node$i/kubelet.conf
nodeName: $(node_name "$i")
nodeIP: $(node_ip "$i")
roles: [$roles]
labels:
  minik8s.io/cluster: $P
dataDir: $DIR/node$i
containerRuntimeEndpoint: managed
netns: $(node_ns "$i")
listen: ":10250"
leaseRenewIntervalSeconds: 2
statusUpdateIntervalSeconds: 10
EOF
  # Pod network, Services, DNS, ingress.
  cat >>"$f" <<EOF
clusterCIDR: $POD_CIDR
networkBackend: $BACKEND
clusterDomain: cluster.local
dnsUpstream: [$(sed -n 's/^nameserver[ \t]\+\([0-9.]\+\).*/\1/p' /etc/resolv.conf | grep -v '^127\.' | head -n3 | paste -sd, -)]
proxyBalance: random
chainPrefix: MK
ingressPort: 80
hostsFile: /etc/netns/$(node_ns "$i")/hosts
EOF
  echo "$f"
}

start_node() {  # start_node I ROLES: netns (unless it exists) + node YAML + agent
  local i=$1 roles=$2 ns; ns=$(node_ns "$i")
  [ -e "/run/netns/$ns" ] || make_netns "$ns" "$P-n$i" "$(node_ip "$i")"
  local yaml; yaml=$(write_node_yaml "$i" "$roles") || exit 1
  mkdir -p "$DIR/node$i"
  state_add "nodedir=$DIR/node$i"
  state_add "node$i=$(node_name "$i")"
  save_cmd "$DIR/agent$i.cmd" "$BIN/minik8s" agent --config "$yaml" --image-cache "$MINIK8S_IMAGE_CACHE"
  start_agent "$i"
  log "node $i: netns $ns, IP $(node_ip "$i"), agent pid $(cat "$DIR/agent$i.pid") (log $DIR/agent$i.log)"
}

# save_cmd FILE CMD...: records a command line (NUL-separated) so a drill
# restarts the process exactly as up started it.
save_cmd() { local f=$1; shift; printf '%s\0' "$@" >"$f"; }
load_cmd() { mapfile -d '' -t CMD <"$1"; }  # → array CMD

start_agent() {  # start_agent I: the agent of node I from its recorded command line
  local i=$1 CMD
  [ -f "$DIR/agent$i.cmd" ] || die "no recorded command line for node $i ($DIR/agent$i.cmd)"
  load_cmd "$DIR/agent$i.cmd"
  rm -f "$DIR/agent$i.pid"
  start_in "$(node_ns "$i")" "$DIR/agent$i.pid" "$DIR/agent$i.log" "${CMD[@]}"
  state_add "agent$i=$(cat "$DIR/agent$i.pid")"
}

wait_ready() {  # wait_ready NAME... : every named node Ready
  local deadline=$((SECONDS + ${MK_CLUSTER_TIMEOUT:-240})) n ok
  while :; do
    ok=1
    for n in "$@"; do
      kctl get node "$n" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True || { ok=0; break; }
    done
    [ $ok = 1 ] && return 0
    local i
    for i in $(seq 1 "$(node_count)"); do
      local pid; pid=$(state_get "agent$i")
      [ "$(state_get "stopped$i")" = 1 ] && continue
      if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
        echo "cluster.sh: the agent of node $i exited; last lines of $DIR/agent$i.log:" >&2
        tail -n 30 "$DIR/agent$i.log" >&2; return 1
      fi
    done
    if [ $SECONDS -ge $deadline ]; then
      echo "cluster.sh: nodes not Ready in time:" >&2; kctl get nodes -o wide >&2; return 1
    fi
    sleep 0.3
  done
}

# Root-namespace routes to each node's pod CIDR (spec.podCIDR) via its node
# IP, so the host (and kubectl's port-forward-less checks) reaches pods.
# The routes use the bridge, so deleting the bridge removes them.
cmd_routes() {
  local wait=${1:-0} deadline n i cidr missing
  deadline=$((SECONDS + wait))
  while :; do
    missing=0
    for i in $(seq 1 "$(node_count)"); do
      n=$(state_get "node$i"); [ -n "$n" ] || continue
      cidr=$(kctl get node "$n" -o jsonpath='{.spec.podCIDR}' 2>/dev/null)
      if [ -z "$cidr" ]; then missing=1; continue; fi
      ip route replace "$cidr" via "$(node_ip "$i")" dev "$BR" && [ "$wait" = 0 ] && log "route $cidr via $(node_ip "$i")"
    done
    [ $missing = 0 ] && return 0
    if [ $SECONDS -ge $deadline ]; then
      log "note: some nodes have no spec.podCIDR yet (node IPAM controller not running?); run 'cluster.sh routes' later"
      return 0
    fi
    sleep 0.3
  done
}

# The offline images, built once into the shared cache so that the agents only
# import them (an agent builds what is missing itself, but N agents would wait
# on one another's build lock). The first python-runtime build runs mmdebstrap
# (~40 s, needs the Debian mirror); without it the cluster runs, but not
# Functions. The python-ml-runtime image (runtime python3-ml) is built here
# too (first time ~2-3 min) and imported by a node when a pod first needs it.
build_images() {
  log "building the offline images into $MINIK8S_IMAGE_CACHE (cached after the first time)"
  "$BIN/minik8s" image build pause busybox --cache-dir "$MINIK8S_IMAGE_CACHE" >/dev/null ||
    die "building the pause and busybox images failed"
  "$BIN/minik8s" image build python-runtime --cache-dir "$MINIK8S_IMAGE_CACHE" >/dev/null ||
    log "warning: the python-runtime image did not build: Functions will not start on this cluster"
  "$BIN/minik8s" image build python-ml-runtime --cache-dir "$MINIK8S_IMAGE_CACHE" >/dev/null ||
    log "warning: the python-ml-runtime image did not build: python3-ml Functions will not start on this cluster"
}

cmd_up() {
  local n=3 ha=0 a
  for a in "$@"; do
    case "$a" in
      --ha) ha=1 ;;
      *) n=$a ;;
    esac
  done
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "up: N must be 1..200"
  [ $ha = 1 ] && [ "$n" -lt 3 ] && die "up --ha: N must be at least 3 (nodes 1-3 run etcd and a server each)"
  if [ $ha = 1 ]; then
    command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
      die "up --ha needs etcd and etcdctl (Debian: etcd-server, etcd-client; scripts/deps.sh)"
  fi
  if [ -f "$STATE" ] || ip netns list | grep -q "^$P-"; then
    die "a cluster with prefix '$P' already exists ($DIR, netns $P-*); run 'scripts/cluster.sh down' first"
  fi
  ip link show "$BR" >/dev/null 2>&1 && die "link $BR already exists; run 'scripts/cluster.sh down' first"
  ensure_binaries
  command -v kubectl >/dev/null || die "kubectl is not on PATH"
  build_images
  mkdir -p "$DIR"
  : >"$STATE"
  state_add "prefix=$P"
  state_add "subnet=$SUBNET"
  state_add "pod_cidr=$POD_CIDR"
  state_add "nodes=0"
  state_add "ha=$ha"
  # Any failure from here on (die exits): remove what was created.
  UP_DONE=0
  trap '[ "$UP_DONE" = 1 ] || { echo "cluster.sh: up failed; removing what was created" >&2; cmd_down >&2; }' EXIT

  ip link add "$BR" type bridge || die "cannot create bridge $BR"
  state_add "link=$BR"
  ip addr add "$BASE.1/24" dev "$BR"
  ip link set "$BR" up
  # br_netfilter sends bridged frames through iptables FORWARD; with a DROP
  # policy, accept our bridge's traffic in our own chain.
  if ! iptables -S FORWARD 2>/dev/null | head -n1 | grep -q -- '-P FORWARD ACCEPT'; then
    iptables -N "$P-FWD" && state_add "chain=filter/$P-FWD"
    iptables -A "$P-FWD" -i "$BR" -j ACCEPT
    iptables -A "$P-FWD" -o "$BR" -j ACCEPT
    iptables -I FORWARD -j "$P-FWD"
  fi
  if [ "${MK_CLUSTER_NAT:-0}" = 1 ]; then
    iptables -t nat -N "$P-NAT" && state_add "chain=nat/$P-NAT"
    iptables -t nat -A "$P-NAT" -s "$SUBNET" ! -o "$BR" -j MASQUERADE
    iptables -t nat -A POSTROUTING -j "$P-NAT"
  fi

  make_netns "$OUTSIDE" "$P-out" "$BASE.250"

  # The server on node 1.
  mkdir -p "$DIR/server"
  local extra=()
  [ -n "${MK_SCHEDULER_POLICY:-}" ] && extra+=(--scheduler-policy "$MK_SCHEDULER_POLICY")
  # The node IPAM controller's range. (It was added only when `server
  # --help | grep -q` found the flag: under pipefail, grep quitting early made
  # the help text's writer die of SIGPIPE now and then, and the server fell
  # back to 10.244.0.0/16 while the agents used $POD_CIDR.)
  extra+=(--cluster-cidr "$POD_CIDR")
  # Extra server flags (e.g. short node-failure or HPA periods), word-split.
  local sa=()
  read -r -a sa <<<"${MK_SERVER_ARGS:-}"
  extra+=("${sa[@]}")
  if [ $ha = 1 ]; then up_ha_control_plane "${extra[@]}"; else up_control_plane "${extra[@]}"; fi

  # Node 1 (its namespace exists already), then the workers.
  local i names=()
  for i in $(seq 1 "$n"); do
    # (--ha: nodes 1-3 each run an etcd member and a server)
    if [ "$i" = 1 ] || { [ $ha = 1 ] && [ "$i" -le $HA_N ]; }; then
      start_node "$i" "control-plane, worker"
    else
      start_node "$i" worker
    fi
    state_add "nodes=$i"
    names+=("$(node_name "$i")")
  done
  wait_ready "${names[@]}" || die "the cluster did not become ready"
  cmd_routes 20
  UP_DONE=1
  kctl get nodes -o wide
  log "ready: export KUBECONFIG=$KCFG"
  [ $ha = 1 ] && log "HA: mkctl --kubeconfig $DIR/kubeconfig-ha (all three servers); 'cluster.sh status' shows who leads"
  return 0
}

# up_control_plane EXTRA-FLAGS...: the server in node 1 (sqlite), its kubeconfig.
up_control_plane() {
  # node 1's namespace first: the server listens on node 1's IP.
  local ns1; ns1=$(node_ns 1)
  make_netns "$ns1" "$P-n1" "$(node_ip 1)"
  state_add "nodes=1"
  save_cmd "$DIR/server.cmd" "$BIN/minik8s" server --data-dir "$DIR/server" --listen "$(node_ip 1):6443" "$@"
  state_add "serverargs=${MK_SERVER_ARGS:-}"
  start_server
  wait_server 30 || die "the server did not become ready"
  # The server may answer /readyz a moment before it writes its kubeconfig.
  local kdl=$((SECONDS + 10))
  until [ -s "$DIR/server/kubeconfig" ]; do
    [ $SECONDS -ge $kdl ] && die "the server wrote no $DIR/server/kubeconfig"
    sleep 0.05
  done
  sed "s#server: .*#server: $(server_url)#" "$DIR/server/kubeconfig" >"$KCFG"
  log "server pid $(state_get server) at $(server_url); kubeconfig $KCFG; functions at $(gateway_url)/functions/<namespace>/<name>"
}

start_server() {  # the server in node 1 from its recorded command line
  local CMD
  load_cmd "$DIR/server.cmd"
  rm -f "$DIR/server.pid"
  start_in "$(node_ns 1)" "$DIR/server.pid" "$DIR/server.log" "${CMD[@]}"
  state_add "server=$(cat "$DIR/server.pid")"
}

wait_server() {  # wait_server SECONDS: /readyz answers (fails if the server exits)
  local deadline=$((SECONDS + $1))
  until curl -fsS --max-time 1 --cacert "$(server_ca)" "$(server_url)/readyz" >/dev/null 2>&1; do
    kill -0 "$(state_get server)" 2>/dev/null || { tail -n 30 "$DIR/server.log" >&2; echo "cluster.sh: the server exited" >&2; return 1; }
    [ $SECONDS -ge $deadline ] && { echo "cluster.sh: the server is not ready after $1 s (see $DIR/server.log)" >&2; return 1; }
    sleep 0.05
  done
}

# ---- high availability (--ha; docs/ha.md) ----

# start_etcd I: etcd member I in node I's namespace from its recorded command line.
start_etcd() {
  local i=$1 CMD
  load_cmd "$DIR/etcd$i.cmd"
  rm -f "$DIR/etcd$i.pid"
  start_in "$(node_ns "$i")" "$DIR/etcd$i.pid" "$DIR/etcd$i.log" "${CMD[@]}"
  state_add "etcd$i=$(cat "$DIR/etcd$i.pid")"
}

# wait_etcd SECONDS I...: each member answers etcdctl endpoint health (fails if one exits).
wait_etcd() {
  local deadline=$((SECONDS + $1)) i ok; shift
  while :; do
    ok=1
    for i in "$@"; do
      etcdctl --endpoints "$(etcd_client_url "$i")" --dial-timeout 1s --command-timeout 2s endpoint health \
        >/dev/null 2>&1 || { ok=0; break; }
    done
    [ $ok = 1 ] && return 0
    for i in "$@"; do
      kill -0 "$(state_get "etcd$i")" 2>/dev/null && continue
      echo "cluster.sh: etcd member $i exited; last lines of $DIR/etcd$i.log:" >&2
      tail -n 20 "$DIR/etcd$i.log" >&2; return 1
    done
    [ $SECONDS -ge $deadline ] && { echo "cluster.sh: etcd member(s) $* not healthy after the deadline (see $DIR/etcd*.log)" >&2; return 1; }
    sleep 0.1
  done
}

# start_ha_server I: server I in node I's namespace from its recorded command line.
start_ha_server() {
  local i=$1 CMD
  load_cmd "$DIR/server$i.cmd"
  rm -f "$DIR/server$i.pid"
  start_in "$(node_ns "$i")" "$DIR/server$i.pid" "$DIR/server$i.log" "${CMD[@]}"
  state_add "server$i=$(cat "$DIR/server$i.pid")"
}

# wait_ha_server SECONDS I: server I answers /readyz (fails if it exits).
wait_ha_server() {
  local deadline=$((SECONDS + $1)) i=$2
  until admin_curl --max-time 1 "$(ha_server_url "$i")/readyz" >/dev/null 2>&1; do
    if ! kill -0 "$(state_get "server$i")" 2>/dev/null; then
      tail -n 30 "$DIR/server$i.log" >&2; echo "cluster.sh: server $i exited" >&2; return 1
    fi
    [ $SECONDS -ge $deadline ] && { echo "cluster.sh: server $i is not ready after $1 s (see $DIR/server$i.log)" >&2; return 1; }
    sleep 0.05
  done
}

# server_leads I: server I's /metrics says it holds the leader Lease.
server_leads() {
  admin_curl --max-time 2 "$(ha_server_url "$1")/metrics" 2>/dev/null |
    grep '^leader_election_master_status{name="minik8s-leader"} 1$' >/dev/null  # (not -q: pipefail + an early exit fails curl)
}

# up_ha_control_plane EXTRA-FLAGS...: nodes 1-3's namespaces, a 3-member etcd
# cluster in them, server 1 (it makes the cluster CA), then servers 2 and 3
# with that CA and ServiceAccount key; the kubeconfigs.
up_ha_control_plane() {
  local i peers=()
  for i in $(seq 1 $HA_N); do
    make_netns "$(node_ns "$i")" "$P-n$i" "$(node_ip "$i")"
    peers+=("$P-etcd$i=$(etcd_peer_url "$i")")
  done
  state_add "nodes=1"
  local cluster; cluster=$(IFS=,; echo "${peers[*]}")
  for i in $(seq 1 $HA_N); do
    save_cmd "$DIR/etcd$i.cmd" etcd --name "$P-etcd$i" --data-dir "$DIR/etcd$i" \
      --listen-client-urls "$(etcd_client_url "$i")" --advertise-client-urls "$(etcd_client_url "$i")" \
      --listen-peer-urls "$(etcd_peer_url "$i")" --initial-advertise-peer-urls "$(etcd_peer_url "$i")" \
      --initial-cluster "$cluster" --initial-cluster-token "$P-etcd" --initial-cluster-state new \
      --logger zap --log-outputs stderr
    start_etcd "$i"
  done
  wait_etcd 60 $(seq 1 $HA_N) || die "the etcd cluster did not become healthy"
  log "etcd: 3 members at $(etcd_all_client_urls) (pids $(state_get etcd1) $(state_get etcd2) $(state_get etcd3))"
  state_add "serverargs=${MK_SERVER_ARGS:-}"
  local shared=()
  for i in $(seq 1 $HA_N); do
    save_cmd "$DIR/server$i.cmd" "$BIN/minik8s" server --data-dir "$(server_dir "$i")" \
      --listen "$(node_ip "$i"):6443" --storage etcd --etcd-servers "$(etcd_urls_for "$i")" --leader-elect \
      "${shared[@]}" "$@"
    if [ "$i" = 1 ]; then
      # Server 1 first: it makes the cluster CA, the admin certificate and the
      # ServiceAccount signing key the others share.
      start_ha_server 1
      wait_ha_server 60 1 || die "server 1 did not become ready"
      shared=(--ca-cert "$DIR/server/pki/ca.crt" --ca-key "$DIR/server/pki/ca.key"
        --service-account-signing-key-file "$DIR/server/pki/sa.key")
    fi
  done
  for i in $(seq 2 $HA_N); do start_ha_server "$i"; done
  for i in $(seq 2 $HA_N); do wait_ha_server 60 "$i" || die "server $i did not become ready"; done
  local kdl=$((SECONDS + 10))
  until [ -s "$DIR/server/kubeconfig" ]; do
    [ $SECONDS -ge $kdl ] && die "server 1 wrote no $DIR/server/kubeconfig"
    sleep 0.05
  done
  sed "s#server: .*#server: $(ha_server_url 1)#" "$DIR/server/kubeconfig" >"$KCFG"
  sed "s#server: .*#server: $(ha_server_urls)#" "$DIR/server/kubeconfig" >"$DIR/kubeconfig-ha"
  local leader=""
  for i in $(seq 1 $HA_N); do server_leads "$i" && leader=$i; done
  log "servers at $(ha_server_urls) (pids $(state_get server1) $(state_get server2) $(state_get server3)); leader: ${leader:-none yet}"
  log "kubeconfig $KCFG (server 1, for kubectl), $DIR/kubeconfig-ha (all three, for mkctl); functions on the leader's IP, port 31080"
}

ha_index() {  # ha_index WHAT I: I in 1..3 on an --ha cluster, else die
  [ -f "$STATE" ] && [ "$(state_get ha)" = 1 ] || die "$1: no --ha cluster is up (scripts/cluster.sh up --ha)"
  [[ "${2:-}" =~ ^[1-3]$ ]] || die "usage: cluster.sh $1 1|2|3"
  echo "$2"
}

cmd_kill_server() {
  local i pid t; i=$(ha_index kill-server "${1:-}") || exit 1
  pid=$(state_get "server$i")
  kill -0 "$pid" 2>/dev/null || die "kill-server: server $i is not running"
  local was=""; server_leads "$i" && was=" (it was the leader)"
  t=$(now_ms)
  kill9 "$pid" || die "kill-server: could not kill server $i (pid $pid)"
  log "server $i pid $pid killed (SIGKILL) at $t ms$was"
}

cmd_start_server() {
  local i t0; i=$(ha_index start-server "${1:-}") || exit 1
  kill -0 "$(state_get "server$i")" 2>/dev/null && die "start-server: server $i is running"
  t0=$(now_ms)
  start_ha_server "$i"
  wait_ha_server 60 "$i" || die "start-server: server $i did not become ready"
  log "server $i pid $(state_get "server$i") ready after $(( $(now_ms) - t0 )) ms"
}

# kill_etcd PID I: SIGKILL etcd member I (only the process this harness started).
kill_etcd() {
  local pid=$1 i=$2
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--data-dir $DIR/etcd$i" || return 0
  kill -KILL "$pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
  return 1
}

cmd_kill_etcd() {
  local i pid; i=$(ha_index kill-etcd "${1:-}") || exit 1
  pid=$(state_get "etcd$i")
  kill -0 "$pid" 2>/dev/null || die "kill-etcd: etcd member $i is not running"
  kill_etcd "$pid" "$i" || die "kill-etcd: could not kill etcd member $i (pid $pid)"
  log "etcd member $i pid $pid killed (SIGKILL) at $(now_ms) ms"
}

cmd_start_etcd() {
  local i t0; i=$(ha_index start-etcd "${1:-}") || exit 1
  kill -0 "$(state_get "etcd$i")" 2>/dev/null && die "start-etcd: etcd member $i is running"
  t0=$(now_ms)
  start_etcd "$i"   # its data dir holds the membership: it rejoins
  wait_etcd 60 "$i" || die "start-etcd: member $i did not become healthy"
  log "etcd member $i pid $(state_get "etcd$i") healthy after $(( $(now_ms) - t0 )) ms"
}

cmd_status_ha() {
  local i pid alive st lead
  for i in $(seq 1 $HA_N); do
    pid=$(state_get "etcd$i"); alive=dead; kill -0 "${pid:-0}" 2>/dev/null && alive=running
    st=""
    if [ $alive = running ]; then
      # URL, ID, version, db size, is leader, is learner, raft term, raft index, ...
      st=$(etcdctl --endpoints "$(etcd_client_url "$i")" --dial-timeout 1s --command-timeout 2s endpoint status 2>/dev/null |
        awk -F', ' '{print ($5 == "true" ? "raft leader" : "raft follower") ", term " $7 ", index " $8}')
      [ -n "$st" ] || st="not answering"
    fi
    echo "etcd $i: $P-etcd$i pid ${pid:-?} ($alive) $(etcd_client_url "$i") in $(node_ns "$i")${st:+ — $st}"
  done
  for i in $(seq 1 $HA_N); do
    pid=$(state_get "server$i"); alive=dead; kill -0 "${pid:-0}" 2>/dev/null && alive=running
    lead=""
    if [ $alive = running ]; then
      if server_leads "$i"; then lead=" — LEADER (scheduler and controllers)"; else lead=" — follower"; fi
    fi
    echo "server $i: pid ${pid:-?} ($alive) $(ha_server_url "$i") in $(node_ns "$i"), data $(server_dir "$i")$lead"
  done
  echo "lease kube-system/minik8s-leader: holder $(kctl get lease -n kube-system minik8s-leader -o jsonpath='{.spec.holderIdentity}, {.spec.leaseTransitions} transitions' 2>&1)"
}

cmd_add() {
  [ -f "$STATE" ] && [ -f "$KCFG" ] || die "add: no cluster is up (run 'scripts/cluster.sh up' first)"
  ensure_binaries
  local i=$(( $(node_count) + 1 ))
  start_node "$i" worker
  state_add "nodes=$i"
  wait_ready "$(node_name "$i")" || die "node $i did not become Ready"
  cmd_routes 20
  kctl get node "$(node_name "$i")" -o wide
}

# remove: takes the last node out again (its agent, pods, containerd, data,
# namespace and Node object); node 1 cannot be removed this way.
cmd_remove() {
  [ -f "$STATE" ] || die "remove: no cluster is up"
  local i; i=$(node_count)
  [ "$i" -ge 2 ] || die "remove: only node 1 is left (use 'cluster.sh down')"
  [ "$(state_get ha)" = 1 ] && [ "$i" -le $HA_N ] && die "remove: nodes 1-$HA_N run etcd and the servers (use 'cluster.sh down')"
  local ns name; ns=$(node_ns "$i"); name=$(state_get "node$i")
  stop_pid "$(state_get "agent$i")"
  if [ -d "$DIR/node$i" ]; then
    nsenter --net="/run/netns/$ns" -- "$BIN/minik8s" down --data-dir "$DIR/node$i" >>"$DIR/down.log" 2>&1 ||
      echo "cluster.sh: minik8s down of node $i reported problems (see $DIR/down.log)" >&2
  fi
  kill_netns_procs "$ns"
  ip netns del "$ns" 2>/dev/null
  ip link del "$P-n$i" 2>/dev/null
  rm -rf "/etc/netns/$ns" "$DIR/node$i.yaml" "$DIR/agent$i.pid"
  kctl delete node "$name" --wait=false >/dev/null 2>&1
  state_add "nodes=$((i - 1))"
  log "removed node $i ($name)"
}

# resolve NODE → netns name: node-2 | 2 | <P>-node2 | <P>-node2's node name | outside
resolve_ns() {
  local a=$1 i
  case "$a" in
    outside | "$OUTSIDE") echo "$OUTSIDE"; return 0 ;;
    "$P"-node[0-9]*) echo "$a"; return 0 ;;
  esac
  [[ "$a" =~ ^[0-9]+$ ]] && { echo "$P-node$a"; return 0; }
  [[ "$a" =~ ^node-([0-9]+)$ ]] && { echo "$P-node${BASH_REMATCH[1]}"; return 0; }
  for i in $(seq 1 "$(node_count)"); do
    [ "$(state_get "node$i")" = "$a" ] && { echo "$P-node$i"; return 0; }
  done
  return 1
}

cmd_exec() {
  [ $# -ge 1 ] || die "usage: cluster.sh exec NODE -- CMD..."
  local ns; ns=$(resolve_ns "$1") || die "exec: unknown node '$1'"
  shift
  [ "${1:-}" = "--" ] && shift
  [ $# -ge 1 ] || die "usage: cluster.sh exec NODE -- CMD..."
  [ -e "/run/netns/$ns" ] || die "exec: network namespace $ns does not exist"
  # ip netns exec: gives the node's own /etc/hosts (/etc/netns/NS/hosts).
  exec ip netns exec "$ns" "$@"
}

# ---- fault drills (docs/fault-tolerance.md) ----

# node_index NODE → i (node-2 | 2 | <P>-node2 | a node name); dies on unknown.
node_index() {
  local ns; ns=$(resolve_ns "$1") || die "unknown node '$1'"
  [[ "$ns" =~ ^$P-node([0-9]+)$ ]] || die "'$1' is not a node"
  local i=${BASH_REMATCH[1]}
  [ "$i" -ge 1 ] && [ "$i" -le "$(node_count)" ] || die "no node $i in this cluster ($(node_count) nodes)"
  echo "$i"
}

now_ms() { date +%s%3N; }

# kill9 PID: SIGKILL a minik8s process this harness recorded, wait until gone.
kill9() {
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "minik8s" || return 0
  kill -KILL "$pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
  echo "cluster.sh: pid $pid survived SIGKILL" >&2
  return 1
}

# wait_node_back NAME SINCE_MS I: the node's Lease renewed after SINCE (epoch
# ms: the new agent talks to the server), then the Node Ready.
wait_node_back() {
  local name=$1 since=$2 i=$3 deadline=$((SECONDS + ${MK_CLUSTER_TIMEOUT:-120})) rt t
  while :; do
    rt=$(kctl get lease -n kube-node-lease "$name" -o jsonpath='{.spec.renewTime}' 2>/dev/null)
    t=0; [ -n "$rt" ] && t=$(date -d "$rt" +%s%3N 2>/dev/null || echo 0)
    if [ "$t" -gt "$since" ] &&
      kctl get node "$name" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null | grep -q True; then
      return 0
    fi
    if ! kill -0 "$(state_get "agent$i")" 2>/dev/null; then
      echo "cluster.sh: the agent of node $i exited; last lines of $DIR/agent$i.log:" >&2
      tail -n 30 "$DIR/agent$i.log" >&2; return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "cluster.sh: node $name not back (Lease renewed and Ready) in time (lease renewTime '$rt'):" >&2
      kctl get node "$name" -o wide >&2; return 1
    fi
    sleep 0.2
  done
}

cmd_restart_server() {
  [ "$(state_get ha)" = 1 ] && die "restart-server: an --ha cluster has three servers: use kill-server I / start-server I"
  [ -f "$STATE" ] && [ -f "$DIR/server.cmd" ] || die "restart-server: no cluster is up (or it was started by an older cluster.sh)"
  local old t0 t1
  old=$(state_get server)
  t0=$(now_ms)
  kill9 "$old" || die "restart-server: could not kill the server (pid $old)"
  log "server pid $old killed (SIGKILL)"
  start_server
  wait_server 60 || die "restart-server: the server did not come back"
  t1=$(now_ms)
  log "server pid $(state_get server) ready again after $(( (t1 - t0) )) ms (kill -9 to /readyz)"
}

cmd_restart_agent() {
  [ $# -eq 1 ] || die "usage: cluster.sh restart-agent NODE"
  [ -f "$STATE" ] || die "restart-agent: no cluster is up"
  local i name old t0 t1 since
  i=$(node_index "$1") || exit 1; name=$(state_get "node$i")
  [ "$(state_get "stopped$i")" = 1 ] && die "restart-agent: node $i is stopped (use start-node)"
  old=$(state_get "agent$i")
  t0=$(now_ms)
  kill9 "$old" || die "restart-agent: could not kill the agent of node $i (pid $old)"
  log "node $i ($name): agent pid $old killed (SIGKILL); containerd, shims and pods left running"
  start_agent "$i"
  since=$(now_ms)  # after the kill: a renewal from now on is the new agent's
  wait_node_back "$name" "$since" "$i" || die "restart-agent: node $i did not come back"
  t1=$(now_ms)
  log "node $i ($name): agent pid $(state_get "agent$i") back (Lease renewed, Ready) after $((t1 - t0)) ms"
}

# The processes of a node's pods: everything in the cgroups /minik8s/<node>.
node_pod_pids() {
  local name=$1 h
  for h in /sys/fs/cgroup/*/minik8s/"$name" /sys/fs/cgroup/minik8s/"$name"; do
    [ -d "$h" ] || continue
    find "$h" -name cgroup.procs -exec cat {} + 2>/dev/null
  done | sort -u
}

cmd_stop_node() {
  local keep=0 a=() x
  for x in "$@"; do case "$x" in --keep-containers) keep=1 ;; *) a+=("$x") ;; esac; done
  [ ${#a[@]} -eq 1 ] || die "usage: cluster.sh stop-node NODE [--keep-containers]"
  [ -f "$STATE" ] || die "stop-node: no cluster is up"
  local i name ns pids
  i=$(node_index "${a[0]}") || exit 1; name=$(state_get "node$i"); ns=$(node_ns "$i")
  [ "$i" = 1 ] && die "stop-node: node 1 runs the server (the control plane); stop a worker (use restart-server / restart-agent 1 for node 1)"
  [ "$(state_get ha)" = 1 ] && [ "$i" -le $HA_N ] &&
    die "stop-node: node $i runs etcd member $i and server $i; stop a worker, or use kill-server / kill-etcd"
  [ "$(state_get "stopped$i")" = 1 ] && die "stop-node: node $i is already stopped"
  kill9 "$(state_get "agent$i")" || die "stop-node: could not kill the agent of node $i"
  if [ $keep = 0 ]; then
    # The machine crashes: everything that ran on it dies at once —
    # containerd, shims, nginx (all in the node's network namespace; also any
    # `cluster.sh exec` shell there) and the pod processes (in their own
    # network namespaces, found through the node's cgroups).
    for _ in $(seq 1 50); do
      pids="$(ip netns pids "$ns" 2>/dev/null) $(node_pod_pids "$name")"
      [ -n "${pids// /}" ] || break
      kill -KILL $pids 2>/dev/null
      sleep 0.1
    done
    [ -n "${pids// /}" ] && echo "cluster.sh: stop-node: processes still alive on node $i: $pids" >&2
  fi
  ip link set "$P-n$i" down || die "stop-node: cannot take link $P-n$i down"
  state_add "stopped$i=1"
  state_add "stopmode$i=$([ $keep = 1 ] && echo keep-containers || echo crash)"
  if [ $keep = 1 ]; then
    log "node $i ($name) stopped: agent killed, link $P-n$i down; containerd and pods left running, unreachable"
  else
    log "node $i ($name) stopped: agent, containerd, shims and pod processes killed (SIGKILL), link $P-n$i down"
  fi
}

cmd_start_node() {
  [ $# -eq 1 ] || die "usage: cluster.sh start-node NODE"
  [ -f "$STATE" ] || die "start-node: no cluster is up"
  local i name since t0 t1
  i=$(node_index "$1") || exit 1; name=$(state_get "node$i")
  [ "$(state_get "stopped$i")" = 1 ] || die "start-node: node $i is not stopped"
  kill -0 "$(state_get "agent$i")" 2>/dev/null && die "start-node: the agent of node $i still runs"
  t0=$(now_ms); since=$t0
  ip link set "$P-n$i" master "$BR" up || die "start-node: cannot bring link $P-n$i up"
  start_agent "$i"   # starts (or adopts) the node's containerd itself
  state_add "stopped$i=0"
  wait_node_back "$name" "$since" "$i" || die "start-node: node $i did not come back"
  t1=$(now_ms)
  log "node $i ($name) back: agent pid $(state_get "agent$i"), Lease renewed and Ready after $((t1 - t0)) ms"
}

cmd_status() {
  if [ ! -f "$STATE" ]; then echo "no cluster (prefix $P, dir $DIR)"; return 1; fi
  echo "prefix $P, subnet $SUBNET, dir $DIR, kubeconfig $KCFG"
  local pid alive i
  if [ "$(state_get ha)" = 1 ]; then
    cmd_status_ha
  else
    pid=$(state_get server); alive=dead; kill -0 "${pid:-0}" 2>/dev/null && alive=running
    echo "server: pid ${pid:-?} ($alive) $(server_url) in $(node_ns 1)"
  fi
  for i in $(seq 1 "$(node_count)"); do
    pid=$(state_get "agent$i"); alive=dead; kill -0 "${pid:-0}" 2>/dev/null && alive=running
    local st=""; [ "$(state_get "stopped$i")" = 1 ] && st=" STOPPED ($(state_get "stopmode$i"), link $P-n$i down)"
    echo "node $i: $(state_get "node$i") netns $(node_ns "$i") IP $(node_ip "$i") agent pid ${pid:-?} ($alive)$st"
  done
  echo "outside: netns $OUTSIDE IP $BASE.250"
  [ -n "$(state_get serverargs)" ] && echo "server args (MK_SERVER_ARGS): $(state_get serverargs)"
  kctl get nodes -o wide 2>&1
}

# stop_pid PID: TERM, wait up to 15 s, KILL — only processes this harness started.
stop_pid() {
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  # Only a minik8s process of this cluster (a stale state file may name a recycled PID).
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "minik8s" || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
}

# kill_netns_procs NS: every process left in the namespace (containerd, shims,
# pod processes, nginx — all started by this cluster's agents).
kill_netns_procs() {
  local ns=$1 pids
  [ -e "/run/netns/$ns" ] || return 0
  pids=$(ip netns pids "$ns" 2>/dev/null)
  [ -n "$pids" ] || return 0
  kill -TERM $pids 2>/dev/null
  for _ in $(seq 1 50); do
    pids=$(ip netns pids "$ns" 2>/dev/null); [ -n "$pids" ] || return 0; sleep 0.1
  done
  kill -KILL $pids 2>/dev/null
  for _ in $(seq 1 50); do [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] || return 0; sleep 0.1; done
}

cmd_down() {
  local problems=0 i ns d pid names=() n existed=0 downs=()
  set +e
  { [ -f "$STATE" ] || [ -d "$DIR" ] || ip netns list 2>/dev/null | grep -q "^$P-"; } && existed=1
  # 1. Agents, then the server, by the PIDs up recorded.
  if [ -f "$STATE" ]; then
    # The last PID recorded per node (a drill restarts agents; older PIDs are dead and may be recycled).
    for i in $(sed -n 's/^agent\([0-9]*\)=.*/\1/p' "$STATE" | sort -un); do stop_pid "$(state_get "agent$i")"; done
    stop_pid "$(state_get server)"
    # --ha: the servers, then the etcd members (both also die with their
    # node's namespace in step 3).
    for i in $(sed -n 's/^server\([0-9]\)=.*/\1/p' "$STATE" | sort -un); do stop_pid "$(state_get "server$i")"; done
    for i in $(sed -n 's/^etcd\([0-9]\)=.*/\1/p' "$STATE" | sort -un); do
      pid=$(state_get "etcd$i")
      if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--data-dir $DIR/etcd$i"; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
      fi
    done
    for n in $(sed -n 's/^node[0-9]*=//p' "$STATE"); do names+=("$n"); done
  fi
  # 2. Each node's pods, containerd, cgroups and data (`minik8s down`), run
  #    inside the node's namespace so its containerd starts where it ran.
  for d in "$DIR"/node[0-9]*; do
    [ -d "$d" ] || continue
    i=${d##*/node}
    ns=$(node_ns "$i")
    [ -x "$BIN/minik8s" ] || continue
    if [ -e "/run/netns/$ns" ]; then  # nodes in parallel
      nsenter --net="/run/netns/$ns" -- "$BIN/minik8s" down --data-dir "$d" >>"$DIR/down.log" 2>&1 &
    else
      "$BIN/minik8s" down --data-dir "$d" >>"$DIR/down.log" 2>&1 &
    fi
    downs+=($!)
  done
  # (only these: after a failed up, this shell's jobs include the servers and
  # etcd members it started, which died above)
  for pid in "${downs[@]}"; do wait "$pid" || problems=1; done
  # 3. Whatever still runs in our namespaces (shims, pods, nginx), then the namespaces.
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$P-(node[0-9]+|outside)\$"); do
    kill_netns_procs "$ns"
    ip netns del "$ns" || problems=1
  done
  # 4. Links, root-namespace chains, /etc/netns copies.
  for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^$P-"); do
    ip link del "$l" 2>/dev/null
  done
  if iptables -S "$P-FWD" >/dev/null 2>&1; then
    while iptables -D FORWARD -j "$P-FWD" 2>/dev/null; do :; done
    iptables -F "$P-FWD"; iptables -X "$P-FWD"
  fi
  if iptables -t nat -S "$P-NAT" >/dev/null 2>&1; then
    while iptables -t nat -D POSTROUTING -j "$P-NAT" 2>/dev/null; do :; done
    iptables -t nat -F "$P-NAT"; iptables -t nat -X "$P-NAT"
  fi
  rm -rf /etc/netns/"$P"-node[0-9]* "/etc/netns/$OUTSIDE"
  rmdir /etc/netns 2>/dev/null
  # 5. Pod cgroups the kubelets left (minik8s down removes them; this is for
  #    an agent that never wrote agent.json).
  for n in "${names[@]}"; do
    for h in /sys/fs/cgroup/*/minik8s/"$n"; do
      [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
  done
  for h in /sys/fs/cgroup/*/minik8s; do rmdir "$h" 2>/dev/null; done
  # 6. The data: unmount leftovers (deepest first), then remove.
  if [ -d "$DIR" ]; then
    awk -v d="$DIR/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null
    done
    rm -rf "$DIR" || problems=1
  fi
  local left
  left=$( (ip netns list | grep -E "^$P-"; ip -o link show | awk -F': ' '{print $2}' | grep -E "^$P-") 2>/dev/null)
  if [ -n "$left" ] || [ -d "$DIR" ]; then
    echo "cluster.sh: down could not remove: $left ${DIR}" >&2
    return 1
  fi
  [ $problems = 0 ] || echo "cluster.sh: down finished with warnings (see above)" >&2
  if [ "$existed" = 1 ]; then log "down: removed cluster '$P'"; else log "down: no cluster '$P' (nothing to remove)"; fi
  return 0
}

usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; }

[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, containerd)"
cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up) cmd_up "$@" ;;
  add) cmd_add "$@" ;;
  remove) cmd_remove ;;
  down) cmd_down ;;
  status) cmd_status ;;
  exec) cmd_exec "$@" ;;
  routes) [ -f "$STATE" ] || die "no cluster"; cmd_routes 0 ;;
  env)
    echo "export KUBECONFIG=$KCFG"
    [ "$(state_get ha)" = 1 ] && echo "# mkctl with all three servers: mkctl --kubeconfig $DIR/kubeconfig-ha"
    true ;;
  restart-server) cmd_restart_server ;;
  restart-agent) cmd_restart_agent "$@" ;;
  stop-node) cmd_stop_node "$@" ;;
  start-node) cmd_start_node "$@" ;;
  kill-server) cmd_kill_server "$@" ;;
  start-server) cmd_start_server "$@" ;;
  kill-etcd) cmd_kill_etcd "$@" ;;
  start-etcd) cmd_start_etcd "$@" ;;
  -h | --help | help) usage ;;
  *) usage; exit 2 ;;
esac
