// Kernel tests (root, label e2e). The test process moves its main thread
// into a private network namespace (unshare(CLONE_NEWNET)) before any test,
// so every iptables-restore/iptables-save it spawns — and every thread it
// starts afterwards — sees only that namespace's tables. The traffic test
// adds one named namespace mkt<pid>-pod for the "pod" end of a veth pair and
// deletes it in TearDown (also on failure).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/proxy/proxy.h"
#include "test/fakes/fake_rest_client.h"
#include "src/proxy/test_objects.h"

namespace minik8s::proxy {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string sh(const std::string& cmd, int* rc = nullptr) {
  std::string out;
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int st = ::pclose(f);
  if (rc) *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

template <typename F>
bool eventually(F f, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

using test_objects::endpoints;
using test_objects::service;

int count_lines_with(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

class ProxyKernelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    private_ns_ = ::unshare(CLONE_NEWNET) == 0;
  }
  void SetUp() override {
    if (::geteuid() != 0 || !private_ns_) GTEST_SKIP() << "needs root (a private network namespace)";
    sh("ip link set lo up");
    opts_.chain_prefix = "MKE";
    opts_.min_sync_interval = 10ms;
  }
  std::string save() { return sh("iptables-save -t nat; iptables-save -t filter"); }

  static inline bool private_ns_ = false;
  ProxyOptions opts_;
};

TEST_F(ProxyKernelTest, RenderedRulesetIsAcceptedAsIs) {
  std::vector<json> svcs = {
      service("web", "10.96.0.10", json::array({{{"name", "http"}, {"port", 80}}})),
      service("rr", "10.96.0.11", json::array({{{"port", 80}}}), "ClusterIP", {{kBalanceAnnotation, "round-robin"}}),
      service("np", "10.96.0.12", json::array({{{"port", 80}, {"nodePort", 30080}}}), "NodePort"),
      service("dns", "10.96.0.13", json::array({{{"port", 53}, {"protocol", "UDP"}, {"nodePort", 30053}}}),
              "NodePort"),
  };
  std::vector<json> eps = {
      endpoints("web", {"10.244.1.2", "10.244.1.3", "10.244.1.4"}, json::array({{{"name", "http"}, {"port", 8080}}})),
      endpoints("rr", {"10.244.1.2", "10.244.1.3"}, json::array({{{"port", 8080}}})),
      endpoints("np", {"10.244.1.5"}, json::array({{{"port", 8080}}})),
  };
  auto ipt = make_exec_iptables(opts_);
  std::string text = render_ruleset(svcs, eps, opts_);
  ASSERT_TRUE(ipt->restore(text).is_ok()) << text;
  auto saved = save();
  EXPECT_NE(saved.find("--probability 0.333333333"), std::string::npos) << saved;
  EXPECT_NE(saved.find("--mode nth --every 2 --packet 0"), std::string::npos) << saved;
  EXPECT_NE(saved.find("--to-destination 10.244.1.4:8080"), std::string::npos);
  EXPECT_NE(saved.find("--dport 30080"), std::string::npos);
  EXPECT_EQ(count_lines_with(saved, "-j REJECT"), 2);  // dns: cluster IP + node port
  EXPECT_EQ(count_lines_with(saved, ":MKE-SEP-"), 6);
  // The same input again is idempotent (chains are flushed by their headers).
  ASSERT_TRUE(ipt->restore(text).is_ok());
  EXPECT_EQ(count_lines_with(save(), "-A MKE-SEP-"), 12);
  // Partial restore after an endpoint change, against the real kernel.
  Ruleset before = build_ruleset(svcs, eps, opts_);
  eps[0] = endpoints("web", {"10.244.1.2", "10.244.1.9"}, json::array({{{"name", "http"}, {"port", 8080}}}));
  Ruleset after = build_ruleset(svcs, eps, opts_);
  ASSERT_TRUE(ipt->restore(render_restore(after, &before, {}, opts_)).is_ok());
  saved = save();
  EXPECT_NE(saved.find("--to-destination 10.244.1.9:8080"), std::string::npos);
  EXPECT_EQ(saved.find("10.244.1.4"), std::string::npos);
  EXPECT_EQ(saved.find("10.244.1.3:8080\" -m statistic"), std::string::npos);
  EXPECT_EQ(count_lines_with(saved, ":MKE-SEP-"), 5);
  ASSERT_TRUE(Proxy::cleanup(opts_).is_ok());
  EXPECT_EQ(save().find("MKE-"), std::string::npos);
}

TEST_F(ProxyKernelTest, ProxyFollowsServicesAndCleanupLeavesNothing) {
  testing::FakeRestClient rest;
  client::Client client(rest);
  const auto* svc_t = api::find_kind("v1", "Service");
  const auto* ep_t = api::find_kind("v1", "Endpoints");
  ASSERT_TRUE(client.create(*svc_t, service("web", "10.96.0.10", json::array({{{"port", 80}}}))).is_ok());
  ASSERT_TRUE(client.create(*ep_t, endpoints("web", {"10.244.1.2"}, json::array({{{"port", 8080}}}))).is_ok());
  // A chain of another user of this namespace, and a stale one of ours.
  sh("iptables -t nat -N OTHER-CHAIN; iptables -t nat -N MKE-SVC-STALESTALESTALE1");
  {
    Proxy proxy(client, opts_);
    ASSERT_TRUE(proxy.start().is_ok());
    ASSERT_TRUE(eventually([&] { return save().find("--to-destination 10.244.1.2:8080") != std::string::npos; }))
        << save();
    EXPECT_EQ(save().find("STALESTALE"), std::string::npos);
    auto saved = save();
    EXPECT_NE(saved.find("-A PREROUTING -m comment --comment \"minik8s service portals\" -j MKE-SERVICES"),
              std::string::npos)
        << saved;
    EXPECT_NE(saved.find("-A POSTROUTING -m comment --comment \"minik8s postrouting rules\" -j MKE-POSTROUTING"),
              std::string::npos);
    auto ep = client.get(*ep_t, "default", "web");
    ASSERT_TRUE(ep.is_ok());
    json upd = endpoints("web", {"10.244.1.2", "10.244.1.3"}, json::array({{{"port", 8080}}}));
    upd["metadata"]["resourceVersion"] = (*ep)["metadata"]["resourceVersion"];
    ASSERT_TRUE(client.update(*ep_t, upd).is_ok());
    ASSERT_TRUE(eventually([&] { return save().find("--to-destination 10.244.1.3:8080") != std::string::npos; }));
    ASSERT_TRUE(client.remove(*svc_t, "default", "web").is_ok());
    ASSERT_TRUE(eventually([&] {
      auto s = save();
      return s.find("MKE-SVC-") == std::string::npos && s.find("MKE-SEP-") == std::string::npos;
    })) << save();
    // Only the base chains are left (and the jumps), and the foreign chain is untouched.
    auto left = save();
    EXPECT_EQ(count_lines_with(left, ":MKE-"), 6) << left;
    EXPECT_NE(left.find(":OTHER-CHAIN"), std::string::npos);
    // Restart: the jumps are not duplicated.
    proxy.stop();
    Proxy again(client, opts_);
    ASSERT_TRUE(again.start().is_ok());
    ASSERT_TRUE(eventually([&] { return again.syncs() >= 1; }));
    EXPECT_EQ(count_lines_with(save(), "-j MKE-SERVICES"), 4) << save();  // nat PREROUTING+OUTPUT, filter FORWARD+OUTPUT
  }
  ASSERT_TRUE(Proxy::cleanup(opts_).is_ok());
  auto after = save();
  EXPECT_EQ(after.find("MKE-"), std::string::npos) << after;
  EXPECT_NE(after.find(":OTHER-CHAIN"), std::string::npos);
  sh("iptables -t nat -X OTHER-CHAIN");
}

// Traffic: this namespace is the "node" (client), mkt<pid>-pod holds two pod
// IPs on the far end of a veth pair and a TCP server answering with the
// address it was reached on.
class ProxyTrafficTest : public ProxyKernelTest {
 protected:
  void SetUp() override {
    ProxyKernelTest::SetUp();
    if (IsSkipped()) return;
    pod_ns_ = "mkt" + std::to_string(::getpid()) + "-pod";
    veth_ = "mkt" + std::to_string(::getpid()) + "a";
    int rc = 0;
    std::string out = sh("ip netns add " + pod_ns_ + " && ip link add " + veth_ + " type veth peer name eth0 netns " +
                             pod_ns_ + " && ip addr add 10.244.1.1/24 dev " + veth_ + " && ip link set " + veth_ +
                             " up && ip route add default dev " + veth_ + " && ip -n " + pod_ns_ +
                             " addr add 10.244.1.2/24 dev eth0 && ip -n " + pod_ns_ +
                             " addr add 10.244.1.3/24 dev eth0 && ip -n " + pod_ns_ + " link set eth0 up && ip -n " +
                             pod_ns_ + " link set lo up && ip -n " + pod_ns_ + " route add default via 10.244.1.1",
                         &rc);
    ASSERT_EQ(rc, 0) << out;
    server_ = std::thread([this] { serve(); });
    ASSERT_TRUE(eventually([&] { return listening_.load(); }, 5s));
  }
  void TearDown() override {
    stop_ = true;
    if (server_.joinable()) server_.join();
    if (!pod_ns_.empty()) sh("ip netns del " + pod_ns_);
    if (!IsSkipped()) (void)Proxy::cleanup(opts_);
  }

