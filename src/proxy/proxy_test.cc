// The sync loop against a FakeRestClient API and a FakeIptables that keeps
// the set of chains and jumps the kernel would hold.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/proxy/proxy.h"
#include "src/proxy/model.h"
#include "test/fakes/fake_rest_client.h"

namespace minik8s::proxy {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class FakeIptables : public Iptables {
 public:
  Status restore(const std::string& input) override {
    std::lock_guard<std::mutex> l(mu_);
    restores_.push_back(input);
    if (fail_restores_ > 0) {
      --fail_restores_;
      return internal_error("iptables-restore: injected failure");
    }
    std::istringstream in(input);
    std::string line, table;
    while (std::getline(in, line)) {
      if (line.rfind("*", 0) == 0) table = line.substr(1);
      if (line.rfind(":", 0) == 0) chains_[table].insert(line.substr(1, line.find(' ') - 1));
      if (line.rfind("-X ", 0) == 0) chains_[table].erase(line.substr(3));
    }
    return Status::ok();
  }
  Result<std::string> save(const std::string& table) override {
    std::lock_guard<std::mutex> l(mu_);
    std::string out = "*" + table + "\n";
    for (const auto& c : chains_[table]) out += ":" + c + " - [0:0]\n";
    return out + "COMMIT\n";
  }
  Status iptables(const std::vector<std::string>& args) override {
    std::lock_guard<std::mutex> l(mu_);
    calls_.push_back(args);
    if (args.size() >= 4 && args[2] == "-N") {
      chains_[args[1]].insert(args[3]);
      return Status::ok();
    }
    std::vector<std::string> key = args;
    key.erase(key.begin() + 2);
    if (args[2] == "-C") return jumps_.count(key) ? Status::ok() : internal_error("no such rule");
    if (args[2] == "-I") jumps_.insert(key);
    if (args[2] == "-D") jumps_.erase(key);
    return Status::ok();
  }
  Status conntrack(const std::vector<std::string>& args) override {
    std::lock_guard<std::mutex> l(mu_);
    conntrack_.push_back(args);
    return Status::ok();
  }

  void fail_restores(int n) {
    std::lock_guard<std::mutex> l(mu_);
    fail_restores_ = n;
  }
  std::vector<std::string> restores() {
    std::lock_guard<std::mutex> l(mu_);
    return restores_;
  }
  std::set<std::string> chains(const std::string& table) {
    std::lock_guard<std::mutex> l(mu_);
    return chains_[table];
  }
  size_t jumps() {
    std::lock_guard<std::mutex> l(mu_);
    return jumps_.size();
  }
  size_t count_calls(const std::string& verb) {
    std::lock_guard<std::mutex> l(mu_);
    return static_cast<size_t>(
        std::count_if(calls_.begin(), calls_.end(), [&](const auto& a) { return a.size() > 2 && a[2] == verb; }));
  }
  std::vector<std::vector<std::string>> conntrack_calls() {
    std::lock_guard<std::mutex> l(mu_);
    return conntrack_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> restores_;
  std::map<std::string, std::set<std::string>> chains_;
  std::set<std::vector<std::string>> jumps_;
  std::vector<std::vector<std::string>> calls_;
  std::vector<std::vector<std::string>> conntrack_;
  int fail_restores_ = 0;
};

template <typename F>
bool eventually(F f, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return f();
}

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    opts_.chain_prefix = "MKT";
    opts_.min_sync_interval = 20ms;
  }

  void put_service(const std::string& name, const std::string& ip, const std::string& proto = "TCP") {
    json s = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", name}, {"namespace", "default"}}},
              {"spec", {{"clusterIP", ip}, {"ports", json::array({{{"port", 80}, {"protocol", proto}}})}}}};
    ASSERT_TRUE(client_.create(*svc_type_, s).is_ok());
  }
  void put_endpoints(const std::string& name, std::vector<std::string> ips, const std::string& proto = "TCP") {
    json addrs = json::array();
    for (const auto& ip : ips) addrs.push_back({{"ip", ip}});
    json e = {{"apiVersion", "v1"},
              {"kind", "Endpoints"},
              {"metadata", {{"name", name}, {"namespace", "default"}}},
              {"subsets", json::array({{{"addresses", addrs},
                                        {"ports", json::array({{{"port", 8080}, {"protocol", proto}}})}}})}};
    auto cur = client_.get(*ep_type_, "default", name);
    if (cur.is_ok()) {
      e["metadata"]["resourceVersion"] = (*cur)["metadata"]["resourceVersion"];
      ASSERT_TRUE(client_.update(*ep_type_, e).is_ok());
    } else {
      ASSERT_TRUE(client_.create(*ep_type_, e).is_ok());
    }
  }
  bool some_restore_contains(const std::string& s) {
    for (const auto& r : ipt_.restores())
      if (r.find(s) != std::string::npos) return true;
    return false;
  }

  testing::FakeRestClient rest_;
  client::Client client_{rest_};
  const api::ResourceType* svc_type_ = api::find_kind("v1", "Service");
  const api::ResourceType* ep_type_ = api::find_kind("v1", "Endpoints");
  FakeIptables ipt_;
  ProxyOptions opts_;
};

