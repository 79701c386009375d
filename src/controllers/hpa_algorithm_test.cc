// The HPA's replica calculation and behavior rules, case by case, against the
// numbers Kubernetes' replica_calculator.go / horizontal.go produce.
#include "hpa_algorithm.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace minik8s::controllers::hpa {
namespace {

using api::Json;
using namespace std::chrono_literals;

const SysTime kNow = std::chrono::system_clock::from_time_t(1800000000);

// A Running pod, Ready since long ago, with one container "c" requesting cpu_m millicores / mem bytes.
Json pod(const std::string& name, int64_t cpu_m, int64_t mem_bytes = 16 << 20, const std::string& phase = "Running") {
  Json requests = Json::object();
  if (cpu_m >= 0) requests["cpu"] = std::to_string(cpu_m) + "m";
  if (mem_bytes >= 0) requests["memory"] = std::to_string(mem_bytes);
  return {{"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", {{"containers", Json::array({{{"name", "c"}, {"resources", {{"requests", requests}}}}})}}},
          {"status",
           {{"phase", phase},
            {"startTime", format_rfc3339(kNow - 1h)},
            {"conditions", Json::array({{{"type", "Ready"},
                                         {"status", "True"},
                                         {"lastTransitionTime", format_rfc3339(kNow - 50min)}}})}}}};
}

std::vector<const Json*> ptrs(const std::vector<Json>& v) {
  std::vector<const Json*> out;
  for (const auto& p : v) out.push_back(&p);
  return out;
}

PodMetrics samples(std::initializer_list<std::pair<const char*, int64_t>> values) {
  PodMetrics m;
  for (const auto& [name, v] : values) m[name] = PodMetric{v, kNow - 1s, 1s};
  return m;
}

CalcOptions opts() {
  CalcOptions o;
  o.now = kNow;
  return o;
}

TEST(HpaReplicaCalc, UtilizationScalesByRatioOfReadyPods) {
  std::vector<Json> pods = {pod("a", 100), pod("b", 100)};
  auto r = resource_replicas_utilization(2, 50, "cpu", ptrs(pods), samples({{"a", 150}, {"b", 150}}), opts());
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->utilization, 150);
  EXPECT_EQ(r->raw_average, 150);
  EXPECT_EQ(r->replicas, 6);  // ceil(150/50 * 2)
  // Below target: ceil(0.2 * 2) = 1.
  r = resource_replicas_utilization(2, 50, "cpu", ptrs(pods), samples({{"a", 10}, {"b", 10}}), opts());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->replicas, 1);
}

TEST(HpaReplicaCalc, WithinToleranceKeepsCurrent) {
  std::vector<Json> pods = {pod("a", 100), pod("b", 100), pod("c", 100)};
  auto r = resource_replicas_utilization(3, 50, "cpu", ptrs(pods), samples({{"a", 54}, {"b", 54}, {"c", 54}}), opts());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->utilization, 54);
  EXPECT_EQ(r->replicas, 3);  // 1.08 is within 0.1
  auto o = opts();
  o.tolerance = 0.05;
  r = resource_replicas_utilization(3, 50, "cpu", ptrs(pods), samples({{"a", 54}, {"b", 54}, {"c", 54}}), o);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->replicas, 4);  // ceil(1.08 * 3)
}

TEST(HpaReplicaCalc, MissingRequestIsAnError) {
  std::vector<Json> pods = {pod("a", 100), pod("b", -1)};
  auto r = resource_replicas_utilization(2, 50, "cpu", ptrs(pods), samples({{"a", 10}, {"b", 10}}), opts());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(), "missing request for cpu in container c of Pod b");
}

TEST(HpaReplicaCalc, MissingMetricsOnScaleDownCountAsFullRequest) {
  std::vector<Json> pods = {pod("a", 100), pod("b", 100), pod("c", 100), pod("d", 100)};
  // Without the fallback the ratio 0 would give 0 replicas; with d at 100%: 25% / 50% → ceil(0.5 * 4) = 2.
  auto r = resource_replicas_utilization(4, 50, "cpu", ptrs(pods), samples({{"a", 0}, {"b", 0}, {"c", 0}}), opts());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->replicas, 2);
  EXPECT_EQ(r->utilization, 0);  // the reported utilization is the measured one
}

