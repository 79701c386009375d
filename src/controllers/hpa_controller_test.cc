// HpaController against a real in-process ApiServer: a Deployment (only its
// scale subresource matters; no Deployment controller runs), Pods whose
// status the test writes like a kubelet, and a fake metrics.k8s.io group that
// serves PodMetrics with usage the test sets.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "minik8s/client/informer_factory.h"
#include "minik8s/controllers/controllers.h"
#include "minik8s/util/time.h"
#include "test/fakes/controller_fixture.h"
#include "test/fakes/fake_clock.h"

namespace minik8s::controllers {
namespace {

using api::Json;
using testing_support::ApiFixture;
using namespace std::chrono_literals;

constexpr const char* kNs = "default";

class FakePodMetrics : public apiserver::ApiGroupProvider {
 public:
  std::string group() const override { return "metrics.k8s.io"; }
  std::string version() const override { return "v1beta1"; }
  std::vector<apiserver::ExtraResource> resources() const override {
    return {{"pods", "PodMetrics", true}, {"nodes", "NodeMetrics", false}};
  }
  apiserver::LocalResponse handle(const std::string& method, const std::string& rest, const std::string& query,
                                  const std::string&) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++requests_;
    last_query_ = query;
    if (method != "GET" || rest != std::string("/namespaces/") + kNs + "/pods") {
      return {404, "application/json", R"({"kind":"Status","apiVersion":"v1","status":"Failure","code":404})"};
    }
    Json items = Json::array();
    std::string ts = format_rfc3339(real_clock().now());
    for (const auto& [name, u] : usage_) {
      items.push_back({{"metadata", {{"name", name}, {"namespace", kNs}}},
                       {"timestamp", ts},
                       {"window", "1s"},
                       {"containers",
                        Json::array({{{"name", "c"},
                                      {"usage", {{"cpu", std::to_string(u.first) + "m"},
                                                 {"memory", std::to_string(u.second)}}}}})}});
    }
    Json list = {{"kind", "PodMetricsList"}, {"apiVersion", "metrics.k8s.io/v1beta1"}, {"items", items}};
    return {200, "application/json", list.dump()};
  }
  void set(const std::string& pod, int64_t cpu_m, int64_t mem_bytes = 8 << 20) {
    std::lock_guard<std::mutex> lock(mu_);
    usage_[pod] = {cpu_m, mem_bytes};
  }
  std::string last_query() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_query_;
  }
  // Metrics requests so far: one per sync that got as far as the metrics.
  int requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::pair<int64_t, int64_t>> usage_;
  int requests_ = 0;
  std::string last_query_;
};

class HpaControllerTest : public ApiFixture {
 protected:
  void SetUp() override {
    ApiFixture::SetUp();
    metrics_ = std::make_shared<FakePodMetrics>();
    local_.api().add_api_group(metrics_);
  }
  void TearDown() override {
    ctrl_.reset();
    if (factory_) factory_->stop();
    factory_.reset();
    ApiFixture::TearDown();
  }

  void start() {
    HpaOptions o;
    o.sync_period = 200ms;
    ctrl_ = std::make_unique<HpaController>(*client_, o);
    Status st = ctrl_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
  // On a shared factory and a clock the test moves.
  void start_on(Clock& clock, std::chrono::milliseconds sync_period) {
    HpaOptions o;
    o.sync_period = sync_period;
    factory_ = std::make_unique<client::SharedInformerFactory>(*client_);
    ctrl_ = std::make_unique<HpaController>(*factory_, o, clock);
    Status st = ctrl_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }

  const api::ResourceType& deployments() { return kind("apps/v1", "Deployment"); }
  const api::ResourceType& hpas() { return kind("autoscaling/v2", "HorizontalPodAutoscaler"); }
  const api::ResourceType& pods() { return kind("v1", "Pod"); }

  void add_deployment(const std::string& name, int replicas) {
    Json d = {{"apiVersion", "apps/v1"},
              {"kind", "Deployment"},
              {"metadata", {{"name", name}, {"namespace", kNs}}},
              {"spec",
               {{"replicas", replicas},
                {"selector", {{"matchLabels", {{"app", name}}}}},
                {"template",
                 {{"metadata", {{"labels", {{"app", name}}}}},
                  {"spec", {{"containers", Json::array({{{"name", "c"}, {"image", "busybox:1.36"}}})}}}}}}}};
    auto r = client_->create(deployments(), d);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }

  // A Running, Ready pod labelled app=<app> (as its kubelet would report it).
  void add_pod(const std::string& name, const std::string& app, bool with_requests = true) {
    Json c = {{"name", "c"}, {"image", "busybox:1.36"}};
    if (with_requests) c["resources"] = {{"requests", {{"cpu", "100m"}, {"memory", "16Mi"}}}};
    Json p = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", kNs}, {"labels", {{"app", app}}}}},
              {"spec", {{"nodeName", "node-a"}, {"containers", Json::array({c})}}}};
    auto r = client_->create(pods(), p);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    std::string long_ago = format_rfc3339(real_clock().now() - 1h);
    Json patch = {{"status",
                   {{"phase", "Running"},
                    {"startTime", long_ago},
                    {"conditions", Json::array({{{"type", "Ready"}, {"status", "True"},
                                                 {"lastTransitionTime", long_ago}}})}}}};
    auto s = client_->patch(pods(), kNs, name, client::PatchType::kMerge, patch, "status");
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  }

