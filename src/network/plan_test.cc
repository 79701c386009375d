#include "plan.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace minik8s::network::detail {
namespace {

using nlohmann::json;

json node(const std::string& name, const std::string& cidr, const std::string& ip) {
  json n = {{"metadata", {{"name", name}}}, {"spec", json::object()}, {"status", json::object()}};
  if (!cidr.empty()) n["spec"]["podCIDR"] = cidr;
  if (!ip.empty())
    n["status"]["addresses"] = json::array({{{"type", "Hostname"}, {"address", name}},
                                            {{"type", "InternalIP"}, {"address", ip}}});
  return n;
}

Cidr cidr(const std::string& s) {
  auto c = parse_cidr(s);
  EXPECT_TRUE(c.is_ok()) << s;
  return c.is_ok() ? *c : Cidr{};
}

uint32_t ip(const std::string& s) { return parse_ipv4(s).value_or(0); }

std::string join(const Argv& a) {
  std::string s;
  for (const auto& x : a) s += (s.empty() ? "" : " ") + x;
  return s;
}

TEST(Cidr, ParsesAndComputesGateway) {
  Cidr c = cidr("10.244.3.0/24");
  EXPECT_EQ(c.str(), "10.244.3.0/24");
  EXPECT_EQ(format_ipv4(c.gateway()), "10.244.3.1");
  EXPECT_TRUE(cidr("10.244.0.0/16").contains(c));
  EXPECT_FALSE(c.contains(cidr("10.244.0.0/16")));
  EXPECT_TRUE(c.contains(ip("10.244.3.200")));
  EXPECT_FALSE(c.contains(ip("10.244.4.1")));
  EXPECT_TRUE(cidr("0.0.0.0/0").contains(ip("1.2.3.4")));
}

TEST(Cidr, RejectsMalformed) {
  for (const char* bad : {"", "10.244.1.0", "10.244.1.5/24", "10.244.1.0/33", "10.244.1.0/x", "300.1.1.0/24",
                          "10.244.1.0/-1", "a.b.c.d/8"})
    EXPECT_FALSE(parse_cidr(bad).is_ok()) << bad;
}

TEST(Backend, ParseAndName) {
  for (const char* n : {"auto", "host-gw", "vxlan", "none"}) {
    auto b = parse_backend(n);
    ASSERT_TRUE(b.is_ok()) << n;
    EXPECT_EQ(backend_name(*b), n);
  }
  auto bad = parse_backend("flannel");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalid);
}

TEST(VtepMac, DerivedFromNodeIp) {
  EXPECT_EQ(vtep_mac(ip("192.168.77.2")), "02:4d:c0:a8:4d:02");
  EXPECT_EQ(vtep_mac(ip("10.0.0.255")), "02:4d:0a:00:00:ff");
  EXPECT_NE(vtep_mac(ip("10.0.0.1")), vtep_mac(ip("10.0.0.2")));
  EXPECT_EQ(bridge_mac(ip("10.244.1.1")), "02:4b:0a:f4:01:01");
  EXPECT_NE(bridge_mac(ip("10.244.1.1")), vtep_mac(ip("10.244.1.1")));
}

TEST(Conflist, BridgeHostLocalPortmap) {
  NetworkOptions o;
  o.bridge = "mkbr9";
  o.cni_ipam_dir = "/var/lib/x/ipam";
  o.backend = Backend::kHostGw;
  auto j = json::parse(conflist_json(o, cidr("10.244.7.0/24"), pod_mtu(o)));
  EXPECT_EQ(j["name"], "minik8s");
  EXPECT_EQ(j["cniVersion"], "0.4.0");
  ASSERT_EQ(j["plugins"].size(), 2u);
  const auto& br = j["plugins"][0];
  EXPECT_EQ(br["type"], "bridge");
  EXPECT_EQ(br["bridge"], "mkbr9");
  EXPECT_EQ(br["isGateway"], true);
  EXPECT_EQ(br["hairpinMode"], true);
  EXPECT_EQ(br["ipMasq"], false);
  EXPECT_EQ(br["mtu"], 1500);
  EXPECT_EQ(br["ipam"]["type"], "host-local");
  EXPECT_EQ(br["ipam"]["dataDir"], "/var/lib/x/ipam");
  EXPECT_EQ(br["ipam"]["ranges"][0][0]["subnet"], "10.244.7.0/24");
  EXPECT_EQ(br["ipam"]["ranges"][0][0]["gateway"], "10.244.7.1");
  EXPECT_EQ(br["ipam"]["routes"][0]["dst"], "0.0.0.0/0");
  EXPECT_EQ(j["plugins"][1]["type"], "portmap");
  EXPECT_EQ(j["plugins"][1]["capabilities"]["portMappings"], true);
}

