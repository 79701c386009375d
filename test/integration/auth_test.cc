// RestHandler::admit with authentication on (docs/auth.md "Request path"):
// the static token file and the loopback token against a real ApiServer.
// RBAC has its own tests; here no authorizer mode is set, so whoever
// authenticates may do anything.
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "test/fakes/local_api.h"

namespace minik8s::apiserver {
namespace {

using testing::ApiServerFixture;

class AuthnTest : public ApiServerFixture {
 protected:
  void configure(ApiServerOptions& o) override {
    // Per process: ctest runs each case in its own process, side by side.
    token_file_ =
        ::testing::TempDir() + "/minik8s-authn-tokens-" + std::to_string(::getpid()) + ".csv";
    std::ofstream(token_file_) << "alice-token,alice,1001,\"dev,ops\"\n";
    o.auth.enabled = true;
    o.auth.token_file = token_file_;
    o.auth.loopback_token = "loopback-secret";
    o.auth.authorization_modes = {};
  }
  void TearDown() override {
    ApiServerFixture::TearDown();
    std::remove(token_file_.c_str());
  }
  std::string token_file_;
};

TEST_F(AuthnTest, AnonymousGets401ExceptHealthAndVersion) {
  auto r = req("GET", "/api/v1/namespaces/default/pods");
  EXPECT_EQ(r.code, 401);
  EXPECT_EQ(r.j()["reason"], "Unauthorized");
  EXPECT_EQ(r.j()["kind"], "Status");
  EXPECT_EQ(req("GET", "/api").code, 401);
  EXPECT_EQ(req("GET", "/api/v1/namespaces/default/pods?watch=1").code, 401);
  EXPECT_EQ(req("GET", "/readyz").code, 200);
  EXPECT_EQ(req("GET", "/healthz").code, 200);
  EXPECT_EQ(req("GET", "/livez").code, 200);
  EXPECT_EQ(req("GET", "/version").code, 200);
}

TEST_F(AuthnTest, UnknownTokenIs401EvenOnPublicPaths) {
  bearer = "nobody-has-this";
  EXPECT_EQ(req("GET", "/api/v1/namespaces/default/pods").code, 401);
  EXPECT_EQ(req("GET", "/version").code, 401);
}

TEST_F(AuthnTest, TokenFileAndLoopbackTokensAuthenticate) {
  bearer = "alice-token";
  EXPECT_EQ(req("GET", "/api/v1/namespaces/default/pods").code, 200);
  EXPECT_EQ(post("/api/v1/namespaces/default/pods", pod("p1")).code, 201);
  bearer = "loopback-secret";
  EXPECT_EQ(req("GET", "/api/v1/namespaces/default/pods/p1").code, 200);
  // The fixture's client carries the loopback token.
  auto r = client_->rest().request("GET", "/api/v1/namespaces");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(client::check_response(*r).is_ok()) << r->body;
}

}  // namespace
}  // namespace minik8s::apiserver
