// NodeLifecycleController against a real in-process ApiServer: the test
// plays the agent (Node status heartbeats, the Lease) and the kubelet (pod
// status), with a 300 ms grace period.
#include <gtest/gtest.h>

#include <climits>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "minik8s/controllers/controllers.h"
#include "minik8s/util/time.h"
#include "node_lifecycle_taints.h"
#include "test_fixture.h"

namespace minik8s::controllers {
namespace {

using api::Json;
using testing_support::ApiFixture;
using namespace std::chrono_literals;

constexpr const char* kNs = "default";
constexpr auto kGrace = 300ms;

class NodeLifecycleTest : public ApiFixture {
 protected:
  // No DefaultTolerationSeconds admission here: each test states its pods' tolerations.
  void SetUp() override {
    apiserver::ApiServerOptions opts;
    opts.default_not_ready_toleration_seconds = -1;
    opts.default_unreachable_toleration_seconds = -1;
    ASSERT_NO_FATAL_FAILURE(local_.start(opts, "nodelife"));
    client_ = &local_.client();
  }
  void TearDown() override {
    ctrl_.reset();
    ApiFixture::TearDown();
  }

  void start() {
    NodeLifecycleOptions o;
    o.grace_period = kGrace;
    o.monitor_period = 50ms;
    ctrl_ = std::make_unique<NodeLifecycleController>(*client_, o);
    Status st = ctrl_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }

  const api::ResourceType& pods() { return kind("v1", "Pod"); }
  const api::ResourceType& nodes() { return kind("v1", "Node"); }
  const api::ResourceType& leases() { return kind("coordination.k8s.io/v1", "Lease"); }
  const api::ResourceType& events() { return kind("v1", "Event"); }

