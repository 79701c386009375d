// ServiceAccounts and their tokens against a real ApiServer with
// authentication on (docs/auth.md "Authentication"): the TokenRequest
// subresource, the ServiceAccount token authenticator, TokenReview,
// SelfSubjectReview and the pods' ServiceAccount admission. No authorizer
// mode is set: whoever authenticates may do anything (RBAC has its own tests).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "minik8s/auth/jwt.h"
#include "test/fakes/local_api.h"

namespace minik8s::apiserver {
namespace {

using nlohmann::json;
using testing::ApiServerFixture;
using testing::Resp;

constexpr const char* kLoopback = "loopback-secret";

class ServiceAccountTest : public ApiServerFixture {
 protected:
  void configure(ApiServerOptions& o) override {
    key_file_ = ::testing::TempDir() + "/minik8s-sa-" + std::to_string(::getpid()) + ".key";
    auto pem = auth::EcKey::generate_private_pem();
    ASSERT_TRUE(pem.is_ok());
    key_pem_ = *pem;
    std::ofstream(key_file_) << key_pem_;
    o.auth.enabled = true;
    o.auth.loopback_token = kLoopback;
    o.auth.sa_key_file = key_file_;
    o.auth.authorization_modes = {};
  }
  void SetUp() override {
    ApiServerFixture::SetUp();
    bearer = kLoopback;
    // The server made default/default at start.
    ASSERT_EQ(req("GET", "/api/v1/namespaces/default/serviceaccounts/default").code, 200);
    ASSERT_EQ(post("/api/v1/namespaces/default/serviceaccounts", sa("robot")).code, 201);
  }
  void TearDown() override {
    ApiServerFixture::TearDown();
    std::remove(key_file_.c_str());
  }
  static json sa(const std::string& name) {
    return {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", name}}}};
  }
  // A token for default/<name> (as the loopback user).
  std::string token(const std::string& name, json spec = json::object()) {
    bearer = kLoopback;
    Resp r = post(
        "/api/v1/namespaces/default/serviceaccounts/" + name + "/token",
        {{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenRequest"}, {"spec", spec}});
    EXPECT_EQ(r.code, 201) << r.body;
    return r.j()["status"]["token"].is_string() ? r.j()["status"]["token"].get<std::string>() : "";
  }
  // Who the server says `t` is (SelfSubjectReview), or the HTTP code.
  Resp whoami(const std::string& t) {
    bearer = t;
    Resp r = post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                  {{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "SelfSubjectReview"}});
    bearer = kLoopback;
    return r;
  }
  // Polls (the watch cache may lag a write) until `t` is refused with 401.
  bool becomes_unauthorized(const std::string& t) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (whoami(t).code == 401) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  json review(const std::string& t, json audiences = nullptr) {
    bearer = kLoopback;
    json spec = {{"token", t}};
    if (!audiences.is_null()) spec["audiences"] = audiences;
    Resp r =
        post("/apis/authentication.k8s.io/v1/tokenreviews",
             {{"apiVersion", "authentication.k8s.io/v1"}, {"kind", "TokenReview"}, {"spec", spec}});
    EXPECT_EQ(r.code, 201) << r.body;
    return r.j();
  }
  std::string key_file_, key_pem_;
};

TEST_F(ServiceAccountTest, TokenRequestAuthenticatesAsTheServiceAccount) {
  Resp r = post("/api/v1/namespaces/default/serviceaccounts/robot/token",
                {{"apiVersion", "authentication.k8s.io/v1"},
                 {"kind", "TokenRequest"},
                 {"spec", json::object()}});
  ASSERT_EQ(r.code, 201) << r.body;
  json tr = r.j();
  EXPECT_EQ(tr["kind"], "TokenRequest");
  EXPECT_EQ(tr["spec"]["expirationSeconds"], 3600);
  EXPECT_TRUE(tr["status"]["expirationTimestamp"].is_string());
  std::string t = tr["status"]["token"];
  Resp who = whoami(t);
  ASSERT_EQ(who.code, 201) << who.body;
  json u = who.j()["status"]["userInfo"];
  EXPECT_EQ(u["username"], "system:serviceaccount:default:robot");
  std::vector<std::string> groups = u["groups"];
  EXPECT_NE(std::find(groups.begin(), groups.end(), "system:serviceaccounts"), groups.end());
  EXPECT_NE(std::find(groups.begin(), groups.end(), "system:serviceaccounts:default"),
            groups.end());
  EXPECT_NE(std::find(groups.begin(), groups.end(), "system:authenticated"), groups.end());
  // A token signed by another key is refused.
  auto other = auth::EcKey::from_pem(*auth::EcKey::generate_private_pem());
  auto claims = auth::jwt_peek_claims(t);
  ASSERT_TRUE(claims.has_value());
  EXPECT_EQ(whoami(*auth::jwt_sign(**other, *claims)).code, 401);
  // Not a token for a ServiceAccount that is not there.
  r = post("/api/v1/namespaces/default/serviceaccounts/ghost/token", json::object());
  EXPECT_EQ(r.code, 404) << r.body;
}

TEST_F(ServiceAccountTest, TokenRequestValidation) {
  Resp r = post("/api/v1/namespaces/default/serviceaccounts/robot/token",
                {{"spec", {{"expirationSeconds", 10}}}});
  EXPECT_EQ(r.code, 422) << r.body;
  EXPECT_NE(r.body.find("spec.expirationSeconds"), std::string::npos) << r.body;
  r = post("/api/v1/namespaces/default/serviceaccounts/robot/token",
           {{"spec", {{"boundObjectRef", {{"kind", "Node"}, {"name", "n"}}}}}});
  EXPECT_EQ(r.code, 422) << r.body;
  r = post("/api/v1/namespaces/default/serviceaccounts/robot/token",
           {{"spec", {{"boundObjectRef", {{"kind", "Pod"}, {"name", "nope"}}}}}});
  EXPECT_EQ(r.code, 404) << r.body;
  r = req("POST", "/api/v1/namespaces/default/serviceaccounts/robot/token", "[1,2]");
  EXPECT_EQ(r.code / 100, 4) << r.body;
  // A GET of an answered kind is not served.
  EXPECT_EQ(req("GET", "/apis/authentication.k8s.io/v1/tokenreviews").code, 405);
}

TEST_F(ServiceAccountTest, DeletingTheServiceAccountInvalidatesItsTokens) {
  std::string t = token("robot");
  ASSERT_EQ(whoami(t).code, 201);
  ASSERT_EQ(req("DELETE", "/api/v1/namespaces/default/serviceaccounts/robot").code, 200);
  EXPECT_TRUE(becomes_unauthorized(t));
  // A new ServiceAccount of the same name has another uid.
  ASSERT_EQ(post("/api/v1/namespaces/default/serviceaccounts", sa("robot")).code, 201);
  // Once the new one authenticates, the cache has it: the old token stays refused.
  std::string fresh = token("robot");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (whoami(fresh).code != 201 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(whoami(fresh).code, 201);
  EXPECT_EQ(whoami(t).code, 401);
}

TEST_F(ServiceAccountTest, BoundPodTokenDiesWithThePod) {
  ASSERT_EQ(post("/api/v1/namespaces/default/pods", pod("p1")).code, 201);
  json p = req("GET", "/api/v1/namespaces/default/pods/p1").j();
  EXPECT_EQ(p["spec"]["serviceAccountName"], "default");
  std::string t = token(
      "default",
      {{"boundObjectRef",
        {{"kind", "Pod"}, {"apiVersion", "v1"}, {"name", "p1"}, {"uid", p["metadata"]["uid"]}}}});
  Resp who = whoami(t);
  ASSERT_EQ(who.code, 201) << who.body;
  json extra = who.j()["status"]["userInfo"]["extra"];
  EXPECT_EQ(extra["authentication.kubernetes.io/pod-name"], json::array({"p1"}));
  EXPECT_EQ(extra["authentication.kubernetes.io/pod-uid"], json::array({p["metadata"]["uid"]}));
  // Bound to a pod that runs as another ServiceAccount, or a stale uid: refused.
  Resp r = post("/api/v1/namespaces/default/serviceaccounts/robot/token",
                {{"spec", {{"boundObjectRef", {{"kind", "Pod"}, {"name", "p1"}}}}}});
  EXPECT_EQ(r.code, 400) << r.body;
  r = post("/api/v1/namespaces/default/serviceaccounts/default/token",
           {{"spec", {{"boundObjectRef", {{"kind", "Pod"}, {"name", "p1"}, {"uid", "other"}}}}}});
  EXPECT_EQ(r.code, 409) << r.body;
  ASSERT_EQ(req("DELETE", "/api/v1/namespaces/default/pods/p1").code, 200);
  EXPECT_TRUE(becomes_unauthorized(t));
}

TEST_F(ServiceAccountTest, ExpiredTokenIs401) {
  std::string t = token("robot");
  auto claims = auth::jwt_peek_claims(t);
  ASSERT_TRUE(claims.has_value());
  auto key = auth::EcKey::from_pem(key_pem_);
  ASSERT_TRUE(key.is_ok());
  // The same token re-signed with the server's key: accepted; then expired.
  ASSERT_EQ(whoami(*auth::jwt_sign(**key, *claims)).code, 201);
  json old = *claims;
  int64_t now = (*claims)["iat"];
  old["iat"] = now - 7200;
  old["nbf"] = now - 7200;
  old["exp"] = now - 3600;
  Resp r = whoami(*auth::jwt_sign(**key, old));
  EXPECT_EQ(r.code, 401) << r.body;
  EXPECT_FALSE(review(*auth::jwt_sign(**key, old))["status"]["authenticated"].get<bool>());
}

TEST_F(ServiceAccountTest, TokenReview) {
  std::string t = token("robot", {{"audiences", {"vault"}}});
  json st = review(t, {"vault"})["status"];
  EXPECT_TRUE(st["authenticated"].get<bool>()) << st;
  EXPECT_EQ(st["user"]["username"], "system:serviceaccount:default:robot");
  EXPECT_EQ(st["audiences"], json::array({"vault"}));
  // Not for the API server itself, nor for another audience.
  EXPECT_EQ(whoami(t).code, 401);
  st = review(t)["status"];
  EXPECT_FALSE(st["authenticated"].get<bool>()) << st;
  EXPECT_FALSE(review(t, {"other"})["status"]["authenticated"].get<bool>());
  st = review("garbage")["status"];
  EXPECT_FALSE(st["authenticated"].get<bool>());
  EXPECT_TRUE(st["error"].is_string());
  // The loopback token is the API server's audience.
  st = review(kLoopback)["status"];
  EXPECT_TRUE(st["authenticated"].get<bool>()) << st;
  EXPECT_EQ(st["user"]["username"], "system:apiserver");
  // spec.token is required.
  Resp r = post("/apis/authentication.k8s.io/v1/tokenreviews",
                {{"apiVersion", "authentication.k8s.io/v1"},
                 {"kind", "TokenReview"},
                 {"spec", json::object()}});
  EXPECT_EQ(r.code, 422) << r.body;
}

TEST_F(ServiceAccountTest, PodAdmissionMountsTheTokenVolume) {
  json p = pod("p1");
  p["spec"]["initContainers"] = json::array({{{"name", "init"}, {"image", "busybox"}}});
  ASSERT_EQ(post("/api/v1/namespaces/default/pods", p).code, 201);
  json got = req("GET", "/api/v1/namespaces/default/pods/p1").j();
  EXPECT_EQ(got["spec"]["serviceAccountName"], "default");
  EXPECT_EQ(got["spec"]["serviceAccount"], "default");
  json vol;
  for (const auto& v : got["spec"]["volumes"]) {
    if (v["name"].get<std::string>().rfind("kube-api-access-", 0) == 0) vol = v;
  }
  ASSERT_TRUE(vol.is_object()) << got["spec"].dump();
  EXPECT_EQ(vol["name"].get<std::string>().size(), std::string("kube-api-access-").size() + 5);
  json sources = vol["projected"]["sources"];
  ASSERT_EQ(sources.size(), 3u);
  EXPECT_EQ(sources[0]["serviceAccountToken"]["expirationSeconds"], 3607);
  EXPECT_EQ(sources[0]["serviceAccountToken"]["path"], "token");
  EXPECT_EQ(sources[1]["configMap"]["name"], "kube-root-ca.crt");
  EXPECT_EQ(sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"], "metadata.namespace");
  for (const char* list : {"containers", "initContainers"}) {
    json m = got["spec"][list][0]["volumeMounts"].back();
    EXPECT_EQ(m["name"], vol["name"]) << list;
    EXPECT_EQ(m["mountPath"], "/var/run/secrets/kubernetes.io/serviceaccount");
    EXPECT_EQ(m["readOnly"], true);
  }
  // automountServiceAccountToken false on the pod or on its ServiceAccount: no volume.
  p = pod("p2");
  p["spec"]["automountServiceAccountToken"] = false;
  ASSERT_EQ(post("/api/v1/namespaces/default/pods", p).code, 201);
  EXPECT_FALSE(req("GET", "/api/v1/namespaces/default/pods/p2").j()["spec"].contains("volumes"));
  json quiet = sa("quiet");
  quiet["automountServiceAccountToken"] = false;
  ASSERT_EQ(post("/api/v1/namespaces/default/serviceaccounts", quiet).code, 201);
  p = pod("p3");
  p["spec"]["serviceAccountName"] = "quiet";
  ASSERT_EQ(post("/api/v1/namespaces/default/pods", p).code, 201);
  EXPECT_FALSE(req("GET", "/api/v1/namespaces/default/pods/p3").j()["spec"].contains("volumes"));
  // A ServiceAccount that does not exist: 403, as Kubernetes.
  p = pod("p4");
  p["spec"]["serviceAccountName"] = "ghost";
  Resp r = post("/api/v1/namespaces/default/pods", p);
  EXPECT_EQ(r.code, 403) << r.body;
  EXPECT_NE(r.body.find("error looking up service account default/ghost"), std::string::npos);
}

TEST_F(ServiceAccountTest, ServiceAccountTableAndDiscovery) {
  Resp r = req("GET", "/api/v1/namespaces/default/serviceaccounts", "", "application/json",
               "application/json;as=Table;v=v1;g=meta.k8s.io");
  ASSERT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(r.j()["columnDefinitions"][1]["name"], "SECRETS");
  json d = req("GET", "/api/v1").j();
  bool token_sub = false, sa_short = false;
  for (const auto& res : d["resources"]) {
    if (res["name"] == "serviceaccounts/token") token_sub = res["kind"] == "TokenRequest";
    if (res["name"] == "serviceaccounts") sa_short = res["shortNames"] == json::array({"sa"});
  }
  EXPECT_TRUE(token_sub);
  EXPECT_TRUE(sa_short);
}

TEST_F(ServiceAccountTest, UnreadableSigningKeyFailsStart) {
  ApiServerOptions o = options();
  o.auth.sa_key_file = ::testing::TempDir() + "/no-such-sa.key";
  auto s = ApiServer::start(store(), o);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("no-such-sa.key"), std::string::npos) << s.status().message();
}

}  // namespace
}  // namespace minik8s::apiserver