TEST(HpaReplicaCalc, MissingMetricsOnScaleUpCountAsZero) {
  std::vector<Json> pods = {pod("a", 100), pod("b", 100), pod("c", 100)};
  // 200% of target measured; c assumed 0 → 66% → 1.32 → ceil(1.32 * 3) = 4.
  auto r = resource_replicas_utilization(3, 50, "cpu", ptrs(pods), samples({{"a", 100}, {"b", 100}}), opts());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->replicas, 4);
  std::vector<Json> five = {pod("a", 100), pod("b", 100), pod("c", 100), pod("d", 100), pod("e", 100)};
  // a at 100%, four missing: 20% → 0.4 flips the direction → keep 5.
  r = resource_replicas_utilization(5, 50, "cpu", ptrs(five), samples({{"a", 100}}), opts());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->replicas, 5);
}

TEST(HpaReplicaCalc, UnreadyPodsCountAsZeroOnScaleUpOnly) {
  Json unready = pod("b", 100);
  unready["status"]["startTime"] = format_rfc3339(kNow - 10s);
  unready["status"]["conditions"][0]["status"] = "False";
  unready["status"]["conditions"][0]["lastTransitionTime"] = format_rfc3339(kNow - 10s);
  std::vector<Json> pods = {pod("a", 100), unready};
  // a at 150%: 3.0 with b set aside; b at 0 → 75% → 1.5 → ceil(1.5 * 2) = 3.
  auto r = resource_replicas_utilization(2, 50, "cpu", ptrs(pods), samples({{"a", 150}, {"b", 400}}), opts());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->utilization, 150);
  EXPECT_EQ(r->replicas, 3);
  // Ready, but the sample predates readiness + window during initialisation: still unready.
  Json fresh = pod("b", 100);
  fresh["status"]["startTime"] = format_rfc3339(kNow - 10s);
  fresh["status"]["conditions"][0]["lastTransitionTime"] = format_rfc3339(kNow - 1s);
  pods = {pod("a", 100), fresh};
  r = resource_replicas_utilization(2, 50, "cpu", ptrs(pods), samples({{"a", 150}, {"b", 400}}), opts());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->replicas, 3);
  // Memory does not look at readiness: (150 + 400) / 2 = 275 → ceil(2.75 * 2) = 6 with a 100 target.
  r = resource_replicas_average(2, 100, "memory", ptrs(pods), samples({{"a", 150}, {"b", 400}}), opts());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->replicas, 6);
}

TEST(HpaReplicaCalc, DeletedFailedAndPendingPods) {
  Json deleting = pod("b", 100);
  deleting["metadata"]["deletionTimestamp"] = format_rfc3339(kNow);
  Json failed = pod("c", 100, 1, "Failed");
  Json pending = pod("d", 100, 1, "Pending");
  std::vector<Json> pods = {pod("a", 100), deleting, failed, pending};
  // Only a counts (d is unready: 0 on scale-up): 100% → 2.0; with d at 0: 50% → 1.0 → keep 4.
  auto r = resource_replicas_utilization(4, 50, "cpu", ptrs(pods),
                                         samples({{"a", 100}, {"b", 900}, {"c", 900}}), opts());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->replicas, 4);
  std::vector<Json> only_gone = {deleting, failed};
  r = resource_replicas_utilization(2, 50, "cpu", ptrs(only_gone), samples({{"b", 100}}), opts());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(), "did not receive metrics for targeted pods (pods might be unready)");
  r = resource_replicas_utilization(2, 50, "cpu", {}, samples({{"b", 100}}), opts());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(), "no pods returned by selector while calculating replica count");
}

TEST(HpaReplicaCalc, AverageValue) {
  std::vector<Json> pods = {pod("a", 100), pod("b", 100)};
  int64_t mi = 1024LL * 1024 * 1000;  // 1Mi in milli-units
  auto r = resource_replicas_average(2, 10 * mi, "memory", ptrs(pods), samples({{"a", 20 * mi}, {"b", 40 * mi}}),
                                     opts());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->raw_average, 30 * mi);
  EXPECT_EQ(r->replicas, 6);
  // Missing pod on scale down counts as the target: (2 + 2 + 10) / 3 = 4.67 → 0.47 → ceil(1.4) = 2.
  std::vector<Json> three = {pod("a", 100), pod("b", 100), pod("c", 100)};
  r = resource_replicas_average(3, 10 * mi, "memory", ptrs(three), samples({{"a", 2 * mi}, {"b", 2 * mi}}), opts());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->replicas, 2);
}

