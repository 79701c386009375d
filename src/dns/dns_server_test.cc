// DnsServer over loopback sockets (port 0): UDP and TCP answers, updates,
// forwarding to a fake upstream (and its timeout), malformed datagrams.
#include "minik8s/dns/dns.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>

#include "forwarder.h"
#include "wire.h"

namespace minik8s::dns {
namespace {

using api::Json;
using namespace std::chrono_literals;

Json service(const std::string& ns, const std::string& name, const std::string& ip) {
  return {{"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"clusterIP", ip}, {"ports", {{{"name", "http"}, {"port", 80}}}}}}};
}

std::string query(const std::string& name, uint16_t type, uint16_t id = 77) {
  MessageWriter w(id, kFlagRD);
  w.add_question(name, type);
  return w.take();
}

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// A UDP socket on 127.0.0.1:0.
struct UdpSocket {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  UdpSocket() {
    sockaddr_in a = loopback(0);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~UdpSocket() { ::close(fd); }
  int port() const {
    sockaddr_in a{};
    socklen_t l = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &l);
    return ntohs(a.sin_port);
  }
  void send_to(int port, const std::string& bytes) const {
    sockaddr_in a = loopback(port);
    ::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  std::optional<std::string> recv(std::chrono::milliseconds timeout, sockaddr_in* from = nullptr) const {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    char buf[65536];
    sockaddr_in a{};
    socklen_t l = sizeof a;
    ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&a), &l);
    if (n < 0) return std::nullopt;
    if (from) *from = a;
    return std::string(buf, static_cast<size_t>(n));
  }
};

Message udp_ask(int port, const std::string& q, std::chrono::milliseconds timeout = 2s) {
  UdpSocket s;
  s.send_to(port, q);
  auto r = s.recv(timeout);
  if (!r) {
    ADD_FAILURE() << "no UDP answer";
    return {};
  }
  auto m = parse_message(*r);
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  return m ? *m : Message{};
}

Message tcp_ask(int port, const std::string& q) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback(port);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  std::string framed(2, '\0');
  set_u16(reinterpret_cast<uint8_t*>(framed.data()), static_cast<uint16_t>(q.size()));
  framed += q;
  EXPECT_EQ(::send(fd, framed.data(), framed.size(), 0), static_cast<ssize_t>(framed.size()));
  std::string got;
  char buf[4096];
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (true) {
    if (got.size() >= 2 && got.size() >= 2u + get_u16(reinterpret_cast<const uint8_t*>(got.data()))) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (got.size() < 2) {
    ADD_FAILURE() << "no TCP answer";
    return {};
  }
  auto m = parse_message(got.substr(2));
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  return m ? *m : Message{};
}

DnsOptions local_options(std::vector<std::string> upstream = {"127.0.0.1:9"}) {
  DnsOptions o;
  o.listen_ip = "127.0.0.1";
  o.port = 0;
  o.upstream = std::move(upstream);
  o.upstream_timeout_ms = 300;
  return o;
}

TEST(DnsServer, AnswersServiceOverUdpAndTcp) {
  DnsServer server(nullptr, local_options());
  ASSERT_TRUE(server.start().is_ok());
  ASSERT_GT(server.port(), 0);
  server.set_objects({service("default", "web", "10.96.0.10")}, {}, {});
  auto m = udp_ask(server.port(), query("web.default.svc.cluster.local", kTypeA, 4242));
  EXPECT_EQ(m.header.id, 4242);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].ip, "10.96.0.10");
  auto t = tcp_ask(server.port(), query("_http._tcp.web.default.svc.cluster.local", kTypeSRV));
  ASSERT_EQ(t.answers.size(), 1u);
  EXPECT_EQ(t.answers[0].srv.port, 80);
  auto nx = udp_ask(server.port(), query("nope.default.svc.cluster.local", kTypeA));
  EXPECT_EQ(nx.header.rcode(), kRcodeNxDomain);
}

TEST(DnsServer, SetObjectsIsVisibleAtOnce) {
  DnsServer server(nullptr, local_options());
  ASSERT_TRUE(server.start().is_ok());
  EXPECT_EQ(udp_ask(server.port(), query("a.x.svc.cluster.local", kTypeA)).header.rcode(), kRcodeNxDomain);
  server.set_objects({service("x", "a", "10.96.1.1")}, {}, {});
  auto m = udp_ask(server.port(), query("a.x.svc.cluster.local", kTypeA));
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].ip, "10.96.1.1");
  server.set_objects({service("x", "a", "10.96.1.2")}, {}, {});
  m = udp_ask(server.port(), query("a.x.svc.cluster.local", kTypeA));
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].ip, "10.96.1.2");
  server.set_objects({}, {}, {});
  EXPECT_EQ(udp_ask(server.port(), query("a.x.svc.cluster.local", kTypeA)).header.rcode(), kRcodeNxDomain);
}