  void add_hpa(const std::string& name, const std::string& target, Json metrics, Json behavior, int min_r = 1,
               int max_r = 4) {
    Json h = {{"apiVersion", "autoscaling/v2"},
              {"kind", "HorizontalPodAutoscaler"},
              {"metadata", {{"name", name}, {"namespace", kNs}}},
              {"spec",
               {{"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", target}}},
                {"minReplicas", min_r},
                {"maxReplicas", max_r},
                {"metrics", metrics}}}};
    if (!behavior.is_null()) h["spec"]["behavior"] = behavior;
    auto r = client_->create(hpas(), h);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }

  static Json cpu_util(int pct) {
    return {{"type", "Resource"},
            {"resource", {{"name", "cpu"}, {"target", {{"type", "Utilization"}, {"averageUtilization", pct}}}}}};
  }
  static Json mem_avg(const std::string& q) {
    return {{"type", "Resource"},
            {"resource", {{"name", "memory"}, {"target", {{"type", "AverageValue"}, {"averageValue", q}}}}}};
  }
  static Json pods_per_second(int window_down) {
    return Json::parse(R"({"scaleUp":{"policies":[{"type":"Pods","value":1,"periodSeconds":1}]},
                           "scaleDown":{"stabilizationWindowSeconds":)" +
                       std::to_string(window_down) + R"(,"policies":[{"type":"Pods","value":1,"periodSeconds":1}]}})");
  }

  int replicas(const std::string& deployment) {
    auto r = client_->get(deployments(), kNs, deployment);
    if (!r) return -1;
    const Json& v = api::field(api::field(*r, "spec"), "replicas");
    return v.is_number_integer() ? v.get<int>() : -1;
  }
  Json hpa(const std::string& name) {
    auto r = client_->get(hpas(), kNs, name);
    return r ? *r : Json();
  }
  static Json condition(const Json& h, const std::string& type) {
    const Json& conds = api::field(api::field(h, "status"), "conditions");
    if (conds.is_array()) {
      for (const auto& c : conds) {
        if (api::sfield(c, "type") == type) return c;
      }
    }
    return Json();
  }
  // Events of the HPA with this reason, oldest first.
  std::vector<Json> events(const std::string& reason) {
    client::ListOptions lo;
    lo.field_selector = "involvedObject.kind=HorizontalPodAutoscaler,reason=" + reason;
    auto r = client_->list(kind("v1", "Event"), kNs, lo);
    std::vector<Json> out;
    if (!r) return out;
    for (const auto& e : (*r)["items"]) out.push_back(e);
    std::sort(out.begin(), out.end(), [](const Json& a, const Json& b) {
      return api::sfield(a, "eventTime") < api::sfield(b, "eventTime");
    });
    return out;
  }

  std::shared_ptr<FakePodMetrics> metrics_;
  // start_on() only; the clock outlives the controller (TearDown stops it).
  minik8s::testing::FakeClock fake_clock_{real_clock().now()};
  std::unique_ptr<client::SharedInformerFactory> factory_;
  std::unique_ptr<HpaController> ctrl_;
};

