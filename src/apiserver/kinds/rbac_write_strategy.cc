// RBAC's escalation prevention (kinds.h RbacWriteStrategy), after
// Kubernetes' pkg/registry/rbac (ConfirmNoEscalation, BindingAuthorized):
// each permission a role grants is asked of the chain as the writer.
#include "kinds.h"

namespace minik8s::apiserver {

using nlohmann::json;

namespace {

std::string jstr(const json& o, const char* k) {
  if (!o.is_object()) return "";
  auto it = o.find(k);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

std::vector<std::string> strings(const json& o, const char* k) {
  std::vector<std::string> out;
  if (!o.is_object() || !o.contains(k) || !o[k].is_array()) return out;
  for (const json& x : o[k])
    if (x.is_string()) out.push_back(x.get<std::string>());
  return out;
}

std::string list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + ("\"" + v[i] + "\"");
  return out + "]";
}

std::string describe(const auth::PolicyRule& r) {
  std::string s = "{";
  if (!r.non_resource_urls.empty()) {
    s += "NonResourceURLs:" + list(r.non_resource_urls);
  } else {
    s += "APIGroups:" + list(r.api_groups) + ", Resources:" + list(r.resources);
    if (!r.resource_names.empty()) s += ", ResourceNames:" + list(r.resource_names);
  }
  return s + ", Verbs:" + list(r.verbs) + "}";
}

// Does the writer hold every permission of rule r in namespace ns ("":
// cluster-wide)? Wildcards are asked literally: only a rule with "*" holds
// "*".
bool holds(const ServerAuthorizer& authz, const auth::UserInfo& user, const auth::PolicyRule& r,
           const std::string& ns) {
  auth::Attributes a;
  a.user = user;
  for (const auto& verb : r.verbs) {
    a.verb = verb;
    if (!r.non_resource_urls.empty()) {
      a.resource_request = false;
      for (const auto& url : r.non_resource_urls) {
        a.path = url;
        if (!authz.authorize(a).allowed()) return false;
      }
      continue;
    }
    a.resource_request = true;
    a.ns = ns;
    std::vector<std::string> names = r.resource_names;
    if (names.empty()) names.push_back("");
    for (const auto& group : r.api_groups) {
      a.api_group = group;
      for (const auto& res : r.resources) {
        auto slash = res.find('/');
        a.resource = res.substr(0, slash);
        a.subresource = slash == std::string::npos ? "" : res.substr(slash + 1);
        for (const auto& name : names) {
          a.name = name;
          if (!authz.authorize(a).allowed()) return false;
        }
      }
    }
  }
  return true;
}

std::string user_string(const auth::UserInfo& u) {
  return "user \"" + u.name + "\" (groups=" + list(u.groups) + ")";
}

}  // namespace

Status RbacWriteStrategy::check_writer(const json& obj, const std::string& ns,
                                       const auth::UserInfo& user) {
  if (!authz_ || !obj.is_object()) return Status::ok();
  const bool binding = type_.kind == "RoleBinding" || type_.kind == "ClusterRoleBinding";
  const std::string scope = type_.namespaced ? ns : "";
  auth::Attributes special;
  special.user = user;
  special.api_group = type_.group;
  special.ns = scope;
  std::vector<auth::PolicyRule> rules;
  if (binding) {
    const json& ref = obj.value("roleRef", json::object());
    std::string kind = jstr(ref, "kind");
    std::string name = jstr(ref, "name");
    if (name.empty() || (kind != "Role" && kind != "ClusterRole"))
      return Status::ok();  // 422 later
    special.verb = "bind";
    special.resource = kind == "Role" ? "roles" : "clusterroles";
    special.name = name;
    if (authz_->authorize(special).allowed()) return Status::ok();
    auth::RulesPtr held = authz_->role_rules(kind == "Role" ? scope : "", name);
    if (!held) {
      return Status(Code::kForbidden, user_string(user) + " cannot bind " + kind + " \"" + name +
                                          "\": it does not exist");
    }
    rules = *held;
  } else {
    special.verb = "escalate";
    special.resource = type_.plural;
    special.name = jstr(obj.value("metadata", json::object()), "name");
    if (authz_->authorize(special).allowed()) return Status::ok();
    const json& rs = obj.value("rules", json::array());
    if (!rs.is_array()) return Status::ok();  // validation answers
    for (const json& r : rs) {
      rules.push_back({strings(r, "verbs"), strings(r, "apiGroups"), strings(r, "resources"),
                       strings(r, "resourceNames"), strings(r, "nonResourceURLs")});
    }
  }
  std::string missing;
  for (const auto& r : rules) {
    if (!holds(*authz_, user, r, scope)) missing += "\n" + describe(r);
  }
  if (missing.empty()) return Status::ok();
  return Status(Code::kForbidden, user_string(user) +
                                      " is attempting to grant RBAC permissions not currently "
                                      "held:" +
                                      missing);
}

}  // namespace minik8s::apiserver
