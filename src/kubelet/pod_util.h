// Small helpers shared by the kubelet's parts (pod workers, PLEG, status
// manager, image manager, sandbox setup): lenient JSON accessors for pod
// objects (a missing or mistyped field reads as null / "" / the default),
// time formats, and facts about runtime containers (restart count, newest
// first). Internal to src/kubelet. All functions are pure and thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/cri/runtime.h"

namespace minik8s::kubelet {

using json = nlohmann::json;
using Steady = std::chrono::steady_clock;
using TimePoint = Steady::time_point;
inline constexpr TimePoint kNever = TimePoint::max();

// Null-safe reads (api::field / api::sfield); iget: d unless an integer.
inline const json& at(const json& j, const char* k) { return api::field(j, k); }
inline std::string sget(const json& j, const char* k) { return api::sfield(j, k); }
int64_t iget(const json& j, const char* k, int64_t d);
inline const json& meta(const json& pod) { return at(pod, "metadata"); }
inline const json& spec(const json& pod) { return at(pod, "spec"); }
inline std::string pod_uid(const json& pod) { return sget(meta(pod), "uid"); }
// spec.restartPolicy, "Always" when unset.
std::string restart_policy(const json& pod);
cri::ContainerFilter by_labels(cri::Labels labels);

int64_t now_ns();
std::string rfc3339_ns(int64_t ns);
std::string now_rfc3339();
// Steady time point at which the wall-clock instant ns (since epoch) happens.
TimePoint steady_at_ns(int64_t ns);
// Go's time.Duration formatting (CrashLoopBackOff and Pulled messages): "10s", "1m20s", "5m0s", "200ms".
std::string go_duration(std::chrono::milliseconds d);

// Hash of a container's spec (kHashAnnotation): a changed spec restarts it.
std::string container_hash(const json& c);
// Whether a container that exited with exit_code runs again under policy
// (init containers: until they succeed, unless the policy is Never).
bool want_restart(const std::string& policy, int32_t exit_code, bool init);
// The restart count annotation (the CRI attempt when missing).
uint32_t restart_count_of(const cri::Container& c);
// Newest first: by restart count, then creation time.
void sort_newest_first(std::vector<cri::Container>& v);
// The pod's containers by name, each list newest first.
using ContainersByName = std::map<std::string, std::vector<cri::Container>>;
ContainersByName group_by_name(const std::vector<cri::Container>& v);

}  // namespace minik8s::kubelet