TEST_F(HpaControllerTest, ScalesUpAtThePolicyRateAndBackDown) {
  add_deployment("web", 1);
  add_pod("web-a", "web");
  add_pod("other", "db");  // not selected: must not count
  metrics_->set("web-a", 150);
  metrics_->set("other", 900);
  add_hpa("web", "web", Json::array({cpu_util(50), mem_avg("100Mi")}), pods_per_second(0), 1, 4);
  start();

  // 150% of a 50% target on the one pod with metrics: ceil(3 × 1) = 3, one pod per second.
  ASSERT_TRUE(eventually([&] { return replicas("web") == 3; }, 10s)) << hpa("web").dump();
  EXPECT_EQ(metrics_->last_query(), "labelSelector=app%3Dweb");
  // The Event follows the scale write: wait for it.
  ASSERT_TRUE(eventually([&] { return events("SuccessfulRescale").size() >= 2; }));
  auto ups = events("SuccessfulRescale");
  ASSERT_EQ(ups.size(), 2u);
  EXPECT_EQ(api::sfield(ups[0], "message"),
            "New size: 2; reason: cpu resource utilization (percentage of request) above target");
  EXPECT_EQ(api::sfield(ups[1], "message"),
            "New size: 3; reason: cpu resource utilization (percentage of request) above target");
  SysTime t0{}, t1{};
  ASSERT_TRUE(parse_rfc3339(api::sfield(ups[0], "eventTime"), &t0));
  ASSERT_TRUE(parse_rfc3339(api::sfield(ups[1], "eventTime"), &t1));
  EXPECT_GE(t1 - t0, 900ms);  // Pods 1 per 1 s

  ASSERT_TRUE(eventually([&] {
    Json h = hpa("web");
    return api::field(h["status"], "currentReplicas") == 3 && api::field(h["status"], "desiredReplicas") == 3;
  }));
  Json h = hpa("web");
  const Json& st = h["status"];
  ASSERT_EQ(st["currentMetrics"].size(), 2u);
  EXPECT_EQ(st["currentMetrics"][0]["resource"]["name"], "cpu");
  EXPECT_EQ(st["currentMetrics"][0]["resource"]["current"]["averageUtilization"], 150);
  EXPECT_EQ(st["currentMetrics"][0]["resource"]["current"]["averageValue"], "150m");
  EXPECT_EQ(st["currentMetrics"][1]["resource"]["current"]["averageValue"], "8Mi");
  EXPECT_TRUE(st.contains("lastScaleTime"));
  EXPECT_EQ(st["observedGeneration"], h["metadata"]["generation"]);
  EXPECT_EQ(condition(h, "ScalingActive")["reason"], "ValidMetricFound");
  EXPECT_EQ(condition(h, "AbleToScale")["status"], "True");
  EXPECT_EQ(condition(h, "ScalingLimited")["reason"], "DesiredWithinRange");

  // Load off: 10% → ceil(0.2) = 1, again one pod per second. The period
  // must first be clear of the last scale-up: a policy counts from the
  // replicas at the start of its period (Kubernetes' periodStartReplicas),
  // so within 1 s of 2 → 3 the Pods-1 policy would allow 3 → 1 at once.
  ASSERT_TRUE(eventually([&] { return real_clock().now() > t1 + 1100ms; }));
  metrics_->set("web-a", 10);
  ASSERT_TRUE(eventually([&] { return replicas("web") == 1; }, 10s)) << hpa("web").dump();
  ASSERT_TRUE(eventually([&] { return events("SuccessfulRescale").size() >= 4; }));
  auto all = events("SuccessfulRescale");
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(api::sfield(all[2], "message"), "New size: 2; reason: All metrics below target");
  EXPECT_EQ(api::sfield(all[3], "message"), "New size: 1; reason: All metrics below target");
  SysTime t2{}, t3{};
  ASSERT_TRUE(parse_rfc3339(api::sfield(all[2], "eventTime"), &t2));
  ASSERT_TRUE(parse_rfc3339(api::sfield(all[3], "eventTime"), &t3));
  EXPECT_GE(t3 - t2, 900ms);
}

// The sync period runs on the injected clock, and a sync forced by a spec
// change does not end the periodic syncs: the timer armed by the sync before
// fires early (the work queue keeps a key's earliest deadline) and waits for
// the next due time.
TEST_F(HpaControllerTest, SyncsEveryPeriodOfTheInjectedClockAlsoAfterASpecChange) {
  minik8s::testing::FakeClock& clock = fake_clock_;
  add_deployment("steady", 2);
  add_pod("steady-a", "steady");
  add_pod("steady-b", "steady");
  metrics_->set("steady-a", 50);  // at the 50% target: no scaling
  metrics_->set("steady-b", 50);
  add_hpa("steady", "steady", Json::array({cpu_util(50)}), Json(), 1, 4);
  start_on(clock, 15s);
  // Each reconcile of the key (a sync, or an early timer re-armed) is counted
  // by the runtime: that is the barrier before the clock moves on.
  auto reconciled = [&](uint64_t n) { return eventually([&] { return ctrl_->metrics().reconcile_total >= n; }); };
  ASSERT_TRUE(reconciled(1));
  ASSERT_TRUE(eventually([&] { return metrics_->requests() == 1; }));  // the first sync, at once
  clock.advance(14s);
  // A spec change at 14 s: synced at once; the next sync is due at 29 s.
  Json patch = {{"spec", {{"maxReplicas", 5}}}};
  ASSERT_TRUE(client_->patch(hpas(), kNs, "steady", client::PatchType::kMerge, patch).is_ok());
  ASSERT_TRUE(reconciled(2));
  ASSERT_TRUE(eventually([&] { return metrics_->requests() == 2; }));
  // 15 s: the first sync's timer fires; the key is not due: re-armed.
  clock.advance(1s);
  ASSERT_TRUE(reconciled(3));
  EXPECT_EQ(metrics_->requests(), 2);
  // 29 s: due.
  clock.advance(14s);
  ASSERT_TRUE(reconciled(4));
  EXPECT_TRUE(eventually([&] { return metrics_->requests() == 3; }));
  // And on: 44 s.
  clock.advance(15s);
  ASSERT_TRUE(reconciled(5));
  EXPECT_TRUE(eventually([&] { return metrics_->requests() == 4; }));
  EXPECT_EQ(replicas("steady"), 2);
}

