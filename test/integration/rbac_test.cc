// Authorization with a real ApiServer (docs/auth.md "Authorization"): the
// RBAC and Node authorizers over the watch cache, the default ClusterRoles,
// Kubernetes' 403, SelfSubjectAccessReview / SubjectAccessReview /
// SelfSubjectRulesReview, and an unknown mode refused at start.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "test/fakes/local_api.h"

namespace minik8s::apiserver {
namespace {

using nlohmann::json;
using testing::ApiServerFixture;
using testing::Resp;

class RbacTest : public ApiServerFixture {
 protected:
  void configure(ApiServerOptions& o) override {
    token_file_ = ::testing::TempDir() + "/minik8s-rbac-tokens-" +
                  std::to_string(reinterpret_cast<uintptr_t>(this)) + ".csv";
    std::ofstream(token_file_) << "root-token,root,1,system:masters\n"
                               << "vera-token,vera,2\n"
                               << "nobody-token,nobody,3\n"
                               << "n1-token,system:node:n1,4,system:nodes\n";
    o.auth.enabled = true;
    o.auth.token_file = token_file_;
    o.auth.loopback_token = "loopback-secret";
    o.auth.authorization_modes = {"Node", "RBAC"};
  }
  void TearDown() override {
    ApiServerFixture::TearDown();
    std::remove(token_file_.c_str());
  }

  Resp as(const std::string& token, const std::string& method, const std::string& path,
          const json& body = nullptr) {
    bearer = token;
    return req(method, path, body.is_null() ? "" : body.dump(),
               method == "PATCH" ? "application/merge-patch+json" : "application/json");
  }

  // Waits until path answers want for token (the authorizer reads the watch
  // cache, which follows the store shortly after a write returns).
  int eventually(const std::string& token, const std::string& method, const std::string& path,
                 int want, const json& body = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    int code = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      code = as(token, method, path, body).code;
      if (code == want) return code;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return code;
  }

  static json node(const std::string& name) {
    return {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}};
  }
  static json bound_pod(const std::string& name, const std::string& node) {
    json p = pod(name);
    p["spec"]["nodeName"] = node;
    return p;
  }