TEST(Conflist, MtuPerBackend) {
  NetworkOptions o;
  o.mtu = 1500;
  o.backend = Backend::kVxlan;
  EXPECT_EQ(pod_mtu(o), 1450);
  o.backend = Backend::kAuto;
  EXPECT_EQ(pod_mtu(o), 1450);
  o.backend = Backend::kHostGw;
  EXPECT_EQ(pod_mtu(o), 1500);
  o.backend = Backend::kNone;
  EXPECT_EQ(pod_mtu(o), 1500);
  o.backend = Backend::kVxlan;
  EXPECT_EQ(json::parse(conflist_json(o, cidr("10.244.1.0/24"), pod_mtu(o)))["plugins"][0]["mtu"], 1450);
}

TEST(Peers, FromNodes) {
  std::vector<json> nodes = {
      node("self", "10.244.1.0/24", "192.168.1.1"),
      node("b", "10.244.2.0/24", "192.168.1.2"),
      node("no-cidr", "", "192.168.1.3"),
      node("no-ip", "10.244.4.0/24", ""),
      node("outside", "10.99.0.0/24", "192.168.1.5"),
      node("bad-cidr", "10.244.6.7/24", "192.168.1.6"),
      node("same-as-self", "10.244.1.0/24", "192.168.1.7"),
      json{{"metadata", {{"name", "junk"}}}, {"spec", "x"}},
      json::array(),
  };
  auto peers = desired_peers(nodes, "self", cidr("10.244.0.0/16"), cidr("10.244.1.0/24"));
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers["b"].pod_cidr.str(), "10.244.2.0/24");
  EXPECT_EQ(format_ipv4(peers["b"].node_ip), "192.168.1.2");
}

Route route(const std::string& n, const std::string& c, const std::string& i, bool vx = false) {
  return Route{Peer{n, cidr(c), ip(i)}, vx};
}

TEST(Diff, AddRemoveChange) {
  std::map<std::string, Route> programmed = {
      {"b", route("b", "10.244.2.0/24", "192.168.1.2")},
      {"c", route("c", "10.244.3.0/24", "192.168.1.3")},
      {"d", route("d", "10.244.4.0/24", "192.168.1.4")},
      {"e", route("e", "10.244.5.0/24", "192.168.1.5")},
  };
  std::map<std::string, Route> desired = {
      {"b", route("b", "10.244.2.0/24", "192.168.1.2")},          // unchanged
      {"c", route("c", "10.244.13.0/24", "192.168.1.3")},         // CIDR changed
      {"e", route("e", "10.244.5.0/24", "192.168.1.55")},         // IP changed
      {"f", route("f", "10.244.6.0/24", "192.168.1.6", true)},    // new
  };  // d: gone
  RouteDiff d = diff_routes(programmed, desired);
  std::vector<std::string> removed, added;
  for (const auto& r : d.remove) removed.push_back(r.peer.node + " " + r.peer.pod_cidr.str());
  for (const auto& r : d.add) added.push_back(r.peer.node + " " + r.peer.pod_cidr.str());
  EXPECT_EQ(removed, (std::vector<std::string>{"c 10.244.3.0/24", "d 10.244.4.0/24", "e 10.244.5.0/24"}));
  EXPECT_EQ(added, (std::vector<std::string>{"c 10.244.13.0/24", "e 10.244.5.0/24", "f 10.244.6.0/24"}));

  // Same path switch (host-gw → vxlan) is a change too.
  desired = {{"b", route("b", "10.244.2.0/24", "192.168.1.2", true)}};
  d = diff_routes({{"b", route("b", "10.244.2.0/24", "192.168.1.2")}}, desired);
  ASSERT_EQ(d.remove.size(), 1u);
  ASSERT_EQ(d.add.size(), 1u);
  EXPECT_TRUE(d.add[0].vxlan);
  EXPECT_TRUE(diff_routes(desired, desired).add.empty());
  EXPECT_TRUE(diff_routes(desired, desired).remove.empty());
}

TEST(Backend, RouteGetGateway) {
  EXPECT_FALSE(route_get_has_gateway("192.168.1.2 dev eth0 src 192.168.1.1 uid 0 \n    cache \n"));
  EXPECT_TRUE(route_get_has_gateway("8.8.8.8 via 10.0.0.1 dev eth0 src 10.0.0.5 uid 0 \n    cache \n"));
  EXPECT_EQ(join(route_get_cmd(ip("192.168.1.2"))), "ip -4 route get 192.168.1.2");
}

