// NetworkAgent against an in-process API server with a fake CommandRunner:
// which commands it renders for setup, peers coming and going, teardown.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/network/network.h"
#include "test/fakes/local_api.h"

namespace minik8s::network {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Records every command; answers through `respond` (default: exit 0).
class FakeRunner : public CommandRunner {
 public:
  std::function<CommandResult(const std::string& cmd)> respond;

  Result<CommandResult> run(const std::vector<std::string>& argv, const std::string& stdin_data) override {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    std::lock_guard l(mu_);
    cmds_.push_back(cmd);
    if (!stdin_data.empty()) stdins_.push_back(stdin_data);
    if (respond) return respond(cmd);
    return CommandResult{0, "", ""};
  }
  bool sysctl_exists(const std::string& key) override {
    std::lock_guard l(mu_);
    return key == "net/ipv4/ip_forward" || br_netfilter_;
  }
  Status write_sysctl(const std::string& key, const std::string& value) override {
    std::lock_guard l(mu_);
    sysctls_.push_back(key + "=" + value);
    return Status::ok();
  }

  std::vector<std::string> cmds() {
    std::lock_guard l(mu_);
    return cmds_;
  }
  std::vector<std::string> stdins() {
    std::lock_guard l(mu_);
    return stdins_;
  }
  std::vector<std::string> sysctls() {
    std::lock_guard l(mu_);
    return sysctls_;
  }
  bool ran(const std::string& cmd) {
    auto c = cmds();
    return std::find(c.begin(), c.end(), cmd) != c.end();
  }
  void clear() {
    std::lock_guard l(mu_);
    cmds_.clear();
    stdins_.clear();
  }
  void set_br_netfilter(bool v) {
    std::lock_guard l(mu_);
    br_netfilter_ = v;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> cmds_, stdins_, sysctls_;
  bool br_netfilter_ = false;
};

CommandResult fail(const std::string& err) { return CommandResult{1, "", err}; }

class NetworkAgentTest : public testing::ApiServerFixture {
 protected:
  void SetUp() override {
    ApiServerFixture::SetUp();
    if (HasFatalFailure()) return;
    nodes_ = api::find_kind("v1", "Node");
    opts_.node_name = "self";
    opts_.node_ip = "192.168.50.1";
    opts_.cni_conf_dir = (dir() / "net.d").string();
    opts_.cni_ipam_dir = (dir() / "ipam").string();
    opts_.bridge = "mkt-br";
    opts_.vxlan_device = "mkt-vxlan";
    opts_.chain_prefix = "MKT";
    opts_.backend = Backend::kHostGw;
    opts_.resync_interval = 60s;
    // `ip link show` fails: nothing exists yet; iptables -C fails: no jump.
    runner_.respond = [](const std::string& c) {
      if (c.rfind("ip link show", 0) == 0 || c.rfind("ip -d -o link show", 0) == 0) return fail("Device does not exist");
      if (c.find(" -C ") != std::string::npos) return fail("Bad rule");
      if (c.rfind("ip -4 route get 10.9.", 0) == 0) return CommandResult{0, "10.9.0.2 via 192.168.50.254 dev eth0 src 192.168.50.1 uid 0\n", ""};
      if (c.rfind("ip -4 route get", 0) == 0) return CommandResult{0, "192.168.50.2 dev eth0 src 192.168.50.1 uid 0\n", ""};
      return CommandResult{0, "", ""};
    };
  }
  void TearDown() override {
    agent_.reset();
    ApiServerFixture::TearDown();
  }

  void make_agent() { agent_ = std::make_unique<NetworkAgent>(*client_, opts_, runner_); }

  void create_node(const std::string& name, const std::string& cidr, const std::string& ip) {
    json n = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}, {"spec", json::object()}};
    if (!cidr.empty()) n["spec"]["podCIDR"] = cidr;
    auto created = client_->create(*nodes_, n);
    ASSERT_TRUE(created.is_ok()) << created.status().to_string();
    if (ip.empty()) return;
    json s = *created;
    s["status"]["addresses"] = json::array({{{"type", "InternalIP"}, {"address", ip}}});
    auto updated = client_->update_status(*nodes_, s);
    ASSERT_TRUE(updated.is_ok()) << updated.status().to_string();
  }
  void set_pod_cidr(const std::string& name, const std::string& cidr) {
    auto p = client_->patch(*nodes_, "", name, client::PatchType::kMerge, json{{"spec", {{"podCIDR", cidr}}}});
    ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  }

