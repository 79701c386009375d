// The API server's connection limits (docs/api.md "Connection limits"):
// slowloris header/body/keep-alive timeouts, the cap on connections with its
// 429 Status, a watch outliving the idle timeout, and recovery from EMFILE.
// Timeouts are set short through ApiServerOptions::conn_limits; every wait is
// a poll with a deadline.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test/fakes/local_api.h"
#include "test/fakes/process_limits.h"
#include "test/fakes/raw_client.h"

namespace minik8s::apiserver {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using minik8s::testing::ApiServerFixture;
using nlohmann::json;
using minik8s::testing::cpu_seconds;
using minik8s::testing::free_slots;

int dial(uint16_t port) { return minik8s::testing::dial_loopback(port); }
using minik8s::testing::send_all;

// Reads until the server closes (true) or the deadline passes (false); out gets the bytes.
bool closed_by_server(int fd, std::chrono::milliseconds limit, std::string* out = nullptr) {
  auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;
    if (out) out->append(buf, static_cast<size_t>(n));
  }
  return false;
}

// Reads one response (until its body, by Content-Length, is complete).
std::string read_response(int fd, std::chrono::milliseconds limit) {
  std::string out;
  auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    auto h = out.find("\r\n\r\n");
    if (h != std::string::npos) {
      auto cl = out.find("Content-Length: ");
      if (cl != std::string::npos && cl < h && out.size() >= h + 4 + std::stoul(out.substr(cl + 16))) break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

template <class F>
bool eventually(F f, std::chrono::milliseconds limit = 10s) {
  auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

class ConnLimitsTest : public ApiServerFixture {
 protected:
  // Restarts the fixture's server with these limits (same store).
  void restart(const ConnLimits& lim) {
    ApiServerOptions opts = options();
    opts.conn_limits = lim;
    ApiServerFixture::restart(opts);
  }
  static ConnLimits limits(std::chrono::milliseconds header, std::chrono::milliseconds body,
                           std::chrono::milliseconds idle, size_t max = 1024) {
    ConnLimits l;
    l.header_timeout = header;
    l.body_timeout = body;
    l.idle_timeout = idle;
    l.max_connections = max;
    return l;
  }
  const std::string readyz_ = "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
};

TEST_F(ConnLimitsTest, AHeaderTrickledByteByByteIsClosedAfterTheHeaderTimeout) {
  restart(limits(300ms, 10s, 10s));
  int fd = dial(local_.port());
  ASSERT_GE(fd, 0);
  auto t0 = Clock::now();
  ASSERT_TRUE(send_all(fd, "GET /readyz HTTP/1.1\r\n"));
  bool closed = false;
  for (int i = 0; i < 200 && !closed; ++i) {  // a header line every 25 ms, for up to 5 s
    closed = !send_all(fd, "X-" + std::to_string(i) + ": y\r\n") || closed_by_server(fd, 25ms);
  }
  EXPECT_TRUE(closed) << "a trickled header kept the connection open";
  EXPECT_GE(Clock::now() - t0, 250ms);
  ::close(fd);
  EXPECT_EQ(req("GET", "/readyz").code, 200);
}

TEST_F(ConnLimitsTest, AStalledBodyIsClosedAfterTheBodyTimeout) {
  restart(limits(10s, 300ms, 10s));
  int fd = dial(local_.port());
  ASSERT_GE(fd, 0);
  auto t0 = Clock::now();
  ASSERT_TRUE(send_all(fd,
                       "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n"
                       "Content-Type: application/json\r\nContent-Length: 30000\r\n\r\n{"));
  EXPECT_TRUE(closed_by_server(fd, 5s)) << "a stalled body kept the connection open";
  EXPECT_GE(Clock::now() - t0, 250ms);
  ::close(fd);
}

TEST_F(ConnLimitsTest, AnIdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  restart(limits(10s, 10s, 300ms));
  int fd = dial(local_.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, readyz_));
  std::string r = read_response(fd, 5s);
  ASSERT_EQ(r.rfind("HTTP/1.1 200", 0), 0u) << r;
  auto t0 = Clock::now();
  EXPECT_TRUE(closed_by_server(fd, 5s)) << "an idle keep-alive connection stayed open";
  EXPECT_GE(Clock::now() - t0, 250ms);
  ::close(fd);
  // A connection that never sends anything falls under the header timeout.
  fd = dial(local_.port());
  EXPECT_FALSE(closed_by_server(fd, 100ms));
  ::close(fd);
}

TEST_F(ConnLimitsTest, PastTheCapA429StatusAndReadyzAnswersOnceConnectionsDrop) {
  restart(limits(20s, 20s, 20s, 3));
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) {
    int fd = dial(local_.port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(send_all(fd, readyz_));  // served: the connection is counted and stays open
    ASSERT_EQ(read_response(fd, 5s).rfind("HTTP/1.1 200", 0), 0u);
    held.push_back(fd);
  }
  int fd = dial(local_.port());
  ASSERT_TRUE(send_all(fd, readyz_));
  std::string r;
  EXPECT_TRUE(closed_by_server(fd, 5s, &r));
  ::close(fd);
  ASSERT_EQ(r.rfind("HTTP/1.1 429 ", 0), 0u) << r;
  json st = json::parse(r.substr(r.find("\r\n\r\n") + 4), nullptr, false);
  EXPECT_EQ(st.value("kind", ""), "Status") << r;
  EXPECT_EQ(st.value("code", 0), 429) << r;
  EXPECT_EQ(st.value("reason", ""), "TooManyRequests") << r;
  EXPECT_EQ(st.value("message", ""), "too many open connections (limit 3)") << r;

  ::close(held.back());
  held.pop_back();
  EXPECT_TRUE(eventually([&] { return req("GET", "/readyz").code == 200; }));
  for (int h : held) ::close(h);
}

TEST_F(ConnLimitsTest, AWatchOutlivesTheIdleTimeout) {
  restart(limits(300ms, 300ms, 300ms));
  // (The fixture's reader returns at the deadline: its buffer waits to fill.)
  auto events = watch("/api/v1/namespaces/default/configmaps?watch=true", 1, 4s, [&] {
    // The idle timeout has passed for a connection opened now, and then some.
    int fd = dial(local_.port());
    ASSERT_TRUE(send_all(fd, readyz_));
    ASSERT_EQ(read_response(fd, 5s).rfind("HTTP/1.1 200", 0), 0u);
    EXPECT_TRUE(closed_by_server(fd, 5s));
    ::close(fd);
    fd = dial(local_.port());
    ASSERT_TRUE(send_all(fd, readyz_));
    ASSERT_EQ(read_response(fd, 5s).rfind("HTTP/1.1 200", 0), 0u);
    EXPECT_TRUE(closed_by_server(fd, 5s));
    ::close(fd);
    EXPECT_EQ(post("/api/v1/namespaces/default/configmaps",
                   {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "late"}}}})
                  .code,
              201);
  });
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].value("type", ""), "ADDED");
}