  // What the agent posts: the four conditions, Ready as given, heartbeat now.
  void post_status(const std::string& node, const std::string& ready = "True") {
    for (int i = 0; i < 5; ++i) {
      auto cur = client_->get(nodes(), "", node);
      ASSERT_TRUE(cur.is_ok()) << cur.status().to_string();
      Json n = *cur;
      std::string now = format_rfc3339_micro(real_clock().now());
      auto cond = [&](const char* type, const std::string& st) {
        return Json{{"type", type}, {"status", st}, {"reason", "Test"}, {"lastHeartbeatTime", now},
                    {"lastTransitionTime", now}};
      };
      n["status"]["conditions"] = Json::array({cond("MemoryPressure", "False"), cond("DiskPressure", "False"),
                                               cond("PIDPressure", "False"), cond("Ready", ready)});
      auto r = client_->update_status(nodes(), n);
      if (r.is_ok()) return;
      ASSERT_EQ(r.status().code(), Code::kConflict) << r.status().to_string();
    }
    FAIL() << "node status kept conflicting";
  }
  void add_node(const std::string& node) {
    Json n = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", node}}}, {"spec", Json::object()}};
    auto r = client_->create(nodes(), n);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    ASSERT_NO_FATAL_FAILURE(post_status(node));
    ASSERT_NO_FATAL_FAILURE(renew(node));
  }
  void renew(const std::string& node) {
    std::string now = format_rfc3339_micro(real_clock().now());
    auto cur = client_->get(leases(), "kube-node-lease", node);
    if (!cur.is_ok()) {
      Json l = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", node}, {"namespace", "kube-node-lease"}}},
                {"spec", {{"holderIdentity", node}, {"leaseDurationSeconds", 40}, {"renewTime", now}}}};
      auto r = client_->create(leases(), l);
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
      return;
    }
    Json l = *cur;
    l["spec"]["renewTime"] = now;
    auto r = client_->update(leases(), l);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  void add_pod(const std::string& name, const std::string& node, Json tolerations = Json::array()) {
    Json p = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", kNs}}},
              {"spec",
               {{"nodeName", node},
                {"tolerations", tolerations},
                {"containers", {{{"name", "c"}, {"image", "nginx:1.25"}}}}}}};
    auto r = client_->create(pods(), p);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    std::string now = format_rfc3339(real_clock().now());
    Json patch = {{"status",
                   {{"phase", "Running"},
                    {"podIP", "10.244.1.7"},
                    {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", now}}})}}}};
    auto s = client_->patch(pods(), kNs, name, client::PatchType::kMerge, patch, "status");
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  }
  static Json unreachable_toleration(std::optional<int> seconds) {
    Json t = {{"key", kTaintUnreachable}, {"operator", "Exists"}, {"effect", "NoExecute"}};
    if (seconds) t["tolerationSeconds"] = *seconds;
    return t;
  }

  Json get_node(const std::string& name) {
    auto r = client_->get(nodes(), "", name);
    return r.is_ok() ? *r : Json();
  }
  Json get_pod(const std::string& name) {
    auto r = client_->get(pods(), kNs, name);
    return r.is_ok() ? *r : Json();
  }
  static std::string condition(const Json& obj, const std::string& type, const char* what = "status") {
    const Json& conds = api::field(api::field(obj, "status"), "conditions");
    if (!conds.is_array()) return "";
    for (const auto& c : conds) {
      if (api::sfield(c, "type") == type) return api::sfield(c, what);
    }
    return "";
  }
  static std::vector<std::string> taints(const Json& node) {
    std::vector<std::string> out;
    const Json& ts = api::field(api::field(node, "spec"), "taints");
    if (!ts.is_array()) return out;
    for (const auto& t : ts) out.push_back(api::sfield(t, "key") + ":" + api::sfield(t, "effect"));
    std::sort(out.begin(), out.end());
    return out;
  }
  bool terminating(const std::string& pod) {
    Json p = get_pod(pod);
    return p.is_null() || api::field(p, "metadata").contains("deletionTimestamp");
  }
  bool has_event(const std::string& reason, const std::string& object) {
    auto r = client_->list(events(), "");
    if (!r.is_ok()) return false;
    for (const auto& e : (*r)["items"]) {
      if (api::sfield(e, "reason") == reason && api::sfield(api::field(e, "involvedObject"), "name") == object) {
        return true;
      }
    }
    return false;
  }

  // Keeps node's lease renewed every 50 ms while alive.
  struct Heart {
    Heart(NodeLifecycleTest& t, std::string node)
        : thread([&t, node](std::stop_token st) {
            while (!st.stop_requested()) {
              t.renew(node);
              std::this_thread::sleep_for(50ms);
            }
          }) {}
    std::jthread thread;
  };

  std::unique_ptr<NodeLifecycleController> ctrl_;
};

TEST_F(NodeLifecycleTest, SilentNodeGoesUnknownTaintedAndItsPodsNotReady) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  ASSERT_NO_FATAL_FAILURE(add_node("n2"));
  ASSERT_NO_FATAL_FAILURE(add_pod("p1", "n1", Json::array({unreachable_toleration(std::nullopt)})));
  ASSERT_NO_FATAL_FAILURE(add_pod("p2", "n2", Json::array({unreachable_toleration(std::nullopt)})));
  start();
  {
    // n2 keeps renewing its Lease (only): it must stay Ready throughout.
    Heart n2(*this, "n2");
    auto silent_since = std::chrono::steady_clock::now();
    ASSERT_TRUE(eventually([&] { return condition(get_node("n1"), "Ready") == "Unknown"; }, 5s));
    EXPECT_GE(std::chrono::steady_clock::now() - silent_since, kGrace);
    Json n1 = get_node("n1");
    for (const char* type : {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}) {
      EXPECT_EQ(condition(n1, type), "Unknown") << type;
      EXPECT_EQ(condition(n1, type, "reason"), "NodeStatusUnknown") << type;
      EXPECT_EQ(condition(n1, type, "message"), "Kubelet stopped posting node status.") << type;
    }
    ASSERT_TRUE(eventually([&] {
      return taints(get_node("n1")) == std::vector<std::string>{"node.kubernetes.io/unreachable:NoExecute",
                                                                  "node.kubernetes.io/unreachable:NoSchedule"};
    }));
    for (const auto& t : get_node("n1")["spec"]["taints"]) EXPECT_FALSE(api::sfield(t, "timeAdded").empty());
    ASSERT_TRUE(eventually([&] { return condition(get_pod("p1"), "Ready") == "False"; }));
    EXPECT_TRUE(eventually([&] { return has_event("NodeNotReady", "n1"); }));
    // The Lease-only node is fine, and so is its pod.
    Json n2n = get_node("n2");
    EXPECT_EQ(condition(n2n, "Ready"), "True");
    EXPECT_TRUE(taints(n2n).empty());
    EXPECT_EQ(condition(get_pod("p2"), "Ready"), "True");
    // Tolerated without a bound: never evicted.
    EXPECT_FALSE(terminating("p1"));
  }
}

TEST_F(NodeLifecycleTest, NodeBackReadyLosesTaints) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  start();
  ASSERT_TRUE(eventually([&] { return taints(get_node("n1")).size() == 2; }, 5s));
  ASSERT_NO_FATAL_FAILURE(post_status("n1"));  // the agent is back
  Heart beat(*this, "n1");
  ASSERT_TRUE(eventually([&] { return taints(get_node("n1")).empty(); }, 2s));
  EXPECT_EQ(condition(get_node("n1"), "Ready"), "True");
}

TEST_F(NodeLifecycleTest, KubeletReportingNotReadyGetsNotReadyTaints) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  start();
  Heart beat(*this, "n1");
  ASSERT_NO_FATAL_FAILURE(post_status("n1", "False"));
  ASSERT_TRUE(eventually([&] {
    return taints(get_node("n1")) == std::vector<std::string>{"node.kubernetes.io/not-ready:NoExecute",
                                                                "node.kubernetes.io/not-ready:NoSchedule"};
  }));
  EXPECT_EQ(condition(get_node("n1"), "Ready"), "False");  // not overwritten: the lease is fresh
  ASSERT_NO_FATAL_FAILURE(post_status("n1", "True"));
  ASSERT_TRUE(eventually([&] { return taints(get_node("n1")).empty(); }));
}

TEST_F(NodeLifecycleTest, EvictsAfterTolerationSecondsAndAtOnceWithoutToleration) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  ASSERT_NO_FATAL_FAILURE(add_pod("bare", "n1"));
  ASSERT_NO_FATAL_FAILURE(add_pod("one-second", "n1", Json::array({unreachable_toleration(1)})));
  ASSERT_NO_FATAL_FAILURE(add_pod("forever", "n1", Json::array({unreachable_toleration(std::nullopt)})));
  // Tolerates only the not-ready taint: the unreachable one evicts it at once.
  ASSERT_NO_FATAL_FAILURE(add_pod("wrong-key", "n1",
                                  Json::array({{{"key", kTaintNotReady},
                                                {"operator", "Exists"},
                                                {"effect", "NoExecute"},
                                                {"tolerationSeconds", 3600}}})));
  start();
  ASSERT_TRUE(eventually([&] { return taints(get_node("n1")).size() == 2; }, 5s));
  auto tainted = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return terminating("bare") && terminating("wrong-key"); }, 2s));
  EXPECT_LT(std::chrono::steady_clock::now() - tainted, 900ms);
  EXPECT_FALSE(terminating("one-second"));
  ASSERT_TRUE(eventually([&] { return terminating("one-second"); }, 3s));
  EXPECT_GE(std::chrono::steady_clock::now() - tainted, 800ms);
  EXPECT_FALSE(terminating("forever"));
  EXPECT_TRUE(has_event("TaintManagerEviction", "one-second"));
  // A graceful delete: the pod stays (Terminating) for the kubelet to confirm.
  EXPECT_FALSE(get_pod("one-second").is_null());
}