TEST_F(HpaControllerTest, MemoryAverageValueWinsWhenLarger) {
  add_deployment("mem", 1);
  add_pod("mem-a", "mem");
  metrics_->set("mem-a", 50, 40 << 20);  // cpu at target; memory 40Mi against 10Mi → 4
  add_hpa("mem", "mem", Json::array({cpu_util(50), mem_avg("10Mi")}), Json(), 1, 5);
  start();
  // Without a behavior: at most max(2 × 1, 4) = 4 at once.
  ASSERT_TRUE(eventually([&] { return replicas("mem") == 4; }, 10s)) << hpa("mem").dump();
  ASSERT_TRUE(eventually([&] { return !events("SuccessfulRescale").empty(); }));
  auto ups = events("SuccessfulRescale");
  ASSERT_EQ(ups.size(), 1u);
  EXPECT_EQ(api::sfield(ups[0], "message"), "New size: 4; reason: memory resource above target");
}

TEST_F(HpaControllerTest, MissingRequestStopsScaling) {
  add_deployment("bare", 2);
  add_pod("bare-a", "bare", false);
  metrics_->set("bare-a", 150);
  add_hpa("bare", "bare", Json::array({cpu_util(50)}), Json());
  start();
  ASSERT_TRUE(eventually([&] { return condition(hpa("bare"), "ScalingActive")["status"] == "False"; }, 5s));
  Json c = condition(hpa("bare"), "ScalingActive");
  EXPECT_EQ(c["reason"], "FailedGetResourceMetric");
  EXPECT_EQ(c["message"],
            "the HPA was unable to compute the replica count: missing request for cpu in container c of Pod bare-a");
  ASSERT_TRUE(eventually([&] { return !events("FailedComputeMetricsReplicas").empty(); }));
  EXPECT_FALSE(events("FailedGetResourceMetric").empty());
  EXPECT_EQ(replicas("bare"), 2);
  EXPECT_EQ(hpa("bare")["status"]["currentReplicas"], 2);
}

TEST_F(HpaControllerTest, ZeroReplicasDisablesAndBoundsApply) {
  add_deployment("off", 0);
  add_hpa("off", "off", Json::array({cpu_util(50)}), Json());
  add_deployment("big", 9);
  add_hpa("big", "big", Json::array({cpu_util(50)}), Json(), 1, 3);
  Json missing = {{"apiVersion", "autoscaling/v2"},
                  {"kind", "HorizontalPodAutoscaler"},
                  {"metadata", {{"name", "ghost"}, {"namespace", kNs}}},
                  {"spec",
                   {{"scaleTargetRef", {{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "nope"}}},
                    {"maxReplicas", 3}}}};
  ASSERT_TRUE(client_->create(hpas(), missing).is_ok());
  start();
  ASSERT_TRUE(eventually([&] { return condition(hpa("off"), "ScalingActive")["reason"] == "ScalingDisabled"; }));
  EXPECT_EQ(replicas("off"), 0);
  // Above maxReplicas: brought down without looking at metrics.
  ASSERT_TRUE(eventually([&] { return replicas("big") == 3; }));
  ASSERT_TRUE(eventually([&] { return !events("SuccessfulRescale").empty(); }));
  auto ev = events("SuccessfulRescale");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(api::sfield(ev[0], "message"), "New size: 3; reason: Current number of replicas above Spec.MaxReplicas");
  ASSERT_TRUE(eventually([&] { return condition(hpa("ghost"), "AbleToScale")["reason"] == "FailedGetScale"; }));
  EXPECT_EQ(condition(hpa("ghost"), "AbleToScale")["status"], "False");
  // Defaulting filled in the cpu 80% metric.
  EXPECT_EQ(hpa("ghost")["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 80);
}

}  // namespace
}  // namespace minik8s::controllers
