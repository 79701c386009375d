// The Scheduler's incremental cache and asynchronous binding against a real
// in-process ApiServer (test/fakes/local_api.h): many pods over many nodes
// bound once each and spread evenly while bindings are in flight, a failed
// binding forgetting its assumption, node health changes (Ready=Unknown,
// the unreachable taint) reaching the snapshot, and the scheduler on a shared
// informer factory with an injected clock.
#include "minik8s/scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/client/client.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/util/time.h"
#include "test/fakes/fake_clock.h"
#include "test/fakes/local_api.h"

namespace minik8s::scheduler {
namespace {

using api::Json;
using namespace std::chrono_literals;

// Forwards to the real client; answers the first `fail_bindings` pods/binding
// POSTs with a 500 instead of sending them.
class FlakyRest : public client::RestClient {
 public:
  explicit FlakyRest(client::RestClient& real) : real_(real) {}
  Result<client::HttpResponse> request(const std::string& method, const std::string& path,
                                       const std::string& body, const std::string& content_type,
                                       const std::string& accept) override {
    if (method == "POST" && path.ends_with("/binding")) {
      binding_posts.fetch_add(1);
      if (fail_bindings.fetch_sub(1) > 0) {
        client::HttpResponse r;
        r.status = 500;
        r.content_type = "application/json";
        r.body = R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"injected","reason":"InternalError","code":500})";
        return r;
      }
    }
    return real_.request(method, path, body, content_type, accept);
  }
  Result<std::unique_ptr<client::LineStream>> watch(const std::string& path, const std::string& accept) override {
    return real_.watch(path, accept);
  }
  std::atomic<int> fail_bindings{0};
  std::atomic<int> binding_posts{0};

 private:
  client::RestClient& real_;
};

class SchedulerCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(local_.start({}, "sched"));
    client::HttpRestClientOptions ro;
    ro.server = local_.url();
    auto r = client::make_http_rest_client(ro);
    ASSERT_TRUE(r.is_ok());
    real_ = std::move(r.value());
    flaky_ = std::make_unique<FlakyRest>(*real_);
    sched_client_ = std::make_unique<client::Client>(*flaky_);
  }
  void TearDown() override {
    if (sched_) sched_->stop();
    sched_.reset();
    sched_client_.reset();
    flaky_.reset();
    real_.reset();
    local_.stop();
  }
  void start(int percentage = 0) {
    SchedulerOptions o;
    o.percentage_of_nodes_to_score = percentage;
    sched_ = std::make_unique<Scheduler>(*sched_client_, o);
    ASSERT_TRUE(sched_->start().is_ok());
  }
  static const api::ResourceType& pods() { return *api::find_resource("", "v1", "pods"); }
  static const api::ResourceType& nodes() { return *api::find_resource("", "v1", "nodes"); }

  static Json node(const std::string& name, const std::string& pods_allocatable = "110") {
    Json res = {{"cpu", "32"}, {"memory", "64Gi"}, {"pods", pods_allocatable}};
    return {{"apiVersion", "v1"},
            {"kind", "Node"},
            {"metadata", {{"name", name}, {"labels", {{"kubernetes.io/hostname", name}}}}},
            {"spec", Json::object()},
            {"status",
             {{"capacity", res}, {"allocatable", res}, {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
  }
  static Json pod(const std::string& name) {
    return {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", "default"}}},
            {"spec",
             {{"containers",
               {{{"name", "c"},
                 {"image", "busybox"},
                 {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}}}}}}}}};
  }
  void add_node(const Json& n) { ASSERT_TRUE(local_.client().create(nodes(), n).is_ok()); }
  void add_pod(const std::string& name) { ASSERT_TRUE(local_.client().create(pods(), pod(name)).is_ok()); }
  void set_ready(const std::string& name, const std::string& status) {
    Json patch = {{"status", {{"conditions", {{{"type", "Ready"}, {"status", status}}}}}}};
    ASSERT_TRUE(local_.client().patch(nodes(), "", name, client::PatchType::kMerge, patch, "status").is_ok());
  }
  // node name → pods bound to it (default namespace).
  std::map<std::string, int> placement(int* bound = nullptr) {
    std::map<std::string, int> out;
    int n = 0;
    auto list = local_.client().list(pods(), "default");
    if (list) {
      for (const auto& p : (*list)["items"]) {
        std::string node = p["spec"].value("nodeName", "");
        if (node.empty()) continue;
        ++out[node];
        ++n;
      }
    }
    if (bound) *bound = n;
    return out;
  }
  bool eventually(const std::function<bool()>& fn, std::chrono::milliseconds limit = 20s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (fn()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return fn();
  }

  minik8s::testing::LocalApi local_;
  std::unique_ptr<client::RestClient> real_;
  std::unique_ptr<FlakyRest> flaky_;
  std::unique_ptr<client::Client> sched_client_;
  std::unique_ptr<Scheduler> sched_;
};

// 120 nodes and 600 pods created while the scheduler binds with several
// bindings in flight: every pod is bound exactly once (one binding POST each)
// and least-allocated over all nodes puts exactly 5 on every node, so each
// cycle counted the pods assumed before it. With the adaptive
// percentageOfNodesToScore (100 of 120 nodes per cycle, a rotating window)
// the spread stays within one or two pods.
TEST_F(SchedulerCacheTest, ManyPodsAreBoundOnceAndSpreadEvenlyWithBindingsInFlight) {
  for (int i = 0; i < 120; ++i) ASSERT_NO_FATAL_FAILURE(add_node(node("n" + std::to_string(100 + i))));
  for (int percentage : {100, 0}) {
    SCOPED_TRACE(percentage);
    start(percentage);
    for (int i = 0; i < 600; ++i) ASSERT_NO_FATAL_FAILURE(add_pod("p" + std::to_string(i)));
    int bound = 0;
    ASSERT_TRUE(eventually([&] {
      placement(&bound);
      return bound == 600;
    })) << bound << " of 600 bound";
    auto per_node = placement();
    EXPECT_EQ(per_node.size(), 120u);
    int lo = 600, hi = 0;
    for (const auto& [n, k] : per_node) {
      lo = std::min(lo, k);
      hi = std::max(hi, k);
      if (percentage == 100) {
        EXPECT_EQ(k, 5) << n;
      }
    }
    EXPECT_LE(hi - lo, 2);
    EXPECT_EQ(flaky_->binding_posts.load(), 600);
    // Next round: no pods, fresh scheduler, same nodes.
    sched_->stop();
    sched_.reset();
    flaky_->binding_posts = 0;
    Json now = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}, {"gracePeriodSeconds", 0}};
    for (int i = 0; i < 600; ++i) {
      ASSERT_TRUE(local_.client().remove(pods(), "default", "p" + std::to_string(i), &now).is_ok());
    }
    ASSERT_TRUE(eventually([&] {
      auto list = local_.client().list(pods(), "default");
      return list && (*list)["items"].empty();
    }));
  }
}

