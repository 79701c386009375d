// MetricsServer against an in-process API server (test/fakes/local_api.h) and
// fake kubelets (test/fakes/fake_kubelet.h) answering /stats/summary with a
// canned body. Node objects point at them through status.addresses and
// daemonEndpoints; the served metrics.k8s.io objects are read back through the
// API server as kubectl would.
#include "minik8s/metrics/metrics.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "metrics_store.h"
#include "minik8s/api/resource.h"
#include "test/fakes/fake_kubelet.h"
#include "test/fakes/local_api.h"

namespace minik8s::metrics {
namespace {

using api::Json;
using namespace std::chrono_literals;

using testing::FakeKubelet;

Json container(const std::string& name, uint64_t cpu, uint64_t mem) {
  return {{"name", name},
          {"cpu", {{"time", "2026-11-26T04:00:00Z"}, {"usageNanoCores", cpu}, {"usageCoreNanoSeconds", 5}}},
          {"memory", {{"time", "2026-11-26T04:00:00Z"}, {"workingSetBytes", mem}}}};
}
Json pod(const std::string& ns, const std::string& name, const std::string& uid, Json containers) {
  return {{"podRef", {{"name", name}, {"namespace", ns}, {"uid", uid}}}, {"containers", std::move(containers)}};
}
std::string summary(const std::string& node, uint64_t cpu, uint64_t mem, Json pods) {
  return Json{{"node",
               {{"nodeName", node},
                {"cpu", {{"time", "2026-11-26T04:00:00Z"}, {"usageNanoCores", cpu}}},
                {"memory", {{"time", "2026-11-26T04:00:00Z"}, {"workingSetBytes", mem}}}}},
              {"pods", std::move(pods)}}
      .dump();
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(local_.start({}, "metrics")); }
  void TearDown() override {
    if (server_) server_->stop();
    server_.reset();
    local_.stop();
  }
  static const api::ResourceType& kind(const char* k) { return *api::find_kind("v1", k); }

