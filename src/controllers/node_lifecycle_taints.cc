#include "node_lifecycle_taints.h"

#include <nlohmann/json.hpp>

namespace minik8s::controllers {

using api::field;
using api::Json;
using api::sfield;

std::string ready_status(const Json& node) {
  const Json& conds = field(field(node, "status"), "conditions");
  if (!conds.is_array()) return "";
  for (const auto& c : conds) {
    if (sfield(c, "type") == "Ready") return sfield(c, "status");
  }
  return "";
}

std::vector<Json> desired_condition_taints(const std::string& ready) {
  const char* key = nullptr;
  if (ready == "Unknown") key = kTaintUnreachable;
  if (ready == "False") key = kTaintNotReady;
  if (!key) return {};
  return {Json{{"key", key}, {"effect", "NoSchedule"}}, Json{{"key", key}, {"effect", "NoExecute"}}};
}

namespace {

bool controller_owned(const Json& taint) {
  std::string k = sfield(taint, "key");
  return k == kTaintUnreachable || k == kTaintNotReady;
}

bool same_taint(const Json& a, const Json& b) {
  return sfield(a, "key") == sfield(b, "key") && sfield(a, "effect") == sfield(b, "effect");
}

}  // namespace

std::optional<Json> reconcile_taints(const Json& current_taints, const std::vector<Json>& desired, SysTime now) {
  Json out = Json::array();
  bool changed = false;
  std::vector<bool> present(desired.size(), false);
  if (current_taints.is_array()) {
    for (const auto& t : current_taints) {
      if (!controller_owned(t)) {
        out.push_back(t);
        continue;
      }
      bool keep = false;
      for (size_t i = 0; i < desired.size(); ++i) {
        if (!present[i] && same_taint(t, desired[i])) {
          present[i] = true;
          keep = true;
          break;
        }
      }
      if (keep) {
        out.push_back(t);
      } else {
        changed = true;
      }
    }
  }
  for (size_t i = 0; i < desired.size(); ++i) {
    if (present[i]) continue;
    Json t = desired[i];
    t["timeAdded"] = format_rfc3339(now);
    out.push_back(std::move(t));
    changed = true;
  }
  if (!changed) return std::nullopt;
  return out;
}

bool toleration_tolerates(const Json& toleration, const Json& taint) {
  std::string effect = sfield(toleration, "effect");
  if (!effect.empty() && effect != sfield(taint, "effect")) return false;
  std::string key = sfield(toleration, "key");
  if (!key.empty() && key != sfield(taint, "key")) return false;
  std::string op = sfield(toleration, "operator");
  if (op.empty() || op == "Equal") return sfield(toleration, "value") == sfield(taint, "value");
  return op == "Exists";
}

EvictionDecision decide_eviction(const Json& pod, const std::vector<Json>& no_execute_taints,
                                 const std::function<SysTime(const Json&)>& start) {
  EvictionDecision d;
  if (no_execute_taints.empty()) return d;
  const Json& tolerations = field(field(pod, "spec"), "tolerations");
  std::optional<SysTime> deadline;
  for (const auto& taint : no_execute_taints) {
    const Json* used = nullptr;
    if (tolerations.is_array()) {
      for (const auto& tol : tolerations) {
        if (toleration_tolerates(tol, taint)) {
          used = &tol;
          break;
        }
      }
    }
    if (!used) {
      d.kind = EvictionDecision::Kind::kNow;
      return d;
    }
    const Json& secs = field(*used, "tolerationSeconds");
    if (!secs.is_number()) continue;  // tolerated forever
    // Clamped to ~100 years: "practically forever" values (INT64_MAX, 1e300)
    // must not overflow the time point into the past.
    constexpr int64_t kMaxSeconds = 100LL * 365 * 24 * 3600;
    double d_secs = secs.is_number_integer() ? static_cast<double>(secs.get<int64_t>()) : secs.get<double>();
    int64_t s = d_secs <= 0 ? 0 : d_secs >= static_cast<double>(kMaxSeconds) ? kMaxSeconds : static_cast<int64_t>(d_secs);
    SysTime at = start(taint) + std::chrono::seconds(s);
    if (!deadline || at < *deadline) deadline = at;
  }
  if (deadline) {
    d.kind = EvictionDecision::Kind::kAt;
    d.at = *deadline;
  }
  return d;
}

}  // namespace minik8s::controllers
