// DnsServer fed by informers from a real in-process ApiServer (SQLite in a
// temp dir, port 0): Service create/delete and DNS objects reach the answers.
// The informers never relist on a timer, so only the watch events can bring
// a change: the 30 s bounds below fail a server that misses them, however
// slow the machine. How fast a change propagates is a benchmark's question,
// not this test's.
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/apiserver/apiserver.h"
#include "minik8s/client/client.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/dns/dns.h"
#include "minik8s/storage/storage.h"
#include "test/fakes/local_api.h"
#include "wire.h"

namespace minik8s::dns {
namespace {

using api::Json;
using namespace std::chrono_literals;

std::optional<Message> ask(int port, const std::string& name, uint16_t type) {
  MessageWriter w(static_cast<uint16_t>(std::random_device{}()), kFlagRD);
  w.add_question(name, type);
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::sendto(fd, w.bytes().data(), w.bytes().size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  pollfd p{fd, POLLIN, 0};
  std::optional<Message> out;
  if (::poll(&p, 1, 1000) > 0) {
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      auto m = parse_message(reinterpret_cast<const uint8_t*>(buf), static_cast<size_t>(n));
      if (m) out = *m;
    }
  }
  ::close(fd);
  return out;
}

// The A answer for name ("" for none).
std::string a_of(int port, const std::string& name) {
  auto m = ask(port, name, kTypeA);
  if (!m || m->answers.empty()) return "";
  return m->answers[0].ip;
}

bool eventually(const std::function<bool()>& fn, std::chrono::milliseconds limit = 30s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (fn()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return fn();
}

class DnsWithApiServer : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(local_.start({}, "dns"));
    client_ = &local_.client();
  }
  void TearDown() override {
    dns_.reset();
    client_ = nullptr;
    local_.stop();
  }

  minik8s::testing::LocalApi local_;
  client::Client* client_ = nullptr;
  std::unique_ptr<DnsServer> dns_;
};

TEST_F(DnsWithApiServer, ServiceResolvableAndGoneAfterDelete) {
  DnsOptions o;
  o.port = 0;
  o.upstream = {"127.0.0.1:9"};
  o.ingress_ip = "10.1.2.3";
  dns_ = std::make_unique<DnsServer>(client_, o);
  ASSERT_TRUE(dns_->start().is_ok());
  const auto& svc_type = *api::find_kind("v1", "Service");
  Json svc = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", "web"}, {"namespace", "default"}}},
              {"spec", {{"selector", {{"app", "web"}}}, {"ports", {{{"name", "http"}, {"port", 80}}}}}}};
  auto created = client_->create(svc_type, svc);
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  std::string ip = (*created)["spec"]["clusterIP"];
  ASSERT_FALSE(ip.empty());
  EXPECT_TRUE(eventually([&] { return a_of(dns_->port(), "web.default.svc.cluster.local") == ip; }))
      << "clusterIP " << ip;

  const auto& dns_type = *api::find_kind("minik8s.io/v1", "DNS");
  Json obj = {{"apiVersion", "minik8s.io/v1"},
              {"kind", "DNS"},
              {"metadata", {{"name", "site"}, {"namespace", "default"}}},
              {"spec", {{"host", "example.com"}, {"paths", {{{"path", "/a"}, {"serviceName", "web"}, {"servicePort", 80}}}}}}};
  auto made = client_->create(dns_type, obj);
  ASSERT_TRUE(made.is_ok()) << made.status().to_string();
  EXPECT_TRUE(eventually([&] { return a_of(dns_->port(), "example.com") == "10.1.2.3"; }));

  ASSERT_TRUE(client_->remove(svc_type, "default", "web").is_ok());
  EXPECT_TRUE(eventually(
      [&] {
        auto m = ask(dns_->port(), "web.default.svc.cluster.local", kTypeA);
        return m && m->header.rcode() == kRcodeNxDomain;
      }));
}

}  // namespace
}  // namespace minik8s::dns