  void serve() {
    int nsfd = ::open(("/run/netns/" + pod_ns_).c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || ::setns(nsfd, CLONE_NEWNET) != 0) return;
    ::close(nsfd);
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(8080);
    if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(s, 16) != 0) {
      ::close(s);
      return;
    }
    listening_ = true;
    while (!stop_) {
      pollfd p{s, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(s, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      sockaddr_in local{}, peer{};
      socklen_t len = sizeof local;
      ::getsockname(c, reinterpret_cast<sockaddr*>(&local), &len);
      len = sizeof peer;
      ::getpeername(c, reinterpret_cast<sockaddr*>(&peer), &len);
      char l[INET_ADDRSTRLEN], r[INET_ADDRSTRLEN];
      ::inet_ntop(AF_INET, &local.sin_addr, l, sizeof l);
      ::inet_ntop(AF_INET, &peer.sin_addr, r, sizeof r);
      std::string reply = std::string(l) + " from " + r;
      (void)!::write(c, reply.data(), reply.size());
      ::close(c);
    }
    ::close(s);
  }

  // The server's answer, or "" (refused/timeout).
  static std::string request(const std::string& ip, int port,
                             std::chrono::milliseconds limit = std::chrono::milliseconds(2000)) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    std::string out;
    pollfd p{s, POLLIN, 0};
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      ssize_t n = ::read(s, buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EAGAIN) {
        if (n < 0) out_errno_ = errno;
        break;
      }
    }
    ::close(s);
    return out;
  }

