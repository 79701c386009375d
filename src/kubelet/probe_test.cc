#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "minik8s/kubelet/parts.h"

namespace minik8s::kubelet {
namespace {

using api::Json;

// A listening socket on 127.0.0.1, port 0.
int listen_local(int& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 16) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

// Answers every request with `status`, recording the last request text.
class HttpServer {
 public:
  explicit HttpServer(int status) : status_(status) {
    fd_ = listen_local(port_);
    thread_ = std::thread([this] { serve(); });
  }
  ~HttpServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  std::string last_request() {
    std::lock_guard lock(mu_);
    return last_;
  }

 private:
  void serve() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[1024];
      while (req.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard lock(mu_);
        last_ = req;
      }
      std::string resp = "HTTP/1.1 " + std::to_string(status_) + " X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
      ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }
  int status_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu_;
  std::string last_;
};

// Only exec_sync matters to the prober.
class ExecRuntime : public cri::Runtime {
 public:
  Result<cri::ExecSyncResult> exec_sync(const std::string& id, const std::vector<std::string>& cmd,
                                        int64_t timeout_seconds) override {
    last_id = id;
    last_cmd = cmd;
    last_timeout = timeout_seconds;
    return next;
  }
  Result<cri::ExecSyncResult> next = cri::ExecSyncResult{};
  std::string last_id;
  std::vector<std::string> last_cmd;
  int64_t last_timeout = -1;

  Result<cri::VersionInfo> version() override { return unsupported(); }
  Result<std::string> run_pod_sandbox(const cri::SandboxConfig&) override { return unsupported(); }
  Status stop_pod_sandbox(const std::string&) override { return unsupported(); }
  Status remove_pod_sandbox(const std::string&) override { return unsupported(); }
  Result<cri::SandboxStatus> pod_sandbox_status(const std::string&) override { return unsupported(); }
  Result<std::vector<cri::Sandbox>> list_pod_sandboxes(const cri::Labels&) override { return unsupported(); }
  Result<std::string> create_container(const std::string&, const cri::ContainerConfig&,
                                       const cri::SandboxConfig&) override {
    return unsupported();
  }
  Status start_container(const std::string&) override { return unsupported(); }
  Status stop_container(const std::string&, int64_t) override { return unsupported(); }
  Status remove_container(const std::string&) override { return unsupported(); }
  Result<std::vector<cri::Container>> list_containers(const cri::ContainerFilter&) override { return unsupported(); }
  Result<cri::ContainerStatus> container_status(const std::string&) override { return unsupported(); }
  Status update_container_resources(const std::string&, const cri::Resources&) override { return unsupported(); }
  Result<std::string> exec(const cri::ExecRequest&) override { return unsupported(); }
  Result<std::vector<cri::ContainerStats>> list_container_stats() override { return unsupported(); }
  Result<std::vector<cri::Image>> list_images() override { return unsupported(); }
  Result<std::optional<cri::Image>> image_status(const std::string&) override { return unsupported(); }
  Result<std::string> pull_image(const std::string&, const cri::SandboxConfig*) override { return unsupported(); }
  Status remove_image(const std::string&) override { return unsupported(); }