  std::string token_file_;
};

TEST_F(RbacTest, DefaultRolesAreReconciled) {
  for (const char* r :
       {"cluster-admin", "admin", "edit", "view", "system:basic-user", "system:discovery",
        "system:public-info-viewer", "system:node-bootstrapper", "system:node"}) {
    auto got = as("root-token", "GET",
                  std::string("/apis/rbac.authorization.k8s.io/v1/clusterroles/") + r);
    ASSERT_EQ(got.code, 200) << r << " " << got.body;
    EXPECT_EQ(got.j()["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"],
              "true");
  }
  auto crb = as("root-token", "GET",
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/cluster-admin");
  ASSERT_EQ(crb.code, 200);
  EXPECT_EQ(crb.j()["subjects"][0]["name"], "system:masters");
  // A removed default rule comes back at the next start; an extra one stays.
  auto view = as("root-token", "GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/view").j();
  size_t n = view["rules"].size();
  view["rules"].erase(0);
  view["rules"].push_back({{"verbs", {"get"}}, {"apiGroups", {"x.io"}}, {"resources", {"x"}}});
  ASSERT_EQ(
      as("root-token", "PUT", "/apis/rbac.authorization.k8s.io/v1/clusterroles/view", view).code,
      200);
  restart(options());
  auto again = as("root-token", "GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/view").j();
  EXPECT_EQ(again["rules"].size(), n + 1);
}

TEST_F(RbacTest, NoBindingIsForbiddenWithKubernetesMessage) {
  auto r = as("nobody-token", "GET", "/api/v1/namespaces/default/pods");
  EXPECT_EQ(r.code, 403);
  EXPECT_EQ(r.j()["reason"], "Forbidden");
  EXPECT_EQ(r.j()["message"],
            "pods is forbidden: User \"nobody\" cannot list resource \"pods\" in API group \"\" "
            "in the namespace \"default\"");
  r = as("nobody-token", "GET", "/apis/apps/v1/namespaces/default/deployments/web");
  EXPECT_EQ(r.j()["message"],
            "deployments.apps \"web\" is forbidden: User \"nobody\" cannot get resource "
            "\"deployments\" in API group \"apps\" in the namespace \"default\"");
  r = as("nobody-token", "GET", "/metrics");
  EXPECT_EQ(r.code, 403);
  EXPECT_EQ(r.j()["message"], "forbidden: User \"nobody\" cannot get path \"/metrics\"");
  // Discovery is for every authenticated user (system:discovery).
  EXPECT_EQ(as("nobody-token", "GET", "/api").code, 200);
  EXPECT_EQ(as("nobody-token", "GET", "/apis/apps/v1").code, 200);
}

TEST_F(RbacTest, ViewRoleBindingReadsButDoesNotWrite) {
  EXPECT_EQ(as("vera-token", "GET", "/api/v1/namespaces/default/pods").code, 403);
  json rb = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
             {"kind", "RoleBinding"},
             {"metadata", {{"name", "vera-view"}, {"namespace", "default"}}},
             {"roleRef", {{"kind", "ClusterRole"}, {"name", "view"}}},
             {"subjects", {{{"kind", "User"}, {"name", "vera"}}}}};
  auto c = as("root-token", "POST",
              "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", rb);
  ASSERT_EQ(c.code, 201) << c.body;
  EXPECT_EQ(eventually("vera-token", "GET", "/api/v1/namespaces/default/pods", 200), 200);
  EXPECT_EQ(
      as("vera-token", "GET", "/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1").code,
      200);
  auto w = as("vera-token", "POST", "/api/v1/namespaces/default/pods", pod("p1"));
  EXPECT_EQ(w.code, 403);
  EXPECT_EQ(w.j()["message"],
            "pods is forbidden: User \"vera\" cannot create resource \"pods\" in API group \"\" "
            "in the namespace \"default\"");
  // view has no secrets; the binding is only for its namespace.
  EXPECT_EQ(as("vera-token", "GET", "/api/v1/namespaces/default/secrets").code, 403);
  EXPECT_EQ(as("vera-token", "GET", "/api/v1/namespaces/kube-system/pods").code, 403);
  EXPECT_EQ(as("vera-token", "GET", "/api/v1/pods").code, 403);
  // roleRef cannot change.
  auto cur = as("root-token", "GET",
                "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/vera-view")
                 .j();
  cur["roleRef"]["name"] = "edit";
  EXPECT_EQ(as("root-token", "PUT",
               "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/vera-view", cur)
                .code,
            422);
}

TEST_F(RbacTest, MastersMayDoAnything) {
  EXPECT_EQ(as("root-token", "POST", "/api/v1/namespaces/default/pods", pod("p1")).code, 201);
  EXPECT_EQ(as("root-token", "GET", "/api/v1/nodes").code, 200);
  EXPECT_EQ(as("root-token", "GET", "/metrics").code, 200);
  EXPECT_EQ(as("root-token", "DELETE", "/api/v1/namespaces/default/pods/p1").code, 200);
}

TEST_F(RbacTest, NodeWritesOnlyItsOwn) {
  ASSERT_EQ(as("n1-token", "POST", "/api/v1/nodes", node("n1")).code, 201);
  ASSERT_EQ(as("root-token", "POST", "/api/v1/nodes", node("n2")).code, 201);
  json patch = {{"metadata", {{"labels", {{"a", "b"}}}}}};
  EXPECT_EQ(as("n1-token", "PATCH", "/api/v1/nodes/n1", patch).code, 200);
  EXPECT_EQ(
      as("n1-token", "PATCH", "/api/v1/nodes/n1/status", json{{"status", {{"phase", "Running"}}}})
          .code,
      200);
  EXPECT_EQ(as("n1-token", "PATCH", "/api/v1/nodes/n2", patch).code, 403);
  EXPECT_EQ(as("n1-token", "PATCH", "/api/v1/nodes/n2/status", patch).code, 403);
  EXPECT_EQ(as("n1-token", "DELETE", "/api/v1/nodes/n2").code, 403);
  EXPECT_EQ(as("n1-token", "GET", "/api/v1/nodes").code, 200);

  // Pods: all readable; status and deletion only for its own.
  ASSERT_EQ(
      as("root-token", "POST", "/api/v1/namespaces/default/pods", bound_pod("mine", "n1")).code,
      201);
  ASSERT_EQ(
      as("root-token", "POST", "/api/v1/namespaces/default/pods", bound_pod("theirs", "n2")).code,
      201);
  json st = {{"status", {{"message", "hi"}}}};
  EXPECT_EQ(eventually("n1-token", "PATCH", "/api/v1/namespaces/default/pods/mine/status", 200, st),
            200);
  EXPECT_EQ(as("n1-token", "PATCH", "/api/v1/namespaces/default/pods/theirs/status", st).code, 403);
  EXPECT_EQ(as("n1-token", "DELETE", "/api/v1/namespaces/default/pods/theirs").code, 403);
  EXPECT_EQ(as("n1-token", "PATCH", "/api/v1/namespaces/default/pods/mine",
               json{{"metadata", {{"labels", {{"x", "y"}}}}}})
                .code,
            403);
  EXPECT_EQ(as("n1-token", "POST", "/api/v1/namespaces/default/pods", pod("new")).code, 403);
  EXPECT_EQ(as("n1-token", "GET", "/api/v1/namespaces/default/pods/theirs").code, 200);
  EXPECT_EQ(as("n1-token", "DELETE", "/api/v1/namespaces/default/pods/mine").code, 200);

  // Secrets: only those its pods use.
  json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", "s1"}}},
                 {"stringData", {{"k", "v"}}}};
  ASSERT_EQ(as("root-token", "POST", "/api/v1/namespaces/default/secrets", secret).code, 201);
  secret["metadata"]["name"] = "s2";
  ASSERT_EQ(as("root-token", "POST", "/api/v1/namespaces/default/secrets", secret).code, 201);
  json user = bound_pod("user", "n1");
  user["spec"]["volumes"] = {{{"name", "v"}, {"secret", {{"secretName", "s1"}}}}};
  ASSERT_EQ(as("root-token", "POST", "/api/v1/namespaces/default/pods", user).code, 201);
  EXPECT_EQ(eventually("n1-token", "GET", "/api/v1/namespaces/default/secrets/s1", 200), 200);
  EXPECT_EQ(as("n1-token", "GET", "/api/v1/namespaces/default/secrets/s2").code, 403);
  EXPECT_EQ(as("n1-token", "GET", "/api/v1/namespaces/default/secrets").code, 403);

