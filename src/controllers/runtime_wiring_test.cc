// The controllers on client::Controller wired as `minik8s server` wires them:
// on one SharedInformerFactory, with an injected clock, against a real
// in-process ApiServer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "minik8s/client/informer_factory.h"
#include "minik8s/controllers/controllers.h"
#include "test/fakes/fake_clock.h"
#include "test_fixture.h"

namespace minik8s::controllers {
namespace {

using api::Json;
using testing_support::ApiFixture;
using namespace std::chrono_literals;

class RuntimeWiringTest : public ApiFixture {};

TEST_F(RuntimeWiringTest, IpamAndEndpointsShareOneFactoryAndTheInjectedClock) {
  minik8s::testing::FakeClock clock(SysTime{} + std::chrono::hours(24 * 365 * 56));
  client::SharedInformerFactory factory(*client_);
  {
    NodeIpamController ipam(factory, NodeIpamOptions{}, clock);
    EndpointsController eps(factory, EndpointsOptions{}, clock);
    ASSERT_TRUE(ipam.start().is_ok());
    ASSERT_TRUE(eps.start().is_ok());
    EXPECT_EQ(eps.start().code(), Code::kInvalid);

    // Nodes, Services, Pods, Endpoints (+ managed EndpointSlices when served): one informer each.
    size_t want = 4 + (api::find_kind("discovery.k8s.io/v1", "EndpointSlice") ? 1 : 0);
    EXPECT_EQ(factory.size(), want);

    Json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "n1"}}}, {"spec", Json::object()}};
    ASSERT_TRUE(client_->create(kind("v1", "Node"), node).is_ok());
    Json svc = {{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", {{"name", "web"}, {"namespace", "default"}}},
                {"spec", {{"selector", {{"app", "web"}}}, {"ports", Json::parse(R"([{"port":80,"targetPort":8080}])")}}}};
    ASSERT_TRUE(client_->create(kind("v1", "Service"), svc).is_ok());
    Json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata", {{"name", "p1"}, {"namespace", "default"}, {"labels", {{"app", "web"}}}}},
                {"spec", {{"nodeName", "n1"}, {"containers", {{{"name", "c"}, {"image", "nginx:1.25"}}}}}}};
    ASSERT_TRUE(client_->create(kind("v1", "Pod"), pod).is_ok());
    Json status = {{"status",
                    {{"phase", "Running"},
                     {"podIP", "10.244.0.5"},
                     {"podIPs", {{{"ip", "10.244.0.5"}}}},
                     {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
    ASSERT_TRUE(client_->patch(kind("v1", "Pod"), "default", "p1", client::PatchType::kMerge, status, "status").is_ok());

    EXPECT_TRUE(eventually([&] {
      auto n = client_->get(kind("v1", "Node"), "", "n1");
      return n && api::sfield(api::field(*n, "spec"), "podCIDR") == "10.244.0.0/24";
    }));
    Json ep;
    EXPECT_TRUE(eventually([&] {
      auto r = client_->get(kind("v1", "Endpoints"), "default", "web");
      if (!r) return false;
      ep = *r;
      const Json& subsets = api::field(ep, "subsets");
      return subsets.is_array() && subsets.size() == 1 && subsets[0].contains("addresses") &&
             subsets[0]["addresses"].size() == 1 && subsets[0]["addresses"][0]["ip"] == "10.244.0.5";
    }));
    // The trigger-time annotation is written on the injected clock.
    EXPECT_EQ(api::sfield(api::field(api::field(ep, "metadata"), "annotations"),
                          "endpoints.kubernetes.io/last-change-trigger-time"),
              format_rfc3339_micro(clock.now()));

    EXPECT_GE(eps.metrics().reconcile_total, 1u);
    EXPECT_GE(ipam.metrics().workqueue_adds_total, 1u);
    EXPECT_EQ(eps.metrics().reconcile_errors_total, 0u);
    eps.stop();
    ipam.stop();
  }
  factory.stop();
}

TEST_F(RuntimeWiringTest, GcHpaAndNodeLifecycleShareTheFactorysInformers) {
  minik8s::testing::FakeClock clock(SysTime{} + std::chrono::hours(24 * 365 * 56));
  client::SharedInformerFactory factory(*client_);
  {
    GarbageCollector gc(factory, GarbageCollectorOptions{{"v1/Pod", "v1/Node", "apps/v1/ReplicaSet"}}, clock);
    HpaController hpa(factory, HpaOptions{}, clock);
    NodeLifecycleController lifecycle(factory, NodeLifecycleOptions{}, clock);
    ASSERT_TRUE(gc.start().is_ok());
    ASSERT_TRUE(hpa.start().is_ok());
    ASSERT_TRUE(lifecycle.start().is_ok());
    EXPECT_EQ(gc.start().code(), Code::kInvalid);
    // Pods, Nodes, ReplicaSets (GC), HPAs, Leases in kube-node-lease: the
    // Pods and Nodes are asked for three and two times, listed once each.
    EXPECT_EQ(factory.size(), 5u);

    // The collector works from the shared Pod cache: a pod whose owner is
    // gone is deleted.
    Json pod = {{"apiVersion", "v1"},
                {"kind", "Pod"},
                {"metadata",
                 {{"name", "orphan"},
                  {"namespace", "default"},
                  {"ownerReferences",
                   {{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "gone"}, {"uid", "no-such-uid"}}}}}},
                {"spec", {{"containers", {{{"name", "c"}, {"image", "nginx:1.25"}}}}}}};
    ASSERT_TRUE(client_->create(kind("v1", "Pod"), pod).is_ok());
    EXPECT_TRUE(eventually([&] { return !client_->get(kind("v1", "Pod"), "default", "orphan").is_ok(); }));
    EXPECT_GE(gc.metrics().reconcile_total, 1u);
    EXPECT_EQ(gc.metrics().reconcile_errors_total, 0u);
    // The node lifecycle controller's first monitor pass runs once its caches
    // synced (the clock stands still: no second one).
    EXPECT_TRUE(eventually([&] { return lifecycle.metrics().reconcile_total >= 1; }));
    lifecycle.stop();
    hpa.stop();
    gc.stop();
  }
  factory.stop();
}

}  // namespace
}  // namespace minik8s::controllers