  static inline int out_errno_ = 0;
  std::string pod_ns_, veth_;
  std::thread server_;
  std::atomic<bool> stop_{false}, listening_{false};
};

TEST_F(ProxyTrafficTest, ClusterIpRoundRobinAndNodePortReachThePods) {
  testing::FakeRestClient rest;
  client::Client client(rest);
  const auto* svc_t = api::find_kind("v1", "Service");
  const auto* ep_t = api::find_kind("v1", "Endpoints");
  ASSERT_TRUE(client
                  .create(*svc_t, service("web", "10.96.0.10", json::array({{{"port", 80}, {"nodePort", 30080}}}),
                                          "NodePort", {{kBalanceAnnotation, "round-robin"}}))
                  .is_ok());
  ASSERT_TRUE(client.create(*svc_t, service("empty", "10.96.0.11", json::array({{{"port", 80}}}))).is_ok());
  ASSERT_TRUE(
      client.create(*ep_t, endpoints("web", {"10.244.1.2", "10.244.1.3"}, json::array({{{"port", 8080}}}))).is_ok());
  Proxy proxy(client, opts_);
  ASSERT_TRUE(proxy.start().is_ok());
  ASSERT_TRUE(eventually([&] { return proxy.syncs() >= 1; }));
  ASSERT_EQ(request("10.244.1.2", 8080).rfind("10.244.1.2 from 10.244.1.1", 0), 0u);  // direct path works
  // Round-robin is exact rotation: four connections alternate between the endpoints.
  std::vector<std::string> seen;
  for (int i = 0; i < 4; ++i) {
    auto r = request("10.96.0.10", 80);
    seen.push_back(r.substr(0, r.find(' ')));
  }
  EXPECT_NE(seen[0], seen[1]) << seen[0] << "," << seen[1];
  EXPECT_EQ(seen[0], seen[2]);
  EXPECT_EQ(seen[1], seen[3]);
  EXPECT_TRUE(seen[0] == "10.244.1.2" || seen[0] == "10.244.1.3") << seen[0];
  // NodePort on a local address of this "node"; masqueraded to the node address.
  auto np = request("10.244.1.1", 30080);
  EXPECT_TRUE(np.rfind("10.244.1.2 from 10.244.1.1", 0) == 0 || np.rfind("10.244.1.3 from 10.244.1.1", 0) == 0)
      << np;
  // No endpoints: refused (REJECT), not a hang. The locally generated ICMP
  // can land while connect() still owns the socket, which makes it a soft
  // error until a SYN retransmit (1 s, 3 s under load); a missing rule would
  // end in EHOSTUNREACH after ARP gives up, or no answer at all.
  out_errno_ = 0;
  EXPECT_EQ(request("10.96.0.11", 80, std::chrono::milliseconds(6000)), "");
  EXPECT_EQ(out_errno_, ECONNREFUSED) << sh("iptables-save -t filter");
}

}  // namespace
}  // namespace minik8s::proxy