TEST_F(ProxyTest, StartInstallsJumpsOnceAndSyncsExistingServices) {
  put_service("web", "10.96.0.10");
  put_endpoints("web", {"10.244.1.2", "10.244.1.3"});
  {
    Proxy p(client_, opts_, ipt_);
    ASSERT_TRUE(p.start().is_ok());
    ASSERT_TRUE(eventually([&] { return p.syncs() >= 1; }));
    EXPECT_TRUE(p.last_sync_status().is_ok());
  }
  EXPECT_EQ(ipt_.jumps(), 7u);
  EXPECT_EQ(ipt_.count_calls("-N"), 6u);  // 4 nat + 2 filter base chains
  ASSERT_FALSE(ipt_.restores().empty());
  EXPECT_NE(ipt_.restores()[0].find("--to-destination 10.244.1.3:8080"), std::string::npos);
  auto nat = ipt_.chains("nat");
  EXPECT_EQ(std::count_if(nat.begin(), nat.end(), [](const auto& c) { return c.rfind("MKT-SEP-", 0) == 0; }), 2);
  // A restarted proxy finds its jumps and chains: no duplicates.
  Proxy again(client_, opts_, ipt_);
  ASSERT_TRUE(again.start().is_ok());
  ASSERT_TRUE(eventually([&] { return again.syncs() >= 1; }));
  EXPECT_EQ(ipt_.jumps(), 7u);
  EXPECT_EQ(ipt_.count_calls("-I"), 7u);
  EXPECT_EQ(ipt_.count_calls("-N"), 6u);
}

TEST_F(ProxyTest, EndpointChangeAppliesOnlyTheChangedChains) {
  put_service("a", "10.96.0.20");
  put_endpoints("a", {"10.244.0.2"});
  put_service("b", "10.96.0.21");
  put_endpoints("b", {"10.244.0.4"});
  Proxy p(client_, opts_, ipt_);
  ASSERT_TRUE(p.start().is_ok());
  ASSERT_TRUE(eventually([&] { return p.syncs() >= 1 && some_restore_contains("10.244.0.4:8080"); }));
  size_t before = ipt_.restores().size();
  put_endpoints("a", {"10.244.0.2", "10.244.0.9"});
  ASSERT_TRUE(eventually([&] { return some_restore_contains("10.244.0.9:8080"); }));
  auto restores = ipt_.restores();
  std::string last;
  for (size_t i = before; i < restores.size(); ++i)
    if (restores[i].find("10.244.0.9:8080") != std::string::npos) last = restores[i];
  ServicePort b;
  b.ns = "default";
  b.name = "b";
  b.protocol = "tcp";
  EXPECT_EQ(last.find(":" + svc_chain("MKT", b)), std::string::npos) << last;  // unchanged: not rewritten
  EXPECT_EQ(last.find(":MKT-SERVICES"), std::string::npos);                   // unchanged too
  EXPECT_EQ(last.find("10.244.0.4:8080"), std::string::npos);
}

TEST_F(ProxyTest, BurstsAreCoalesced) {
  opts_.min_sync_interval = 300ms;
  put_service("burst", "10.96.0.30");
  Proxy p(client_, opts_, ipt_);
  ASSERT_TRUE(p.start().is_ok());
  ASSERT_TRUE(eventually([&] { return p.syncs() >= 1; }));
  uint64_t start = p.syncs();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) put_endpoints("burst", {"10.244.7." + std::to_string(i + 2)});
  ASSERT_TRUE(eventually([&] { return some_restore_contains("10.244.7.21:8080"); }));
  // The sync counter moves after the restore returns.
  ASSERT_TRUE(eventually([&] { return p.syncs() - start >= 1; }));
  // Never more often than min_sync_interval: at most one sync per started
  // interval of the time the burst really took (on a loaded machine the 20
  // writes may span several intervals), plus the first. Without coalescing
  // the 20 updates give ~20 syncs.
  auto took = std::chrono::steady_clock::now() - t0;
  uint64_t bound = 2 + static_cast<uint64_t>(took / opts_.min_sync_interval);
  EXPECT_LE(p.syncs() - start, std::min<uint64_t>(bound, 19u))
      << "took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
}

