// container_resources and qos_class: Kubernetes' rules (pkg/apis/core/helper/qos,
// pkg/kubelet/cm/helpers_linux.go, pkg/kubelet/qos/policy.go), except that
// Guaranteed containers get oom_score_adj 0 instead of -997 (see RECIPES.md:
// a negative value makes runc fail on these machines).
#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "minik8s/api/quantity.h"
#include "minik8s/kubelet/parts.h"

namespace minik8s::kubelet {
namespace {

constexpr int64_t kCpuPeriodUs = 100000;
constexpr int64_t kMinShares = 2;
constexpr int64_t kMaxShares = 262144;
constexpr int64_t kMinQuotaUs = 1000;

int64_t node_memory_capacity() {
  static const int64_t bytes = [] {
    std::ifstream in("/proc/meminfo");
    std::string key, unit;
    int64_t kb = 0;
    while (in >> key >> kb >> unit) {
      if (key == "MemTotal:") return kb * 1024;
    }
    return int64_t{0};
  }();
  return bytes;
}

// Milli-value of resources.<section>.<name>; -1 when absent or unparsable.
int64_t milli_of(const api::Json& container, const char* section, const char* name) {
  auto r = container.find("resources");
  if (r == container.end() || !r->is_object()) return -1;
  auto s = r->find(section);
  if (s == r->end() || !s->is_object()) return -1;
  auto q = s->find(name);
  if (q == s->end() || q->is_null()) return -1;
  std::string text = q->is_string() ? q->get<std::string>() : q->dump();
  auto parsed = api::Quantity::parse(text);
  if (!parsed.is_ok()) return -1;
  return parsed->milli_value();
}

// A request defaults to the limit when only the limit is given (as the API
// server's defaulting does).
int64_t request_milli(const api::Json& container, const char* name) {
  int64_t req = milli_of(container, "requests", name);
  return req >= 0 ? req : milli_of(container, "limits", name);
}

template <typename F>
void for_each_container(const api::Json& pod, F f) {
  auto spec = pod.find("spec");
  if (spec == pod.end() || !spec->is_object()) return;
  for (const char* list : {"initContainers", "containers"}) {
    auto cs = spec->find(list);
    if (cs == spec->end() || !cs->is_array()) continue;
    for (const auto& c : *cs) {
      if (c.is_object()) f(c);
    }
  }
}

}  // namespace

std::string qos_class(const api::Json& pod) {
  std::map<std::string, int64_t> requests, limits;
  bool guaranteed = true;
  for_each_container(pod, [&](const api::Json& c) {
    int limits_found = 0;
    for (const char* name : {"cpu", "memory"}) {
      int64_t req = request_milli(c, name);
      if (req > 0) requests[name] += req;
      int64_t lim = milli_of(c, "limits", name);
      if (lim > 0) {
        limits[name] += lim;
        limits_found++;
      }
    }
    if (limits_found != 2) guaranteed = false;
  });
  if (requests.empty() && limits.empty()) return "BestEffort";
  if (guaranteed) {
    for (const auto& [name, req] : requests) {
      auto it = limits.find(name);
      if (it == limits.end() || it->second != req) guaranteed = false;
    }
  }
  if (guaranteed && requests.size() == limits.size()) return "Guaranteed";
  return "Burstable";
}

cri::Resources container_resources(const api::Json& pod, const api::Json& container) {
  cri::Resources r;
  try {
    int64_t cpu_req = request_milli(container, "cpu");
    int64_t cpu_lim = milli_of(container, "limits", "cpu");
    int64_t mem_lim = milli_of(container, "limits", "memory");
    int64_t mem_req = request_milli(container, "memory");

    // Shares: request (or limit) in milli-CPU × 1024 / 1000, at least 2 —
    // the same 2 a container without a cpu request gets.
    int64_t share_basis = cpu_req > 0 ? cpu_req : 0;
    r.cpu_shares = std::clamp(share_basis * 1024 / 1000, kMinShares, kMaxShares);
    if (cpu_lim > 0) {
      r.cpu_period = kCpuPeriodUs;
      r.cpu_quota = std::max(cpu_lim * kCpuPeriodUs / 1000, kMinQuotaUs);
    }
    if (mem_lim > 0) r.memory_limit_bytes = (mem_lim + 999) / 1000;

    std::string qos = qos_class(pod);
    if (qos == "Guaranteed") {
      r.oom_score_adj = 0;
    } else if (qos == "BestEffort") {
      r.oom_score_adj = 1000;
    } else {
      int64_t cap = node_memory_capacity();
      int64_t req_bytes = mem_req > 0 ? (mem_req + 999) / 1000 : 0;
      int64_t adj = 1000;
      if (cap > 0) adj = 1000 - (1000 * static_cast<__int128>(req_bytes)) / cap;
      r.oom_score_adj = std::clamp<int64_t>(adj, 2, 999);
    }
  } catch (const nlohmann::json::exception&) {
    // Malformed resources: leave what was computed (the API server validates them).
  }
  r.oom_score_adj = std::clamp<int64_t>(r.oom_score_adj, 0, 1000);
  return r;
}

}  // namespace minik8s::kubelet