// A node with room for exactly one pod and the first two bindings failing: the
// failed binding must give the room back (forget the assumption) and requeue,
// else the retry would find the node full ("Too many pods").
TEST_F(SchedulerCacheTest, FailedBindingForgetsTheAssumptionAndRetries) {
  ASSERT_NO_FATAL_FAILURE(add_node(node("only", "1")));
  flaky_->fail_bindings = 2;
  start();
  ASSERT_NO_FATAL_FAILURE(add_pod("p"));
  ASSERT_TRUE(eventually([&] { return placement()["only"] == 1; }));
  EXPECT_EQ(flaky_->binding_posts.load(), 3);
  auto p = local_.client().get(pods(), "default", "p");
  ASSERT_TRUE(p.is_ok());
  for (const auto& c : (*p)["status"].value("conditions", Json::array())) {
    if (c.value("type", "") == "PodScheduled") {
      EXPECT_EQ(c.value("status", ""), "True") << c.dump();
    }
  }
  // The node is full now: a second pod is unschedulable for that reason alone.
  ASSERT_NO_FATAL_FAILURE(add_pod("q"));
  std::string msg;
  ASSERT_TRUE(eventually([&] {
    auto q = local_.client().get(pods(), "default", "q");
    if (!q) return false;
    for (const auto& c : (*q)["status"].value("conditions", Json::array())) {
      if (c.value("type", "") == "PodScheduled" && c.value("reason", "") == "Unschedulable") {
        msg = c.value("message", "");
        return true;
      }
    }
    return false;
  }));
  EXPECT_EQ(msg, "0/1 nodes are available: 1 Too many pods.");
}

