// NetworkAgent on the real kernel: two "nodes" as private network namespaces
// (unique prefix mkt<pid>) joined by a veth pair, Nodes served by an
// in-process API server. Checks the routes, devices and chains the agents
// program, real UDP between the two pod bridges (source address preserved),
// and that teardown removes everything. Needs root; skipped otherwise.
#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <fstream>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/network/network.h"
#include "test/fakes/local_api.h"

namespace minik8s::network {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

struct Out {
  int rc = -1;
  std::string out;
};

Out sh(const std::vector<std::string>& argv) {
  auto r = make_exec_runner("")->run(argv, "");
  if (!r) return {};
  return {r->exit_code, r->out + r->err};
}

// A socket created in a netns (a helper thread setns()'s, the fd stays there).
int udp_socket_in(const std::string& ns, const std::string& bind_ip) {
  int fd = -1;
  std::thread t([&] {
    int nsfd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) return;
    if (::setns(nsfd, CLONE_NEWNET) == 0) {
      fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      ::inet_pton(AF_INET, bind_ip.c_str(), &a.sin_addr);
      if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        fd = -1;
      }
      timeval tv{3, 0};
      if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    ::close(nsfd);
  });
  t.join();
  return fd;
}

// Sends from a (in one netns) to b (in another) and back; returns the source
// address b saw, or "" on failure.
std::string udp_round_trip(const std::string& ns_a, const std::string& ip_a, const std::string& ns_b,
                           const std::string& ip_b) {
  int a = udp_socket_in(ns_a, ip_a), b = udp_socket_in(ns_b, ip_b);
  std::string seen;
  if (a >= 0 && b >= 0) {
    sockaddr_in bb{};
    socklen_t len = sizeof bb;
    ::getsockname(b, reinterpret_cast<sockaddr*>(&bb), &len);
    ::sendto(a, "ping", 4, 0, reinterpret_cast<sockaddr*>(&bb), sizeof bb);
    char buf[16];
    sockaddr_in from{};
    len = sizeof from;
    if (::recvfrom(b, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len) == 4) {
      char s[INET_ADDRSTRLEN];
      ::inet_ntop(AF_INET, &from.sin_addr, s, sizeof s);
      ::sendto(b, "pong", 4, 0, reinterpret_cast<sockaddr*>(&from), len);
      if (::recv(a, buf, sizeof buf, 0) == 4) seen = s;
    }
  }
  if (a >= 0) ::close(a);
  if (b >= 0) ::close(b);
  return seen;
}

