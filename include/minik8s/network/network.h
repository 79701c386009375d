// NetworkAgent: the pod network of one node (the Flannel role, built in).
//
// setup(): waits for the Node's spec.podCIDR with a watch on the own Node
// (field selector metadata.name=<node>; or options.pod_cidr when given
// statically), then
//   - sysctls net.ipv4.ip_forward=1, net.bridge.bridge-nf-call-iptables=1
//     (modprobe br_netfilter when the key is missing), written under
//     /proc/sys of the target network namespace,
//   - creates the CNI bridge `bridge` with the pod CIDR's gateway address
//     (first host, e.g. 10.244.1.1/24) so node services (the DNS server) can
//     bind to it before the first pod exists (the CNI bridge plugin accepts a
//     pre-existing bridge that carries exactly the gateway address),
//   - writes `<cni_conf_dir>/10-minik8s.conflist` (network "minik8s"):
//     loopback is implicit (containerd brings up lo); bridge (isGateway,
//     hairpinMode true, ipMasq false, mtu) with host-local IPAM on the pod
//     CIDR (dataDir cni_ipam_dir, gateway .1, default route) + portmap.
//     Rewritten only when its content changes. Older minik8s conflists
//     (`10-minik8s-*.conflist`, ManagedContainerd's single-node default) are
//     removed: containerd loads the first file in lexical order.
//     The conflist MTU is `mtu` for host-gw/none, `mtu - 50` for vxlan and
//     auto (a pod cannot know which path a peer takes).
//   - the nat chain <chain_prefix>-NET-POSTROUTING (applied atomically with
//     iptables-restore --noflush, jumped to from POSTROUTING):
//     `-s PODCIDR ! -d CLUSTERCIDR ! -o BRIDGE -j MASQUERADE` — pods reach
//     the world, pod IPs stay visible inside the cluster. When the filter
//     FORWARD policy is DROP, a chain <chain_prefix>-NET-FORWARD accepting
//     traffic from and to the cluster CIDR, jumped to from FORWARD.
// start(): watches all Nodes and keeps a route to every other node's pod
//   CIDR (and removes it when that node goes or its CIDR/IP changes); the
//   desired set is diffed against what was programmed, and everything is
//   re-applied every resync_interval to heal. Routes carry `proto 77`
//   (kRouteProto) so teardown finds exactly ours.
//   host-gw (`PODCIDR via NODEIP`) when `ip route get NODEIP` shows no
//   gateway (backend auto) or always (host-gw); otherwise VXLAN:
//   one device `vxlan_device` (id vxlan_id, dstport vxlan_port, local
//   node_ip, nolearning, MTU mtu - 50) with address PODCIDR-network/32, and
//   per peer a route `PODCIDR via PEERNET dev VX onlink`, a permanent
//   neighbour (PEERNET → peer VTEP MAC) and an FDB entry (MAC → dst PEER node
//   IP). The VTEP MAC is derived from the node IP (02:4d:<4 bytes of the IP>),
//   so no annotation round-trip is needed. Backend none: bridge + conflist +
//   masquerade only, no peer routes.
// stop(): stops watching; routes, bridge and rules stay (pods keep their
//   network across an agent restart). teardown(): removes everything this
//   agent created (routes with kRouteProto inside cluster_cidr, the VXLAN
//   device, the bridge, both chains and their jumps, the conflist) — used by
//   `minik8s down` and `cluster.sh down`. Idempotent; missing pieces are fine.
//
// Network namespace: with options.netns set (a name under /run/netns or an
// absolute path to a netns file), every command runs as
// `nsenter --net=PATH <argv>` and sysctls are written by a forked child
// that setns()'d into it; the calling process stays where it is. Empty:
// the caller's own namespace.
//
// Routes and links are programmed with iproute2 (`ip`, `bridge`), rules with
// iptables; every command's failure is a Status naming the command and its
// stderr. Commands go through a CommandRunner (fork/exec with argv, no
// shell), so tests can inject a fake one and check the rendered commands.
// Threads: start() spawns the Node informer thread and one sync thread;
// methods other than start/stop are thread-safe. The Client and an injected
// CommandRunner are borrowed and must outlive the agent.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "minik8s/client/client.h"
#include "minik8s/util/status.h"

namespace minik8s::network {

enum class Backend { kAuto, kHostGw, kVxlan, kNone };
Result<Backend> parse_backend(const std::string& name);  // "auto" | "host-gw" | "vxlan" | "none"
std::string backend_name(Backend b);

// The rtnetlink protocol number on every route this agent programs.
inline constexpr int kRouteProto = 77;

struct NetworkOptions {
  std::string node_name;
  std::string node_ip;                 // empty: the Node's InternalIP (setup() reads it)
  std::string cluster_cidr = "10.244.0.0/16";
  std::string pod_cidr;  // static pod CIDR; empty = wait for spec.podCIDR
  Backend backend = Backend::kAuto;
  std::string bridge = "mk0";          // CNI bridge (≤ 15 chars)
  std::string cni_conf_dir;            // required: the runtime's CNI config directory
  std::string cni_ipam_dir;            // required: host-local state directory
  std::string cni_bin_dir = "/usr/lib/cni";
  std::string vxlan_device = "mk-vxlan";  // ≤ 15 chars
  int vxlan_id = 1;
  int vxlan_port = 4789;
  int mtu = 1500;                      // bridge MTU (VXLAN backend uses mtu - 50)
  std::string chain_prefix = "MK";     // iptables chain names start with this
  std::string netns;                   // see "Network namespace" above; empty = own
  std::chrono::milliseconds pod_cidr_timeout{60000};
  std::chrono::milliseconds resync_interval{10000};
};

// What a command returned. A Status from run() only when it could not start.
struct CommandResult {
  int exit_code = -1;  // exit status, or 128 + signal
  std::string out;
  std::string err;
};

// Runs programs and touches sysctls in one network namespace.
// Thread-safe (the real one forks per call).
class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  virtual Result<CommandResult> run(const std::vector<std::string>& argv, const std::string& stdin_data = "") = 0;
  // key in slash form below /proc/sys, e.g. "net/ipv4/ip_forward".
  virtual bool sysctl_exists(const std::string& key) = 0;
  virtual Status write_sysctl(const std::string& key, const std::string& value) = 0;
};

// The fork/exec runner; netns as in NetworkOptions::netns.
std::unique_ptr<CommandRunner> make_exec_runner(const std::string& netns = "");

class NetworkAgent {
 public:
  NetworkAgent(client::Client& client, NetworkOptions options);
  // Tests: a borrowed runner instead of make_exec_runner(options.netns).
  NetworkAgent(client::Client& client, NetworkOptions options, CommandRunner& runner);
  ~NetworkAgent();  // stop()
  NetworkAgent(const NetworkAgent&) = delete;
  NetworkAgent& operator=(const NetworkAgent&) = delete;

  Status setup();  // kTimeout when no podCIDR arrived in time; kInvalid for bad options
  Status start();  // after setup()
  void stop();

  std::string pod_cidr() const;    // after setup()
  std::string gateway_ip() const;  // the bridge address, e.g. "10.244.1.1"
  int routes_programmed() const;   // peers currently routed (tests)
  // Re-applies the whole desired state now (start() does it periodically).
  Status sync_now();

  // Removes the node's routes, VXLAN device, bridge, chains and conflist.
  static Status teardown(const NetworkOptions& options);
  static Status teardown(const NetworkOptions& options, CommandRunner& runner);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::network
