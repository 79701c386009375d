// The RBAC and access-review kinds' table entries: defaults, validation
// (Kubernetes' pkg/apis/rbac/validation rules) and Tables.
#include <gtest/gtest.h>

#include "kinds_test_util.h"

namespace minik8s::api {
namespace {

using kinds_test::check;
using kinds_test::J;
using kinds_test::kind;

const char* kRbac = "rbac.authorization.k8s.io/v1";

TEST(RbacKindsTest, TableEntries) {
  EXPECT_FALSE(kind(kRbac, "ClusterRole").namespaced);
  EXPECT_FALSE(kind(kRbac, "ClusterRoleBinding").namespaced);
  EXPECT_TRUE(kind(kRbac, "Role").namespaced);
  EXPECT_EQ(kind(kRbac, "RoleBinding").plural, "rolebindings");
  EXPECT_EQ(find_by_user_name("clusterrolebindings.rbac.authorization.k8s.io"),
            &kind(kRbac, "ClusterRoleBinding"));
  EXPECT_FALSE(kind("authorization.k8s.io/v1", "SelfSubjectAccessReview").namespaced);
}

TEST(RbacKindsTest, RoleRules) {
  const ResourceType& role = kind(kRbac, "Role");
  EXPECT_TRUE(check(role, J(R"({"metadata":{"name":"pod-reader","namespace":"default"},
      "rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get","list"]}]})"))
                  .empty());
  // RBAC names are path segments: ':' is fine, '/' is not.
  EXPECT_TRUE(check(role, J(R"({"metadata":{"name":"system:x","namespace":"d"}})")).empty());
  EXPECT_ONLY_ERROR(check(role, J(R"({"metadata":{"name":"a/b","namespace":"d"}})")),
                    "metadata.name", "may not contain '/'");
  EXPECT_ONLY_ERROR(check(role, J(R"({"metadata":{"name":"r","namespace":"d"},
      "rules":[{"apiGroups":[""],"resources":["pods"]}]})")),
                    "rules[0].verbs", "Required value");
  EXPECT_ERROR(check(role, J(R"({"metadata":{"name":"r","namespace":"d"},
      "rules":[{"verbs":["get"],"nonResourceURLs":["/healthz"]}]})")),
               "rules[0].nonResourceURLs", "namespaced rules cannot apply to non-resource URLs");
  EXPECT_ONLY_ERROR(check(role, J(R"({"metadata":{"name":"r","namespace":"d"},
      "rules":[{"verbs":["get"],"apiGroups":[""]}]})")),
                    "rules[0].resources", "Required value");
  EXPECT_ONLY_ERROR(check(role, J(R"({"metadata":{"name":"r"}})")), "metadata.namespace",
                    "Required value");
}

TEST(RbacKindsTest, ClusterRoleRules) {
  const ResourceType& cr = kind(kRbac, "ClusterRole");
  EXPECT_TRUE(check(cr, J(R"({"metadata":{"name":"h"},
      "rules":[{"verbs":["get"],"nonResourceURLs":["/healthz","/healthz/*"]}],
      "aggregationRule":{"clusterRoleSelectors":[{"matchLabels":{"a":"b"}}]}})"))
                  .empty());
  EXPECT_ONLY_ERROR(check(cr, J(R"({"metadata":{"name":"h"},
      "rules":[{"verbs":["get"],"apiGroups":[""],"resources":["pods"],"nonResourceURLs":["/x"]}]})")),
                    "rules[0].nonResourceURLs", "both regular resources and non-resource URLs");
}

