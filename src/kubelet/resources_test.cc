#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "minik8s/kubelet/parts.h"

namespace minik8s::kubelet {
namespace {

using api::Json;

Json pod_of(const std::vector<Json>& resources) {
  Json pod = Json::parse(R"({"metadata":{"name":"p"},"spec":{"containers":[]}})");
  int i = 0;
  for (const auto& r : resources) {
    pod["spec"]["containers"].push_back({{"name", "c" + std::to_string(i++)}, {"resources", r}});
  }
  return pod;
}

TEST(ResourcesTest, CpuAndMemoryLimits) {
  Json pod = pod_of({Json::parse(R"({"limits":{"cpu":"500m","memory":"64Mi"}})")});
  auto r = container_resources(pod, pod["spec"]["containers"][0]);
  EXPECT_EQ(r.cpu_period, 100000);
  EXPECT_EQ(r.cpu_quota, 50000);
  EXPECT_EQ(r.cpu_shares, 512);  // the request defaults to the limit
  EXPECT_EQ(r.memory_limit_bytes, 64 * 1024 * 1024);
  EXPECT_EQ(r.oom_score_adj, 0);  // Guaranteed, never negative here
}

TEST(ResourcesTest, RequestOnlyGivesSharesWithoutQuota) {
  Json pod = pod_of({Json::parse(R"({"requests":{"cpu":"2","memory":"1Mi"}})")});
  auto r = container_resources(pod, pod["spec"]["containers"][0]);
  EXPECT_EQ(r.cpu_shares, 2048);
  EXPECT_EQ(r.cpu_quota, 0);
  EXPECT_EQ(r.cpu_period, 0);
  EXPECT_EQ(r.memory_limit_bytes, 0);
  // Burstable with a tiny request: close to 1000 but clamped to 999.
  EXPECT_EQ(r.oom_score_adj, 999);
}

TEST(ResourcesTest, TinyCpuGetsMinimums) {
  Json pod = pod_of({Json::parse(R"({"limits":{"cpu":"1m"}})")});
  auto r = container_resources(pod, pod["spec"]["containers"][0]);
  EXPECT_EQ(r.cpu_shares, 2);
  EXPECT_EQ(r.cpu_quota, 1000);
}

TEST(ResourcesTest, BestEffort) {
  Json pod = pod_of({Json::object()});
  auto r = container_resources(pod, pod["spec"]["containers"][0]);
  EXPECT_EQ(r.cpu_shares, 2);
  EXPECT_EQ(r.cpu_quota, 0);
  EXPECT_EQ(r.memory_limit_bytes, 0);
  EXPECT_EQ(r.oom_score_adj, 1000);
  EXPECT_EQ(qos_class(pod), "BestEffort");
}

TEST(ResourcesTest, BurstableOomScoreFollowsMemoryRequest) {
  // Half the node's memory requested → about 500.
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  int64_t kb = 0;
  while (in >> key >> kb >> unit && key != "MemTotal:") {
  }
  ASSERT_GT(kb, 0);
  Json pod = pod_of({{{"requests", {{"memory", std::to_string(kb * 1024 / 2)}}}}});
  auto r = container_resources(pod, pod["spec"]["containers"][0]);
  EXPECT_NEAR(r.oom_score_adj, 500, 1);
  Json huge = pod_of({{{"requests", {{"memory", std::to_string(kb * 1024 * 4)}}}}});
  EXPECT_EQ(container_resources(huge, huge["spec"]["containers"][0]).oom_score_adj, 2);
}

TEST(ResourcesTest, QosClasses) {
  EXPECT_EQ(qos_class(pod_of({Json::parse(R"({"limits":{"cpu":"1","memory":"1Gi"}})")})), "Guaranteed");
  EXPECT_EQ(qos_class(pod_of({Json::parse(R"({"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"1","memory":"1Gi"}})")})),
            "Guaranteed");
  EXPECT_EQ(qos_class(pod_of({Json::parse(R"({"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"500m"}})")})),
            "Burstable");
  EXPECT_EQ(qos_class(pod_of({Json::parse(R"({"limits":{"cpu":"1"}})")})), "Burstable");
  // One container without limits makes the pod Burstable.
  EXPECT_EQ(qos_class(pod_of({Json::parse(R"({"limits":{"cpu":"1","memory":"1Gi"}})"), Json::object()})), "Burstable");
  EXPECT_EQ(qos_class(pod_of({Json::object(), Json::object()})), "BestEffort");
  // Init containers count too.
  Json pod = pod_of({Json::object()});
  pod["spec"]["initContainers"] = Json::parse(R"([{"name":"i","resources":{"requests":{"memory":"1Mi"}}}])");
  EXPECT_EQ(qos_class(pod), "Burstable");
}

TEST(ResourcesTest, MalformedQuantitiesAreIgnoredNotFatal) {
  Json pod = pod_of({Json::parse(R"({"limits":{"cpu":"lots","memory":12345}})")});
  auto r = container_resources(pod, pod["spec"]["containers"][0]);
  EXPECT_EQ(r.cpu_quota, 0);
  EXPECT_EQ(r.memory_limit_bytes, 12345);
  EXPECT_GE(r.oom_score_adj, 0);
}

}  // namespace
}  // namespace minik8s::kubelet