// A pod asking for nvidia.com/gpu lands only on a node that has a free one;
// one asking for more than any node has stays Pending with kube-scheduler's
// message.
TEST_F(SchedulerCacheTest, GpuPodsLandOnlyWhereGpusAreFree) {
  Json gpu = node("gpu-node");
  gpu["status"]["capacity"]["nvidia.com/gpu"] = "1";
  gpu["status"]["allocatable"]["nvidia.com/gpu"] = "1";
  for (auto n : {"a-cpu", "z-cpu"}) ASSERT_NO_FATAL_FAILURE(add_node(node(n)));
  ASSERT_NO_FATAL_FAILURE(add_node(gpu));
  start();
  auto gpu_pod = [&](const std::string& name, const std::string& n) {
    Json p = pod(name);
    p["spec"]["containers"][0]["resources"]["limits"] = {{"nvidia.com/gpu", n}};
    ASSERT_TRUE(local_.client().create(pods(), p).is_ok());
  };
  auto node_of = [&](const std::string& name) {
    auto p = local_.client().get(pods(), "default", name);
    return p ? (*p)["spec"].value("nodeName", "") : std::string();
  };
  auto unschedulable = [&](const std::string& name) {
    auto p = local_.client().get(pods(), "default", name);
    if (!p) return std::string();
    for (const auto& c : (*p)["status"].value("conditions", Json::array())) {
      if (c.value("type", "") == "PodScheduled" && c.value("reason", "") == "Unschedulable") {
        return c.value("message", "");
      }
    }
    return std::string();
  };
  ASSERT_NO_FATAL_FAILURE(gpu_pod("g1", "1"));
  ASSERT_TRUE(eventually([&] { return !node_of("g1").empty(); }));
  EXPECT_EQ(node_of("g1"), "gpu-node");
  // The only GPU is taken: the next one waits, and so does one asking for two.
  ASSERT_NO_FATAL_FAILURE(gpu_pod("g2", "1"));
  ASSERT_NO_FATAL_FAILURE(gpu_pod("big", "2"));
  ASSERT_TRUE(eventually([&] { return !unschedulable("g2").empty() && !unschedulable("big").empty(); }));
  EXPECT_EQ(unschedulable("g2"), "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.");
  EXPECT_EQ(unschedulable("big"), "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.");
  // Plain pods still go anywhere.
  ASSERT_NO_FATAL_FAILURE(add_pod("plain"));
  ASSERT_TRUE(eventually([&] { return !node_of("plain").empty(); }));
  // g1 goes away: g2 gets the GPU, big still does not fit.
  Json now = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}, {"gracePeriodSeconds", 0}};
  ASSERT_TRUE(local_.client().remove(pods(), "default", "g1", &now).is_ok());
  ASSERT_TRUE(eventually([&] { return node_of("g2") == "gpu-node"; }));
  EXPECT_EQ(node_of("big"), "");
}

// Node health reaches the snapshot: a node that is Ready=Unknown (its Lease
// expired) gets nothing new, nor one carrying the unreachable NoSchedule
// taint; pods pinned to them stay Pending with the reason, and are bound
// there once the nodes are healthy again (a node update retries them).
TEST_F(SchedulerCacheTest, UnreachableNodesGetNoNewPodsUntilTheyComeBack) {
  for (auto n : {"a", "b", "c"}) ASSERT_NO_FATAL_FAILURE(add_node(node(n)));
  ASSERT_NO_FATAL_FAILURE(set_ready("a", "Unknown"));
  Json taint = {{"spec", {{"taints", {{{"key", "node.kubernetes.io/unreachable"}, {"effect", "NoSchedule"}}}}}}};
  ASSERT_TRUE(local_.client().patch(nodes(), "", "b", client::PatchType::kMerge, taint).is_ok());
  start();  // its first cycle runs after both informers listed
  for (auto target : {"a", "b"}) {
    Json p = pod(std::string("pinned-") + target);
    p["spec"]["nodeSelector"]["kubernetes.io/hostname"] = target;
    ASSERT_TRUE(local_.client().create(pods(), p).is_ok());
  }
  for (int i = 0; i < 6; ++i) ASSERT_NO_FATAL_FAILURE(add_pod("p" + std::to_string(i)));
  int bound = 0;
  ASSERT_TRUE(eventually([&] {
    placement(&bound);
    return bound == 6;
  }));
  EXPECT_EQ(placement(), (std::map<std::string, int>{{"c", 6}}));
  auto message = [&](const std::string& name) {
    std::string msg;
    eventually([&] {
      auto q = local_.client().get(pods(), "default", name);
      if (!q) return false;
      for (const auto& c : (*q)["status"].value("conditions", Json::array())) {
        if (c.value("type", "") == "PodScheduled" && c.value("reason", "") == "Unschedulable") {
          msg = c.value("message", "");
          return true;
        }
      }
      return false;
    });
    return msg;
  };
  EXPECT_EQ(message("pinned-a"),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, "
            "2 node(s) didn't match Pod's node affinity/selector.");
  EXPECT_EQ(message("pinned-b"),
            "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
            "2 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.");

  ASSERT_NO_FATAL_FAILURE(set_ready("a", "True"));
  Json untaint = {{"spec", {{"taints", nullptr}}}};
  ASSERT_TRUE(local_.client().patch(nodes(), "", "b", client::PatchType::kMerge, untaint).is_ok());
  ASSERT_TRUE(eventually([&] {
    auto per_node = placement();
    return per_node["a"] == 1 && per_node["b"] == 1;
  }));
  EXPECT_EQ(placement(), (std::map<std::string, int>{{"a", 1}, {"b", 1}, {"c", 6}}));
}


