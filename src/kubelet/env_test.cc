#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "minik8s/api/resource.h"
#include "minik8s/kubelet/parts.h"
#include "test/fakes/fake_rest_client.h"

namespace minik8s::kubelet {
namespace {

using api::Json;

class EnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(client_.create(*api::find_resource("", "v1", "configmaps"),
                               Json::parse(R"({"metadata":{"name":"cfg"},"data":{"mode":"fast","level":"3"}})"), "ns1")
                    .is_ok());
    ASSERT_TRUE(client_.create(*api::find_resource("", "v1", "secrets"),
                               // "s3cr3t" and "admin"
                               Json::parse(R"({"metadata":{"name":"creds"},"data":{"pass":"czNjcjN0","user":"YWRtaW4="}})"),
                               "ns1")
                    .is_ok());
  }
  static Json pod() {
    return Json::parse(R"({"metadata":{"name":"web","namespace":"ns1","uid":"u-1","labels":{"app":"web"},
                          "annotations":{"team":"blue"}},
                          "spec":{"nodeName":"n1","serviceAccountName":"robot","containers":[{"name":"c"}]},
                          "status":{"podIP":"10.0.0.9"}})");
  }
  static std::map<std::string, std::string> as_map(const std::vector<cri::KeyValue>& kvs) {
    std::map<std::string, std::string> m;
    for (const auto& kv : kvs) m[kv.key] = kv.value;
    return m;
  }

  testing::FakeRestClient rest_;
  client::Client client_{rest_};
  EnvContext ctx_{"10.1.1.5", "192.168.0.2", "node-a"};
};

TEST_F(EnvTest, LiteralsKeepOrderAndLaterDuplicatesWin) {
  Json c = Json::parse(R"J({"name":"c","env":[{"name":"A","value":"1"},{"name":"B","value":"2"},
                          {"name":"A","value":"3"},{"name":"C","value":"x-$(B)-$$(B)-$(NOPE)"}]})J");
  auto r = resolve_env(pod(), c, ctx_, client_);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].key, "A");
  EXPECT_EQ((*r)[0].value, "3");
  EXPECT_EQ((*r)[1].key, "B");
  EXPECT_EQ((*r)[2].value, "x-2-$(B)-$(NOPE)");
}

TEST_F(EnvTest, FieldRefs) {
  Json c = Json::parse(R"({"name":"c","env":[
    {"name":"NAME","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},
    {"name":"NS","valueFrom":{"fieldRef":{"fieldPath":"metadata.namespace"}}},
    {"name":"UID","valueFrom":{"fieldRef":{"fieldPath":"metadata.uid"}}},
    {"name":"IP","valueFrom":{"fieldRef":{"fieldPath":"status.podIP"}}},
    {"name":"HOST","valueFrom":{"fieldRef":{"fieldPath":"status.hostIP"}}},
    {"name":"NODE","valueFrom":{"fieldRef":{"fieldPath":"spec.nodeName"}}},
    {"name":"SA","valueFrom":{"fieldRef":{"fieldPath":"spec.serviceAccountName"}}},
    {"name":"APP","valueFrom":{"fieldRef":{"fieldPath":"metadata.labels['app']"}}},
    {"name":"TEAM","valueFrom":{"fieldRef":{"fieldPath":"metadata.annotations['team']"}}}]})");
  auto r = resolve_env(pod(), c, ctx_, client_);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  auto m = as_map(*r);
  EXPECT_EQ(m["NAME"], "web");
  EXPECT_EQ(m["NS"], "ns1");
  EXPECT_EQ(m["UID"], "u-1");
  EXPECT_EQ(m["IP"], "10.1.1.5");  // the context wins over a stale status
  EXPECT_EQ(m["HOST"], "192.168.0.2");
  EXPECT_EQ(m["NODE"], "node-a");
  EXPECT_EQ(m["SA"], "robot");
  EXPECT_EQ(m["APP"], "web");
  EXPECT_EQ(m["TEAM"], "blue");
}

TEST_F(EnvTest, UnsupportedFieldPathIsAnError) {
  Json c = Json::parse(R"({"name":"c","env":[{"name":"X","valueFrom":{"fieldRef":{"fieldPath":"spec.bogus"}}}]})");
  auto r = resolve_env(pod(), c, ctx_, client_);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("spec.bogus"), std::string::npos);
}

