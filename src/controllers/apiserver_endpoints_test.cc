// ApiserverEndpointsReconciler: several in-process API servers over one
// shared SqliteStorage (as several `minik8s server`s share one etcd), each
// with its own client and reconciler; short lease periods.
#include "minik8s/controllers/apiserver_endpoints.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "minik8s/api/resource.h"
#include "minik8s/apiserver/apiserver.h"
#include "minik8s/client/client.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/storage/storage.h"
#include "test/fakes/eventually.h"
#include "test/fakes/temp_dir.h"

namespace minik8s::controllers {
namespace {

using nlohmann::json;
using testing::eventually;

// One API server on the shared store, its client and its reconciler.
struct Server {
  std::unique_ptr<apiserver::ApiServer> api;
  std::unique_ptr<client::RestClient> rest;
  std::unique_ptr<client::Client> client;
  std::unique_ptr<ApiserverEndpointsReconciler> reconciler;
};

class ApiserverEndpointsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    storage::SqliteOptions so;
    so.path = dir_.path() + "/store.db";
    auto s = storage::open_sqlite_storage(so);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    store_ = std::move(s.value());
  }
  void TearDown() override {
    for (auto& s : servers_) {
      if (s->reconciler) s->reconciler->stop();
      s->client.reset();
      s->rest.reset();
      if (s->api) s->api->stop();
    }
    servers_.clear();
    store_.reset();
  }

  ApiserverEndpointsOptions options(const std::string& ip, uint16_t port) {
    ApiserverEndpointsOptions o;
    o.address = ip;
    o.port = port;
    o.lease_duration = std::chrono::seconds(1);
    o.renew_interval = std::chrono::milliseconds(200);
    return o;
  }

  // A server with a reconciler advertising ip:port.
  Server& start(const std::string& ip, uint16_t port) {
    auto s = std::make_unique<Server>();
    apiserver::ApiServerOptions ao;
    ao.port = 0;
    ao.write_kubernetes_endpoints = false;
    auto a = apiserver::ApiServer::start(*store_, ao);
    EXPECT_TRUE(a.is_ok()) << a.status().to_string();
    if (a.is_ok()) {
      s->api = std::move(a.value());
      client::HttpRestClientOptions ro;
      ro.server = s->api->url();
      auto r = client::make_http_rest_client(ro);
      EXPECT_TRUE(r.is_ok()) << r.status().to_string();
      if (r.is_ok()) {
        s->rest = std::move(r.value());
        s->client = std::make_unique<client::Client>(*s->rest);
        s->reconciler =
            std::make_unique<ApiserverEndpointsReconciler>(*s->client, options(ip, port));
        Status st = s->reconciler->start();
        EXPECT_TRUE(st.is_ok()) << st.to_string();
      }
    }
    servers_.push_back(std::move(s));
    return *servers_.back();
  }

  // The Endpoints default/kubernetes as the first server reads it (null when absent).
  json endpoints(size_t via = 0) {
    auto r =
        servers_[via]->client->get(*api::find_kind("v1", "Endpoints"), "default", "kubernetes");
    return r.is_ok() ? *r : json();
  }
  json lease(const std::string& ip, uint16_t port, size_t via = 0) {
    auto r = servers_[via]->client->get(*api::find_kind("coordination.k8s.io/v1", "Lease"),
                                        "kube-system", apiserver_lease_name(ip, port));
    return r.is_ok() ? *r : json();
  }
  std::string renew_time(const std::string& ip, uint16_t port, size_t via = 0) {
    json l = lease(ip, port, via);
    return l.is_object() ? l["spec"].value("renewTime", "") : "";
  }
  static json subset(std::vector<std::string> ips, int port) {
    json addresses = json::array();
    for (const auto& ip : ips) addresses.push_back({{"ip", ip}});
    return {{"addresses", addresses},
            {"ports", json::array({{{"name", "https"}, {"port", port}, {"protocol", "TCP"}}})}};
  }
  bool subsets_are(const json& want, size_t via = 0) {
    json ep = endpoints(via);
    return ep.is_object() && ep.value("subsets", json::array()) == want;
  }

  minik8s::testing::TempDir dir_{"apiserver-endpoints"};
  std::unique_ptr<storage::Storage> store_;
  std::vector<std::unique_ptr<Server>> servers_;
};

