// Internal to mk_network: the pure parts of the network agent — IPv4/CIDR
// arithmetic, the CNI conflist, the desired peer set computed from Node
// objects, the diff against what is programmed, and the iproute2/iptables
// commands each step renders to. No I/O here; everything is unit-tested.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/network/network.h"

namespace minik8s::network::detail {

using Argv = std::vector<std::string>;

std::optional<uint32_t> parse_ipv4(const std::string& s);
std::string format_ipv4(uint32_t ip);

struct Cidr {
  uint32_t network = 0;  // host bits cleared
  int prefix = 0;
  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  bool contains(uint32_t ip) const { return (ip & mask()) == network; }
  bool contains(const Cidr& other) const { return other.prefix >= prefix && contains(other.network); }
  std::string str() const { return format_ipv4(network) + "/" + std::to_string(prefix); }
  uint32_t gateway() const { return network + 1; }
  bool operator==(const Cidr&) const = default;
};
// "10.244.1.0/24" (host bits must be zero; "10.244.1.5/24" is invalid).
Result<Cidr> parse_cidr(const std::string& s);

// 02:4d:<the 4 bytes of ip> — the VTEP MAC of a node.
std::string vtep_mac(uint32_t node_ip);
// 02:4b:<the 4 bytes of the pod gateway> — the pod bridge's MAC, set
// explicitly: a Linux bridge without one takes the lowest MAC of its ports
// and changes it whenever a pod's veth comes or goes, and the pods' cached
// gateway MAC then goes nowhere until their ARP entry re-probes (~5-10 s of
// lost packets: DNS queries to the node's server, traffic to other nodes).
std::string bridge_mac(uint32_t gateway_ip);

// The CNI conflist (network "minik8s") for a pod CIDR.
std::string conflist_json(const NetworkOptions& o, const Cidr& pod_cidr, int mtu);
// The MTU pods get for a backend.
int pod_mtu(const NetworkOptions& o);
inline constexpr const char* kConflistName = "10-minik8s.conflist";
inline constexpr const char* kNetworkName = "minik8s";

// One other node's pod network, as the routing code needs it.
struct Peer {
  std::string node;
  Cidr pod_cidr;
  uint32_t node_ip = 0;
  bool operator==(const Peer&) const = default;
};

// spec.podCIDR and the first InternalIP of a Node; nullopt when either is
// missing or malformed.
std::optional<Peer> peer_from_node(const api::Json& node);
// Peers for every node other than self with a pod CIDR inside the cluster
// CIDR (and not equal to self's own pod CIDR).
std::map<std::string, Peer> desired_peers(const std::vector<api::Json>& nodes, const std::string& self,
                                          const Cidr& cluster, const Cidr& own_pod_cidr);

// A peer as programmed: with the path chosen for it.
struct Route {
  Peer peer;
  bool vxlan = false;
  bool operator==(const Route&) const = default;
};

struct RouteDiff {
  std::vector<Route> remove;  // programmed routes that no longer match (node gone, CIDR/IP/path changed)
  std::vector<Route> add;     // desired routes not programmed as they are
};
// Keyed by node name. A changed route is removed, then added.
RouteDiff diff_routes(const std::map<std::string, Route>& programmed, const std::map<std::string, Route>& desired);

// Whether `ip route get` output names a gateway ("... via X ...").
bool route_get_has_gateway(const std::string& out);

// Commands.
Argv route_get_cmd(uint32_t ip);
std::vector<Argv> route_add_cmds(const Route& r, const NetworkOptions& o);
std::vector<Argv> route_del_cmds(const Route& r, const NetworkOptions& o);
// The VXLAN device: add (run only when `ip link show` failed), then configure.
Argv vxlan_add_cmd(const NetworkOptions& o, uint32_t node_ip);
// [0] sets MAC + MTU (flushes neighbours: skipped when already right), then address, up.
std::vector<Argv> vxlan_configure_cmds(const NetworkOptions& o, uint32_t node_ip, const Cidr& pod_cidr);
// MTU, gateway address, up. The MAC is bridge_mac_cmd (it flushes the bridge's
// neighbours, like the VXLAN one: run only when the MAC differs).
std::vector<Argv> bridge_configure_cmds(const NetworkOptions& o, const Cidr& pod_cidr);
Argv bridge_mac_cmd(const NetworkOptions& o, const Cidr& pod_cidr);

std::string postrouting_chain(const NetworkOptions& o);
std::string forward_chain(const NetworkOptions& o);
// iptables-restore --noflush input for the nat chain.
std::string masquerade_restore(const NetworkOptions& o, const Cidr& pod_cidr, const Cidr& cluster);
// iptables-restore --noflush input for the filter FORWARD accept chain.
std::string forward_restore(const NetworkOptions& o, const Cidr& cluster);
// Whether `iptables -S FORWARD` shows policy DROP.
bool forward_policy_drop(const std::string& iptables_s_out);

}  // namespace minik8s::network::detail