TEST(RbacKindsTest, BindingDefaultsAndRules) {
  const ResourceType& rb = kind(kRbac, "RoleBinding");
  Json b = J(R"({"metadata":{"name":"b","namespace":"d"},
      "roleRef":{"kind":"ClusterRole","name":"view"},
      "subjects":[{"kind":"User","name":"jane"},{"kind":"ServiceAccount","name":"sa"}]})");
  EXPECT_TRUE(check(rb, b).empty()) << kinds_test::dump(check(rb, b));
  rb.set_defaults(b);
  EXPECT_EQ(b["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
  EXPECT_EQ(b["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
  EXPECT_EQ(b["subjects"][1]["apiGroup"], "");
  EXPECT_ONLY_ERROR(check(rb, J(R"({"metadata":{"name":"b","namespace":"d"}})")), "roleRef",
                    "Required value");
  EXPECT_ONLY_ERROR(check(rb, J(R"({"metadata":{"name":"b","namespace":"d"},
      "roleRef":{"kind":"Secret","name":"x"}})")),
                    "roleRef.kind", "Unsupported value");
  EXPECT_ONLY_ERROR(check(rb, J(R"({"metadata":{"name":"b","namespace":"d"},
      "roleRef":{"apiGroup":"x","kind":"Role","name":"x"}})")),
                    "roleRef.apiGroup", "Unsupported value");
  EXPECT_ONLY_ERROR(check(rb, J(R"({"metadata":{"name":"b","namespace":"d"},
      "roleRef":{"kind":"Role","name":"x"},"subjects":[{"kind":"Robot","name":"r"}]})")),
                    "subjects[0].kind", "Unsupported value");
  EXPECT_ONLY_ERROR(check(rb, J(R"({"metadata":{"name":"b","namespace":"d"},
      "roleRef":{"kind":"Role","name":"x"},"subjects":[{"kind":"User"}]})")),
                    "subjects[0].name", "Required value");
  // roleRef is immutable.
  Json old = b;
  Json changed = b;
  changed["roleRef"]["name"] = "edit";
  EXPECT_ONLY_ERROR(check(rb, changed, &old), "roleRef", "cannot change roleRef");
  EXPECT_TRUE(check(rb, b, &old).empty());

  const ResourceType& crb = kind(kRbac, "ClusterRoleBinding");
  EXPECT_ONLY_ERROR(check(crb, J(R"({"metadata":{"name":"b"},
      "roleRef":{"kind":"Role","name":"x"}})")),
                    "roleRef.kind", "Unsupported value");
  EXPECT_ONLY_ERROR(check(crb, J(R"({"metadata":{"name":"b"},
      "roleRef":{"kind":"ClusterRole","name":"x"},"subjects":[{"kind":"ServiceAccount","name":"s"}]})")),
                    "subjects[0].namespace", "Required value");
}

TEST(RbacKindsTest, Tables) {
  const ResourceType& rb = kind(kRbac, "RoleBinding");
  auto cols = rb.table_columns();
  ASSERT_EQ(cols.size(), 5u);
  EXPECT_EQ(cols[0].name, "Role");
  EXPECT_EQ(cols[2].priority, 1);
  Json b = J(R"({"metadata":{"name":"b","namespace":"d"},
      "roleRef":{"kind":"ClusterRole","name":"view"},
      "subjects":[{"kind":"User","name":"jane"},{"kind":"User","name":"bob"},
                  {"kind":"Group","name":"g"},{"kind":"ServiceAccount","name":"sa","namespace":"ns"}]})");
  Json cells = rb.table_cells(b);
  EXPECT_EQ(cells[0], "ClusterRole/view");
  EXPECT_EQ(cells[2], "jane, bob");
  EXPECT_EQ(cells[3], "g");
  EXPECT_EQ(cells[4], "ns/sa");
  const ResourceType& role = kind(kRbac, "Role");
  EXPECT_EQ(role.table_columns()[0].type, "date");
  EXPECT_EQ(role.table_cells(J(R"({"metadata":{"creationTimestamp":"2026-01-01T00:00:00Z"}})")),
            J(R"(["2026-01-01T00:00:00Z"])"));
}

TEST(RbacKindsTest, Reviews) {
  const ResourceType& ssar = kind("authorization.k8s.io/v1", "SelfSubjectAccessReview");
  EXPECT_TRUE(check(ssar, J(R"({"spec":{"resourceAttributes":{"verb":"get","resource":"pods"}}})"))
                  .empty());
  EXPECT_ONLY_ERROR(check(ssar, J(R"({"spec":{}})")), "spec.resourceAttributes", "exactly one of");
  const ResourceType& sar = kind("authorization.k8s.io/v1", "SubjectAccessReview");
  EXPECT_ONLY_ERROR(
      check(sar, J(R"({"spec":{"nonResourceAttributes":{"path":"/x","verb":"get"}}})")),
      "spec.user", "at least one of user or group");
}

TEST(RbacKindsTest, StrictKnowsTheFields) {
  std::vector<std::string> unknown;
  kind(kRbac, "ClusterRoleBinding")
      .unknown_fields(J(R"({"apiVersion":"x","kind":"y","metadata":{"name":"b"},
      "roleRef":{"apiGroup":"a","kind":"ClusterRole","name":"x"},
      "subjects":[{"kind":"User","name":"u","apiGroup":"a","namespace":"n","bogus":1}]})"),
                      unknown);
  EXPECT_EQ(unknown, std::vector<std::string>{"subjects[0].bogus"});
}

}  // namespace
}  // namespace minik8s::api