// On a shared factory with an injected clock: the scheduler uses the
// factory's pod and node informers (no third one), counts its reconciles in
// metrics(), stamps PodScheduled and its Events with the clock's time, does
// not retry an unschedulable pod on its own status write, and retries it
// after 30 s of that clock (a probe pod shows that nothing ran at 29 s).
TEST_F(SchedulerCacheTest, OnASharedFactoryTheInjectedClockDrivesThePeriodicRetry) {
  ASSERT_NO_FATAL_FAILURE(add_node(node("only", "1")));
  SysTime t0;
  ASSERT_TRUE(parse_rfc3339("2030-01-02T03:04:05Z", &t0));
  minik8s::testing::FakeClock clock(t0);
  client::SharedInformerFactory factory(*sched_client_);
  client::Informer& shared_pods = factory.informer(pods());
  auto sched = std::make_unique<Scheduler>(factory, SchedulerOptions{}, clock);
  ASSERT_TRUE(sched->start().is_ok());
  EXPECT_EQ(factory.size(), 2u);  // pods (the one asked for above) and nodes
  EXPECT_TRUE(shared_pods.started());

  auto reconciles = [&] { return sched->metrics().reconcile_total; };
  auto unschedulable_since = [&](const std::string& name) {
    auto p = local_.client().get(pods(), "default", name);
    if (!p) return std::string();
    for (const auto& c : (*p)["status"].value("conditions", Json::array())) {
      if (c.value("type", "") == "PodScheduled" && c.value("reason", "") == "Unschedulable") {
        EXPECT_EQ(c.value("message", ""), "0/1 nodes are available: 1 Too many pods.");
        return c.value("lastTransitionTime", "");
      }
    }
    return std::string();
  };

  ASSERT_NO_FATAL_FAILURE(add_pod("a"));
  // The scheduler's pod informer has seen the binding (its handler ran, or
  // runs before b's add): no cluster-change retry of b is pending.
  ASSERT_TRUE(eventually([&] {
    auto a = shared_pods.indexer().get("default/a");
    return a && !(*a)["spec"].value("nodeName", "").empty();
  }));
  ASSERT_NO_FATAL_FAILURE(add_pod("b"));
  ASSERT_TRUE(eventually([&] { return !unschedulable_since("b").empty(); }));
  EXPECT_EQ(unschedulable_since("b"), "2030-01-02T03:04:05Z");
  ASSERT_TRUE(eventually([&] { return reconciles() == 2; })) << reconciles();
  bool event_at_clock_time = false;
  ASSERT_TRUE(eventually([&] {
    auto list = local_.client().list(*api::find_resource("", "v1", "events"), "default");
    if (!list) return false;
    for (const auto& e : (*list)["items"]) {
      if (e["involvedObject"].value("name", "") == "b" && e.value("reason", "") == "FailedScheduling") {
        event_at_clock_time = e.value("firstTimestamp", "") == "2030-01-02T03:04:05Z";
        return true;
      }
    }
    return false;
  }));
  EXPECT_TRUE(event_at_clock_time);

  // 29 s on: the probe pod is scheduled (and found unschedulable) alone.
  clock.advance(29s);
  ASSERT_NO_FATAL_FAILURE(add_pod("probe"));
  ASSERT_TRUE(eventually([&] { return !unschedulable_since("probe").empty(); }));
  ASSERT_TRUE(eventually([&] { return reconciles() >= 3; }));
  EXPECT_EQ(reconciles(), 3u);
  // 30 s on: b is looked at again (its status and event are unchanged).
  clock.advance(1s);
  ASSERT_TRUE(eventually([&] { return reconciles() == 4; })) << reconciles();
  EXPECT_EQ(sched->stats().cycles, 4u);
  EXPECT_EQ(sched->stats().unschedulable, 3u);
  EXPECT_EQ(sched->metrics().reconcile_errors_total, 0u);
  EXPECT_GE(sched->metrics().workqueue_adds_total, 4u);
  sched->stop();
  factory.stop();
}

}  // namespace
}  // namespace minik8s::scheduler
