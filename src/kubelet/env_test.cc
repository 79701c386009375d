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

// Kubernetes' Service variables (pkg/kubelet/envvars, getServiceEnvVarMap).
std::vector<std::shared_ptr<const Json>> services() {
  std::vector<std::shared_ptr<const Json>> v;
  for (
      const char* text : {
          R"({"metadata":{"name":"kubernetes","namespace":"default"},
               "spec":{"clusterIP":"10.96.0.1","ports":[{"name":"https","port":443,"protocol":"TCP"}]}})",
          R"({"metadata":{"name":"my-db","namespace":"ns1"},
               "spec":{"clusterIP":"10.96.0.7","ports":[{"port":5432},{"name":"metrics-http","port":9187,"protocol":"TCP"},
                                                       {"name":"dns","port":53,"protocol":"UDP"}]}})",
          R"({"metadata":{"name":"headless","namespace":"ns1"},"spec":{"clusterIP":"None","ports":[{"port":80}]}})",
          R"({"metadata":{"name":"ext","namespace":"ns1"},"spec":{"type":"ExternalName","externalName":"x.example"}})",
          R"({"metadata":{"name":"other","namespace":"ns2"},"spec":{"clusterIP":"10.96.0.9","ports":[{"port":80}]}})"}) {
    v.push_back(std::make_shared<const Json>(Json::parse(text)));
  }
  return v;
}

TEST(ServiceEnv, KubernetesNamesAndOrder) {
  std::vector<cri::KeyValue> got = service_env(services(), "ns1", true);
  std::vector<std::pair<std::string, std::string>> kv;
  for (const auto& e : got) kv.emplace_back(e.key, e.value);
  std::vector<std::pair<std::string, std::string>> want = {
      {"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
      {"KUBERNETES_SERVICE_PORT", "443"},
      {"KUBERNETES_SERVICE_PORT_HTTPS", "443"},
      {"KUBERNETES_PORT", "tcp://10.96.0.1:443"},
      {"KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443"},
      {"KUBERNETES_PORT_443_TCP_PROTO", "tcp"},
      {"KUBERNETES_PORT_443_TCP_PORT", "443"},
      {"KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1"},
      {"MY_DB_SERVICE_HOST", "10.96.0.7"},
      {"MY_DB_SERVICE_PORT", "5432"},
      {"MY_DB_SERVICE_PORT_METRICS_HTTP", "9187"},
      {"MY_DB_SERVICE_PORT_DNS", "53"},
      {"MY_DB_PORT", "tcp://10.96.0.7:5432"},
      {"MY_DB_PORT_5432_TCP", "tcp://10.96.0.7:5432"},
      {"MY_DB_PORT_5432_TCP_PROTO", "tcp"},
      {"MY_DB_PORT_5432_TCP_PORT", "5432"},
      {"MY_DB_PORT_5432_TCP_ADDR", "10.96.0.7"},
      {"MY_DB_PORT_9187_TCP", "tcp://10.96.0.7:9187"},
      {"MY_DB_PORT_9187_TCP_PROTO", "tcp"},
      {"MY_DB_PORT_9187_TCP_PORT", "9187"},
      {"MY_DB_PORT_9187_TCP_ADDR", "10.96.0.7"},
      {"MY_DB_PORT_53_UDP", "udp://10.96.0.7:53"},
      {"MY_DB_PORT_53_UDP_PROTO", "udp"},
      {"MY_DB_PORT_53_UDP_PORT", "53"},
      {"MY_DB_PORT_53_UDP_ADDR", "10.96.0.7"},
  };
  EXPECT_EQ(kv, want);
}

TEST(ServiceEnv, WithoutServiceLinksOnlyTheApiServer) {
  auto got = service_env(services(), "ns1", false);
  ASSERT_EQ(got.size(), 8u);
  for (const auto& e : got) EXPECT_EQ(e.key.rfind("KUBERNETES_", 0), 0u) << e.key;
}

TEST(ServiceEnv, OwnNamespacesKubernetesServiceWins) {
  auto v = services();
  v.push_back(std::make_shared<const Json>(Json::parse(
      R"({"metadata":{"name":"kubernetes","namespace":"ns1"},"spec":{"clusterIP":"10.96.0.99","ports":[{"port":80}]}})")));
  std::map<std::string, std::string> m;
  for (const auto& e : service_env(v, "ns1", true)) m[e.key] = e.value;
  EXPECT_EQ(m["KUBERNETES_SERVICE_HOST"], "10.96.0.99");
  // Another namespace's pods still get the API server.
  m.clear();
  for (const auto& e : service_env(v, "ns2", true)) m[e.key] = e.value;
  EXPECT_EQ(m["KUBERNETES_SERVICE_HOST"], "10.96.0.1");
  EXPECT_EQ(m["OTHER_SERVICE_HOST"], "10.96.0.9");
  EXPECT_EQ(m.count("MY_DB_SERVICE_HOST"), 0u);
}

TEST_F(EnvTest, ServiceVariablesComeLastAndDoNotOverrideTheContainers) {
  ctx_.service_env = service_env(services(), "ns1", true);
  Json c = Json::parse(R"J({"name":"c","env":[{"name":"MY_DB_SERVICE_PORT","value":"1"},
                          {"name":"URL","value":"https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"}]})J");
  auto r = resolve_env(pod(), c, ctx_, client_);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->size(), 1u + ctx_.service_env.size());
  EXPECT_EQ((*r)[0].key, "MY_DB_SERVICE_PORT");
  EXPECT_EQ((*r)[0].value, "1");
  EXPECT_EQ((*r)[1].value, "https://10.96.0.1:443");
  EXPECT_EQ((*r)[2].key, "KUBERNETES_SERVICE_HOST");
  auto m = as_map(*r);
  EXPECT_EQ(m["MY_DB_SERVICE_PORT"], "1");
  EXPECT_EQ(m["MY_DB_SERVICE_HOST"], "10.96.0.7");
  // $(VAR) in command/args sees them too.
  EXPECT_EQ(expand_command({"$(MY_DB_PORT)"}, *r),
            std::vector<std::string>{"tcp://10.96.0.7:5432"});
}

}  // namespace
}  // namespace minik8s::kubelet
