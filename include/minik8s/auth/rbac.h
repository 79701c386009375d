// The RBAC evaluator (docs/auth.md "Authorization"): Kubernetes' rules for
// Role, ClusterRole, RoleBinding and ClusterRoleBinding over plain structs.
// Pure: the objects come from an RbacSource (the API server reads its watch
// cache; tests give a table), so the evaluator owns no state.
//
// Evaluation as Kubernetes' rbac.RBACAuthorizer: the ClusterRoleBindings,
// then (for a namespaced request) the RoleBindings of the request's
// namespace; a binding whose subjects include the user grants its role's
// rules (a RoleBinding's ClusterRole only inside the binding's namespace); a
// missing role grants nothing. RBAC only allows or has no opinion; it never
// denies.
// Thread safety: RbacAuthorizer is immutable; it calls its source
// concurrently, so the source must be thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "minik8s/auth/authorizer.h"

namespace minik8s::auth {

inline constexpr const char* kRbacGroup = "rbac.authorization.k8s.io";

struct PolicyRule {
  std::vector<std::string> verbs;
  std::vector<std::string> api_groups;
  std::vector<std::string> resources;  // "pods", "pods/log", "*/scale", "*"
  std::vector<std::string> resource_names;
  std::vector<std::string> non_resource_urls;  // "/healthz", "/apis/*", "*"
};

struct Subject {
  std::string kind;  // "User", "Group", "ServiceAccount"
  std::string name;
  std::string ns;  // ServiceAccount's namespace (empty: the binding's)
};

// A RoleBinding (ns set) or ClusterRoleBinding (ns empty).
struct Binding {
  std::string name;
  std::string ns;
  std::string role_kind;  // "Role" or "ClusterRole"
  std::string role_name;
  std::vector<Subject> subjects;
};

using BindingPtr = std::shared_ptr<const Binding>;
using RulesPtr = std::shared_ptr<const std::vector<PolicyRule>>;

// Where the evaluator reads RBAC objects. Must be thread-safe.
class RbacSource {
 public:
  virtual ~RbacSource() = default;
  virtual std::vector<BindingPtr> cluster_role_bindings() const = 0;
  virtual std::vector<BindingPtr> role_bindings(const std::string& ns) const = 0;
  // A ClusterRole's rules (ns empty) or a Role's in ns; null when missing.
  virtual RulesPtr role_rules(const std::string& ns, const std::string& name) const = 0;
};

// Does the rule grant the request? (Kubernetes' rbac.RuleAllows.)
bool rule_allows(const Attributes& a, const PolicyRule& r);
// Is the user one of the subjects? binding_ns: the RoleBinding's namespace
// (a ServiceAccount subject without a namespace is in it).
bool subject_matches(const Subject& s, const UserInfo& user, const std::string& binding_ns);
// "system:serviceaccount:<ns>:<name>".
std::string service_account_user(const std::string& ns, const std::string& name);

class RbacAuthorizer : public Authorizer {
 public:
  explicit RbacAuthorizer(const RbacSource& source) : source_(source) {}
  // kAllow with reason `RBAC: allowed by ClusterRoleBinding "b" of
  // ClusterRole "r" to User "u"`, else kNoOpinion.
  Decision authorize(const Attributes& a) const override;
  // Every rule that applies to user in namespace ns (cluster-wide grants
  // included): SelfSubjectRulesReview.
  std::vector<PolicyRule> rules_for(const UserInfo& user, const std::string& ns) const;

 private:
  const RbacSource& source_;
};

}  // namespace minik8s::auth
