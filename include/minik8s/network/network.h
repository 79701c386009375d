// NetworkAgent: the pod network of one node (the Flannel role, built in).
//
// setup(): waits for the Node's spec.podCIDR (assigned by the node IPAM
// controller; or options.pod_cidr when given statically), then
//   - sysctls net.ipv4.ip_forward=1, net.bridge.bridge-nf-call-iptables=1
//     (modprobe br_netfilter when the key is missing),
//   - creates the CNI bridge `bridge` with the pod CIDR's gateway address
//     (first host, e.g. 10.244.1.1/24) so node services (the DNS server) can
//     bind to it before the first pod exists,
//   - writes `<cni_conf_dir>/10-minik8s.conflist`: loopback is implicit;
//     bridge (isGateway, hairpinMode true, ipMasq false, mtu) with host-local
//     IPAM on the pod CIDR (dataDir cni_ipam_dir, gateway .1) + portmap.
//     Rewritten only when its content changes.
// start(): watches all Nodes and keeps a route to every other node's pod
//   CIDR (and removes it when that node goes or its CIDR/IP changes):
//   host-gw (`PODCIDR via NODEIP`) when the peer's node IP is on a directly
//   connected subnet (backend auto) or always (host-gw); otherwise VXLAN:
//   one device `vxlan_device` (id vxlan_id, dstport vxlan_port, local
//   node_ip, nolearning, MTU 1450) with address PODCIDR-network/32, and per
//   peer a route `PODCIDR via PEERNET dev VX onlink`, a permanent neighbour
//   (PEERNET → peer VTEP MAC) and an FDB entry (MAC → dst PEER node IP). The
//   VTEP MAC is derived from the node IP (02:4d:<4 bytes of the IP>), so no
//   annotation round-trip is needed. Also adds the nat rule that masquerades
//   pod traffic leaving cluster_cidr (chain <chain_prefix>-NET-POSTROUTING,
//   jumped to from POSTROUTING) — pods reach the world, pod IPs stay
//   visible inside the cluster.
// stop(): stops watching; routes, bridge and rules stay (pods keep their
//   network across an agent restart). teardown(): removes everything this
//   agent created (routes to peers, the VXLAN device, the bridge, the
//   chain) — used by `minik8s down` and `cluster.sh down`.
//
// Routes and links are programmed with iproute2 (`ip`), rules with
// iptables; every command's failure is a Status naming the command and its
// stderr. Threads: start() spawns one informer thread; methods other than
// start/stop are thread-safe. The Client is borrowed.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "minik8s/client/client.h"
#include "minik8s/util/status.h"

namespace minik8s::network {

enum class Backend { kAuto, kHostGw, kVxlan, kNone };
Result<Backend> parse_backend(const std::string& name);  // "auto" | "host-gw" | "vxlan" | "none"
std::string backend_name(Backend b);

struct NetworkOptions {
  std::string node_name;
  std::string node_ip;
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
  std::chrono::milliseconds pod_cidr_timeout{60000};
};

class NetworkAgent {
 public:
  NetworkAgent(client::Client& client, NetworkOptions options);
  ~NetworkAgent();  // stop()
  NetworkAgent(const NetworkAgent&) = delete;
  NetworkAgent& operator=(const NetworkAgent&) = delete;

  Status setup();  // kDeadlineExceeded when no podCIDR arrived in time
  Status start();
  void stop();

  std::string pod_cidr() const;    // after setup()
  std::string gateway_ip() const;  // the bridge address, e.g. "10.244.1.1"
  int routes_programmed() const;   // peers currently routed (tests)

  // Removes the node's routes, VXLAN device, bridge and chains.
  static Status teardown(const NetworkOptions& options);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::network
