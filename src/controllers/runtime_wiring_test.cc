// The controllers on client::Controller wired as `minik8s server` wires them:
// node IPAM and endpoints on one SharedInformerFactory, with an injected
// clock; replicaset, deployment and endpoints sharing one Pod informer (one
// list, one watch); the garbage collector, HPA and node lifecycle on one
// factory; against a real in-process ApiServer.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "minik8s/client/informer_factory.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/controllers/controllers.h"
#include "test/fakes/controller_fixture.h"
#include "test/fakes/fake_clock.h"

namespace minik8s::controllers {
namespace {

using api::Json;
using testing_support::ApiFixture;
using namespace std::chrono_literals;

class RuntimeWiringTest : public ApiFixture {};

// Passes everything to a real client and counts list (GET of a collection)
// and watch requests per collection path ("/api/v1/pods").
class CountingRest : public client::RestClient {
 public:
  explicit CountingRest(client::RestClient& inner) : inner_(inner) {}
  Result<client::HttpResponse> request(const std::string& method, const std::string& path, const std::string& body,
                                       const std::string& content_type, const std::string& accept) override {
    if (method == "GET") count(lists_, path);
    return inner_.request(method, path, body, content_type, accept);
  }
  Result<std::unique_ptr<client::LineStream>> watch(const std::string& path, const std::string& accept) override {
    count(watches_, path);
    return inner_.watch(path, accept);
  }
  int lists(const std::string& collection) const { return get(lists_, collection); }
  int watches(const std::string& collection) const { return get(watches_, collection); }

 private:
  void count(std::map<std::string, int>& m, const std::string& path) {
    std::lock_guard lock(mu_);
    m[path.substr(0, path.find('?'))]++;  // a GET of one object counts under its own path
  }
  int get(const std::map<std::string, int>& m, const std::string& collection) const {
    std::lock_guard lock(mu_);
    auto it = m.find(collection);
    return it == m.end() ? 0 : it->second;
  }
  client::RestClient& inner_;
  mutable std::mutex mu_;
  std::map<std::string, int> lists_, watches_;  // guarded by mu_
};

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

TEST_F(RuntimeWiringTest, ReplicaSetDeploymentAndEndpointsShareOnePodInformer) {
  client::HttpRestClientOptions ro;
  ro.server = local_.url();
  auto http = client::make_http_rest_client(ro);
  ASSERT_TRUE(http.is_ok()) << http.status().to_string();
  CountingRest rest(**http);
  client::Client counted(rest);
  client::SharedInformerFactory factory(counted);
  {
    // Replicaset first: it asks for the ReplicaSet informer's resync, which
    // is fixed once the factory has started that informer.
    ReplicaSetController rsc(factory);
    DeploymentController dc(factory);
    EndpointsController eps(factory);
    ASSERT_TRUE(rsc.start().is_ok());
    ASSERT_TRUE(dc.start().is_ok());
    ASSERT_TRUE(eps.start().is_ok());
    EXPECT_EQ(rsc.start().code(), Code::kInvalid);
    EXPECT_EQ(dc.start().code(), Code::kInvalid);

    // ReplicaSets, Pods, Deployments, Services, Endpoints (+ managed
    // EndpointSlices when served): one informer each, Pods shared by all three.
    size_t want = 5 + (api::find_kind("discovery.k8s.io/v1", "EndpointSlice") ? 1 : 0);
    EXPECT_EQ(factory.size(), want);

    Json svc = {{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", {{"name", "web"}, {"namespace", "default"}}},
                {"spec", {{"selector", {{"app", "web"}}}, {"ports", Json::parse(R"([{"port":80,"targetPort":8080}])")}}}};
    ASSERT_TRUE(client_->create(kind("v1", "Service"), svc).is_ok());
    Json deploy = {{"apiVersion", "apps/v1"},
                   {"kind", "Deployment"},
                   {"metadata", {{"name", "web"}, {"namespace", "default"}}},
                   {"spec",
                    {{"replicas", 2},
                     {"selector", {{"matchLabels", {{"app", "web"}}}}},
                     {"template",
                      {{"metadata", {{"labels", {{"app", "web"}}}}},
                       {"spec", {{"containers", {{{"name", "c"}, {"image", "nginx:1.25"}}}}}}}}}}};
    ASSERT_TRUE(client_->create(kind("apps/v1", "Deployment"), deploy).is_ok());

    // Deployment → ReplicaSet → two Pods, through the controllers alone.
    std::vector<Json> pods;
    ASSERT_TRUE(eventually(
        [&] {
          client::ListOptions o;
          o.label_selector = "app=web";
          auto r = client_->list(kind("v1", "Pod"), "default", o);
          if (!r) return false;
          pods.assign((*r)["items"].begin(), (*r)["items"].end());
          return pods.size() == 2;
        },
        10s));
    // Play the kubelet: bind, give an IP, report Ready.
    int n = 0;
    for (const Json& p : pods) {
      std::string name = p["metadata"]["name"].get<std::string>();
      const Json* ref = nullptr;
      for (const Json& r : p["metadata"]["ownerReferences"]) {
        if (r.value("controller", false)) ref = &r;
      }
      ASSERT_NE(ref, nullptr) << p.dump();
      EXPECT_EQ((*ref)["kind"], "ReplicaSet");
      std::string ip = "10.244.0." + std::to_string(10 + n++);
      ASSERT_TRUE(client_
                      ->patch(kind("v1", "Pod"), "default", name, client::PatchType::kMerge,
                              {{"spec", {{"nodeName", "n1"}}}})
                      .is_ok());
      Json status = {{"status",
                      {{"phase", "Running"},
                       {"podIP", ip},
                       {"podIPs", {{{"ip", ip}}}},
                       {"conditions",
                        {{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", format_rfc3339(real_clock().now())}}}}}}};
      ASSERT_TRUE(
          client_->patch(kind("v1", "Pod"), "default", name, client::PatchType::kMerge, status, "status").is_ok());
    }

    // The same pod events reach all three: Endpoints with both addresses, the
    // ReplicaSet's and then the Deployment's status with both available.
    EXPECT_TRUE(eventually([&] {
      auto r = client_->get(kind("v1", "Endpoints"), "default", "web");
      if (!r) return false;
      const Json& subsets = api::field(*r, "subsets");
      return subsets.is_array() && subsets.size() == 1 && subsets[0].contains("addresses") &&
             subsets[0]["addresses"].size() == 2;
    }));
    EXPECT_TRUE(eventually(
        [&] {
          auto r = client_->get(kind("apps/v1", "Deployment"), "default", "web");
          return r && api::field(api::field(*r, "status"), "availableReplicas") == 2 &&
                 api::field(api::field(*r, "status"), "updatedReplicas") == 2;
        },
        10s));

    // One list and one watch of Pods (and of ReplicaSets) for the process.
    EXPECT_EQ(rest.lists("/api/v1/pods"), 1);
    EXPECT_EQ(rest.watches("/api/v1/pods"), 1);
    EXPECT_EQ(rest.lists("/apis/apps/v1/replicasets"), 1);
    EXPECT_EQ(rest.watches("/apis/apps/v1/replicasets"), 1);

    EXPECT_GE(rsc.metrics().reconcile_total, 1u);
    EXPECT_GE(dc.metrics().reconcile_total, 1u);
    EXPECT_GE(eps.metrics().reconcile_total, 1u);
    eps.stop();
    dc.stop();
    rsc.stop();
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