TEST(HpaReplicaCalc, PodMetricsListParsing) {
  Json list = Json::parse(R"({"kind":"PodMetricsList","items":[
    {"metadata":{"name":"a"},"timestamp":"2027-01-15T08:00:00Z","window":"1.5s",
     "containers":[{"name":"x","usage":{"cpu":"250m","memory":"10Mi"}},{"name":"y","usage":{"cpu":"1","memory":"1Ki"}}]},
    {"metadata":{"name":"b"},"timestamp":"2027-01-15T08:00:01Z","window":"1s",
     "containers":[{"name":"x","usage":{"memory":"1Mi"}}]},
    {"metadata":{"name":"c"},"containers":[]}]})");
  SysTime newest{};
  PodMetrics cpu = pod_metrics_from_list(list, "cpu", &newest);
  ASSERT_EQ(cpu.size(), 1u);  // b lacks cpu, c has no containers
  EXPECT_EQ(cpu["a"].value, 1250);
  EXPECT_EQ(cpu["a"].window, 1500ms);
  SysTime expect{};
  ASSERT_TRUE(parse_rfc3339("2027-01-15T08:00:00Z", &expect));
  EXPECT_EQ(newest, expect);
  PodMetrics mem = pod_metrics_from_list(list, "memory");
  ASSERT_EQ(mem.size(), 2u);
  EXPECT_EQ(mem["a"].value, (10LL * 1024 * 1024 + 1024) * 1000);
  EXPECT_TRUE(pod_metrics_from_list(Json::parse(R"({"items":7})"), "cpu").empty());
}

// ---- behavior

ScalingRules pods_per(int32_t value, int32_t period, int32_t window = 0) {
  ScalingRules r;
  r.stabilization_seconds = window;
  r.policies = {{true, value, period}};
  return r;
}

TEST(HpaBehavior, DefaultsFromJson) {
  Behavior b = behavior_from_json(Json(), 300s);
  EXPECT_EQ(b.scale_up.stabilization_seconds, 0);
  ASSERT_EQ(b.scale_up.policies.size(), 2u);
  EXPECT_EQ(b.scale_down.stabilization_seconds, 300);
  ASSERT_EQ(b.scale_down.policies.size(), 1u);
  EXPECT_FALSE(b.scale_down.policies[0].pods);
  b = behavior_from_json(Json::parse(R"({"scaleDown":{"stabilizationWindowSeconds":15,"selectPolicy":"Disabled",
      "policies":[{"type":"Pods","value":1,"periodSeconds":10}]}})"),
                         300s);
  EXPECT_EQ(b.scale_down.stabilization_seconds, 15);
  EXPECT_EQ(b.scale_down.select, SelectPolicy::kDisabled);
  EXPECT_EQ(b.scale_down.policies[0].period_seconds, 10);
  EXPECT_EQ(b.scale_up.policies.size(), 2u);
}

TEST(HpaBehavior, PodsPolicyLimitsScaleUpPerPeriod) {
  Behavior b{pods_per(1, 15), pods_per(1, 15)};
  HpaHistory h;
  Normalized n = normalize_with_behavior(h, b, 1, 5, 1, 4, kNow);
  EXPECT_EQ(n.replicas, 2);
  EXPECT_TRUE(n.limited);
  EXPECT_EQ(n.limited_reason, "ScaleUpLimit");
  store_scale_event(h, b, 1, 2, kNow);
  // 5 s later the period still holds the +1: no room.
  n = normalize_with_behavior(h, b, 2, 5, 1, 4, kNow + 5s);
  EXPECT_EQ(n.replicas, 2);
  EXPECT_EQ(n.limited_reason, "ScaleUpLimit");
  n = normalize_with_behavior(h, b, 2, 5, 1, 4, kNow + 15s);  // the event is exactly at the cutoff: expired
  EXPECT_EQ(n.replicas, 3);
  store_scale_event(h, b, 2, 3, kNow + 15s);
  store_scale_event(h, b, 3, 4, kNow + 30s);
  n = normalize_with_behavior(h, b, 4, 9, 1, 4, kNow + 45s);
  EXPECT_EQ(n.replicas, 4);
  EXPECT_EQ(n.limited_reason, "TooManyReplicas");
  EXPECT_EQ(h.scale_up_events.size(), 2u);  // the first event was outdated and reused
}