TEST_F(ApiserverEndpointsTest, OneServerListsItselfAndLeavesOnCleanStop) {
  Server& a = start("10.77.0.1", 6443);
  ASSERT_TRUE(a.reconciler->wait_until_listed(std::chrono::seconds(5)));
  // Listed means written: no polling.
  EXPECT_TRUE(subsets_are(json::array({subset({"10.77.0.1"}, 6443)}))) << endpoints().dump();
  ASSERT_TRUE(eventually([&] { return subsets_are(json::array({subset({"10.77.0.1"}, 6443)})); }))
      << endpoints().dump();
  json l = lease("10.77.0.1", 6443);
  ASSERT_TRUE(l.is_object());
  EXPECT_EQ(l["metadata"]["labels"][kApiserverIdentityLabel], "kube-apiserver");
  EXPECT_EQ(l["metadata"]["annotations"][kApiserverEndpointAnnotation], "10.77.0.1:6443");
  EXPECT_EQ(l["spec"]["leaseDurationSeconds"], 1);
  EXPECT_EQ(l["metadata"]["name"].get<std::string>().rfind("apiserver-", 0), 0u);

  // Renewals do not rewrite an Endpoints that is already right: two of them.
  const std::string rv = endpoints()["metadata"]["resourceVersion"];
  const std::string renewed = l["spec"]["renewTime"];
  std::string next;
  ASSERT_TRUE(eventually([&] {
    next = renew_time("10.77.0.1", 6443);
    return !next.empty() && next != renewed;
  }));
  ASSERT_TRUE(eventually([&] { return renew_time("10.77.0.1", 6443) != next; }));
  EXPECT_EQ(endpoints()["metadata"]["resourceVersion"], rv) << "a renewal rewrote the Endpoints";

  ASSERT_TRUE(a.reconciler->stop_and_remove().is_ok());
  // At once: no polling.
  EXPECT_TRUE(subsets_are(json::array())) << endpoints().dump();
  EXPECT_TRUE(lease("10.77.0.1", 6443).is_null());
}

TEST_F(ApiserverEndpointsTest, EveryLiveServerIsListedSortedAndGroupedByPort) {
  start("10.77.0.3", 6443);
  start("10.77.0.1", 6443);
  start("10.77.0.2", 7443);
  const json want =
      json::array({subset({"10.77.0.1", "10.77.0.3"}, 6443), subset({"10.77.0.2"}, 7443)});
  ASSERT_TRUE(eventually([&] { return subsets_are(want); })) << endpoints().dump();
  // Every server reads the same, and they settle: once every Lease was
  // renewed (every server's caches warm), the Endpoints stay put through the
  // next renewal of each.
  auto renew_times = [&] {
    std::vector<std::string> t;
    for (auto [ip, port] :
         {std::pair{"10.77.0.3", 6443}, {"10.77.0.1", 6443}, {"10.77.0.2", 7443}}) {
      t.push_back(renew_time(ip, static_cast<uint16_t>(port)));
    }
    return t;
  };
  auto all_renewed_since = [&](const std::vector<std::string>& before) {
    return eventually(
        [&] {
          auto now = renew_times();
          for (size_t i = 0; i < now.size(); ++i) {
            if (now[i].empty() || now[i] == before[i]) return false;
          }
          return true;
        },
        std::chrono::seconds(3));
  };
  ASSERT_TRUE(all_renewed_since(renew_times()));
  EXPECT_TRUE(subsets_are(want)) << endpoints().dump();
  const std::string rv = endpoints()["metadata"]["resourceVersion"];
  ASSERT_TRUE(all_renewed_since(renew_times()));
  EXPECT_TRUE(subsets_are(want, 1));
  EXPECT_TRUE(subsets_are(want, 2));
  EXPECT_EQ(endpoints()["metadata"]["resourceVersion"], rv);
}

