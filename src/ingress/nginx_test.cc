// The nginx process wrapper against the real nginx binary (skipped when the
// machine has none): start, reload, a rejected configuration, stop by PID.
#include "nginx.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "render.h"
#include "test_http.h"

namespace minik8s::ingress {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::http_get;

class NginxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir("nginx");
    nginx_ = std::make_unique<Nginx>("nginx", (dir_ / "prefix").string());
    if (!nginx_->find_binary()) GTEST_SKIP() << "no nginx binary";
    port_ = testing::free_port();
    ASSERT_GT(port_, 0);
  }
  void TearDown() override {
    if (nginx_) {
      EXPECT_TRUE(nginx_->stop().is_ok());
    }
    fs::remove_all(dir_);
  }
  std::string config(const std::vector<HostRoutes>& hosts) {
    RenderOptions o;
    o.prefix_dir = nginx_->prefix();
    o.listen_address = "127.0.0.1";
    o.port = port_;
    return render_nginx_config(hosts, o).text;
  }
  std::string live() {
    std::ifstream in(nginx_->conf_path());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path dir_;
  std::unique_ptr<Nginx> nginx_;
  int port_ = 0;
};

TEST_F(NginxTest, StartsReloadsRejectsBadConfigAndStops) {
  EXPECT_EQ(nginx_->running_pid(), 0);
  EXPECT_EQ(nginx_->ensure_running().code(), Code::kNotFound);  // nothing to run yet
  testing::Backend backend("A", "127.0.0.1");
  ASSERT_TRUE(backend.ok());

  std::string empty = config({});
  ASSERT_TRUE(nginx_->apply(empty).is_ok());
  int pid = nginx_->running_pid();
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(is_our_nginx(pid, nginx_->prefix()));
  EXPECT_FALSE(is_our_nginx(pid, nginx_->prefix() + "x"));
  EXPECT_FALSE(is_our_nginx(::getpid(), nginx_->prefix()));
  EXPECT_EQ(http_get("127.0.0.1", port_, "example.com", "/a").code, 404);

  HostRoutes h{"example.com",
               {Route{"/a", "127.0.0.1:" + std::to_string(backend.port()), "", "default/ex"}}};
  std::string one = config({h});
  ASSERT_TRUE(nginx_->apply(one).is_ok());
  EXPECT_EQ(nginx_->running_pid(), pid);  // reloaded, not restarted
  testing::HttpAnswer got;
  ASSERT_TRUE(testing::poll_until(
      [&] { return (got = http_get("127.0.0.1", port_, "example.com", "/a/x?q=1")).code == 200; },
      3s))
      << got.code << " " << got.body;
  EXPECT_EQ(got.body, "A GET /x?q=1\n");  // prefix stripped, query kept
  EXPECT_EQ(http_get("127.0.0.1", port_, "example.com", "/a").body, "A GET /\n");
  EXPECT_EQ(http_get("127.0.0.1", port_, "example.com", "/ab").code, 404);
  EXPECT_EQ(http_get("127.0.0.1", port_, "other.test", "/a").code, 404);

  // nginx refuses the candidate: the live configuration and process stay.
  Status bad = nginx_->apply(one + "this is not nginx {\n");
  EXPECT_EQ(bad.code(), Code::kInvalid);
  EXPECT_NE(bad.message().find("nginx.conf.new"), std::string::npos) << bad.message();
  EXPECT_EQ(live(), one);
  EXPECT_EQ(nginx_->running_pid(), pid);
  EXPECT_EQ(http_get("127.0.0.1", port_, "example.com", "/a").code, 200);

  // Killed from outside: ensure_running() brings it back on the live config.
  ::kill(pid, SIGKILL);
  ASSERT_TRUE(testing::poll_until([&] { return nginx_->running_pid() == 0; }, 3s));
  // Its workers may still hold the port for a moment; retry until it binds.
  ASSERT_TRUE(testing::poll_until([&] { return nginx_->ensure_running().is_ok(); }, 3s));
  EXPECT_NE(nginx_->running_pid(), 0);
  ASSERT_TRUE(testing::poll_until(
      [&] { return http_get("127.0.0.1", port_, "example.com", "/a").code == 200; }, 3s));

  int now = nginx_->running_pid();
  ASSERT_TRUE(nginx_->stop().is_ok());
  EXPECT_EQ(nginx_->running_pid(), 0);
  EXPECT_FALSE(process_running(now));
  EXPECT_EQ(http_get("127.0.0.1", port_, "example.com", "/a").code, 0);
}

TEST(NginxBinaryTest, MissingBinaryIsUnavailable) {
  Nginx n("/nonexistent/nginx", "/tmp/unused");
  auto r = n.find_binary();
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  Nginx m("minik8s-no-such-nginx", "/tmp/unused");
  EXPECT_EQ(m.find_binary().status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace minik8s::ingress
