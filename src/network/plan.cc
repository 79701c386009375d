#include "plan.h"

#include <arpa/inet.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

namespace minik8s::network {

Result<Backend> parse_backend(const std::string& name) {
  if (name == "auto" || name.empty()) return Backend::kAuto;
  if (name == "host-gw") return Backend::kHostGw;
  if (name == "vxlan") return Backend::kVxlan;
  if (name == "none") return Backend::kNone;
  return invalid("unknown network backend \"" + name + "\" (want auto, host-gw, vxlan or none)");
}

std::string backend_name(Backend b) {
  switch (b) {
    case Backend::kAuto:
      return "auto";
    case Backend::kHostGw:
      return "host-gw";
    case Backend::kVxlan:
      return "vxlan";
    case Backend::kNone:
      return "none";
  }
  return "auto";
}

namespace detail {

std::optional<uint32_t> parse_ipv4(const std::string& s) {
  in_addr a{};
  if (s.empty() || ::inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::string format_ipv4(uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xff) + "." +
         std::to_string((ip >> 8) & 0xff) + "." + std::to_string(ip & 0xff);
}

Result<Cidr> parse_cidr(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return invalid("\"" + s + "\" is not a CIDR (want a.b.c.d/n)");
  auto ip = parse_ipv4(s.substr(0, slash));
  const std::string len = s.substr(slash + 1);
  if (!ip || len.empty() || len.size() > 2 || len.find_first_not_of("0123456789") != std::string::npos)
    return invalid("\"" + s + "\" is not an IPv4 CIDR");
  Cidr c;
  c.prefix = std::stoi(len);
  if (c.prefix > 32) return invalid("\"" + s + "\": prefix length above 32");
  c.network = *ip & c.mask();
  if (c.network != *ip) return invalid("\"" + s + "\" has host bits set (network is " + c.str() + ")");
  return c;
}

std::string vtep_mac(uint32_t ip) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "02:4d:%02x:%02x:%02x:%02x", (ip >> 24) & 0xff, (ip >> 16) & 0xff,
                (ip >> 8) & 0xff, ip & 0xff);
  return buf;
}

std::string bridge_mac(uint32_t ip) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "02:4b:%02x:%02x:%02x:%02x", (ip >> 24) & 0xff, (ip >> 16) & 0xff,
                (ip >> 8) & 0xff, ip & 0xff);
  return buf;
}

int pod_mtu(const NetworkOptions& o) {
  return (o.backend == Backend::kVxlan || o.backend == Backend::kAuto) ? o.mtu - 50 : o.mtu;
}

std::string conflist_json(const NetworkOptions& o, const Cidr& pod_cidr, int mtu) {
  nlohmann::json ipam = {
      {"type", "host-local"},
      {"ranges", nlohmann::json::array(
                     {nlohmann::json::array({{{"subnet", pod_cidr.str()}, {"gateway", format_ipv4(pod_cidr.gateway())}}})})},
      {"routes", nlohmann::json::array({{{"dst", "0.0.0.0/0"}}})},
      {"dataDir", o.cni_ipam_dir},
  };
  nlohmann::json conf = {
      {"cniVersion", "0.4.0"},
      {"name", kNetworkName},
      {"plugins", nlohmann::json::array({
                      {{"type", "bridge"},
                       {"bridge", o.bridge},
                       {"isGateway", true},
                       {"ipMasq", false},
                       {"hairpinMode", true},
                       {"mtu", mtu},
                       {"ipam", ipam}},
                      {{"type", "portmap"}, {"capabilities", {{"portMappings", true}}}},
                  })},
  };
  return conf.dump(2) + "\n";
}

std::optional<Peer> peer_from_node(const api::Json& node) {
  try {
    Peer p;
    p.node = node.at("metadata").at("name").get<std::string>();
    if (!node.contains("spec") || !node["spec"].is_object()) return std::nullopt;
    const std::string cidr = node["spec"].value("podCIDR", "");
    auto c = parse_cidr(cidr);
    if (!c) return std::nullopt;
    p.pod_cidr = *c;
    const auto* addrs = node.contains("status") && node["status"].is_object() && node["status"].contains("addresses")
                            ? &node["status"]["addresses"]
                            : nullptr;
    if (!addrs || !addrs->is_array()) return std::nullopt;
    for (const auto& a : *addrs) {
      if (!a.is_object() || a.value("type", "") != "InternalIP") continue;
      if (auto ip = parse_ipv4(a.value("address", ""))) {
        p.node_ip = *ip;
        return p;
      }
    }
  } catch (const nlohmann::json::exception&) {
  }
  return std::nullopt;
}

std::map<std::string, Peer> desired_peers(const std::vector<api::Json>& nodes, const std::string& self,
                                          const Cidr& cluster, const Cidr& own_pod_cidr) {
  std::map<std::string, Peer> out;
  for (const auto& n : nodes) {
    auto p = peer_from_node(n);
    if (!p || p->node == self) continue;
    if (!cluster.contains(p->pod_cidr)) continue;
    if (p->pod_cidr.contains(own_pod_cidr) || own_pod_cidr.contains(p->pod_cidr)) continue;
    out[p->node] = *p;
  }
  return out;
}