TEST_F(ProxyTest, FailedApplyIsRetriedAsAFullResync) {
  opts_.min_sync_interval = 10ms;
  put_service("r", "10.96.0.40");
  put_endpoints("r", {"10.244.0.2"});
  Proxy p(client_, opts_, ipt_);
  ASSERT_TRUE(p.start().is_ok());
  ASSERT_TRUE(eventually([&] { return p.syncs() >= 1; }));
  uint64_t ok_before = p.syncs();
  ipt_.fail_restores(2);
  size_t attempts_before = ipt_.restores().size();
  put_endpoints("r", {"10.244.0.3"});
  ASSERT_TRUE(eventually([&] { return p.syncs() > ok_before; }));
  auto restores = ipt_.restores();
  ASSERT_GE(restores.size(), attempts_before + 3);  // 2 failures, then success
  const std::string& good = restores.back();
  // Full: declares the SEP chain of the unchanged-looking state and deletes the old endpoint's chain.
  EXPECT_NE(good.find("--to-destination 10.244.0.3:8080"), std::string::npos);
  EXPECT_NE(good.find("-X MKT-SEP-"), std::string::npos);
  EXPECT_TRUE(p.last_sync_status().is_ok());
  auto nat = ipt_.chains("nat");
  EXPECT_EQ(std::count_if(nat.begin(), nat.end(), [](const auto& c) { return c.rfind("MKT-SEP-", 0) == 0; }), 1);
}

TEST_F(ProxyTest, DeletedServiceLeavesOnlyBaseChainsAndCleanupRemovesThose) {
  put_service("gone", "10.96.0.50");
  put_endpoints("gone", {"10.244.0.2", "10.244.0.3"});
  Proxy p(client_, opts_, ipt_);
  ASSERT_TRUE(p.start().is_ok());
  ASSERT_TRUE(eventually([&] { return ipt_.chains("nat").size() == 4 + 1 + 2; }));
  ASSERT_TRUE(client_.remove(*svc_type_, "default", "gone").is_ok());
  ASSERT_TRUE(eventually([&] { return ipt_.chains("nat").size() == 4; }));
  p.stop();
  ASSERT_TRUE(Proxy::cleanup(opts_, ipt_).is_ok());
  EXPECT_TRUE(ipt_.chains("nat").empty());
  EXPECT_TRUE(ipt_.chains("filter").empty());
  EXPECT_EQ(ipt_.jumps(), 0u);
}

TEST_F(ProxyTest, RemovedUdpEndpointFlushesItsConntrackEntries) {
  put_service("dns", "10.96.0.53", "UDP");
  put_endpoints("dns", {"10.244.0.2", "10.244.0.3"}, "UDP");
  Proxy p(client_, opts_, ipt_);
  ASSERT_TRUE(p.start().is_ok());
  ASSERT_TRUE(eventually([&] { return p.syncs() >= 1; }));
  put_endpoints("dns", {"10.244.0.2"}, "UDP");
  std::vector<std::string> want{"-D", "-p", "udp", "--orig-dst", "10.96.0.53", "--dst-nat", "10.244.0.3"};
  ASSERT_TRUE(eventually([&] {
    auto calls = ipt_.conntrack_calls();
    return std::find(calls.begin(), calls.end(), want) != calls.end();
  }));
  for (const auto& c : ipt_.conntrack_calls()) EXPECT_EQ(std::find(c.begin(), c.end(), "10.244.0.2"), c.end());
}

TEST_F(ProxyTest, BadOptionsAreRefused) {
  opts_.chain_prefix = "lower";
  Proxy p(client_, opts_, ipt_);
  EXPECT_EQ(p.start().code(), Code::kInvalid);
  EXPECT_EQ(ipt_.jumps(), 0u);
}

}  // namespace
}  // namespace minik8s::proxy