class NetworkNetnsTest : public testing::ApiServerFixture {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    prefix_ = "mkt" + std::to_string(::getpid());
    ns_a_ = prefix_ + "a";
    ns_b_ = prefix_ + "b";
    if (sh({"ip", "netns", "add", ns_a_}).rc != 0) GTEST_SKIP() << "cannot create network namespaces";
    created_ = true;
    ASSERT_EQ(sh({"ip", "netns", "add", ns_b_}).rc, 0);
    ASSERT_EQ(sh({"ip", "link", "add", "eth0", "netns", ns_a_, "type", "veth", "peer", "name", "eth0", "netns", ns_b_}).rc, 0);
    for (auto [ns, ip] : {std::pair{ns_a_, "192.168.77.1/24"}, std::pair{ns_b_, "192.168.77.2/24"}}) {
      ASSERT_EQ(sh({"ip", "-n", ns, "addr", "add", ip, "dev", "eth0"}).rc, 0);
      ASSERT_EQ(sh({"ip", "-n", ns, "link", "set", "eth0", "up"}).rc, 0);
      ASSERT_EQ(sh({"ip", "-n", ns, "link", "set", "lo", "up"}).rc, 0);
    }
    ApiServerFixture::SetUp();
    if (HasFatalFailure()) return;
    create_node("a", "10.244.1.0/24", "192.168.77.1");
    create_node("b", "10.244.2.0/24", "192.168.77.2");
  }

  void TearDown() override {
    agent_a_.reset();
    agent_b_.reset();
    if (created_) {
      (void)NetworkAgent::teardown(options("a"));
      (void)NetworkAgent::teardown(options("b"));
      sh({"ip", "netns", "del", ns_a_});
      sh({"ip", "netns", "del", ns_b_});
      if (!ns_pod_.empty()) sh({"ip", "netns", "del", ns_pod_});
    }
    ApiServerFixture::TearDown();
  }

  NetworkOptions options(const std::string& node) {
    NetworkOptions o;
    o.node_name = node;
    o.node_ip = node == "a" ? "192.168.77.1" : "192.168.77.2";
    o.netns = node == "a" ? ns_a_ : ns_b_;
    o.bridge = "mkbr0";
    o.vxlan_device = "mkvx0";
    o.chain_prefix = "MKT";
    o.cni_conf_dir = (dir() / node / "net.d").string();
    o.cni_ipam_dir = (dir() / node / "ipam").string();
    o.pod_cidr_timeout = 10s;
    return o;
  }

  void create_node(const std::string& name, const std::string& cidr, const std::string& ip) {
    json n = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}, {"spec", {{"podCIDR", cidr}}}};
    auto created = client_->create(*api::find_kind("v1", "Node"), n);
    ASSERT_TRUE(created.is_ok()) << created.status().to_string();
    json s = *created;
    s["status"]["addresses"] = json::array({{{"type", "InternalIP"}, {"address", ip}}});
    ASSERT_TRUE(client_->update_status(*api::find_kind("v1", "Node"), s).is_ok());
  }

  std::string in_ns(const std::string& ns, std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"nsenter", "--net=/run/netns/" + ns});
    return sh(argv).out;
  }

  bool eventually(const std::function<bool()>& f, std::chrono::milliseconds limit = 10s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (f()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return f();
  }

  void start_both(Backend b) {
    auto oa = options("a"), ob = options("b");
    oa.backend = ob.backend = b;
    agent_a_ = std::make_unique<NetworkAgent>(*client_, oa);
    agent_b_ = std::make_unique<NetworkAgent>(*client_, ob);
    ASSERT_TRUE(agent_a_->setup().is_ok());
    ASSERT_TRUE(agent_b_->setup().is_ok());
    ASSERT_TRUE(agent_a_->start().is_ok());
    ASSERT_TRUE(agent_b_->start().is_ok());
  }

  void expect_torn_down(const std::string& ns) {
    auto o = options(ns == ns_a_ ? "a" : "b");
    ASSERT_TRUE(NetworkAgent::teardown(o).is_ok());
    EXPECT_EQ(in_ns(ns, {"ip", "-4", "route", "show", "proto", "77"}), "");
    EXPECT_NE(sh({"ip", "-n", ns, "link", "show", "mkbr0"}).rc, 0);
    EXPECT_NE(sh({"ip", "-n", ns, "link", "show", "mkvx0"}).rc, 0);
    EXPECT_EQ(in_ns(ns, {"iptables", "-t", "nat", "-S"}).find("MKT-NET"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(o.cni_conf_dir + "/10-minik8s.conflist"));
  }

  std::string prefix_, ns_a_, ns_b_, ns_pod_;
  bool created_ = false;
  std::unique_ptr<NetworkAgent> agent_a_, agent_b_;
};

TEST_F(NetworkNetnsTest, HostGwRoutesCarryTrafficAndFollowNodes) {
  start_both(Backend::kAuto);  // same link: auto picks host-gw
  ASSERT_TRUE(eventually([&] { return agent_a_->routes_programmed() == 1 && agent_b_->routes_programmed() == 1; }));
  EXPECT_NE(in_ns(ns_a_, {"ip", "-4", "route", "show", "10.244.2.0/24"}).find("via 192.168.77.2 dev eth0 proto 77"),
            std::string::npos);
  EXPECT_NE(in_ns(ns_a_, {"ip", "-4", "addr", "show", "dev", "mkbr0"}).find("inet 10.244.1.1/24"), std::string::npos);
  EXPECT_EQ(in_ns(ns_a_, {"cat", "/proc/sys/net/ipv4/ip_forward"}), "1\n");
  EXPECT_NE(in_ns(ns_a_, {"iptables", "-t", "nat", "-S"}).find("-A POSTROUTING -j MKT-NET-POSTROUTING"),
            std::string::npos);
  EXPECT_EQ(sh({"ip", "-n", ns_a_, "link", "show", "mkvx0"}).rc, 1);  // no VXLAN on the host-gw path
  // Bridge to bridge across the "nodes", pod source address kept.
  EXPECT_EQ(udp_round_trip(ns_a_, "10.244.1.1", ns_b_, "10.244.2.1"), "10.244.1.1");

  ASSERT_TRUE(client_->remove(*api::find_kind("v1", "Node"), "", "b").is_ok());
  ASSERT_TRUE(eventually([&] { return in_ns(ns_a_, {"ip", "-4", "route", "show", "10.244.2.0/24"}).empty(); }));
  // The counter follows the route's removal (the agent updates it after the kernel call).
  EXPECT_TRUE(eventually([&] { return agent_a_->routes_programmed() == 0; }));
  agent_a_->stop();
  agent_b_->stop();
  expect_torn_down(ns_a_);
  expect_torn_down(ns_b_);
}

// A Linux bridge without a MAC of its own takes the lowest MAC of its ports
// and changes it when a port comes or goes; a pod that cached the old one
// (its gateway's ARP entry) then sends into nothing until that entry
// re-probes (5-10 s: the e2e "short name through the search path" lost its
// DNS query to the node's server that way after another pod on the node was
// deleted). The agent gives the bridge a fixed MAC (plan.h bridge_mac).
TEST_F(NetworkNetnsTest, BridgeKeepsItsMacWhenPortsComeAndGo) {
  auto oa = options("a");
  oa.backend = Backend::kHostGw;
  agent_a_ = std::make_unique<NetworkAgent>(*client_, oa);
  ASSERT_TRUE(agent_a_->setup().is_ok());
  const std::string want = "02:4b:0a:f4:01:01";  // bridge_mac(10.244.1.1)
  auto bridge_mac = [&] {  // (nsenter --net keeps the root namespace's /sys)
    std::string l = in_ns(ns_a_, {"ip", "-o", "link", "show", "dev", "mkbr0"});
    auto p = l.find("link/ether ");
    return p == std::string::npos ? l : l.substr(p + 11, 17);
  };
  EXPECT_EQ(bridge_mac(), want);

  // A "pod": its own netns, a veth on the bridge, the gateway as default route.
  ns_pod_ = prefix_ + "p";
  ASSERT_EQ(sh({"ip", "netns", "add", ns_pod_}).rc, 0);
  ASSERT_EQ(sh({"ip", "-n", ns_a_, "link", "add", "vpod", "address", "02:00:00:00:00:10", "type", "veth", "peer",
                "name", "eth0", "netns", ns_pod_})
                .rc,
            0);
  ASSERT_EQ(sh({"ip", "-n", ns_a_, "link", "set", "vpod", "master", "mkbr0", "up"}).rc, 0);
  ASSERT_EQ(sh({"ip", "-n", ns_pod_, "addr", "add", "10.244.1.5/24", "dev", "eth0"}).rc, 0);
  ASSERT_EQ(sh({"ip", "-n", ns_pod_, "link", "set", "eth0", "up"}).rc, 0);
  ASSERT_EQ(sh({"ip", "-n", ns_pod_, "link", "set", "lo", "up"}).rc, 0);
  // Another pod's port with a lower MAC than any other: the bridge would take it.
  ASSERT_EQ(sh({"ip", "-n", ns_a_, "link", "add", "vlow", "address", "00:00:00:00:00:01", "type", "veth", "peer",
                "name", "vlowp"})
                .rc,
            0);
  ASSERT_EQ(sh({"ip", "-n", ns_a_, "link", "set", "vlow", "master", "mkbr0", "up"}).rc, 0);
  EXPECT_EQ(bridge_mac(), want);
  // The pod talks to the node's address on the bridge (as to its DNS server):
  // its ARP entry for the gateway is fresh from here on.
  ASSERT_TRUE(eventually([&] { return udp_round_trip(ns_pod_, "10.244.1.5", ns_a_, "10.244.1.1") == "10.244.1.5"; }));
  const std::string neigh = in_ns(ns_pod_, {"ip", "neigh", "show", "10.244.1.1"});
  EXPECT_NE(neigh.find("lladdr 02:4b:0a:f4:01:01"), std::string::npos) << neigh;

  // The other pod goes: the bridge's MAC stays, and so does the pod's path to it
  // at once (no waiting for its ARP entry to age).
  ASSERT_EQ(sh({"ip", "-n", ns_a_, "link", "del", "vlow"}).rc, 0);
  EXPECT_EQ(bridge_mac(), want);
  EXPECT_EQ(udp_round_trip(ns_pod_, "10.244.1.5", ns_a_, "10.244.1.1"), "10.244.1.5")
      << "pod neighbour: " << in_ns(ns_pod_, {"ip", "neigh", "show"}) << "bridge: " << bridge_mac();

  // An agent restart leaves the MAC (and the pods' neighbour entries) alone.
  agent_a_.reset();
  agent_a_ = std::make_unique<NetworkAgent>(*client_, oa);
  ASSERT_TRUE(agent_a_->setup().is_ok());
  EXPECT_EQ(bridge_mac(), want);
  EXPECT_EQ(udp_round_trip(ns_pod_, "10.244.1.5", ns_a_, "10.244.1.1"), "10.244.1.5");
  agent_a_.reset();
  expect_torn_down(ns_a_);
}

TEST_F(NetworkNetnsTest, VxlanCarriesTraffic) {
  start_both(Backend::kVxlan);
  ASSERT_TRUE(eventually([&] { return agent_a_->routes_programmed() == 1 && agent_b_->routes_programmed() == 1; }));
  const std::string link = in_ns(ns_a_, {"ip", "-d", "link", "show", "mkvx0"});
  EXPECT_NE(link.find("vxlan id 1 local 192.168.77.1"), std::string::npos) << link;
  EXPECT_NE(link.find("mtu 1450"), std::string::npos) << link;
  EXPECT_NE(link.find("02:4d:c0:a8:4d:01"), std::string::npos) << link;
  EXPECT_NE(in_ns(ns_a_, {"ip", "-4", "route", "show", "10.244.2.0/24"}).find("via 10.244.2.0 dev mkvx0 proto 77 onlink"),
            std::string::npos)
      << in_ns(ns_a_, {"ip", "-4", "route", "show"});
  EXPECT_NE(in_ns(ns_a_, {"ip", "neigh", "show", "dev", "mkvx0"}).find("10.244.2.0 lladdr 02:4d:c0:a8:4d:02 PERMANENT"),
            std::string::npos)
      << in_ns(ns_a_, {"ip", "neigh", "show"});
  EXPECT_NE(in_ns(ns_a_, {"bridge", "fdb", "show", "dev", "mkvx0"}).find("02:4d:c0:a8:4d:02 dst 192.168.77.2"),
            std::string::npos);
  std::ifstream f(options("a").cni_conf_dir + "/10-minik8s.conflist");
  EXPECT_EQ(json::parse(f, nullptr, false)["plugins"][0]["mtu"], 1450);
  EXPECT_EQ(udp_round_trip(ns_a_, "10.244.1.1", ns_b_, "10.244.2.1"), "10.244.1.1");

  // An agent restart re-applies the same state without recreating the device.
  const std::string before = in_ns(ns_a_, {"ip", "-o", "link", "show", "mkvx0"});
  agent_a_.reset();
  auto oa = options("a");
  oa.backend = Backend::kVxlan;
  agent_a_ = std::make_unique<NetworkAgent>(*client_, oa);
  ASSERT_TRUE(agent_a_->setup().is_ok());
  ASSERT_TRUE(agent_a_->start().is_ok());
  ASSERT_TRUE(eventually([&] { return agent_a_->routes_programmed() == 1; }));
  EXPECT_EQ(in_ns(ns_a_, {"ip", "-o", "link", "show", "mkvx0"}).substr(0, 8), before.substr(0, 8));  // same ifindex
  EXPECT_EQ(udp_round_trip(ns_a_, "10.244.1.1", ns_b_, "10.244.2.1"), "10.244.1.1");

  agent_a_->stop();
  agent_b_->stop();
  expect_torn_down(ns_a_);
  expect_torn_down(ns_b_);
}

}  // namespace
}  // namespace minik8s::network
