// The RBAC evaluator against the examples of Kubernetes' RBAC documentation
// (pod-reader, secret-reader, read-pods, read-secrets, read-secrets-global,
// pod-and-pod-logs-reader, configmap-updater, the /healthz rule, the subject
// forms) as a table.
#include "minik8s/auth/rbac.h"

#include <gtest/gtest.h>

#include <map>

namespace minik8s::auth {
namespace {

class TableSource : public RbacSource {
 public:
  std::vector<BindingPtr> cluster_role_bindings() const override { return crbs; }
  std::vector<BindingPtr> role_bindings(const std::string& ns) const override {
    std::vector<BindingPtr> out;
    for (const auto& b : rbs)
      if (b->ns == ns) out.push_back(b);
    return out;
  }
  RulesPtr role_rules(const std::string& ns, const std::string& name) const override {
    auto it = roles.find(ns + "/" + name);
    return it == roles.end() ? nullptr : it->second;
  }
  void role(const std::string& ns, const std::string& name, std::vector<PolicyRule> rules) {
    roles[ns + "/" + name] = std::make_shared<const std::vector<PolicyRule>>(std::move(rules));
  }
  void bind(const std::string& ns, const std::string& name, const std::string& role_kind,
            const std::string& role, std::vector<Subject> subjects) {
    auto b = std::make_shared<const Binding>(Binding{name, ns, role_kind, role, subjects});
    (ns.empty() ? crbs : rbs).push_back(b);
  }
  std::vector<BindingPtr> crbs, rbs;
  std::map<std::string, RulesPtr> roles;
};

Attributes res(const std::string& user, std::vector<std::string> groups, const std::string& verb,
               const std::string& group, const std::string& resource, const std::string& ns,
               const std::string& name = "", const std::string& sub = "") {
  Attributes a;
  a.user = UserInfo{user, "", std::move(groups), {}};
  a.verb = verb;
  a.api_group = group;
  a.resource = resource;
  a.ns = ns;
  a.name = name;
  a.subresource = sub;
  return a;
}

Attributes url(const std::string& user, std::vector<std::string> groups, const std::string& verb,
               const std::string& path) {
  Attributes a;
  a.user = UserInfo{user, "", std::move(groups), {}};
  a.resource_request = false;
  a.verb = verb;
  a.path = path;
  return a;
}

TableSource docs_source() {
  TableSource s;
  s.role("default", "pod-reader", {{{"get", "watch", "list"}, {""}, {"pods"}, {}, {}}});
  s.role("", "secret-reader", {{{"get", "watch", "list"}, {""}, {"secrets"}, {}, {}}});
  s.role("default", "pod-and-pod-logs-reader",
         {{{"get", "list"}, {""}, {"pods", "pods/log"}, {}, {}}});
  s.role("default", "configmap-updater",
         {{{"update", "get"}, {""}, {"configmaps"}, {"my-configmap"}, {}}});
  s.role("", "healthz", {{{"get", "post"}, {}, {}, {}, {"/healthz", "/healthz/*"}}});
  s.role("", "scaler", {{{"get", "update"}, {"apps"}, {"*/scale"}, {}, {}}});
  s.role("", "all", {{{"*"}, {"*"}, {"*"}, {}, {}}, {{"*"}, {}, {}, {}, {"*"}}});
  s.bind("default", "read-pods", "Role", "pod-reader", {{"User", "jane", ""}});
  s.bind("development", "read-secrets", "ClusterRole", "secret-reader", {{"User", "dave", ""}});
  s.bind("", "read-secrets-global", "ClusterRole", "secret-reader", {{"Group", "manager", ""}});
  s.bind("default", "logs", "Role", "pod-and-pod-logs-reader", {{"User", "lee", ""}});
  s.bind("default", "cm", "Role", "configmap-updater", {{"User", "cm", ""}});
  s.bind("", "healthz", "ClusterRole", "healthz", {{"Group", "system:authenticated", ""}});
  s.bind("", "scalers", "ClusterRole", "scaler", {{"User", "sc", ""}});
  s.bind("", "admins", "ClusterRole", "all", {{"Group", "system:masters", ""}});
  // Subjects: a service account of kube-system; all service accounts of qa.
  s.bind("default", "sa", "Role", "pod-reader", {{"ServiceAccount", "default", "kube-system"}});
  s.bind("default", "sa-local", "Role", "pod-reader", {{"ServiceAccount", "robot", ""}});
  s.bind("default", "qa", "Role", "pod-reader", {{"Group", "system:serviceaccounts:qa", ""}});
  // A binding to a role that does not exist grants nothing.
  s.bind("default", "dangling", "Role", "missing", {{"User", "ghost", ""}});
  return s;
}

struct Case {
  const char* what;
  Attributes a;
  bool allowed;
};

TEST(Rbac, DocumentationExamples) {
  TableSource s = docs_source();
  RbacAuthorizer authz(s);
  std::vector<Case> cases = {
      {"jane reads pods in default", res("jane", {}, "get", "", "pods", "default", "p"), true},
      {"jane lists pods in default", res("jane", {}, "list", "", "pods", "default"), true},
      {"jane may not create pods", res("jane", {}, "create", "", "pods", "default"), false},
      {"jane: not in another namespace", res("jane", {}, "get", "", "pods", "kube-system", "p"),
       false},
      {"jane: not across namespaces", res("jane", {}, "list", "", "pods", ""), false},
      {"jane: not the log subresource", res("jane", {}, "get", "", "pods", "default", "p", "log"),
       false},
      {"jane: group must match too", res("jane", {}, "get", "apps", "pods", "default", "p"), false},
      {"dave reads secrets in development",
       res("dave", {}, "get", "", "secrets", "development", "s"), true},
      {"dave: ClusterRole only in the binding's namespace",
       res("dave", {}, "get", "", "secrets", "default", "s"), false},
      {"dave: not cluster-wide", res("dave", {}, "list", "", "secrets", ""), false},
      {"manager reads secrets everywhere", res("x", {"manager"}, "list", "", "secrets", ""), true},
      {"manager in any namespace", res("x", {"manager"}, "watch", "", "secrets", "ns1"), true},
      {"lee reads logs", res("lee", {}, "get", "", "pods", "default", "p", "log"), true},
      {"lee reads pods", res("lee", {}, "get", "", "pods", "default", "p"), true},
      {"lee: not exec", res("lee", {}, "get", "", "pods", "default", "p", "exec"), false},
      {"configmap-updater: its name",
       res("cm", {}, "update", "", "configmaps", "default", "my-configmap"), true},
      {"configmap-updater: not another name",
       res("cm", {}, "update", "", "configmaps", "default", "other"), false},
      {"resourceNames never grant list", res("cm", {}, "list", "", "configmaps", "default"), false},
      {"resourceNames never grant create", res("cm", {}, "create", "", "configmaps", "default"),
       false},
      {"*/scale: deployments/scale",
       res("sc", {}, "update", "apps", "deployments", "ns", "d", "scale"), true},
      {"*/scale: not the deployment", res("sc", {}, "update", "apps", "deployments", "ns", "d"),
       false},
      {"*/scale: not status", res("sc", {}, "update", "apps", "deployments", "ns", "d", "status"),
       false},
      {"service account by namespace",
       res("system:serviceaccount:kube-system:default", {}, "get", "", "pods", "default", "p"),
       true},
      {"service account: other namespace's account",
       res("system:serviceaccount:other:default", {}, "get", "", "pods", "default", "p"), false},
      {"service account: the binding's namespace by default",
       res("system:serviceaccount:default:robot", {}, "get", "", "pods", "default", "p"), true},
      {"service accounts of qa",
       res("system:serviceaccount:qa:any", {"system:serviceaccounts:qa"}, "get", "", "pods",
           "default", "p"),
       true},
      {"dangling role ref", res("ghost", {}, "get", "", "pods", "default", "p"), false},
      {"nobody", res("nobody", {}, "get", "", "pods", "default", "p"), false},
      {"masters may do anything",
       res("root", {"system:masters"}, "escalate", "rbac.authorization.k8s.io", "clusterroles", "",
           "x"),
       true},
      {"/healthz exact", url("u", {"system:authenticated"}, "get", "/healthz"), true},
      {"/healthz/* prefix", url("u", {"system:authenticated"}, "post", "/healthz/etcd"), true},
      {"/healthz: verb", url("u", {"system:authenticated"}, "delete", "/healthz"), false},
      {"/healthzx not matched", url("u", {"system:authenticated"}, "get", "/healthzx"), false},
      {"/metrics not granted", url("u", {"system:authenticated"}, "get", "/metrics"), false},
      {"non-resource: * url", url("root", {"system:masters"}, "get", "/metrics"), true},
  };
  for (const auto& c : cases) {
    Decision d = authz.authorize(c.a);
    EXPECT_EQ(d.allowed(), c.allowed) << c.what;
    EXPECT_NE(d.kind, Decision::Kind::kDeny) << c.what;  // RBAC never denies
  }
}

TEST(Rbac, ReasonNamesTheBinding) {
  TableSource s = docs_source();
  RbacAuthorizer authz(s);
  Decision d = authz.authorize(res("jane", {}, "get", "", "pods", "default", "p"));
  EXPECT_EQ(d.reason,
            "RBAC: allowed by RoleBinding \"read-pods/default\" of Role \"pod-reader\" to User "
            "\"jane\"");
  d = authz.authorize(res("x", {"manager"}, "get", "", "secrets", "a", "s"));
  EXPECT_EQ(d.reason,
            "RBAC: allowed by ClusterRoleBinding \"read-secrets-global\" of ClusterRole "
            "\"secret-reader\" to Group \"manager\"");
}

TEST(Rbac, RulesFor) {
  TableSource s = docs_source();
  RbacAuthorizer authz(s);
  auto rules = authz.rules_for(UserInfo{"lee", "", {"system:authenticated"}, {}}, "default");
  ASSERT_EQ(rules.size(), 2u);  // /healthz (cluster) then the namespace's role
  EXPECT_EQ(rules[0].non_resource_urls, (std::vector<std::string>{"/healthz", "/healthz/*"}));
  EXPECT_EQ(rules[1].resources, (std::vector<std::string>{"pods", "pods/log"}));
  EXPECT_TRUE(authz.rules_for(UserInfo{"lee", "", {}, {}}, "other").empty());
}

TEST(Rbac, ServiceAccountUser) {
  EXPECT_EQ(service_account_user("ns", "sa"), "system:serviceaccount:ns:sa");
}

}  // namespace
}  // namespace minik8s::auth
