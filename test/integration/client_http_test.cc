// The client library against a real in-process ApiServer over HTTP.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "minik8s/api/resource.h"
#include "minik8s/apiserver/apiserver.h"
#include "minik8s/client/client.h"
#include "minik8s/client/informer.h"
#include "minik8s/storage/storage.h"

namespace minik8s::client {
namespace {

using namespace std::chrono_literals;
using api::Json;

template <typename F>
bool eventually(F f, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return f();
}

class ClientHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mk-client-it-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    storage::SqliteOptions so;
    so.path = (dir_ / "db.sqlite").string();
    so.compaction_interval = std::chrono::milliseconds(0);
    auto store = storage::open_sqlite_storage(so);
    ASSERT_TRUE(store) << store.status().to_string();
    store_ = std::move(*store);
    apiserver::ApiServerOptions ao;
    ao.port = 0;
    auto srv = apiserver::ApiServer::start(*store_, ao);
    ASSERT_TRUE(srv) << srv.status().to_string();
    server_ = std::move(*srv);
    HttpRestClientOptions ro;
    ro.server = server_->url();
    ro.timeout = 10s;
    auto rest = make_http_rest_client(ro);
    ASSERT_TRUE(rest) << rest.status().to_string();
    rest_ = std::move(*rest);
    client_ = std::make_unique<Client>(*rest_);
    pods_ = api::find_by_user_name("pods");
    ASSERT_NE(pods_, nullptr);
  }
  void TearDown() override {
    client_.reset();
    rest_.reset();
    if (server_) server_->stop();
    server_.reset();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  static Json pod(const std::string& name, const std::string& image = "nginx:1.25") {
    return Json{{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"app", name}}}}},
                {"spec", {{"containers", {{{"name", "c"}, {"image", image}}}}}}};
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Storage> store_;
  std::unique_ptr<apiserver::ApiServer> server_;
  std::unique_ptr<RestClient> rest_;
  std::unique_ptr<Client> client_;
  const api::ResourceType* pods_ = nullptr;
};

TEST_F(ClientHttpTest, CrudAndServerErrorsMapToStatus) {
  auto created = client_->create(*pods_, pod("web"));
  ASSERT_TRUE(created) << created.status().to_string();
  EXPECT_FALSE((*created)["metadata"]["resourceVersion"].get<std::string>().empty());
  auto dup = client_->create(*pods_, pod("web"));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  EXPECT_NE(dup.status().message().find("already exists"), std::string::npos) << dup.status().message();
  auto missing = client_->get(*pods_, "default", "nope");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "pods \"nope\" not found");

  auto got = client_->get(*pods_, "default", "web");
  ASSERT_TRUE(got);
  Json stale = *got;
  (*got)["metadata"]["labels"]["v"] = "2";
  ASSERT_TRUE(client_->update(*pods_, *got));
  stale["metadata"]["labels"]["v"] = "3";
  EXPECT_EQ(client_->update(*pods_, stale).status().code(), Code::kConflict);

  auto patched = client_->patch(*pods_, "default", "web", PatchType::kMerge, Json{{"metadata", {{"labels", {{"p", "1"}}}}}});
  ASSERT_TRUE(patched) << patched.status().to_string();
  EXPECT_EQ((*patched)["metadata"]["labels"]["p"], "1");
  EXPECT_EQ((*patched)["metadata"]["labels"]["v"], "2");

  ASSERT_TRUE(client_->create(*pods_, pod("db")));
  ListOptions lo;
  lo.label_selector = "app=db";
  auto list = client_->list(*pods_, "default", lo);
  ASSERT_TRUE(list);
  ASSERT_EQ((*list)["items"].size(), 1u);
  EXPECT_EQ((*list)["items"][0]["metadata"]["name"], "db");

  Json opts = {{"propagationPolicy", "Background"}};
  ASSERT_TRUE(client_->remove(*pods_, "default", "db", &opts));
  EXPECT_TRUE(eventually([&] { return client_->get(*pods_, "default", "db").status().code() == Code::kNotFound; }));
}

