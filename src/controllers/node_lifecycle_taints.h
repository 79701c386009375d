// Pure helpers of the NodeLifecycleController (internal to mk_controllers):
// which taints a node's Ready condition calls for, taint/toleration matching
// and the taint-eviction decision for one pod (Kubernetes'
// pkg/controller/tainteviction). No I/O, no clock: `now` is an argument.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/util/time.h"

namespace minik8s::controllers {

inline constexpr const char* kTaintUnreachable = "node.kubernetes.io/unreachable";
inline constexpr const char* kTaintNotReady = "node.kubernetes.io/not-ready";

// "True", "False", "Unknown" or "" (no Ready condition).
std::string ready_status(const api::Json& node);

// The controller-owned taints a node with this Ready status should carry:
// Unknown → unreachable NoSchedule + NoExecute; False → not-ready NoSchedule +
// NoExecute; True → none. Only {key, effect} are set.
std::vector<api::Json> desired_condition_taints(const std::string& ready);

// The node's taints with the controller-owned ones (unreachable, not-ready)
// made to match `desired`; taints kept from `current` keep their timeAdded,
// new ones get timeAdded = now. nullopt when nothing changes.
std::optional<api::Json> reconcile_taints(const api::Json& current_taints, const std::vector<api::Json>& desired,
                                          SysTime now);

// Kubernetes' Toleration.ToleratesTaint.
bool toleration_tolerates(const api::Json& toleration, const api::Json& taint);

struct EvictionDecision {
  enum class Kind { kNone, kNow, kAt } kind = Kind::kNone;
  SysTime at{};  // kAt: when the pod must go
};

// For a pod on a node with these NoExecute taints: kNow when some taint is
// not tolerated; kAt start + min(tolerationSeconds over the tolerations
// used) when all are tolerated and at least one toleration is bounded; kNone
// when there are no NoExecute taints or every toleration is unbounded.
// `start(taint)` says when the taint's clock started.
EvictionDecision decide_eviction(const api::Json& pod, const std::vector<api::Json>& no_execute_taints,
                                 const std::function<SysTime(const api::Json&)>& start);

}  // namespace minik8s::controllers
