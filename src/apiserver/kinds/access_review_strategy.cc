// SelfSubjectAccessReview, SubjectAccessReview and SelfSubjectRulesReview
// (kinds.h AccessReviewStrategy): answered from the server's authorizer,
// never stored.
#include "kinds.h"

namespace minik8s::apiserver {

using nlohmann::json;

namespace {

std::string jstr(const json& o, const char* k) {
  if (!o.is_object()) return "";
  auto it = o.find(k);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

auth::Attributes review_attributes(const json& spec, const auth::UserInfo& user) {
  auth::Attributes a;
  a.user = user;
  if (spec.contains("resourceAttributes") && spec["resourceAttributes"].is_object()) {
    const json& r = spec["resourceAttributes"];
    a.resource_request = true;
    a.verb = jstr(r, "verb");
    a.api_group = jstr(r, "group");
    a.api_version = jstr(r, "version");
    a.resource = jstr(r, "resource");
    a.subresource = jstr(r, "subresource");
    a.ns = jstr(r, "namespace");
    a.name = jstr(r, "name");
  } else {
    const json& n = spec.value("nonResourceAttributes", json::object());
    a.resource_request = false;
    a.verb = jstr(n, "verb");
    a.path = jstr(n, "path");
  }
  return a;
}

json rules_json(const std::vector<auth::PolicyRule>& rules, json& non_resource) {
  json out = json::array();
  for (const auto& r : rules) {
    if (!r.non_resource_urls.empty()) {
      non_resource.push_back({{"verbs", r.verbs}, {"nonResourceURLs", r.non_resource_urls}});
      continue;
    }
    json j = {{"verbs", r.verbs}, {"apiGroups", r.api_groups}, {"resources", r.resources}};
    if (!r.resource_names.empty()) j["resourceNames"] = r.resource_names;
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

Result<json> AccessReviewStrategy::answer_create(const json& obj, const auth::UserInfo& user) {
  json out = obj;
  if (!out.contains("metadata") || !out["metadata"].is_object()) out["metadata"] = json::object();
  out["metadata"]["creationTimestamp"] = nullptr;
  const json& spec = obj.value("spec", json::object());
  if (kind_ == Kind::kRules) {
    json non_resource = json::array();
    json resource;
    bool incomplete = false;
    if (!authz_) {  // authorization off: everything
      resource = json::array({{{"verbs", {"*"}}, {"apiGroups", {"*"}}, {"resources", {"*"}}}});
      non_resource.push_back({{"verbs", {"*"}}, {"nonResourceURLs", {"*"}}});
    } else {
      resource = rules_json(authz_->rules_for(user, jstr(spec, "namespace")), non_resource);
      incomplete = !rbac_only_;  // Node (or AlwaysAllow) grants what RBAC cannot list
    }
    out["status"] = {{"resourceRules", resource},
                     {"nonResourceRules", non_resource},
                     {"incomplete", incomplete}};
    return out;
  }
  auth::UserInfo who = user;
  if (kind_ == Kind::kSubject) {
    who = auth::UserInfo{jstr(spec, "user"), jstr(spec, "uid"), {}, {}};
    if (spec.contains("groups") && spec["groups"].is_array()) {
      for (const json& g : spec["groups"])
        if (g.is_string()) who.groups.push_back(g.get<std::string>());
    }
    if (spec.contains("extra") && spec["extra"].is_object()) {
      for (auto it = spec["extra"].begin(); it != spec["extra"].end(); ++it) {
        if (!it->is_array()) continue;
        for (const json& v : *it)
          if (v.is_string()) who.extra[it.key()].push_back(v.get<std::string>());
      }
    }
  }
  auth::Attributes a = review_attributes(spec, who);
  auth::Decision d =
      authz_ ? authz_->authorize(a) : auth::Decision{auth::Decision::Kind::kAllow, ""};
  json status = {{"allowed", d.allowed()}};
  if (d.kind == auth::Decision::Kind::kDeny) status["denied"] = true;
  if (!d.reason.empty()) status["reason"] = d.reason;
  out["status"] = status;
  return out;
}

}  // namespace minik8s::apiserver