TEST_F(NodeLifecycleTest, TaintGoneBeforeTheTolerationEndsCancelsTheEviction) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  ASSERT_NO_FATAL_FAILURE(add_pod("two-seconds", "n1", Json::array({unreachable_toleration(2)})));
  start();
  ASSERT_TRUE(eventually([&] { return taints(get_node("n1")).size() == 2; }, 5s));
  auto tainted = std::chrono::steady_clock::now();
  ASSERT_NO_FATAL_FAILURE(post_status("n1"));
  Heart beat(*this, "n1");
  ASSERT_TRUE(eventually([&] { return taints(get_node("n1")).empty(); }, 1500ms));
  // Past the would-be deadline (2 s after the taint), the pod is still there.
  while (std::chrono::steady_clock::now() - tainted < 3s) {
    ASSERT_FALSE(terminating("two-seconds"));
    std::this_thread::sleep_for(100ms);
  }
}

TEST_F(NodeLifecycleTest, PodArrivingOnATaintedNodeIsEvicted) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  start();
  ASSERT_TRUE(eventually([&] { return taints(get_node("n1")).size() == 2; }, 5s));
  ASSERT_NO_FATAL_FAILURE(add_pod("late", "n1"));
  EXPECT_TRUE(eventually([&] { return terminating("late"); }, 2s));
}

// ---- pure helpers