TEST_F(ClientHttpTest, ManyRequestsFromManyThreadsOverThePool) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        if (client_->create(*pods_, pod("p-" + std::to_string(t) + "-" + std::to_string(i)))) ok++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
  auto list = client_->list(*pods_, "default");
  ASSERT_TRUE(list);
  EXPECT_EQ((*list)["items"].size(), 80u);
}

TEST_F(ClientHttpTest, WatchStreamsEventsFromAResourceVersion) {
  auto list = client_->list(*pods_, "default");
  ASSERT_TRUE(list);
  ListOptions lo;
  lo.resource_version = (*list)["metadata"]["resourceVersion"].get<std::string>();
  auto w = client_->watch(*pods_, "default", lo);
  ASSERT_TRUE(w) << w.status().to_string();
  ASSERT_TRUE(client_->create(*pods_, pod("a")));
  ASSERT_TRUE(client_->patch(*pods_, "default", "a", PatchType::kMerge, Json{{"metadata", {{"labels", {{"x", "y"}}}}}}));
  std::vector<std::string> seen;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (seen.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    auto ev = (*w)->next(1s);
    if (ev) seen.push_back(ev->type + " " + (*ev->object)["metadata"]["name"].get<std::string>());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED a", "MODIFIED a"}));
  // close() from another thread ends a blocked next() promptly.
  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    (*w)->close();
  });
  auto t0 = std::chrono::steady_clock::now();
  auto none = (*w)->next(10s);
  closer.join();
  EXPECT_FALSE(none);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST_F(ClientHttpTest, InformerSeesChangesFromAnotherClient) {
  ASSERT_TRUE(client_->create(*pods_, pod("before")));
  HttpRestClientOptions ro;
  ro.server = server_->url();
  auto rest2 = make_http_rest_client(ro);
  ASSERT_TRUE(rest2);
  Client informer_client(**rest2);
  Informer inf(informer_client, *pods_);
  std::mutex mu;
  std::vector<std::string> events;
  inf.add_event_handlers({
      [&](const ObjectPtr& o) {
        std::lock_guard l(mu);
        events.push_back("add " + object_key(*o));
      },
      [&](const ObjectPtr&, const ObjectPtr& n) {
        std::lock_guard l(mu);
        events.push_back("update " + object_key(*n));
      },
      [&](const ObjectPtr& o) {
        std::lock_guard l(mu);
        events.push_back("delete " + object_key(*o));
      },
  });
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(10s));
  auto has = [&](const std::string& e) {
    std::lock_guard l(mu);
    return std::find(events.begin(), events.end(), e) != events.end();
  };
  EXPECT_TRUE(has("add default/before"));
  ASSERT_TRUE(client_->create(*pods_, pod("after")));
  EXPECT_TRUE(eventually([&] { return has("add default/after"); }));
  ASSERT_TRUE(client_->patch(*pods_, "default", "after", PatchType::kMerge, Json{{"metadata", {{"labels", {{"x", "1"}}}}}}));
  EXPECT_TRUE(eventually([&] { return has("update default/after"); }));
  Json opts = {{"gracePeriodSeconds", 0}};
  ASSERT_TRUE(client_->remove(*pods_, "default", "before", &opts));
  EXPECT_TRUE(eventually([&] { return has("delete default/before"); }));
  EXPECT_TRUE(eventually([&] { return !inf.indexer().get("default/before") && inf.indexer().get("default/after"); }));
  inf.stop();
}