TEST(DnsServer, SurvivesGarbageAndKeepsAnswering) {
  DnsServer server(nullptr, local_options());
  ASSERT_TRUE(server.start().is_ok());
  server.set_objects({service("default", "web", "10.96.0.10")}, {}, {});
  UdpSocket s;
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 600, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    if (junk.size() > 2) junk[2] = static_cast<char>(junk[2] | 0x80);  // responses: must be dropped, no reply loops
    s.send_to(server.port(), junk);
  }
  EXPECT_FALSE(s.recv(100ms).has_value());  // responses are never answered
  // A truncated query (header + half a name) gets FORMERR with our ID.
  std::string q = query("web.default.svc.cluster.local", kTypeA, 99);
  s.send_to(server.port(), q.substr(0, 20));
  auto r = s.recv(2s);
  ASSERT_TRUE(r.has_value());
  auto m = parse_message(*r);
  ASSERT_TRUE(m.is_ok());
  EXPECT_EQ(m->header.id, 99);
  EXPECT_EQ(m->header.rcode(), kRcodeFormErr);
  // Garbage over TCP closes only that connection.
  {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(server.port());
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    std::string junk = "\x00\x05hello";
    ::send(fd, junk.data(), junk.size(), 0);
    ::close(fd);
  }
  auto ok = udp_ask(server.port(), query("web.default.svc.cluster.local", kTypeA));
  ASSERT_EQ(ok.answers.size(), 1u);
  ok = tcp_ask(server.port(), query("web.default.svc.cluster.local", kTypeA));
  ASSERT_EQ(ok.answers.size(), 1u);
}

// A fake upstream: answers A 1.2.3.4 for every question (or stays silent).
struct FakeUpstream {
  UdpSocket sock;
  std::atomic<bool> silent{false};
  std::atomic<bool> stop{false};
  std::atomic<int> queries{0};
  std::thread thread{[this] {
    while (!stop) {
      sockaddr_in from{};
      auto q = sock.recv(20ms, &from);
      if (!q) continue;
      ++queries;
      if (silent) continue;
      auto m = parse_message(*q);
      if (!m || m->questions.empty()) continue;
      MessageWriter w(m->header.id, kFlagQR | kFlagRA | kFlagRD);
      w.add_question(m->questions[0].name, m->questions[0].type);
      uint8_t ip[4] = {1, 2, 3, 4};
      w.add_a(MessageWriter::Section::kAnswer, m->questions[0].name, 60, ip);
      ::sendto(sock.fd, w.bytes().data(), w.bytes().size(), 0, reinterpret_cast<sockaddr*>(&from), sizeof from);
    }
  }};
  ~FakeUpstream() {
    stop = true;
    thread.join();
  }
};

TEST(DnsServer, ForwardsOtherNamesAndRestoresTheId) {
  FakeUpstream up;
  DnsServer server(nullptr, local_options({"127.0.0.1:" + std::to_string(up.sock.port())}));
  ASSERT_TRUE(server.start().is_ok());
  auto m = udp_ask(server.port(), query("www.Example.org", kTypeA, 31337));
  EXPECT_EQ(m.header.id, 31337);
  EXPECT_EQ(m.header.rcode(), kRcodeNoError);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].ip, "1.2.3.4");
  EXPECT_EQ(up.queries.load(), 1);
  // Cluster names never reach the upstream.
  udp_ask(server.port(), query("x.default.svc.cluster.local", kTypeA));
  EXPECT_EQ(up.queries.load(), 1);
}

