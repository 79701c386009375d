// The HTTP client with several servers (docs/ha.md "Clients"): which failures
// move a request to the next server, stickiness, watches, and two API
// servers over one store with the first stopped.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/client/client.h"
#include "minik8s/client/rest_client.h"
#include "test/fakes/local_api.h"

namespace minik8s::client {
namespace {

using namespace std::chrono_literals;
using api::Json;

// A loopback port nothing listens on (connections are refused).
int dead_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Accepts connections, reads what comes, and closes them without answering:
// a server that dies with the request in hand.
class Hangup {
 public:
  Hangup() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (true) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        if (stop_) {
          ::close(c);
          return;
        }
        char buf[4096];
        (void)::recv(c, buf, sizeof(buf), 0);  // the request arrived
        ++accepted_;
        ::close(c);
      }
    });
  }
  ~Hangup() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

const api::ResourceType& cm_type() { return *api::find_kind("v1", "ConfigMap"); }

Json configmap(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}}},
          {"data", {{"k", "v"}}}};
}

std::unique_ptr<RestClient> make(const std::string& servers) {
  HttpRestClientOptions o;
  o.server = servers;
  o.timeout = 10s;
  auto r = make_http_rest_client(o);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r ? std::move(r.value()) : nullptr;
}

TEST(SplitServers, CommasSpacesAndEmptyEntries) {
  EXPECT_EQ(split_servers("http://a:1"), std::vector<std::string>{"http://a:1"});
  EXPECT_EQ(split_servers(" http://a:1 ,, http://b:2,"),
            (std::vector<std::string>{"http://a:1", "http://b:2"}));
  EXPECT_TRUE(split_servers(" , ").empty());
  HttpRestClientOptions o;
  o.server = ",";
  EXPECT_EQ(make_http_rest_client(o).status().code(), Code::kInvalid);
  o.server = "http://a:1,https://b:2";  // each server keeps its own scheme
  EXPECT_TRUE(make_http_rest_client(o).is_ok());
  o.server = "http://a:1,ftp://b:2";
  EXPECT_EQ(make_http_rest_client(o).status().code(), Code::kInvalid);
}

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(api_.start({}, "failover")); }
  minik8s::testing::LocalApi api_;
};

TEST_F(FailoverTest, RefusedServerIsSkippedForEveryMethod) {
  auto rest = make("http://127.0.0.1:" + std::to_string(dead_port()) + "," + api_.url());
  Client c(*rest);
  auto created =
      c.create(cm_type(), configmap("one"));  // POST: the connect failed, nothing was sent
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  auto got = c.get(cm_type(), "default", "one");
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_EQ((*got)["data"]["k"], "v");
  auto list = c.list(cm_type(), "default");
  ASSERT_TRUE(list.is_ok());
  EXPECT_EQ((*list)["items"].size(), 1u);
}

TEST_F(FailoverTest, GetMovesOnFromAServerThatHungUpAndSticks) {
  Hangup hangup;
  auto rest = make(hangup.url() + "," + api_.url());
  Client c(*rest);
  ASSERT_TRUE(api_.client().create(cm_type(), configmap("x")).is_ok());
  // A GET that got no byte back is safe to send again elsewhere.
  auto got = c.list(cm_type(), "default");
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_EQ((*got)["items"].size(), 1u);
  EXPECT_EQ(hangup.accepted(), 1);
  // Sticky: the next requests go straight to the server that answered.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.get(cm_type(), "default", "x").is_ok());
  EXPECT_EQ(hangup.accepted(), 1);
}

TEST_F(FailoverTest, PostThatReachedAServerIsNeverSentAgain) {
  Hangup hangup;
  auto rest = make(hangup.url() + "," + api_.url());
  Client c(*rest);
  auto created = c.create(cm_type(), configmap("once"));
  // The first server took the request and died: it may have applied it, so
  // the client reports the failure instead of posting to the second.
  ASSERT_FALSE(created.is_ok());
  EXPECT_EQ(created.status().code(), Code::kUnavailable);
  EXPECT_EQ(hangup.accepted(), 1);
  EXPECT_EQ(api_.client().get(cm_type(), "default", "once").status().code(), Code::kNotFound);
  // A GET then moves on (and sticks); the next POST goes to the live server.
  ASSERT_TRUE(c.list(cm_type(), "default").is_ok());
  EXPECT_EQ(hangup.accepted(), 2);
  ASSERT_TRUE(c.create(cm_type(), configmap("once")).is_ok());
  EXPECT_EQ(hangup.accepted(), 2);
}

TEST_F(FailoverTest, TwoServersOverOneStoreSurviveTheFirstStopping) {
  apiserver::ApiServerOptions opts;
  opts.port = 0;
  auto second = apiserver::ApiServer::start(api_.store(), opts);
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  auto rest = make(api_.url() + "," + (*second)->url());
  Client c(*rest);
  ASSERT_TRUE(c.create(cm_type(), configmap("before")).is_ok());
  ListOptions lo;
  auto list = c.list(cm_type(), "default");
  ASSERT_TRUE(list.is_ok());
  lo.resource_version = (*list)["metadata"]["resourceVersion"].get<std::string>();
  auto w = c.watch(cm_type(), "default", lo);
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();

  api_.api().stop();  // the first server goes away
  // The watch on it ends; an informer would relist and rewatch: both reach the second.
  auto ev = (*w)->next(5s);
  EXPECT_FALSE(ev.has_value() && ev->type != "ERROR");
  EXPECT_TRUE((*w)->ended());
  auto relist = c.list(cm_type(), "default");
  ASSERT_TRUE(relist.is_ok()) << relist.status().to_string();
  EXPECT_EQ((*relist)["items"].size(), 1u);
  lo.resource_version = (*relist)["metadata"]["resourceVersion"].get<std::string>();
  auto w2 = c.watch(cm_type(), "default", lo);
  ASSERT_TRUE(w2.is_ok()) << w2.status().to_string();
  ASSERT_TRUE(c.create(cm_type(), configmap("after")).is_ok());
  auto ev2 = (*w2)->next(5s);
  ASSERT_TRUE(ev2.has_value());
  EXPECT_EQ(ev2->type, "ADDED");
  EXPECT_EQ((*ev2->object)["metadata"]["name"], "after");
  (*w2)->close();
  w2->reset();
  w->reset();
  (*second)->stop();
}

}  // namespace
}  // namespace minik8s::client