TEST(Commands, HostGw) {
  NetworkOptions o;
  auto r = route("b", "10.244.2.0/24", "192.168.1.2");
  auto add = route_add_cmds(r, o);
  ASSERT_EQ(add.size(), 1u);
  EXPECT_EQ(join(add[0]), "ip -4 route replace 10.244.2.0/24 via 192.168.1.2 proto 77");
  auto del = route_del_cmds(r, o);
  ASSERT_EQ(del.size(), 1u);
  EXPECT_EQ(join(del[0]), "ip -4 route del 10.244.2.0/24 proto 77");
}

TEST(Commands, Vxlan) {
  NetworkOptions o;
  o.vxlan_device = "mkvx";
  o.vxlan_id = 7;
  o.vxlan_port = 8472;
  auto r = route("b", "10.244.2.0/24", "192.168.1.2", true);
  auto add = route_add_cmds(r, o);
  ASSERT_EQ(add.size(), 3u);
  EXPECT_EQ(join(add[0]), "bridge fdb replace 02:4d:c0:a8:01:02 dev mkvx dst 192.168.1.2 self permanent");
  EXPECT_EQ(join(add[1]), "ip -4 neigh replace 10.244.2.0 lladdr 02:4d:c0:a8:01:02 dev mkvx nud permanent");
  EXPECT_EQ(join(add[2]), "ip -4 route replace 10.244.2.0/24 via 10.244.2.0 dev mkvx onlink proto 77");
  auto del = route_del_cmds(r, o);
  ASSERT_EQ(del.size(), 3u);
  EXPECT_EQ(join(del[0]), "ip -4 route del 10.244.2.0/24 dev mkvx proto 77");
  EXPECT_EQ(join(del[1]), "ip -4 neigh del 10.244.2.0 dev mkvx");
  EXPECT_EQ(join(del[2]), "bridge fdb del 02:4d:c0:a8:01:02 dev mkvx dst 192.168.1.2 self");

  EXPECT_EQ(join(vxlan_add_cmd(o, ip("192.168.1.1"))),
            "ip link add mkvx type vxlan id 7 local 192.168.1.1 dstport 8472 nolearning");
  auto cfg = vxlan_configure_cmds(o, ip("192.168.1.1"), cidr("10.244.1.0/24"));
  ASSERT_EQ(cfg.size(), 3u);
  EXPECT_EQ(join(cfg[0]), "ip link set mkvx address 02:4d:c0:a8:01:01 mtu 1450");
  EXPECT_EQ(join(cfg[1]), "ip -4 addr replace 10.244.1.0/32 dev mkvx");
  EXPECT_EQ(join(cfg[2]), "ip link set mkvx up");
}

TEST(Commands, BridgeAndIptables) {
  NetworkOptions o;
  o.bridge = "mkb";
  o.chain_prefix = "MKT1";
  o.backend = Backend::kHostGw;
  auto br = bridge_configure_cmds(o, cidr("10.244.1.0/24"));
  ASSERT_EQ(br.size(), 3u);
  EXPECT_EQ(join(br[0]), "ip link set mkb mtu 1500");
  EXPECT_EQ(join(br[1]), "ip -4 addr replace 10.244.1.1/24 dev mkb");
  EXPECT_EQ(join(br[2]), "ip link set mkb up");
  EXPECT_EQ(join(bridge_mac_cmd(o, cidr("10.244.1.0/24"))), "ip link set mkb address 02:4b:0a:f4:01:01");
  EXPECT_EQ(masquerade_restore(o, cidr("10.244.1.0/24"), cidr("10.244.0.0/16")),
            "*nat\n:MKT1-NET-POSTROUTING - [0:0]\n"
            "-A MKT1-NET-POSTROUTING -s 10.244.1.0/24 ! -d 10.244.0.0/16 ! -o mkb -j MASQUERADE\nCOMMIT\n");
  EXPECT_EQ(forward_restore(o, cidr("10.244.0.0/16")),
            "*filter\n:MKT1-NET-FORWARD - [0:0]\n-A MKT1-NET-FORWARD -s 10.244.0.0/16 -j ACCEPT\n"
            "-A MKT1-NET-FORWARD -d 10.244.0.0/16 -j ACCEPT\nCOMMIT\n");
  EXPECT_TRUE(forward_policy_drop("-P FORWARD DROP\n-A FORWARD -j X\n"));
  EXPECT_FALSE(forward_policy_drop("-P FORWARD ACCEPT\n"));
}

}  // namespace
}  // namespace minik8s::network::detail
