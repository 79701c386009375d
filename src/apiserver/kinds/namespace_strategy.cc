// Namespace (core/v1): its lifecycle at the API (kinds.h).
#include "kinds.h"

#include "../errors.h"
#include "../object_util.h"
#include "../request.h"

namespace minik8s::apiserver {

using nlohmann::json;

void NamespaceStrategy::prepare_for_create(json& obj) {
  // A spec of the wrong type is left for validation to refuse.
  if (!obj.contains("spec") || obj["spec"].is_null()) obj["spec"] = json::object();
  if (obj["spec"].is_object()) obj["spec"]["finalizers"] = json::array({"kubernetes"});
  obj["status"] = {{"phase", "Active"}};
}

Status NamespaceStrategy::check_delete(const std::string& name) {
  if (name == "default" || name == "kube-system" || name == "kube-public") {
    return Status(Code::kForbidden,
                  "namespaces \"" + name + "\" is forbidden: this namespace may not be deleted");
  }
  return Status::ok();
}

DeleteMark NamespaceStrategy::mark_for_deletion(const json& cur, json& desired) {
  if (meta_of(cur).contains("deletionTimestamp")) return DeleteMark::kAlreadyMarked;
  json& dm = desired["metadata"];
  dm["deletionTimestamp"] = now_rfc3339();
  dm["deletionGracePeriodSeconds"] = 0;
  desired["status"]["phase"] = "Terminating";
  if (!desired.contains("spec") || !desired["spec"].is_object()) desired["spec"] = json::object();
  desired["spec"]["finalizers"] = json::array({"kubernetes"});
  return DeleteMark::kMarked;
}

bool NamespaceStrategy::has_spec_finalizers(const json& obj) {
  auto s = obj.find("spec");
  if (s != obj.end() && s->is_object()) {
    auto sf = s->find("finalizers");
    if (sf != s->end() && sf->is_array() && !sf->empty()) return true;
  }
  return false;
}

json NamespaceStrategy::scope_subresource_write(std::string_view, const json& cur,
                                                const json& desired) {
  // finalize: only spec.finalizers changes.
  json next = cur;
  if (desired.contains("spec") && desired["spec"].is_object() &&
      desired["spec"].contains("finalizers")) {
    next["spec"]["finalizers"] = desired["spec"]["finalizers"];
  } else if (next.contains("spec") && next["spec"].is_object()) {
    next["spec"].erase("finalizers");
  }
  return next;
}

Status NamespaceLifecycle::admit_content(const std::string& ns) {
  auto kv = store_.get(object_key(namespaces_, "", ns));
  if (!kv) {
    if (kv.status().code() != Code::kNotFound) return kv.status();
    return not_found(not_found_msg(namespaces_, ns));
  }
  json obj = to_wire(*kv);
  bool terminating = meta_of(obj).contains("deletionTimestamp");
  if (obj.contains("status") && obj["status"].is_object() &&
      str_at(obj["status"], "phase") == "Terminating") {
    terminating = true;
  }
  if (terminating) {
    return Status(Code::kForbidden, "unable to create new content in namespace " + ns +
                                        " because it is being terminated");
  }
  return Status::ok();
}

}  // namespace minik8s::apiserver