// Out of descriptors the server neither spins nor locks up: the client it
// cannot take is told so, and /readyz answers again once clients leave, with
// the limit still low.
TEST_F(ConnLimitsTest, RunningOutOfDescriptorsNeitherSpinsNorLocksUp) {
  restart(limits(20s, 20s, 20s));
  minik8s::testing::TightFdLimit tight(40);
  ASSERT_TRUE(tight.ok());
  const size_t limit = tight.limit();

  // Idle keep-alive clients (two descriptors each) until one slot is left.
  std::vector<int> fds;
  while (free_slots(limit) >= 2) {
    int fd = dial(local_.port());
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
    ASSERT_TRUE(send_all(fd, readyz_));
    ASSERT_EQ(read_response(fd, 5s).rfind("HTTP/1.1 200", 0), 0u);
  }
  if (free_slots(limit) == 0) {
    ::close(fds.back());
    fds.pop_back();
    ASSERT_TRUE(eventually([&] { return free_slots(limit) >= 2; })) << free_slots(limit);
  }
  while (free_slots(limit) > 1) fds.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_EQ(free_slots(limit), 1u);
  int starved = dial(local_.port());
  ASSERT_GE(starved, 0);
  fds.push_back(starved);
  ASSERT_TRUE(send_all(starved, readyz_));
  double before = cpu_seconds();
  auto t0 = Clock::now();
  std::string got;
  closed_by_server(starved, 500ms, &got);
  EXPECT_EQ(got.rfind("HTTP/1.1 503 ", 0), 0u) << got;
  EXPECT_NE(got.find("too many open files"), std::string::npos) << got;
  std::this_thread::sleep_until(t0 + 500ms);  // a measurement window, not a wait for a state
  double used = cpu_seconds() - before;
  double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_LT(used, wall * 0.3) << "the accept loop spins at EMFILE";

  for (int fd : fds) ::close(fd);
  EXPECT_TRUE(eventually([&] {
    int fd = dial(local_.port());
    if (fd < 0) return false;
    bool ok = send_all(fd, readyz_) && read_response(fd, 1s).rfind("HTTP/1.1 200", 0) == 0;
    ::close(fd);
    return ok;
  })) << "/readyz does not answer after the clients left";
}

}  // namespace
}  // namespace minik8s::apiserver
