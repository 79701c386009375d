// The advertise address (ApiServerOptions::advertise_address): the endpoint
// of the Service default/kubernetes, and a second listener when the bind
// address is another single address (loopback), so pods reach the server.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>

#include "minik8s/apiserver/apiserver.h"
#include "test/fakes/mem_storage.h"

namespace minik8s::apiserver {
namespace {

using nlohmann::json;

// An IPv4 address of this host that is not loopback or link-local ("" if none).
std::string host_ipv4() {
  std::string out;
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) != 0) return out;
  for (ifaddrs* i = ifs; i && out.empty(); i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    uint32_t a = ntohl(reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr);
    if ((a >> 24) == 127 || (a >> 16) == 0xa9fe) continue;
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
    out = buf;
  }
  freeifaddrs(ifs);
  return out;
}

// The status line of a plain-HTTP GET /readyz to ip:port ("" when it fails).
std::string readyz_status(const std::string& ip, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
  std::string got;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
    const std::string req = "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[512];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) got.assign(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return got.substr(0, got.find("\r\n"));
}

class AdvertiseTest : public ::testing::Test {
 protected:
  void start(const std::string& advertise) {
    ApiServerOptions opts;
    opts.port = 0;
    opts.advertise_address = advertise;
    auto s = ApiServer::start(store_, opts);
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    server_ = std::move(s.value());
  }
  void TearDown() override {
    if (server_) server_->stop();
  }
  LocalResponse get(const std::string& target) { return server_->local_request("GET", target); }

  testing::MemStorage store_;
  std::unique_ptr<ApiServer> server_;
};

TEST_F(AdvertiseTest, LoopbackAloneHasNoEndpointPodsCouldUse) {
  start("");
  EXPECT_EQ(get("/api/v1/namespaces/default/services/kubernetes").code, 200);
  EXPECT_EQ(get("/api/v1/namespaces/default/endpoints/kubernetes").code, 404);
}

TEST_F(AdvertiseTest, EndpointIsTheAdvertiseAddressAndTheServerListensThere) {
  const std::string ip = host_ipv4();
  if (ip.empty()) GTEST_SKIP() << "this host has no non-loopback IPv4 address";
  start(ip);
  auto r = get("/api/v1/namespaces/default/endpoints/kubernetes");
  ASSERT_EQ(r.code, 200) << r.body;
  json ep = json::parse(r.body);
  EXPECT_EQ(ep["subsets"][0]["addresses"][0]["ip"], ip);
  EXPECT_EQ(ep["subsets"][0]["ports"][0]["port"], server_->port());
  EXPECT_EQ(ep["subsets"][0]["ports"][0]["name"], "https");
  json svc = json::parse(get("/api/v1/namespaces/default/services/kubernetes").body);
  EXPECT_EQ(svc["spec"]["ports"][0]["port"], 443);
  EXPECT_EQ(svc["spec"]["ports"][0]["targetPort"], server_->port());
  // Both listeners serve the API.
  EXPECT_EQ(readyz_status("127.0.0.1", server_->port()), "HTTP/1.1 200 OK");
  EXPECT_EQ(readyz_status(ip, server_->port()), "HTTP/1.1 200 OK");
  server_->stop();
  EXPECT_EQ(readyz_status(ip, server_->port()), "") << "the advertise listener outlived stop()";
}

TEST_F(AdvertiseTest, AnAddressThatIsNotThisHostsFailsTheStart) {
  ApiServerOptions opts;
  opts.port = 0;
  opts.advertise_address = "192.0.2.77";  // TEST-NET-1: on no interface
  auto s = ApiServer::start(store_, opts);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("the advertise address 192.0.2.77:"), std::string::npos)
      << s.status().message();
}

}  // namespace
}  // namespace minik8s::apiserver