TEST_F(ApiserverEndpointsTest, AServerThatDiesLeavesAfterTheLeaseDuration) {
  start("10.77.0.1", 6443);
  start("10.77.0.2", 6443);
  Server& c = start("10.77.0.3", 6443);
  ASSERT_TRUE(eventually([&] {
    return subsets_are(json::array({subset({"10.77.0.1", "10.77.0.2", "10.77.0.3"}, 6443)}));
  })) << endpoints().dump();

  // No clean-up: the loop stops, the Lease stays as a crash leaves it.
  c.reconciler->stop();
  const auto stopped = std::chrono::steady_clock::now();
  EXPECT_TRUE(lease("10.77.0.3", 6443).is_object());
  ASSERT_TRUE(eventually(
      [&] {
        return subsets_are(json::array({subset({"10.77.0.1", "10.77.0.2"}, 6443)}));
      },
      std::chrono::seconds(5)))
      << endpoints().dump();
  const auto took = std::chrono::steady_clock::now() - stopped;
  // Last renewal at most one renew period (200 ms) before the stop; 1 s lease.
  EXPECT_GE(took, std::chrono::milliseconds(700)) << "removed before its Lease could have expired";
  EXPECT_TRUE(eventually([&] { return lease("10.77.0.3", 6443).is_null(); }))
      << "the expired Lease stayed";
}

TEST_F(ApiserverEndpointsTest, ACleanStopLeavesAtOnceAndStaysOut) {
  Server& a = start("10.77.0.1", 6443);
  start("10.77.0.2", 6443);
  ASSERT_TRUE(eventually([&] {
    return subsets_are(json::array({subset({"10.77.0.1", "10.77.0.2"}, 6443)}));
  })) << endpoints().dump();
  ASSERT_TRUE(a.reconciler->stop_and_remove().is_ok());
  EXPECT_TRUE(subsets_are(json::array({subset({"10.77.0.2"}, 6443)}), 1)) << endpoints(1).dump();
  EXPECT_TRUE(lease("10.77.0.1", 6443, 1).is_null());
  // The survivor does not bring it back: wait for two of its renewals.
  json l = lease("10.77.0.2", 6443, 1);
  ASSERT_TRUE(l.is_object());
  const std::string renewed = l["spec"]["renewTime"];
  std::string next;
  ASSERT_TRUE(eventually([&] {
    next = renew_time("10.77.0.2", 6443, 1);
    return next != renewed;
  }));
  ASSERT_TRUE(eventually([&] { return renew_time("10.77.0.2", 6443, 1) != next; }));
  EXPECT_TRUE(subsets_are(json::array({subset({"10.77.0.2"}, 6443)}), 1)) << endpoints(1).dump();
}

TEST_F(ApiserverEndpointsTest, AServerWhoseLeaseIsDeletedRenewsIt) {
  start("10.77.0.1", 6443);
  start("10.77.0.2", 6443);
  ASSERT_TRUE(eventually([&] { return lease("10.77.0.2", 6443).is_object(); }));
  auto r = servers_[0]->client->remove(*api::find_kind("coordination.k8s.io/v1", "Lease"),
                                       "kube-system", apiserver_lease_name("10.77.0.2", 6443));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(eventually([&] { return lease("10.77.0.2", 6443).is_object(); }));
  // Its endpoint may have left for a moment (the other server saw the Lease
  // go); it is back with the new Lease.
  EXPECT_TRUE(eventually([&] {
    return subsets_are(json::array({subset({"10.77.0.1", "10.77.0.2"}, 6443)}));
  })) << endpoints().dump();
}

TEST(ApiserverEndpointsOptions, BadOptionsNameTheField) {
  ApiserverEndpointsOptions o;
  o.address = "127.0.0.1";
  o.port = 6443;
  EXPECT_NE(validate_apiserver_endpoints_options(o).message().find("address"), std::string::npos);
  o.address = "10.0.0.1";
  EXPECT_TRUE(validate_apiserver_endpoints_options(o).is_ok());
  o.port = 0;
  EXPECT_NE(validate_apiserver_endpoints_options(o).message().find("address"), std::string::npos);
  o.port = 6443;
  o.lease_duration = std::chrono::milliseconds(1500);
  EXPECT_NE(validate_apiserver_endpoints_options(o).message().find("lease_duration"),
            std::string::npos);
  o.lease_duration = std::chrono::seconds(10);
  EXPECT_NE(validate_apiserver_endpoints_options(o).message().find("lease_duration"),
            std::string::npos);
  o.renew_interval = std::chrono::milliseconds(0);
  EXPECT_NE(validate_apiserver_endpoints_options(o).message().find("renew_interval"),
            std::string::npos);
  EXPECT_EQ(apiserver_lease_name("10.0.0.1", 6443), apiserver_lease_name("10.0.0.1", 6443));
  EXPECT_NE(apiserver_lease_name("10.0.0.1", 6443), apiserver_lease_name("10.0.0.1", 6444));
}

}  // namespace
}  // namespace minik8s::controllers