  void add_node(const std::string& name, uint16_t port, bool ready, Json labels = Json::object()) {
    Json n = {{"apiVersion", "v1"},
              {"kind", "Node"},
              {"metadata", {{"name", name}, {"labels", labels}}},
              {"status", Json::object()}};
    auto r = local_.client().create(kind("Node"), n);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    Json status = {{"status",
                    {{"addresses", {{{"type", "InternalIP"}, {"address", "127.0.0.1"}}}},
                     {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", port}}}}},
                     {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
    r = local_.client().patch(kind("Node"), "", name, client::PatchType::kMerge, status, "status");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  std::string add_pod(const std::string& ns, const std::string& name, Json labels) {
    Json p = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
    auto r = local_.client().create(kind("Pod"), p);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? api::sfield((*r)["metadata"], "uid") : "";
  }
  void start(std::chrono::milliseconds resolution = 1000ms) {
    MetricsOptions o;
    o.resolution = resolution;
    server_ = std::make_unique<MetricsServer>(local_.client(), o);
    ASSERT_TRUE(server_->start().is_ok());
    local_.api().add_api_group(server_->api_group());
  }
  apiserver::LocalResponse get(const std::string& target) {
    return local_.api().local_request("GET", target, "", {{"Accept", "application/json"}});
  }
  Json get_json(const std::string& target) {
    auto r = get(target);
    EXPECT_EQ(r.code, 200) << target << ": " << r.body;
    return Json::parse(r.body, nullptr, false);
  }
  static std::vector<std::string> names(const Json& list) {
    std::vector<std::string> out;
    if (!list.is_object() || !list.contains("items")) return out;
    for (const auto& i : list["items"]) {
      std::string ns = i["metadata"].value("namespace", "");
      out.push_back((ns.empty() ? "" : ns + "/") + i["metadata"]["name"].get<std::string>());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  static bool eventually(const std::function<bool()>& fn, std::chrono::milliseconds limit = 10s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (fn()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return fn();
  }

  minik8s::testing::LocalApi local_;
  std::unique_ptr<MetricsServer> server_;
};

TEST(MetricsFormat, Quantities) {
  EXPECT_EQ(format_cpu(0), "0");
  EXPECT_EQ(format_cpu(501234567), "501234567n");
  EXPECT_EQ(format_memory(0), "0");
  EXPECT_EQ(format_memory(2048 * 1024), "2048Ki");
  EXPECT_EQ(format_memory(1000), "1000");
  EXPECT_EQ(format_window(1000ms), "1s");
  EXPECT_EQ(format_window(1500ms), "1.5s");
  EXPECT_EQ(format_window(500ms), "500ms");
}

TEST(MetricsFormat, SummaryParsingIsTolerant) {
  EXPECT_FALSE(parse_summary("not json", "n1", real_clock().now()).is_ok());
  EXPECT_FALSE(parse_summary("[1]", "n1", real_clock().now()).is_ok());
  EXPECT_FALSE(parse_summary(R"({"node":{"cpu":{"usageNanoCores":-1}}})", "n1", real_clock().now()).is_ok());
  Json pods = {pod("default", "a", "u1", {container("c", 10, 4096), {{"name", "no-stats"}}}),
               pod("default", "b", "u2", {{{"name", "x"}, {"cpu", "bad"}}}),
               {{"podRef", "bad"}},
               pod("", "no-ns", "u3", {container("c", 1, 1)})};
  auto s = parse_summary(summary("kubelet-says-other", 7, 8192, pods), "n1", real_clock().now());
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ(s->node.name, "n1");
  EXPECT_EQ(s->node.usage.cpu_nano_cores, 7u);
  EXPECT_EQ(s->node.usage.memory_bytes, 8192u);
  ASSERT_EQ(s->pods.size(), 1u);
  EXPECT_EQ(s->pods[0].name, "a");
  ASSERT_EQ(s->pods[0].containers.size(), 1u);
  EXPECT_EQ(s->pods[0].containers[0].usage.cpu_nano_cores, 10u);
  SysTime want;
  ASSERT_TRUE(parse_rfc3339("2026-11-26T04:00:00Z", &want));
  EXPECT_EQ(s->pods[0].timestamp, want);
}

TEST_F(MetricsServerTest, RejectsResolutionOutOfRange) {
  MetricsOptions o;
  o.resolution = 500ms;
  MetricsServer m(local_.client(), o);
  EXPECT_EQ(m.start().code(), Code::kBadRequest);
  o.resolution = 61s;
  MetricsServer m2(local_.client(), o);
  EXPECT_EQ(m2.start().code(), Code::kBadRequest);
}

TEST_F(MetricsServerTest, ServesNodeAndPodMetrics) {
  FakeKubelet k1, k2, k3;
  ASSERT_NO_FATAL_FAILURE(add_node("node-1", k1.port(), true, {{"zone", "a"}}));
  ASSERT_NO_FATAL_FAILURE(add_node("node-2", k2.port(), true, {{"zone", "b"}}));
  ASSERT_NO_FATAL_FAILURE(add_node("node-3", k3.port(), false));  // NotReady: never scraped
  std::string web1 = add_pod("default", "web-1", {{"app", "web"}});
  std::string web2 = add_pod("default", "web-2", {{"app", "web"}});
  std::string db = add_pod("kube-system", "db", {{"app", "db"}});
  k1.set_summary(200, summary("node-1", 600000000, 1024 * 1024 * 100,
                      {pod("default", "web-1", web1, {container("c", 500000000, 20 * 1024 * 1024)}),
                       pod("kube-system", "db", db,
                           {container("main", 1000000, 4096), container("sidecar", 2000000, 8192)})}));
  k2.set_summary(200, summary("node-2", 300000000, 1024 * 1024 * 50,
                      {pod("default", "web-2", web2, {container("c", 0, 1000)}),
                       // Not in the API (deleted since): never served.
                       pod("default", "ghost", "u-ghost", {container("c", 1, 1)})}));
  k3.set_summary(200, summary("node-3", 1, 1, Json::array()));
  ASSERT_NO_FATAL_FAILURE(start());

  Json nodes;
  ASSERT_TRUE(eventually([&] {
    nodes = get_json("/apis/metrics.k8s.io/v1beta1/nodes");
    return names(nodes).size() == 2 && names(get_json("/apis/metrics.k8s.io/v1beta1/pods")).size() == 3;
  })) << nodes.dump();
  EXPECT_EQ(nodes["kind"], "NodeMetricsList");
  EXPECT_EQ(nodes["apiVersion"], "metrics.k8s.io/v1beta1");
  EXPECT_EQ(names(nodes), (std::vector<std::string>{"node-1", "node-2"}));
  EXPECT_EQ(k3.requests(), 0);

  Json n1 = get_json("/apis/metrics.k8s.io/v1beta1/nodes/node-1");
  EXPECT_EQ(n1["kind"], "NodeMetrics");
  EXPECT_EQ(n1["usage"]["cpu"], "600000000n");
  EXPECT_EQ(n1["usage"]["memory"], "102400Ki");
  EXPECT_EQ(n1["window"], "1s");
  EXPECT_EQ(n1["timestamp"], "2026-11-26T04:00:00Z");
  EXPECT_EQ(n1["metadata"]["labels"]["zone"], "a");
  EXPECT_EQ(names(get_json("/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=zone%3Db")),
            (std::vector<std::string>{"node-2"}));
  EXPECT_EQ(names(get_json("/apis/metrics.k8s.io/v1beta1/nodes?fieldSelector=metadata.name%3Dnode-1")),
            (std::vector<std::string>{"node-1"}));

  EXPECT_EQ(names(get_json("/apis/metrics.k8s.io/v1beta1/pods")),
            (std::vector<std::string>{"default/web-1", "default/web-2", "kube-system/db"}));
  Json defaults = get_json("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods");
  EXPECT_EQ(defaults["kind"], "PodMetricsList");
  EXPECT_EQ(names(defaults), (std::vector<std::string>{"default/web-1", "default/web-2"}));
  EXPECT_EQ(names(get_json("/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Ddb")),
            (std::vector<std::string>{"kube-system/db"}));
  EXPECT_EQ(names(get_json("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods?labelSelector=app%20in%20(web)"
                           "&fieldSelector=metadata.name%3Dweb-2")),
            (std::vector<std::string>{"default/web-2"}));

  Json dbm = get_json("/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods/db");
  EXPECT_EQ(dbm["kind"], "PodMetrics");
  EXPECT_EQ(dbm["metadata"]["namespace"], "kube-system");
  EXPECT_EQ(dbm["metadata"]["labels"]["app"], "db");
  ASSERT_EQ(dbm["containers"].size(), 2u);
  EXPECT_EQ(dbm["containers"][0]["name"], "main");
  EXPECT_EQ(dbm["containers"][0]["usage"]["cpu"], "1000000n");
  EXPECT_EQ(dbm["containers"][1]["usage"]["memory"], "8Ki");

  auto missing = get("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/nope");
  EXPECT_EQ(missing.code, 404);
  Json st = Json::parse(missing.body, nullptr, false);
  EXPECT_EQ(st["kind"], "Status");
  EXPECT_EQ(st["reason"], "NotFound");
  EXPECT_EQ(st["message"], "podmetrics.metrics.k8s.io \"nope\" not found");
  EXPECT_EQ(get("/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods/web-1").code, 404);
  EXPECT_EQ(get("/apis/metrics.k8s.io/v1beta1/nodes/node-3").code, 404);
  EXPECT_EQ(get("/apis/metrics.k8s.io/v1beta1/services").code, 404);
  EXPECT_EQ(get("/apis/metrics.k8s.io/v1beta1/pods?labelSelector=a%20in%20(").code, 400);
  EXPECT_EQ(local_.api().local_request("DELETE", "/apis/metrics.k8s.io/v1beta1/nodes/node-1").code, 405);
}

TEST_F(MetricsServerTest, ValuesFollowTheLatestScrapeAndExpire) {
  FakeKubelet k1;
  ASSERT_NO_FATAL_FAILURE(add_node("node-1", k1.port(), true));
  std::string uid = add_pod("default", "burn", Json::object());
  k1.set_summary(200, summary("node-1", 1000, 1024, {pod("default", "burn", uid, {container("c", 1000, 1024)})}));
  ASSERT_NO_FATAL_FAILURE(start());
  const std::string pod_url = "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/burn";
  ASSERT_TRUE(eventually([&] { return get(pod_url).code == 200; }));

  k1.set_summary(200, summary("node-1", 500000000, 1024, {pod("default", "burn", uid, {container("c", 500000000, 2048)})}));
  ASSERT_TRUE(eventually([&] {
    Json p = Json::parse(get(pod_url).body, nullptr, false);
    return p.is_object() && p.contains("containers") && p["containers"][0]["usage"]["cpu"] == "500000000n";
  }));

  // A pod that leaves the node's summary leaves the API with the next scrape.
  k1.set_summary(200, summary("node-1", 500000000, 1024, Json::array()));
  ASSERT_TRUE(eventually([&] { return get(pod_url).code == 404; }, 5s));
  EXPECT_EQ(get("/apis/metrics.k8s.io/v1beta1/nodes/node-1").code, 200);

  // A kubelet that stops answering: the node is kept for 3 resolutions, then dropped.
  k1.set_summary(200, summary("node-1", 500000000, 1024, {pod("default", "burn", uid, {container("c", 7, 2048)})}));
  ASSERT_TRUE(eventually([&] { return get(pod_url).code == 200; }));
  k1.set_summary(503, "unavailable");
  auto failed_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return get("/apis/metrics.k8s.io/v1beta1/nodes/node-1").code == 404; }, 10s));
  auto gone_after = std::chrono::steady_clock::now() - failed_at;
  EXPECT_GE(gone_after, 1500ms);  // kept across failed scrapes, not dropped at the first one
  EXPECT_EQ(get(pod_url).code, 404);
}

TEST_F(MetricsServerTest, StoppedServerAnswersUnavailable) {
  ASSERT_NO_FATAL_FAILURE(start());
  EXPECT_EQ(get("/apis/metrics.k8s.io/v1beta1/nodes").code, 200);
  server_->stop();
  EXPECT_EQ(get("/apis/metrics.k8s.io/v1beta1/nodes").code, 503);
  // Discovery still lists the group (the provider stays registered).
  EXPECT_EQ(get("/apis/metrics.k8s.io/v1beta1").code, 200);
}

}  // namespace
}  // namespace minik8s::metrics
