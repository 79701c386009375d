#include "minik8s/auth/authorizer.h"

#include <gtest/gtest.h>

namespace minik8s::auth {
namespace {

TEST(ForbiddenMessage, KubernetesShapes) {
  Attributes a;
  a.user.name = "x";
  a.verb = "list";
  a.resource = "pods";
  a.ns = "y";
  EXPECT_EQ(forbidden_message(a, ""),
            "User \"x\" cannot list resource \"pods\" in API group \"\" in the namespace \"y\"");
  a.ns.clear();
  a.api_group = "apps";
  a.resource = "deployments";
  a.subresource = "scale";
  a.verb = "update";
  EXPECT_EQ(forbidden_message(a, "no binding"),
            "User \"x\" cannot update resource \"deployments/scale\" in API group \"apps\" at "
            "the cluster scope: no binding");
  Attributes n;
  n.user.name = "system:anonymous";
  n.resource_request = false;
  n.verb = "get";
  n.path = "/metrics";
  EXPECT_EQ(forbidden_message(n, ""), "User \"system:anonymous\" cannot get path \"/metrics\"");
}

}  // namespace
}  // namespace minik8s::auth