RouteDiff diff_routes(const std::map<std::string, Route>& programmed, const std::map<std::string, Route>& desired) {
  RouteDiff d;
  for (const auto& [name, r] : programmed) {
    auto it = desired.find(name);
    if (it == desired.end() || !(it->second == r)) d.remove.push_back(r);
  }
  for (const auto& [name, r] : desired) {
    auto it = programmed.find(name);
    if (it == programmed.end() || !(it->second == r)) d.add.push_back(r);
  }
  return d;
}

bool route_get_has_gateway(const std::string& out) {
  std::istringstream in(out);
  std::string w;
  while (in >> w)
    if (w == "via") return true;
  return false;
}

Argv route_get_cmd(uint32_t ip) { return {"ip", "-4", "route", "get", format_ipv4(ip)}; }

static const std::string kProto = std::to_string(kRouteProto);

std::vector<Argv> route_add_cmds(const Route& r, const NetworkOptions& o) {
  const std::string cidr = r.peer.pod_cidr.str();
  const std::string ip = format_ipv4(r.peer.node_ip);
  if (!r.vxlan) return {{"ip", "-4", "route", "replace", cidr, "via", ip, "proto", kProto}};
  const std::string vtep = format_ipv4(r.peer.pod_cidr.network);
  const std::string mac = vtep_mac(r.peer.node_ip);
  return {
      {"bridge", "fdb", "replace", mac, "dev", o.vxlan_device, "dst", ip, "self", "permanent"},
      {"ip", "-4", "neigh", "replace", vtep, "lladdr", mac, "dev", o.vxlan_device, "nud", "permanent"},
      {"ip", "-4", "route", "replace", cidr, "via", vtep, "dev", o.vxlan_device, "onlink", "proto", kProto},
  };
}

std::vector<Argv> route_del_cmds(const Route& r, const NetworkOptions& o) {
  const std::string cidr = r.peer.pod_cidr.str();
  if (!r.vxlan) return {{"ip", "-4", "route", "del", cidr, "proto", kProto}};
  const std::string vtep = format_ipv4(r.peer.pod_cidr.network);
  const std::string mac = vtep_mac(r.peer.node_ip);
  return {
      {"ip", "-4", "route", "del", cidr, "dev", o.vxlan_device, "proto", kProto},
      {"ip", "-4", "neigh", "del", vtep, "dev", o.vxlan_device},
      {"bridge", "fdb", "del", mac, "dev", o.vxlan_device, "dst", format_ipv4(r.peer.node_ip), "self"},
  };
}

Argv vxlan_add_cmd(const NetworkOptions& o, uint32_t node_ip) {
  return {"ip",    "link",   "add",  o.vxlan_device,  "type", "vxlan",       "id", std::to_string(o.vxlan_id),
          "local", format_ipv4(node_ip), "dstport", std::to_string(o.vxlan_port), "nolearning"};
}

std::vector<Argv> vxlan_configure_cmds(const NetworkOptions& o, uint32_t node_ip, const Cidr& pod_cidr) {
  return {
      {"ip", "link", "set", o.vxlan_device, "address", vtep_mac(node_ip), "mtu", std::to_string(o.mtu - 50)},
      {"ip", "-4", "addr", "replace", format_ipv4(pod_cidr.network) + "/32", "dev", o.vxlan_device},
      {"ip", "link", "set", o.vxlan_device, "up"},
  };
}

std::vector<Argv> bridge_configure_cmds(const NetworkOptions& o, const Cidr& pod_cidr) {
  return {
      {"ip", "link", "set", o.bridge, "mtu", std::to_string(pod_mtu(o))},
      {"ip", "-4", "addr", "replace", format_ipv4(pod_cidr.gateway()) + "/" + std::to_string(pod_cidr.prefix), "dev",
       o.bridge},
      {"ip", "link", "set", o.bridge, "up"},
  };
}

Argv bridge_mac_cmd(const NetworkOptions& o, const Cidr& pod_cidr) {
  return {"ip", "link", "set", o.bridge, "address", bridge_mac(pod_cidr.gateway())};
}

std::string postrouting_chain(const NetworkOptions& o) { return o.chain_prefix + "-NET-POSTROUTING"; }
std::string forward_chain(const NetworkOptions& o) { return o.chain_prefix + "-NET-FORWARD"; }

std::string masquerade_restore(const NetworkOptions& o, const Cidr& pod_cidr, const Cidr& cluster) {
  const std::string c = postrouting_chain(o);
  std::ostringstream s;
  s << "*nat\n"
    << ":" << c << " - [0:0]\n"
    << "-A " << c << " -s " << pod_cidr.str() << " ! -d " << cluster.str() << " ! -o " << o.bridge
    << " -j MASQUERADE\n"
    << "COMMIT\n";
  return s.str();
}

std::string forward_restore(const NetworkOptions& o, const Cidr& cluster) {
  const std::string c = forward_chain(o);
  std::ostringstream s;
  s << "*filter\n"
    << ":" << c << " - [0:0]\n"
    << "-A " << c << " -s " << cluster.str() << " -j ACCEPT\n"
    << "-A " << c << " -d " << cluster.str() << " -j ACCEPT\n"
    << "COMMIT\n";
  return s.str();
}

bool forward_policy_drop(const std::string& out) {
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("-P FORWARD DROP", 0) == 0) return true;
  return false;
}

}  // namespace detail
}  // namespace minik8s::network
