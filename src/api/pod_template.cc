#include "minik8s/api/pod_template.h"

#include <nlohmann/json.hpp>

namespace minik8s::api {

namespace {

// Drops nulls, empty objects and empty arrays, bottom-up. Returns false when
// v itself ends up "empty" (and should be dropped by its parent).
bool prune(Json& v) {
  if (v.is_null()) return false;
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end();) {
      if (!prune(it.value())) {
        it = v.erase(it);
      } else {
        ++it;
      }
    }
    return !v.empty();
  }
  if (v.is_array()) {
    for (auto& e : v) {
      if (!prune(e)) e = Json::object();  // keep positions: [{}] ≠ []
    }
    return !v.empty();
  }
  return true;
}

}  // namespace

Json normalize_pod_template(const Json& tmpl) {
  Json t = tmpl.is_object() ? tmpl : Json::object();
  if (t.contains("metadata") && t["metadata"].is_object()) {
    Json& m = t["metadata"];
    if (m.contains("labels") && m["labels"].is_object()) m["labels"].erase(kPodTemplateHashLabel);
  }
  if (!prune(t)) return Json::object();
  return t;
}

}  // namespace minik8s::api