TEST(NodeLifecycleTaints, ReconcileKeepsOthersAndTimeAdded) {
  SysTime now{};
  parse_rfc3339("2026-01-01T00:00:10Z", &now);
  Json cur = Json::array({{{"key", "dedicated"}, {"value", "gpu"}, {"effect", "NoSchedule"}},
                          {{"key", kTaintUnreachable}, {"effect", "NoExecute"}, {"timeAdded", "2026-01-01T00:00:00Z"}}});
  auto next = reconcile_taints(cur, desired_condition_taints("Unknown"), now);
  ASSERT_TRUE(next.has_value());
  ASSERT_EQ(next->size(), 3u);
  EXPECT_EQ((*next)[0]["key"], "dedicated");
  EXPECT_EQ((*next)[1]["timeAdded"], "2026-01-01T00:00:00Z");
  EXPECT_EQ((*next)[2]["effect"], "NoSchedule");
  EXPECT_EQ((*next)[2]["timeAdded"], "2026-01-01T00:00:10Z");
  EXPECT_FALSE(reconcile_taints(*next, desired_condition_taints("Unknown"), now).has_value());
  auto ready = reconcile_taints(*next, desired_condition_taints("True"), now);
  ASSERT_TRUE(ready.has_value());
  ASSERT_EQ(ready->size(), 1u);
  EXPECT_EQ((*ready)[0]["key"], "dedicated");
  auto not_ready = reconcile_taints(*next, desired_condition_taints("False"), now);
  ASSERT_TRUE(not_ready.has_value());
  EXPECT_EQ(not_ready->size(), 3u);
  EXPECT_EQ((*not_ready)[1]["key"], kTaintNotReady);
}

TEST(NodeLifecycleTaints, TolerationMatching) {
  Json taint = {{"key", kTaintUnreachable}, {"effect", "NoExecute"}};
  EXPECT_TRUE(toleration_tolerates({{"operator", "Exists"}}, taint));
  EXPECT_TRUE(toleration_tolerates({{"key", kTaintUnreachable}, {"operator", "Exists"}}, taint));
  EXPECT_FALSE(toleration_tolerates({{"key", kTaintUnreachable}, {"operator", "Exists"}, {"effect", "NoSchedule"}}, taint));
  EXPECT_TRUE(toleration_tolerates({{"key", kTaintUnreachable}}, taint));  // Equal, empty value
  EXPECT_FALSE(toleration_tolerates({{"key", kTaintUnreachable}, {"value", "x"}}, taint));
  EXPECT_FALSE(toleration_tolerates({{"key", kTaintNotReady}, {"operator", "Exists"}}, taint));
}

TEST(NodeLifecycleTaints, EvictionDecision) {
  SysTime t0{};
  parse_rfc3339("2026-01-01T00:00:00Z", &t0);
  auto start = [&](const Json&) { return t0; };
  std::vector<Json> taints = {{{"key", kTaintUnreachable}, {"effect", "NoExecute"}}};
  auto pod = [](Json tolerations) { return Json{{"spec", {{"tolerations", tolerations}}}}; };
  EXPECT_EQ(decide_eviction(pod(Json::array()), {}, start).kind, EvictionDecision::Kind::kNone);
  EXPECT_EQ(decide_eviction(pod(Json::array()), taints, start).kind, EvictionDecision::Kind::kNow);
  EXPECT_EQ(decide_eviction(Json::object(), taints, start).kind, EvictionDecision::Kind::kNow);
  auto d = decide_eviction(pod({{{"operator", "Exists"}, {"tolerationSeconds", 30}},
                                {{"key", kTaintUnreachable}, {"operator", "Exists"}, {"tolerationSeconds", 5}}}),
                           taints, start);
  ASSERT_EQ(d.kind, EvictionDecision::Kind::kAt);
  EXPECT_EQ(d.at, t0 + 30s);  // the first matching toleration is the one used (as Kubernetes)
  d = decide_eviction(pod({{{"key", kTaintUnreachable}, {"operator", "Exists"}, {"tolerationSeconds", -4}}}), taints,
                      start);
  ASSERT_EQ(d.kind, EvictionDecision::Kind::kAt);
  EXPECT_EQ(d.at, t0);
  // "Practically forever" must not wrap into the past (evicting at once).
  for (Json forever : {Json(INT64_MAX), Json(1e300)}) {
    d = decide_eviction(pod({{{"operator", "Exists"}, {"tolerationSeconds", forever}}}), taints, start);
    ASSERT_EQ(d.kind, EvictionDecision::Kind::kAt);
    EXPECT_GT(d.at, t0 + std::chrono::hours(24 * 365 * 50)) << forever.dump();
  }
  EXPECT_EQ(decide_eviction(pod({{{"operator", "Exists"}}}), taints, start).kind, EvictionDecision::Kind::kNone);
  // Two taints: one tolerated forever, one for 7 s → 7 s.
  taints.push_back({{"key", "x"}, {"effect", "NoExecute"}});
  d = decide_eviction(pod({{{"key", kTaintUnreachable}, {"operator", "Exists"}},
                           {{"key", "x"}, {"operator", "Exists"}, {"tolerationSeconds", 7}}}),
                      taints, start);
  ASSERT_EQ(d.kind, EvictionDecision::Kind::kAt);
  EXPECT_EQ(d.at, t0 + 7s);
}

}  // namespace
}  // namespace minik8s::controllers
