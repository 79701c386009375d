// Pod (core/v1): graceful deletion, binding and the proxied subresources in
// discovery (kinds.h); DefaultTolerationSeconds and the ServiceAccount
// admission are in service_account_admission.cc.
#include "kinds.h"

#include "../object_util.h"
#include "default_tolerations.h"

namespace minik8s::apiserver {

using nlohmann::json;

namespace {

bool bound(const json& pod) {
  return pod.contains("spec") && pod["spec"].is_object() &&
         !str_at(pod["spec"], "nodeName").empty();
}

}  // namespace

std::optional<int64_t> PodStrategy::deletion_grace(const json& cur,
                                                   std::optional<int64_t> requested) {
  const json& spec = cur.contains("spec") ? cur["spec"] : json::object();
  int64_t grace = 30;
  if (spec.contains("terminationGracePeriodSeconds") &&
      spec["terminationGracePeriodSeconds"].is_number_integer()) {
    grace = spec["terminationGracePeriodSeconds"].get<int64_t>();
  }
  if (requested) grace = *requested;
  if (grace < 0) grace = 0;
  // An unbound pod has no kubelet to wait for; a finished one nothing to stop.
  std::string phase =
      cur.contains("status") && cur["status"].is_object() ? str_at(cur["status"], "phase") : "";
  bool finished = phase == "Succeeded" || phase == "Failed";
  if (str_at(spec, "nodeName").empty() || finished) return 0;
  return grace;
}

bool PodStrategy::awaits_termination(const json& obj) {
  // A bound pod with a grace period waits for its kubelet's final delete.
  const json& m = meta_of(obj);
  int64_t grace = m.contains("deletionGracePeriodSeconds") &&
                          m["deletionGracePeriodSeconds"].is_number_integer()
                      ? m["deletionGracePeriodSeconds"].get<int64_t>()
                      : 0;
  return bound(obj) && grace > 0;
}

Status PodStrategy::bind(const std::string& name, const std::string& target, const json& cur,
                         json& desired) {
  if (meta_of(cur).contains("deletionTimestamp")) {
    return conflict("pod " + name + " is being deleted, cannot be assigned to a host");
  }
  std::string have = cur.contains("spec") ? str_at(cur["spec"], "nodeName") : "";
  if (!have.empty()) {
    return conflict("pod " + name + " is already assigned to node \"" + have + "\"");
  }
  desired = cur;
  desired["spec"]["nodeName"] = target;
  json& st = desired["status"];
  if (!st.is_object()) st = json::object();
  if (!st.contains("conditions") || !st["conditions"].is_array()) st["conditions"] = json::array();
  json cond = {{"type", "PodScheduled"},
               {"status", "True"},
               {"lastProbeTime", nullptr},
               {"lastTransitionTime", now_rfc3339()}};
  bool replaced = false;
  for (auto& c : st["conditions"]) {
    if (c.is_object() && str_at(c, "type") == "PodScheduled") {
      c = cond;
      replaced = true;
    }
  }
  if (!replaced) st["conditions"].push_back(cond);
  return Status::ok();
}

void PodStrategy::discovery_subresources(const api::ResourceType&, json& resources) const {
  resources.push_back({{"name", "pods/binding"},
                       {"singularName", ""},
                       {"namespaced", true},
                       {"kind", "Binding"},
                       {"verbs", {"create"}}});
  resources.push_back({{"name", "pods/log"},
                       {"singularName", ""},
                       {"namespaced", true},
                       {"kind", "Pod"},
                       {"verbs", {"get"}}});
  resources.push_back({{"name", "pods/exec"},
                       {"singularName", ""},
                       {"namespaced", true},
                       {"kind", "PodExecOptions"},
                       {"verbs", {"create", "get"}}});
}

}  // namespace minik8s::apiserver