TEST_F(ClientHttpTest, ReconnectsWhenThePooledConnectionDied) {
  ASSERT_TRUE(client_->create(*pods_, pod("a")));  // leaves a pooled keep-alive connection
  uint16_t port = server_->port();
  server_->stop();
  server_.reset();
  apiserver::ApiServerOptions ao;
  ao.port = port;
  auto srv = apiserver::ApiServer::start(*store_, ao);
  if (!srv) GTEST_SKIP() << "could not re-bind port " << port << ": " << srv.status().to_string();
  server_ = std::move(*srv);
  // The pooled connection is dead; the client must retry on a fresh one.
  auto got = client_->get(*pods_, "default", "a");
  ASSERT_TRUE(got) << got.status().to_string();
  EXPECT_EQ((*got)["metadata"]["name"], "a");
}

// Several pooled connections die together (the server's idle timeout or a
// restart closes them all): the one retry must not take another dead one.
TEST_F(ClientHttpTest, ReconnectsWhenEveryPooledConnectionDied) {
  ASSERT_TRUE(client_->create(*pods_, pod("a")));
  {
    std::vector<std::thread> ts;  // concurrent requests leave several pooled connections
    for (int i = 0; i < 6; ++i) {
      ts.emplace_back([&] {
        for (int k = 0; k < 5; ++k) EXPECT_TRUE(client_->get(*pods_, "default", "a").is_ok());
      });
    }
    for (auto& t : ts) t.join();
  }
  uint16_t port = server_->port();
  server_->stop();
  server_.reset();
  apiserver::ApiServerOptions ao;
  ao.port = port;
  auto srv = apiserver::ApiServer::start(*store_, ao);
  if (!srv) GTEST_SKIP() << "could not re-bind port " << port << ": " << srv.status().to_string();
  server_ = std::move(*srv);
  for (int i = 0; i < 3; ++i) {
    auto got = client_->get(*pods_, "default", "a");
    ASSERT_TRUE(got) << "request " << i << ": " << got.status().to_string();
  }
}

TEST_F(ClientHttpTest, WatchFromTooOldVersionIsGone) {
  ASSERT_TRUE(client_->create(*pods_, pod("a")));
  auto first = client_->list(*pods_, "default");
  ASSERT_TRUE(first);
  std::string old_rv = (*first)["metadata"]["resourceVersion"];
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client_->patch(*pods_, "default", "a", PatchType::kMerge,
                               Json{{"metadata", {{"labels", {{"i", std::to_string(i)}}}}}}));
  }
  ASSERT_TRUE(store_->compact(store_->current_revision()));
  // A second server over the same store with a tiny watch window.
  apiserver::ApiServerOptions ao;
  ao.port = 0;
  ao.watch_cache_capacity = 2;
  auto small = apiserver::ApiServer::start(*store_, ao);
  ASSERT_TRUE(small) << small.status().to_string();
  HttpRestClientOptions ro;
  ro.server = (*small)->url();
  auto rest = make_http_rest_client(ro);
  ASSERT_TRUE(rest);
  Client c(**rest);
  ListOptions lo;
  lo.resource_version = old_rv;
  auto w = c.watch(*pods_, "default", lo);
  if (w) {
    // Kubernetes answers 200 and an ERROR event carrying a 410 Status.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!(*w)->ended() && std::chrono::steady_clock::now() < deadline) (void)(*w)->next(1s);
    ASSERT_TRUE((*w)->ended()) << "events delivered from a revision outside the watch window";
    EXPECT_EQ((*w)->status().code(), Code::kGone) << (*w)->status().to_string();
  } else {
    EXPECT_EQ(w.status().code(), Code::kGone) << w.status().to_string();
  }
  (*small)->stop();
}

TEST_F(ClientHttpTest, TransportErrorsAfterServerStops) {
  ASSERT_TRUE(client_->list(*pods_, "default"));  // leaves a pooled connection
  server_->stop();
  auto res = client_->list(*pods_, "default");
  ASSERT_FALSE(res);
  EXPECT_TRUE(res.status().code() == Code::kUnavailable || res.status().code() == Code::kTimeout)
      << res.status().to_string();
}

}  // namespace
}  // namespace minik8s::client