  // Its Lease in kube-node-lease.
  json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", "n1"}, {"namespace", "kube-node-lease"}}},
                {"spec", {{"holderIdentity", "n1"}}}};
  EXPECT_EQ(as("n1-token", "POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
               lease)
                .code,
            201);
  EXPECT_EQ(
      as("n1-token", "GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1")
          .code,
      200);
  EXPECT_EQ(
      as("n1-token", "GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n2")
          .code,
      403);
}

TEST_F(RbacTest, AccessReviews) {
  json rb = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
             {"kind", "RoleBinding"},
             {"metadata", {{"name", "vera-view"}, {"namespace", "default"}}},
             {"roleRef", {{"kind", "ClusterRole"}, {"name", "view"}}},
             {"subjects", {{{"kind", "User"}, {"name", "vera"}}}}};
  ASSERT_EQ(as("root-token", "POST",
               "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", rb)
                .code,
            201);
  auto ssar = [&](const std::string& verb) {
    json body = {{"apiVersion", "authorization.k8s.io/v1"},
                 {"kind", "SelfSubjectAccessReview"},
                 {"spec",
                  {{"resourceAttributes",
                    {{"namespace", "default"}, {"verb", verb}, {"resource", "pods"}}}}}};
    return as("vera-token", "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body);
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  Resp r;
  do {
    r = ssar("list");
    ASSERT_EQ(r.code, 201) << r.body;
  } while (!r.j()["status"]["allowed"].get<bool>() && std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(r.j()["status"]["allowed"].get<bool>());
  EXPECT_EQ(r.j()["status"]["reason"],
            "RBAC: allowed by RoleBinding \"vera-view/default\" of ClusterRole \"view\" to User "
            "\"vera\"");
  r = ssar("create");
  EXPECT_FALSE(r.j()["status"]["allowed"].get<bool>());
  // Not stored.
  EXPECT_EQ(as("root-token", "GET", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
                .j()["items"]
                .size(),
            0u);

  // SubjectAccessReview: for someone else; vera may not ask.
  json sar = {{"apiVersion", "authorization.k8s.io/v1"},
              {"kind", "SubjectAccessReview"},
              {"spec",
               {{"user", "vera"},
                {"resourceAttributes",
                 {{"namespace", "default"}, {"verb", "get"}, {"resource", "secrets"}}}}}};
  EXPECT_EQ(
      as("vera-token", "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar).code,
      403);
  r = as("root-token", "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar);
  ASSERT_EQ(r.code, 201) << r.body;
  EXPECT_FALSE(r.j()["status"]["allowed"].get<bool>());
  sar["spec"]["resourceAttributes"]["resource"] = "pods";
  r = as("root-token", "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", sar);
  EXPECT_TRUE(r.j()["status"]["allowed"].get<bool>());

  // SelfSubjectRulesReview: view's rules in default, the discovery URLs.
  json ssrr = {{"apiVersion", "authorization.k8s.io/v1"},
               {"kind", "SelfSubjectRulesReview"},
               {"spec", {{"namespace", "default"}}}};
  r = as("vera-token", "POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", ssrr);
  ASSERT_EQ(r.code, 201) << r.body;
  bool pods = false;
  const json review = r.j();
  for (const auto& rule : review["status"]["resourceRules"]) {
    for (const auto& res : rule["resources"]) pods = pods || res == "pods";
  }
  EXPECT_TRUE(pods) << r.body;
  EXPECT_FALSE(review["status"]["nonResourceRules"].empty());
}

TEST_F(RbacTest, NoEscalationThroughRolesOrBindings) {
  const std::string rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/";
  json rb = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
             {"kind", "RoleBinding"},
             {"metadata", {{"name", "vera-admin"}, {"namespace", "default"}}},
             {"roleRef", {{"kind", "ClusterRole"}, {"name", "admin"}}},
             {"subjects", {{{"kind", "User"}, {"name", "vera"}}}}};
  ASSERT_EQ(as("root-token", "POST", rbac + "rolebindings", rb).code, 201);
  json role = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
               {"kind", "Role"},
               {"metadata", {{"name", "pods"}, {"namespace", "default"}}},
               {"rules", {{{"verbs", {"get"}}, {"apiGroups", {""}}, {"resources", {"pods"}}}}}};
  EXPECT_EQ(eventually("vera-token", "POST", rbac + "roles", 201, role), 201);
  // A permission vera does not hold (nodes; a verb she lacks).
  role["metadata"]["name"] = "nodes";
  role["rules"][0]["resources"] = {"nodes"};
  auto r = as("vera-token", "POST", rbac + "roles", role);
  EXPECT_EQ(r.code, 403);
  EXPECT_NE(r.j()["message"].get<std::string>().find(
                "is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], "
                "Resources:[\"nodes\"], Verbs:[\"get\"]}"),
            std::string::npos)
      << r.body;
  role["rules"][0]["resources"] = {"pods"};
  role["rules"][0]["verbs"] = {"escalate"};
  EXPECT_EQ(as("vera-token", "POST", rbac + "roles", role).code, 403);
  // Widening her own Role by an update is refused too.
  json widened = as("vera-token", "GET", rbac + "roles/pods").j();
  widened["rules"][0]["verbs"] = {"*"};
  EXPECT_EQ(as("vera-token", "PUT", rbac + "roles/pods", widened).code, 403);
  EXPECT_EQ(
      as("vera-token", "PATCH", rbac + "roles/pods",
         json{{"rules", {{{"verbs", {"get"}}, {"apiGroups", {""}}, {"resources", {"nodes"}}}}}})
          .code,
      403);
  // Bindings: to what she holds (view, her Role) yes; to cluster-admin no.
  json b = rb;
  b["metadata"]["name"] = "bob-view";
  b["roleRef"]["name"] = "view";
  b["subjects"][0]["name"] = "bob";
  EXPECT_EQ(as("vera-token", "POST", rbac + "rolebindings", b).code, 201);
  b["metadata"]["name"] = "bob-pods";
  b["roleRef"] = {{"kind", "Role"}, {"name", "pods"}};
  EXPECT_EQ(as("vera-token", "POST", rbac + "rolebindings", b).code, 201);
  b["metadata"]["name"] = "bob-root";
  b["roleRef"] = {{"kind", "ClusterRole"}, {"name", "cluster-admin"}};
  r = as("vera-token", "POST", rbac + "rolebindings", b);
  EXPECT_EQ(r.code, 403);
  EXPECT_NE(r.body.find("not currently held"), std::string::npos) << r.body;
  // The masters may grant anything.
  EXPECT_EQ(as("root-token", "POST", rbac + "rolebindings", b).code, 201);
}

TEST_F(RbacTest, UnknownModeIsRefusedAtStart) {
  ApiServerOptions o = options();
  o.auth.authorization_modes = {"RBAC", "ABAC"};
  o.port = 0;
  auto s = ApiServer::start(store(), o);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("unknown authorization mode \"ABAC\""), std::string::npos)
      << s.status().message();
}

}  // namespace
}  // namespace minik8s::apiserver