  bool eventually(const std::function<bool()>& f, std::chrono::milliseconds limit = 5s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (f()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return f();
  }

  const api::ResourceType* nodes_ = nullptr;
  NetworkOptions opts_;
  FakeRunner runner_;
  std::unique_ptr<NetworkAgent> agent_;
};

TEST_F(NetworkAgentTest, SetupWithStaticCidrRendersBridgeConflistAndMasquerade) {
  opts_.pod_cidr = "10.244.1.0/24";
  std::filesystem::create_directories(opts_.cni_conf_dir);
  const auto old_conf = std::filesystem::path(opts_.cni_conf_dir) / "10-minik8s-0a1b2c3d.conflist";
  const auto other_conf = std::filesystem::path(opts_.cni_conf_dir) / "20-other.conflist";
  std::ofstream(old_conf) << "{}";
  std::ofstream(other_conf) << "{}";
  make_agent();
  ASSERT_TRUE(agent_->setup().is_ok());
  EXPECT_EQ(agent_->pod_cidr(), "10.244.1.0/24");
  EXPECT_EQ(agent_->gateway_ip(), "10.244.1.1");

  EXPECT_TRUE(runner_.ran("ip link add mkt-br type bridge"));
  // A MAC of its own: the bridge must not follow its ports' (plan.h bridge_mac).
  EXPECT_TRUE(runner_.ran("ip link set mkt-br address 02:4b:0a:f4:01:01"));
  EXPECT_TRUE(runner_.ran("ip -4 addr replace 10.244.1.1/24 dev mkt-br"));
  EXPECT_TRUE(runner_.ran("ip link set mkt-br up"));
  EXPECT_TRUE(runner_.ran("modprobe br_netfilter"));  // the key was missing
  EXPECT_TRUE(runner_.ran("iptables -w -t nat -A POSTROUTING -j MKT-NET-POSTROUTING"));
  EXPECT_FALSE(runner_.ran("ip link add mkt-vxlan type vxlan id 1 local 192.168.50.1 dstport 4789 nolearning"));
  auto in = runner_.stdins();
  ASSERT_EQ(in.size(), 1u);  // FORWARD policy is not DROP here
  EXPECT_NE(in[0].find("-A MKT-NET-POSTROUTING -s 10.244.1.0/24 ! -d 10.244.0.0/16 ! -o mkt-br -j MASQUERADE"),
            std::string::npos);
  auto sys = runner_.sysctls();
  EXPECT_NE(std::find(sys.begin(), sys.end(), "net/ipv4/ip_forward=1"), sys.end());

  EXPECT_FALSE(std::filesystem::exists(old_conf));
  EXPECT_TRUE(std::filesystem::exists(other_conf));
  std::ifstream f(std::filesystem::path(opts_.cni_conf_dir) / "10-minik8s.conflist");
  json conf = json::parse(f, nullptr, false);
  ASSERT_TRUE(conf.is_object());
  EXPECT_EQ(conf["plugins"][0]["bridge"], "mkt-br");
  EXPECT_EQ(conf["plugins"][0]["ipam"]["ranges"][0][0]["subnet"], "10.244.1.0/24");
  EXPECT_EQ(conf["plugins"][0]["ipam"]["dataDir"], opts_.cni_ipam_dir);
  EXPECT_EQ(conf["plugins"][0]["mtu"], 1500);
}

TEST_F(NetworkAgentTest, SetupRemovesForeignBridgeAddressesAndAddsForwardChainWhenPolicyDrops) {
  opts_.pod_cidr = "10.244.1.0/24";
  opts_.backend = Backend::kVxlan;
  runner_.set_br_netfilter(true);
  auto base = runner_.respond;
  runner_.respond = [base](const std::string& c) {
    if (c == "ip link show dev mkt-br") return CommandResult{0, "", ""};
    if (c == "ip -o link show dev mkt-br")
      return CommandResult{0,
                           "5: mkt-br: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UP mode "
                           "DEFAULT group default qlen 1000\\    link/ether 02:4b:0a:f4:01:01 brd ff:ff:ff:ff:ff:ff\n",
                           ""};
    if (c == "ip -o -4 addr show dev mkt-br")
      return CommandResult{0,
                           "5: mkt-br    inet 10.88.0.1/16 brd 10.88.255.255 scope global mkt-br\\n\n"
                           "5: mkt-br    inet 10.244.1.1/24 brd 10.244.1.255 scope global mkt-br\\n\n",
                           ""};
    if (c == "iptables -w -t filter -S FORWARD") return CommandResult{0, "-P FORWARD DROP\n", ""};
    return base(c);
  };
  make_agent();
  ASSERT_TRUE(agent_->setup().is_ok());
  EXPECT_FALSE(runner_.ran("ip link add mkt-br type bridge"));
  // Its MAC is already ours: not set again (that would flush its neighbours).
  EXPECT_FALSE(runner_.ran("ip link set mkt-br address 02:4b:0a:f4:01:01"));
  EXPECT_TRUE(runner_.ran("ip -4 addr del 10.88.0.1/16 dev mkt-br"));
  EXPECT_FALSE(runner_.ran("ip -4 addr del 10.244.1.1/24 dev mkt-br"));
  EXPECT_FALSE(runner_.ran("modprobe br_netfilter"));
  EXPECT_TRUE(runner_.ran("iptables -w -t filter -I FORWARD 1 -j MKT-NET-FORWARD"));
  auto in = runner_.stdins();
  ASSERT_EQ(in.size(), 2u);
  EXPECT_NE(in[1].find("-A MKT-NET-FORWARD -s 10.244.0.0/16 -j ACCEPT"), std::string::npos);
  // The VXLAN backend: the device exists right after setup.
  EXPECT_TRUE(runner_.ran("ip link add mkt-vxlan type vxlan id 1 local 192.168.50.1 dstport 4789 nolearning"));
  EXPECT_TRUE(runner_.ran("ip -4 addr replace 10.244.1.0/32 dev mkt-vxlan"));
  EXPECT_TRUE(runner_.ran("ip link set mkt-br mtu 1450"));
}

TEST_F(NetworkAgentTest, SetupWaitsForPodCidrFromTheNodeController) {
  create_node("self", "", "192.168.50.1");
  opts_.node_ip.clear();
  make_agent();
  Status result(Code::kInternal, "not run");
  std::thread t([&] { result = agent_->setup(); });
  // The agent must not finish before the CIDR exists.
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(agent_->pod_cidr(), "");
  set_pod_cidr("self", "10.244.9.0/24");
  t.join();
  ASSERT_TRUE(result.is_ok()) << result.to_string();
  EXPECT_EQ(agent_->pod_cidr(), "10.244.9.0/24");
  EXPECT_TRUE(runner_.ran("ip -4 addr replace 10.244.9.1/24 dev mkt-br"));
}

TEST_F(NetworkAgentTest, SetupTimesOutWithoutPodCidr) {
  create_node("self", "", "192.168.50.1");
  opts_.pod_cidr_timeout = 300ms;
  make_agent();
  Status s = agent_->setup();
  EXPECT_EQ(s.code(), Code::kTimeout) << s.to_string();
  EXPECT_TRUE(runner_.cmds().empty());
}

TEST_F(NetworkAgentTest, InvalidOptions) {
  opts_.pod_cidr = "10.244.1.5/24";
  make_agent();
  EXPECT_EQ(agent_->setup().code(), Code::kInvalid);
  opts_.pod_cidr = "10.244.1.0/24";
  opts_.cni_conf_dir.clear();
  make_agent();
  EXPECT_EQ(agent_->setup().code(), Code::kInvalid);
}

TEST_F(NetworkAgentTest, RoutesFollowNodesHostGw) {
  create_node("self", "10.244.1.0/24", "192.168.50.1");
  create_node("b", "10.244.2.0/24", "192.168.50.2");
  create_node("pending", "", "192.168.50.4");
  make_agent();
  ASSERT_TRUE(agent_->setup().is_ok());
  ASSERT_TRUE(agent_->start().is_ok());
  ASSERT_TRUE(eventually([&] { return agent_->routes_programmed() == 1; }));
  EXPECT_TRUE(runner_.ran("ip -4 route replace 10.244.2.0/24 via 192.168.50.2 proto 77"));

  create_node("c", "10.244.3.0/24", "192.168.50.3");
  ASSERT_TRUE(eventually([&] { return agent_->routes_programmed() == 2; }));
  EXPECT_TRUE(runner_.ran("ip -4 route replace 10.244.3.0/24 via 192.168.50.3 proto 77"));

  set_pod_cidr("pending", "10.244.4.0/24");
  ASSERT_TRUE(eventually([&] { return agent_->routes_programmed() == 3; }));
  EXPECT_TRUE(runner_.ran("ip -4 route replace 10.244.4.0/24 via 192.168.50.4 proto 77"));

  ASSERT_TRUE(client_->remove(*nodes_, "", "b").is_ok());
  ASSERT_TRUE(eventually([&] { return agent_->routes_programmed() == 2; }));
  EXPECT_TRUE(runner_.ran("ip -4 route del 10.244.2.0/24 proto 77"));
  EXPECT_FALSE(runner_.ran("ip -4 route del 10.244.3.0/24 proto 77"));

  // Node c comes back with another CIDR: the old route goes, the new one comes.
  ASSERT_TRUE(client_->remove(*nodes_, "", "c").is_ok());
  create_node("c", "10.244.33.0/24", "192.168.50.3");
  ASSERT_TRUE(eventually([&] { return runner_.ran("ip -4 route replace 10.244.33.0/24 via 192.168.50.3 proto 77"); }));
  EXPECT_TRUE(runner_.ran("ip -4 route del 10.244.3.0/24 proto 77"));
  // (the counter is updated after the kernel call returns: poll it too)
  EXPECT_TRUE(eventually([&] { return agent_->routes_programmed() == 2; })) << agent_->routes_programmed();
  agent_->stop();
}

TEST_F(NetworkAgentTest, AutoBackendPicksVxlanForPeersBehindAGateway) {
  opts_.backend = Backend::kAuto;
  create_node("self", "10.244.1.0/24", "192.168.50.1");
  create_node("near", "10.244.2.0/24", "192.168.50.2");
  create_node("far", "10.244.3.0/24", "10.9.0.2");
  make_agent();
  ASSERT_TRUE(agent_->setup().is_ok());
  ASSERT_TRUE(agent_->start().is_ok());
  ASSERT_TRUE(eventually([&] { return agent_->routes_programmed() == 2; }));
  EXPECT_TRUE(runner_.ran("ip -4 route replace 10.244.2.0/24 via 192.168.50.2 proto 77"));
  EXPECT_TRUE(runner_.ran("ip link add mkt-vxlan type vxlan id 1 local 192.168.50.1 dstport 4789 nolearning"));
  EXPECT_TRUE(runner_.ran("bridge fdb replace 02:4d:0a:09:00:02 dev mkt-vxlan dst 10.9.0.2 self permanent"));
  EXPECT_TRUE(runner_.ran("ip -4 neigh replace 10.244.3.0 lladdr 02:4d:0a:09:00:02 dev mkt-vxlan nud permanent"));
  EXPECT_TRUE(runner_.ran("ip -4 route replace 10.244.3.0/24 via 10.244.3.0 dev mkt-vxlan onlink proto 77"));

  ASSERT_TRUE(client_->remove(*nodes_, "", "far").is_ok());
  ASSERT_TRUE(eventually([&] { return agent_->routes_programmed() == 1; }));
  EXPECT_TRUE(runner_.ran("ip -4 route del 10.244.3.0/24 dev mkt-vxlan proto 77"));
  EXPECT_TRUE(runner_.ran("bridge fdb del 02:4d:0a:09:00:02 dev mkt-vxlan dst 10.9.0.2 self"));
}

TEST_F(NetworkAgentTest, ExistingVxlanDeviceKeepsItsMacSoNeighboursSurvive) {
  opts_.pod_cidr = "10.244.1.0/24";
  opts_.backend = Backend::kVxlan;
  auto base = runner_.respond;
  runner_.respond = [base](const std::string& c) {
    if (c == "ip -d -o link show dev mkt-vxlan")
      return CommandResult{0,
                           "7: mkt-vxlan: <BROADCAST,MULTICAST,UP> mtu 1450 qdisc noqueue state UNKNOWN\\    "
                           "link/ether 02:4d:c0:a8:32:01 brd ff:ff:ff:ff:ff:ff \\    vxlan id 1 local 192.168.50.1 "
                           "srcport 0 0 dstport 4789 nolearning ttl auto\n",
                           ""};
    return base(c);
  };
  make_agent();
  ASSERT_TRUE(agent_->setup().is_ok());
  EXPECT_FALSE(runner_.ran("ip link set mkt-vxlan address 02:4d:c0:a8:32:01 mtu 1450"));
  EXPECT_FALSE(runner_.ran("ip link del dev mkt-vxlan"));
  EXPECT_TRUE(runner_.ran("ip -4 addr replace 10.244.1.0/32 dev mkt-vxlan"));

  // Another node IP: the device is recreated and configured.
  runner_.clear();
  opts_.node_ip = "192.168.50.9";
  make_agent();
  ASSERT_TRUE(agent_->setup().is_ok());
  EXPECT_TRUE(runner_.ran("ip link del dev mkt-vxlan"));
  EXPECT_TRUE(runner_.ran("ip link add mkt-vxlan type vxlan id 1 local 192.168.50.9 dstport 4789 nolearning"));
  EXPECT_TRUE(runner_.ran("ip link set mkt-vxlan address 02:4d:c0:a8:32:09 mtu 1450"));
}

TEST_F(NetworkAgentTest, FailedRouteIsRetriedAndReported) {
  create_node("self", "10.244.1.0/24", "192.168.50.1");
  create_node("b", "10.244.2.0/24", "192.168.50.2");
  opts_.pod_cidr = "10.244.1.0/24";
  auto base = runner_.respond;
  std::atomic<bool> broken{true};
  runner_.respond = [&, base](const std::string& c) {
    if (broken && c.rfind("ip -4 route replace 10.244.2.0/24", 0) == 0) return fail("Nexthop has invalid gateway");
    return base(c);
  };
  make_agent();
  ASSERT_TRUE(agent_->setup().is_ok());
  ASSERT_TRUE(agent_->start().is_ok());
  ASSERT_TRUE(eventually([&] { return runner_.ran("ip -4 route replace 10.244.2.0/24 via 192.168.50.2 proto 77"); }));
  EXPECT_EQ(agent_->routes_programmed(), 0);
  Status s = agent_->sync_now();
  EXPECT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("Nexthop has invalid gateway"), std::string::npos) << s.message();
  broken = false;
  ASSERT_TRUE(eventually([&] { return agent_->routes_programmed() == 1; }));  // the 1 s retry
}