TEST(HpaBehavior, PercentAndSelectPolicy) {
  ScalingRules up;
  up.policies = {{true, 4, 15}, {false, 100, 15}};
  EXPECT_EQ(scale_up_limit(10, {}, {}, up, kNow), 20);  // Max: +100% beats +4
  EXPECT_EQ(scale_up_limit(1, {}, {}, up, kNow), 5);    // Max: +4 beats +100%
  up.select = SelectPolicy::kMin;
  EXPECT_EQ(scale_up_limit(10, {}, {}, up, kNow), 14);
  up.select = SelectPolicy::kDisabled;
  EXPECT_EQ(scale_up_limit(10, {}, {}, up, kNow), 10);
  ScalingRules down;
  down.policies = {{false, 50, 60}, {true, 1, 60}};
  EXPECT_EQ(scale_down_limit(10, {}, {}, down, kNow), 5);  // Max change: -50%
  down.select = SelectPolicy::kMin;
  EXPECT_EQ(scale_down_limit(10, {}, {}, down, kNow), 9);
  // Events inside the period move the period's starting point.
  std::vector<ScaleEvent> downs = {{3, kNow - 30s, false}};
  down.select = SelectPolicy::kMax;
  EXPECT_EQ(scale_down_limit(7, {}, downs, down, kNow), 5);  // start 10 → 5
  EXPECT_EQ(scale_down_limit(7, {}, downs, down, kNow + 31s), 3);  // event expired: start 7 → 3 (int(3.5))
}

TEST(HpaBehavior, ScaleDownStabilizationWindow) {
  Behavior b{pods_per(4, 15), pods_per(10, 15, 20)};
  HpaHistory h;
  h.recommendations.push_back({5, kNow});
  Normalized n = normalize_with_behavior(h, b, 5, 1, 1, 10, kNow + 10s);
  EXPECT_EQ(n.replicas, 5);
  EXPECT_EQ(n.able_reason, "ScaleDownStabilized");
  EXPECT_FALSE(n.limited);
  n = normalize_with_behavior(h, b, 5, 1, 1, 10, kNow + 21s);  // 5 left the window; the +10 s 1 is in it
  EXPECT_EQ(n.replicas, 1);
  EXPECT_EQ(n.able_reason, "ReadyForNewScale");
  EXPECT_EQ(h.recommendations.size(), 2u);  // the old sample was replaced
}

TEST(HpaBehavior, ScaleUpStabilizationWindow) {
  Behavior b{pods_per(10, 15, 30), pods_per(10, 15, 0)};
  HpaHistory h;
  h.recommendations.push_back({2, kNow});
  Normalized n = normalize_with_behavior(h, b, 2, 6, 1, 10, kNow + 10s);
  EXPECT_EQ(n.replicas, 2);
  EXPECT_EQ(n.able_reason, "ScaleUpStabilized");
  n = normalize_with_behavior(h, b, 2, 6, 1, 10, kNow + 31s);  // the lowest in the window is now 6
  EXPECT_EQ(n.replicas, 6);
}

TEST(HpaBehavior, MinBoundOnScaleDown) {
  Behavior b{pods_per(4, 15), pods_per(10, 15, 0)};
  HpaHistory h;
  Normalized n = normalize_with_behavior(h, b, 5, 1, 2, 10, kNow);
  EXPECT_EQ(n.replicas, 2);
  EXPECT_TRUE(n.limited);
  EXPECT_EQ(n.limited_reason, "TooFewReplicas");
  b.scale_down = pods_per(1, 15, 0);
  n = normalize_with_behavior(h, b, 5, 1, 2, 10, kNow + 1h);
  EXPECT_EQ(n.replicas, 4);
  EXPECT_EQ(n.limited_reason, "ScaleDownLimit");
}

TEST(HpaNormalize, WithoutBehavior) {
  HpaHistory h;
  Normalized n = normalize(h, 300s, 2, 20, 1, 10, kNow);
  EXPECT_EQ(n.replicas, 4);  // max(2 * 2, 4)
  EXPECT_EQ(n.limited_reason, "ScaleUpLimit");
  n = normalize(h, 300s, 4, 20, 1, 6, kNow + 15s);
  EXPECT_EQ(n.replicas, 6);
  EXPECT_EQ(n.limited_reason, "TooManyReplicas");
  // The 20 recommended 15 s ago holds the count within the 300 s window.
  n = normalize(h, 300s, 6, 1, 1, 6, kNow + 30s);
  EXPECT_EQ(n.replicas, 6);
  EXPECT_EQ(n.able_reason, "ScaleDownStabilized");
  HpaHistory fresh;
  n = normalize(fresh, 300s, 3, 0, 1, 6, kNow);
  EXPECT_EQ(n.replicas, 1);
  EXPECT_EQ(n.limited_reason, "TooFewReplicas");
  n = normalize(fresh, 300s, 3, 3, 1, 6, kNow + 301s);
  EXPECT_EQ(n.replicas, 3);
  EXPECT_EQ(n.limited_reason, "DesiredWithinRange");
  EXPECT_FALSE(n.limited);
}

}  // namespace
}  // namespace minik8s::controllers::hpa