TEST_F(EnvTest, ConfigMapAndSecretKeyRefs) {
  Json c = Json::parse(R"({"name":"c","env":[
    {"name":"MODE","valueFrom":{"configMapKeyRef":{"name":"cfg","key":"mode"}}},
    {"name":"PASS","valueFrom":{"secretKeyRef":{"name":"creds","key":"pass"}}},
    {"name":"OPT","valueFrom":{"configMapKeyRef":{"name":"missing","key":"k","optional":true}}},
    {"name":"OPTKEY","valueFrom":{"secretKeyRef":{"name":"creds","key":"nokey","optional":true}}}]})");
  auto r = resolve_env(pod(), c, ctx_, client_);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  auto m = as_map(*r);
  EXPECT_EQ(m["MODE"], "fast");
  EXPECT_EQ(m["PASS"], "s3cr3t");
  EXPECT_EQ(m.count("OPT"), 0u);
  EXPECT_EQ(m.count("OPTKEY"), 0u);
  EXPECT_EQ(r->size(), 2u);
}

TEST_F(EnvTest, MissingObjectsAndKeysWordedLikeKubernetes) {
  auto one = [&](const std::string& env) {
    Json c = Json::parse(R"({"name":"c","env":[)" + env + "]}");
    auto r = resolve_env(pod(), c, ctx_, client_);
    EXPECT_FALSE(r.is_ok());
    return r.status().message();
  };
  EXPECT_EQ(one(R"({"name":"X","valueFrom":{"configMapKeyRef":{"name":"x","key":"k"}}})"), "configmap \"x\" not found");
  EXPECT_EQ(one(R"({"name":"X","valueFrom":{"configMapKeyRef":{"name":"cfg","key":"k"}}})"),
            "couldn't find key k in ConfigMap ns1/cfg");
  EXPECT_EQ(one(R"({"name":"X","valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}})"), "secret \"s\" not found");
  EXPECT_EQ(one(R"({"name":"X","valueFrom":{"secretKeyRef":{"name":"creds","key":"k"}}})"),
            "couldn't find key k in Secret ns1/creds");
}

TEST_F(EnvTest, EnvFromWithPrefixThenEnvOverrides) {
  Json c = Json::parse(R"({"name":"c","envFrom":[{"configMapRef":{"name":"cfg"}},
                          {"prefix":"DB_","secretRef":{"name":"creds"}},
                          {"configMapRef":{"name":"gone","optional":true}}],
                          "env":[{"name":"mode","value":"slow"}]})");
  auto r = resolve_env(pod(), c, ctx_, client_);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  auto m = as_map(*r);
  EXPECT_EQ(m["level"], "3");
  EXPECT_EQ(m["mode"], "slow");
  EXPECT_EQ(m["DB_user"], "admin");
  EXPECT_EQ(m["DB_pass"], "s3cr3t");
  EXPECT_EQ(r->size(), 4u);

  Json bad = Json::parse(R"({"name":"c","envFrom":[{"secretRef":{"name":"gone"}}]})");
  auto r2 = resolve_env(pod(), bad, ctx_, client_);
  ASSERT_FALSE(r2.is_ok());
  EXPECT_EQ(r2.status().message(), "secret \"gone\" not found");
}

TEST_F(EnvTest, ResourceFieldRef) {
  Json c = Json::parse(R"({"name":"c","resources":{"limits":{"memory":"64Mi","cpu":"500m"}},"env":[
    {"name":"MEM","valueFrom":{"resourceFieldRef":{"resource":"limits.memory","divisor":"1Mi"}}},
    {"name":"CPU","valueFrom":{"resourceFieldRef":{"resource":"limits.cpu"}}},
    {"name":"CPUM","valueFrom":{"resourceFieldRef":{"resource":"limits.cpu","divisor":"1m"}}}]})");
  auto r = resolve_env(pod(), c, ctx_, client_);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  auto m = as_map(*r);
  EXPECT_EQ(m["MEM"], "64");
  EXPECT_EQ(m["CPU"], "1");
  EXPECT_EQ(m["CPUM"], "500");
}

TEST_F(EnvTest, ApiOutageIsAnErrorNotAnEmptyValue) {
  rest_.fail_next(1, Status(Code::kUnavailable, "connection refused"));
  Json c = Json::parse(R"({"name":"c","env":[{"name":"X","valueFrom":{"configMapKeyRef":{"name":"cfg","key":"mode","optional":true}}}]})");
  auto r = resolve_env(pod(), c, ctx_, client_);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace minik8s::kubelet
