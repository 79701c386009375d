// The HorizontalPodAutoscaler's arithmetic, free of I/O and of the clock (the
// caller passes `now`), so that every rule can be tested on its own. A port
// of Kubernetes pkg/controller/podautoscaler: replica_calculator.go
// (GetResourceReplicas, GetRawResourceReplicas / calcPlainMetricReplicas,
// groupPods, calculatePodRequests) and horizontal.go
// (stabilizeRecommendation[WithBehaviors], convertDesiredReplicasWith*,
// calculateScaleUp/DownLimit*, storeScaleEvent).
//
// Units: every metric value is in milli-units of its resource, as
// Kubernetes' MilliValue(): cpu "250m" → 250, memory "1Ki" → 1024000.
// Errors: the calculators return kInvalid with Kubernetes' message ("missing
// request for cpu in container c of Pod p", "did not receive metrics for
// targeted pods (pods might be unready)", ...). Pure functions; HpaHistory is
// plain data owned by the caller (not thread-safe).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/util/status.h"
#include "minik8s/util/time.h"

namespace minik8s::controllers::hpa {

struct PodMetric {
  int64_t value = 0;  // milli-units
  SysTime timestamp{};
  std::chrono::milliseconds window{0};
};
using PodMetrics = std::map<std::string, PodMetric>;  // pod name → sample

// Sums resource over the containers of each PodMetrics item of a
// metrics.k8s.io PodMetricsList (a pod lacking the resource in any container
// is left out, as Kubernetes does). newest: the first item's timestamp.
PodMetrics pod_metrics_from_list(const api::Json& list, const std::string& resource, SysTime* newest = nullptr);

struct CalcOptions {
  double tolerance = 0.1;
  std::chrono::milliseconds cpu_initialization_period{300000};
  std::chrono::milliseconds initial_readiness_delay{30000};
  SysTime now{};
};

struct ResourceProposal {
  int32_t replicas = 0;
  int32_t utilization = 0;   // percent of requests (Utilization targets only)
  int64_t raw_average = 0;   // average usage per pod, milli-units
};

// Target type Utilization: target_utilization percent of the pods' summed
// container requests. pods: every pod the scale selector matches.
Result<ResourceProposal> resource_replicas_utilization(int32_t current_replicas, int32_t target_utilization,
                                                       const std::string& resource,
                                                       const std::vector<const api::Json*>& pods, PodMetrics metrics,
                                                       const CalcOptions& opts);
// Target type AverageValue: target_average milli-units per pod.
Result<ResourceProposal> resource_replicas_average(int32_t current_replicas, int64_t target_average,
                                                   const std::string& resource,
                                                   const std::vector<const api::Json*>& pods, PodMetrics metrics,
                                                   const CalcOptions& opts);

// ---- behavior

enum class SelectPolicy { kMax, kMin, kDisabled };

struct ScalingPolicy {
  bool pods = true;  // false: Percent
  int32_t value = 0;
  int32_t period_seconds = 15;
};

struct ScalingRules {
  int32_t stabilization_seconds = 0;
  SelectPolicy select = SelectPolicy::kMax;
  std::vector<ScalingPolicy> policies;
};

struct Behavior {
  ScalingRules scale_up;
  ScalingRules scale_down;
};

// spec.behavior with Kubernetes' defaults for every absent part (scaleUp:
// Max of 4 Pods / 100 Percent per 15 s, window 0; scaleDown: 100 Percent per
// 15 s, window default_down_window).
Behavior behavior_from_json(const api::Json& behavior, std::chrono::seconds default_down_window);

struct Recommendation {
  int32_t replicas = 0;
  SysTime at{};
};
struct ScaleEvent {
  int32_t change = 0;
  SysTime at{};
  bool outdated = false;
};
// What the controller remembers per HPA between syncs.
struct HpaHistory {
  std::vector<Recommendation> recommendations;
  std::vector<ScaleEvent> scale_up_events;
  std::vector<ScaleEvent> scale_down_events;
};

// The outcome of normalization and the two conditions it decides.
struct Normalized {
  int32_t replicas = 0;
  std::string able_reason, able_message;       // AbleToScale (True)
  bool limited = false;                        // ScalingLimited status
  std::string limited_reason, limited_message;
};

// Without spec.behavior: the highest recommendation within down_window,
// then min/max and a scale-up limit of max(2 × current, 4).
Normalized normalize(HpaHistory& history, std::chrono::milliseconds down_window, int32_t current, int32_t desired,
                     int32_t min_replicas, int32_t max_replicas, SysTime now);
// With spec.behavior: both stabilization windows, then the policies' rate
// limits and min/max.
Normalized normalize_with_behavior(HpaHistory& history, const Behavior& behavior, int32_t current, int32_t desired,
                                   int32_t min_replicas, int32_t max_replicas, SysTime now);

int32_t scale_up_limit(int32_t current, const std::vector<ScaleEvent>& up, const std::vector<ScaleEvent>& down,
                       const ScalingRules& rules, SysTime now);
int32_t scale_down_limit(int32_t current, const std::vector<ScaleEvent>& up, const std::vector<ScaleEvent>& down,
                         const ScalingRules& rules, SysTime now);

// Records a rescale from prev to next (only used with a behavior).
void store_scale_event(HpaHistory& history, const Behavior& behavior, int32_t prev, int32_t next, SysTime now);

}  // namespace minik8s::controllers::hpa
