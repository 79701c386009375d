// The RBAC evaluator (rbac.h), after Kubernetes'
// plugin/pkg/auth/authorizer/rbac and pkg/apis/rbac/v1/evaluation_helpers.go.
#include "minik8s/auth/rbac.h"

#include <algorithm>

namespace minik8s::auth {
namespace {

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

bool verb_matches(const PolicyRule& r, const std::string& verb) {
  return has(r.verbs, "*") || has(r.verbs, verb);
}

bool group_matches(const PolicyRule& r, const std::string& group) {
  return has(r.api_groups, "*") || has(r.api_groups, group);
}

bool resource_matches(const PolicyRule& r, const std::string& resource,
                      const std::string& subresource) {
  std::string combined = subresource.empty() ? resource : resource + "/" + subresource;
  for (const auto& x : r.resources) {
    if (x == "*" || x == combined) return true;
    // "*/scale": the subresource of every resource.
    if (!subresource.empty() && x.size() > 2 && x.compare(0, 2, "*/") == 0 &&
        x.compare(2, std::string::npos, subresource) == 0) {
      return true;
    }
  }
  return false;
}

bool name_matches(const PolicyRule& r, const std::string& name) {
  // With resourceNames only a named request matches: list, watch, create
  // and deletecollection carry no name, so such rules never grant them.
  return r.resource_names.empty() || (!name.empty() && has(r.resource_names, name));
}

bool url_matches(const PolicyRule& r, const std::string& path) {
  for (const auto& u : r.non_resource_urls) {
    if (u == "*" || u == path) return true;
    if (!u.empty() && u.back() == '*' && path.compare(0, u.size() - 1, u, 0, u.size() - 1) == 0) {
      return true;
    }
  }
  return false;
}

std::string describe(const Subject& s, const std::string& binding_ns) {
  if (s.kind == "ServiceAccount") {
    return "ServiceAccount \"" + s.name + "/" + (s.ns.empty() ? binding_ns : s.ns) + "\"";
  }
  return s.kind + " \"" + s.name + "\"";
}

// Calls visit(binding, matched subject, rules) for each binding that applies
// to user for namespace ns; stops when visit returns true.
template <typename F>
void visit_rules(const RbacSource& src, const UserInfo& user, const std::string& ns, F visit) {
  auto run = [&](const std::vector<BindingPtr>& bindings) {
    for (const BindingPtr& b : bindings) {
      if (!b) continue;
      const Subject* matched = nullptr;
      for (const Subject& s : b->subjects) {
        if (subject_matches(s, user, b->ns)) {
          matched = &s;
          break;
        }
      }
      if (!matched) continue;
      RulesPtr rules = src.role_rules(b->role_kind == "Role" ? b->ns : "", b->role_name);
      if (!rules) continue;
      if (visit(*b, *matched, *rules)) return true;
    }
    return false;
  };
  if (run(src.cluster_role_bindings())) return;
  if (!ns.empty()) run(src.role_bindings(ns));
}

}  // namespace

std::string service_account_user(const std::string& ns, const std::string& name) {
  return std::string(kServiceAccountUserPrefix) + ns + ":" + name;
}

bool rule_allows(const Attributes& a, const PolicyRule& r) {
  if (!verb_matches(r, a.verb)) return false;
  if (a.resource_request) {
    return group_matches(r, a.api_group) && resource_matches(r, a.resource, a.subresource) &&
           name_matches(r, a.name);
  }
  return url_matches(r, a.path);
}

bool subject_matches(const Subject& s, const UserInfo& user, const std::string& binding_ns) {
  if (s.kind == "User") return s.name == user.name;
  if (s.kind == "Group") return user.in_group(s.name);
  if (s.kind == "ServiceAccount") {
    const std::string& ns = s.ns.empty() ? binding_ns : s.ns;
    return !ns.empty() && user.name == service_account_user(ns, s.name);
  }
  return false;
}

Decision RbacAuthorizer::authorize(const Attributes& a) const {
  Decision d;
  visit_rules(source_, a.user, a.resource_request ? a.ns : "",
              [&](const Binding& b, const Subject& s, const std::vector<PolicyRule>& rules) {
                for (const PolicyRule& r : rules) {
                  if (!rule_allows(a, r)) continue;
                  d.kind = Decision::Kind::kAllow;
                  std::string what = b.ns.empty() ? "ClusterRoleBinding \"" + b.name + "\""
                                                  : "RoleBinding \"" + b.name + "/" + b.ns + "\"";
                  d.reason = "RBAC: allowed by " + what + " of " + b.role_kind + " \"" +
                             b.role_name + "\" to " + describe(s, b.ns);
                  return true;
                }
                return false;
              });
  return d;
}

std::vector<PolicyRule> RbacAuthorizer::rules_for(const UserInfo& user,
                                                  const std::string& ns) const {
  std::vector<PolicyRule> out;
  visit_rules(source_, user, ns, [&](const Binding&, const Subject&, const auto& rules) {
    out.insert(out.end(), rules.begin(), rules.end());
    return false;
  });
  return out;
}

}  // namespace minik8s::auth
