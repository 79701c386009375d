// Extra API groups (ApiServer::add_api_group): discovery lists the group
// (/apis, /apis/<g>, /apis/<g>/<v>) and requests under /apis/<g>/<v>/ reach
// the provider with the path rest, the query and the Accept header.
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "minik8s/apiserver/apiserver.h"
#include "test/fakes/mem_storage.h"

namespace minik8s::apiserver {
namespace {

using nlohmann::json;

class RecordingProvider : public ApiGroupProvider {
 public:
  struct Call {
    std::string method, rest, query, accept;
  };
  std::string group() const override { return "metrics.k8s.io"; }
  std::string version() const override { return "v1beta1"; }
  std::vector<ExtraResource> resources() const override {
    return {{"nodes", "NodeMetrics", false, {"get", "list"}}, {"pods", "PodMetrics", true, {"get", "list"}}};
  }
  LocalResponse handle(const std::string& method, const std::string& rest, const std::string& query,
                       const std::string& accept) override {
    std::lock_guard lock(mu_);
    calls_.push_back({method, rest, query, accept});
    if (rest == "/nodes/missing") {
      return {404, "application/json", R"({"kind":"Status","apiVersion":"v1","status":"Failure","code":404})"};
    }
    return {200, "application/json", json{{"kind", "NodeMetricsList"}, {"rest", rest}}.dump()};
  }
  std::vector<Call> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::vector<Call> calls_;
};

class ExtraGroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ApiServerOptions opts;
    opts.port = 0;
    auto s = ApiServer::start(store_, opts);
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    server_ = std::move(s.value());
  }
  void TearDown() override {
    if (server_) server_->stop();
  }
  LocalResponse get(const std::string& target, const std::string& accept = "application/json") {
    return server_->local_request("GET", target, "", {{"Accept", accept}});
  }
  static const json* find_group(const json& list, const std::string& name) {
    for (const auto& g : list["groups"]) {
      if (g["name"] == name) return &g;
    }
    return nullptr;
  }

  testing::MemStorage store_;
  std::unique_ptr<ApiServer> server_;
  std::shared_ptr<RecordingProvider> provider_ = std::make_shared<RecordingProvider>();
};

TEST_F(ExtraGroupTest, NotServedBeforeAdded) {
  json groups = json::parse(get("/apis").body);
  EXPECT_EQ(find_group(groups, "metrics.k8s.io"), nullptr);
  EXPECT_EQ(get("/apis/metrics.k8s.io/v1beta1").code, 404);
  EXPECT_EQ(get("/apis/metrics.k8s.io/v1beta1/nodes").code, 404);
}

TEST_F(ExtraGroupTest, DiscoveryListsTheGroup) {
  server_->add_api_group(provider_);
  LocalResponse r = get("/apis");
  ASSERT_EQ(r.code, 200);
  json groups = json::parse(r.body);
  EXPECT_EQ(groups["kind"], "APIGroupList");
  const json* g = find_group(groups, "metrics.k8s.io");
  ASSERT_NE(g, nullptr) << r.body;
  EXPECT_EQ((*g)["preferredVersion"]["groupVersion"], "metrics.k8s.io/v1beta1");
  EXPECT_EQ((*g)["versions"][0]["version"], "v1beta1");
  // The built-in groups are still there.
  EXPECT_NE(find_group(groups, "apps"), nullptr);

  r = get("/apis/metrics.k8s.io");
  ASSERT_EQ(r.code, 200) << r.body;
  json group = json::parse(r.body);
  EXPECT_EQ(group["kind"], "APIGroup");
  EXPECT_EQ(group["name"], "metrics.k8s.io");
  EXPECT_EQ(group["preferredVersion"]["groupVersion"], "metrics.k8s.io/v1beta1");

  r = get("/apis/metrics.k8s.io/v1beta1");
  ASSERT_EQ(r.code, 200) << r.body;
  json list = json::parse(r.body);
  EXPECT_EQ(list["kind"], "APIResourceList");
  EXPECT_EQ(list["groupVersion"], "metrics.k8s.io/v1beta1");
  ASSERT_EQ(list["resources"].size(), 2u);
  EXPECT_EQ(list["resources"][0]["name"], "nodes");
  EXPECT_EQ(list["resources"][0]["kind"], "NodeMetrics");
  EXPECT_EQ(list["resources"][0]["namespaced"], false);
  EXPECT_EQ(list["resources"][1]["name"], "pods");
  EXPECT_EQ(list["resources"][1]["kind"], "PodMetrics");
  EXPECT_EQ(list["resources"][1]["namespaced"], true);
  EXPECT_EQ(list["resources"][1]["verbs"], json({"get", "list"}));
  // Discovery never reaches the provider.
  EXPECT_TRUE(provider_->calls().empty());
}

TEST_F(ExtraGroupTest, RequestsReachTheProvider) {
  server_->add_api_group(provider_);
  LocalResponse r = get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%3Dweb",
                        "application/vnd.kubernetes.protobuf,application/json");
  ASSERT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(json::parse(r.body)["rest"], "/namespaces/default/pods");
  r = get("/apis/metrics.k8s.io/v1beta1/nodes/missing");
  EXPECT_EQ(r.code, 404);
  EXPECT_EQ(json::parse(r.body)["kind"], "Status");

  auto calls = provider_->calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].method, "GET");
  EXPECT_EQ(calls[0].rest, "/namespaces/default/pods");
  EXPECT_EQ(calls[0].query, "labelSelector=app%3Dweb");
  EXPECT_EQ(calls[0].accept, "application/vnd.kubernetes.protobuf,application/json");
  EXPECT_EQ(calls[1].rest, "/nodes/missing");
  EXPECT_EQ(calls[1].query, "");
}

TEST_F(ExtraGroupTest, UnknownVersionOrMethodOnDiscovery) {
  server_->add_api_group(provider_);
  LocalResponse r = get("/apis/metrics.k8s.io/v1");
  EXPECT_EQ(r.code, 404);
  EXPECT_EQ(json::parse(r.body)["kind"], "Status");
  EXPECT_EQ(get("/apis/metrics.k8s.io/v2/nodes").code, 404);
  EXPECT_EQ(server_->local_request("POST", "/apis/metrics.k8s.io/v1beta1", "{}").code, 405);
  EXPECT_TRUE(provider_->calls().empty());
  // Groups of the kind table are untouched.
  EXPECT_EQ(get("/apis/apps/v1").code, 200);
  EXPECT_EQ(get("/api/v1/namespaces").code, 200);
}

}  // namespace
}  // namespace minik8s::apiserver