TEST(DnsServer, UpstreamTimeoutAnswersServfail) {
  FakeUpstream up;
  up.silent = true;
  DnsServer server(nullptr, local_options({"127.0.0.1:" + std::to_string(up.sock.port())}));
  ASSERT_TRUE(server.start().is_ok());
  auto t0 = std::chrono::steady_clock::now();
  auto m = udp_ask(server.port(), query("slow.example.org", kTypeA, 5), 3s);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(m.header.id, 5);
  EXPECT_EQ(m.header.rcode(), kRcodeServFail);
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
  ASSERT_EQ(m.questions.size(), 1u);
  EXPECT_EQ(m.questions[0].name, "slow.example.org");
}

TEST(DnsServer, TcpQueriesAreForwardedOverTcp) {
  // A TCP upstream on loopback answering one framed query.
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback(0);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(lfd, 4), 0);
  socklen_t l = sizeof a;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &l);
  int up_port = ntohs(a.sin_port);
  std::thread upstream([lfd] {
    pollfd p{lfd, POLLIN, 0};
    if (::poll(&p, 1, 3000) <= 0) return;
    int c = ::accept(lfd, nullptr, nullptr);
    uint8_t len[2];
    if (::recv(c, len, 2, MSG_WAITALL) != 2) return ::close(c), void();
    std::string q(get_u16(len), '\0');
    ::recv(c, q.data(), q.size(), MSG_WAITALL);
    auto m = parse_message(q);
    if (m && !m->questions.empty()) {
      MessageWriter w(m->header.id, kFlagQR | kFlagRA);
      w.add_question(m->questions[0].name, m->questions[0].type);
      uint8_t ip[4] = {5, 6, 7, 8};
      w.add_a(MessageWriter::Section::kAnswer, m->questions[0].name, 60, ip);
      std::string out(2, '\0');
      set_u16(reinterpret_cast<uint8_t*>(out.data()), static_cast<uint16_t>(w.bytes().size()));
      out += w.bytes();
      ::send(c, out.data(), out.size(), 0);
    }
    ::close(c);
  });
  DnsServer server(nullptr, local_options({"127.0.0.1:" + std::to_string(up_port)}));
  ASSERT_TRUE(server.start().is_ok());
  auto m = tcp_ask(server.port(), query("tcp.example.org", kTypeA, 8));
  upstream.join();
  ::close(lfd);
  EXPECT_EQ(m.header.id, 8);
  ASSERT_EQ(m.answers.size(), 1u);
  EXPECT_EQ(m.answers[0].ip, "5.6.7.8");
}

TEST(DnsServer, UpstreamsFromResolvConfSkipOurselves) {
  auto path = std::filesystem::temp_directory_path() / ("mk-dns-resolv-" + std::to_string(::getpid()));
  {
    std::ofstream f(path);
    f << "# comment\nsearch example.org\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nnameserver ::1\n";
  }
  auto ns = resolv_conf_nameservers(path.string());
  std::filesystem::remove(path);
  EXPECT_EQ(ns, (std::vector<std::string>{"10.0.0.2", "[::1]"}));
  auto u = parse_upstream("[::1]:5353");
  ASSERT_TRUE(u.is_ok());
  EXPECT_EQ(u->text, "[::1]:5353");
  EXPECT_FALSE(parse_upstream("not-an-ip").is_ok());
  EXPECT_FALSE(parse_upstream("1.2.3.4:0").is_ok());
}

TEST(DnsServer, BusyPortIsUnavailable) {
  DnsServer first(nullptr, local_options());
  ASSERT_TRUE(first.start().is_ok());
  // TCP on the same port is taken (UDP would share through SO_REUSEPORT).
  DnsOptions o = local_options();
  o.port = first.port();
  DnsServer second(nullptr, o);
  auto s = second.start();
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("127.0.0.1:" + std::to_string(first.port())), std::string::npos) << s.message();
}

}  // namespace
}  // namespace minik8s::dns