TEST_F(NetworkAgentTest, TeardownRemovesWhatSetupCreated) {
  opts_.pod_cidr = "10.244.1.0/24";
  make_agent();
  ASSERT_TRUE(agent_->setup().is_ok());
  runner_.clear();
  runner_.respond = [](const std::string& c) {
    if (c.find(" -C ") != std::string::npos) return fail("Bad rule");  // jump already gone after one -D
    return CommandResult{0, "", ""};
  };
  ASSERT_TRUE(NetworkAgent::teardown(opts_, runner_).is_ok());
  EXPECT_TRUE(runner_.ran("ip -4 route flush root 10.244.0.0/16 proto 77"));
  EXPECT_TRUE(runner_.ran("ip link del dev mkt-br"));
  EXPECT_TRUE(runner_.ran("ip link del dev mkt-vxlan"));
  EXPECT_TRUE(runner_.ran("iptables -w -t nat -F MKT-NET-POSTROUTING"));
  EXPECT_TRUE(runner_.ran("iptables -w -t nat -X MKT-NET-POSTROUTING"));
  EXPECT_TRUE(runner_.ran("iptables -w -t filter -X MKT-NET-FORWARD"));
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(opts_.cni_conf_dir) / "10-minik8s.conflist"));
}

}  // namespace
}  // namespace minik8s::network
