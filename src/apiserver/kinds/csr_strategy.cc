// CertificateSigningRequest (certificates.k8s.io/v1): the requester on
// create, the request's signature, the approval subresource (kinds.h;
// docs/auth.md "CertificateSigningRequest").
#include "../object_util.h"
#include "kinds.h"
#include "minik8s/api/json.h"
#include "minik8s/auth/pki.h"
#include "minik8s/util/base64.h"

namespace minik8s::apiserver {

using nlohmann::json;

void CsrStrategy::prepare_for_create_by(json& obj, const auth::UserInfo& user) {
  json& spec = obj["spec"];
  if (!spec.is_object()) return;  // validation answers it
  spec["username"] = user.name;
  spec["groups"] = user.groups;
  if (user.uid.empty()) {
    spec.erase("uid");
  } else {
    spec["uid"] = user.uid;
  }
  if (user.extra.empty()) {
    spec.erase("extra");
  } else {
    spec["extra"] = user.extra;
  }
}

Status CsrStrategy::admit(const json& obj, const json* old, api::FieldErrors& errs,
                          AdmissionHold&) {
  if (old) return Status::ok();  // spec is immutable: checked when it was created
  auto pem = base64_decode(api::sfield(api::field(obj, "spec"), "request"));
  if (!pem) return Status::ok();  // the table's validation reported it
  if (auto info = auth::parse_csr(*pem); !info) {
    errs.push_back({"spec.request", "Invalid value: \"<request>\": " + info.status().message()});
  }
  return Status::ok();
}

json CsrStrategy::scope_subresource_write(std::string_view sub, const json& cur,
                                          const json& desired) {
  json out = cur;
  if (sub != "approval") return out;
  json conds = api::field(api::field(desired, "status"), "conditions");
  if (conds.is_array()) {
    std::string now = now_rfc3339();
    for (auto& c : conds) {
      if (!c.is_object()) continue;
      if (!c.contains("lastUpdateTime") || c["lastUpdateTime"].is_null()) c["lastUpdateTime"] = now;
      if (!c.contains("lastTransitionTime") || c["lastTransitionTime"].is_null()) {
        c["lastTransitionTime"] = now;
      }
    }
  }
  if (!out["status"].is_object()) out["status"] = json::object();
  if (conds.is_null()) {
    out["status"].erase("conditions");
  } else {
    out["status"]["conditions"] = std::move(conds);
  }
  return out;
}

void CsrStrategy::discovery_subresources(const api::ResourceType& t, json& resources) const {
  resources.push_back({{"name", t.plural + "/approval"},
                       {"singularName", ""},
                       {"namespaced", false},
                       {"kind", t.kind},
                       {"verbs", {"get", "patch", "update"}}});
}

}  // namespace minik8s::apiserver