 private:
  static Status unsupported() { return internal_error("not in this fake"); }
};

class ProbeTest : public ::testing::Test {
 protected:
  ExecRuntime runtime_;
  Prober prober_{runtime_};
  Json container_ = Json::parse(R"({"name":"c","ports":[{"name":"http","containerPort":1}]})");
};

TEST_F(ProbeTest, HttpGet200And500) {
  HttpServer ok(200);
  Json probe = {{"httpGet", {{"path", "/healthz"}, {"port", ok.port()},
                             {"httpHeaders", Json::parse(R"([{"name":"X-Probe","value":"yes"}])")}}}};
  auto r = prober_.run(probe, container_, "127.0.0.1", "cid");
  EXPECT_EQ(r.outcome, ProbeOutcome::kSuccess) << r.message;
  std::string req = ok.last_request();
  EXPECT_EQ(req.rfind("GET /healthz HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("X-Probe: yes\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find("User-Agent: kube-probe/"), std::string::npos) << req;

  HttpServer bad(500);
  Json probe500 = {{"httpGet", {{"path", "/"}, {"port", bad.port()}}}};
  auto r2 = prober_.run(probe500, container_, "127.0.0.1", "cid");
  EXPECT_EQ(r2.outcome, ProbeOutcome::kFailure);
  EXPECT_EQ(r2.message, "HTTP probe failed with statuscode: 500");

  HttpServer redirect(302);
  Json probe302 = {{"httpGet", {{"port", std::to_string(redirect.port())}}}};
  EXPECT_EQ(prober_.run(probe302, container_, "127.0.0.1", "cid").outcome, ProbeOutcome::kSuccess);
}

TEST_F(ProbeTest, HttpGetNamedPort) {
  HttpServer ok(204);
  container_["ports"][0]["containerPort"] = ok.port();
  Json probe = {{"httpGet", {{"path", "/"}, {"port", "http"}}}};
  auto r = prober_.run(probe, container_, "127.0.0.1", "cid");
  EXPECT_EQ(r.outcome, ProbeOutcome::kSuccess) << r.message;

  Json unknown = {{"httpGet", {{"path", "/"}, {"port", "nope"}}}};
  auto r2 = prober_.run(unknown, container_, "127.0.0.1", "cid");
  EXPECT_EQ(r2.outcome, ProbeOutcome::kFailure);
  EXPECT_NE(r2.message.find("nope"), std::string::npos);
}

TEST_F(ProbeTest, HttpGetRefused) {
  int port = 0;
  int fd = listen_local(port);
  ASSERT_GE(fd, 0);
  ::close(fd);  // nothing listens there now
  Json probe = {{"httpGet", {{"path", "/ready"}, {"port", port}}}};
  auto r = prober_.run(probe, container_, "127.0.0.1", "cid");
  EXPECT_EQ(r.outcome, ProbeOutcome::kFailure);
  std::string hp = "127.0.0.1:" + std::to_string(port);
  EXPECT_EQ(r.message, "Get \"http://" + hp + "/ready\": dial tcp " + hp + ": connect: connection refused");
}

TEST_F(ProbeTest, HttpGetTimeout) {
  // Listening but never answering: the connection is accepted by the kernel,
  // the response never comes.
  int port = 0;
  int fd = listen_local(port);
  ASSERT_GE(fd, 0);
  Json probe = {{"httpGet", {{"path", "/"}, {"port", port}}}, {"timeoutSeconds", 1}};
  auto start = std::chrono::steady_clock::now();
  auto r = prober_.run(probe, container_, "127.0.0.1", "cid");
  auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  EXPECT_EQ(r.outcome, ProbeOutcome::kFailure);
  EXPECT_NE(r.message.find("context deadline exceeded"), std::string::npos) << r.message;
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_LT(took, std::chrono::seconds(3));
}

TEST_F(ProbeTest, TcpSocket) {
  int port = 0;
  int fd = listen_local(port);
  ASSERT_GE(fd, 0);
  Json probe = {{"tcpSocket", {{"port", port}}}};
  auto r = prober_.run(probe, container_, "127.0.0.1", "cid");
  EXPECT_EQ(r.outcome, ProbeOutcome::kSuccess) << r.message;
  ::close(fd);
  auto r2 = prober_.run(probe, container_, "127.0.0.1", "cid");
  EXPECT_EQ(r2.outcome, ProbeOutcome::kFailure);
  EXPECT_EQ(r2.message, "dial tcp 127.0.0.1:" + std::to_string(port) + ": connect: connection refused");
}

TEST_F(ProbeTest, ExecExitCodesAndTimeout) {
  Json probe = Json::parse(R"({"exec":{"command":["cat","/tmp/healthy"]},"timeoutSeconds":3})");
  runtime_.next = cri::ExecSyncResult{"fine\n", "", 0};
  auto r = prober_.run(probe, container_, "10.0.0.1", "cid-7");
  EXPECT_EQ(r.outcome, ProbeOutcome::kSuccess);
  EXPECT_EQ(runtime_.last_id, "cid-7");
  EXPECT_EQ(runtime_.last_cmd, (std::vector<std::string>{"cat", "/tmp/healthy"}));
  EXPECT_EQ(runtime_.last_timeout, 3);

  runtime_.next = cri::ExecSyncResult{"", "cat: can't open '/tmp/healthy'\n", 1};
  auto r2 = prober_.run(probe, container_, "10.0.0.1", "cid-7");
  EXPECT_EQ(r2.outcome, ProbeOutcome::kFailure);
  EXPECT_EQ(r2.message, "cat: can't open '/tmp/healthy'\n");

  runtime_.next = Status(Code::kTimeout, "deadline exceeded");
  auto r3 = prober_.run(probe, container_, "10.0.0.1", "cid-7");
  EXPECT_EQ(r3.outcome, ProbeOutcome::kFailure);
  EXPECT_EQ(r3.message, "command timed out");

  runtime_.next = Status(Code::kNotFound, "container not found");
  auto r4 = prober_.run(probe, container_, "10.0.0.1", "cid-7");
  EXPECT_EQ(r4.outcome, ProbeOutcome::kFailure);
  EXPECT_EQ(r4.message, "container not found");
}

TEST_F(ProbeTest, NoHandlerOrGarbageFails) {
  EXPECT_EQ(prober_.run(Json::object(), container_, "127.0.0.1", "cid").outcome, ProbeOutcome::kFailure);
  EXPECT_EQ(prober_.run(Json::parse(R"({"httpGet":{"port":[1]}})"), container_, "127.0.0.1", "cid").outcome,
            ProbeOutcome::kFailure);
  EXPECT_EQ(prober_.run(Json::parse(R"({"tcpSocket":{"port":80}})"), container_, "", "cid").outcome,
            ProbeOutcome::kFailure);
  EXPECT_EQ(prober_.run(Json("x"), container_, "127.0.0.1", "cid").outcome, ProbeOutcome::kFailure);
}

}  // namespace
}  // namespace minik8s::kubelet
