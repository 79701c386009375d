// Drives a real ApiServer over SqliteStorage with a plain Beast HTTP client.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "minik8s/apiserver/apiserver.h"
#include "minik8s/controllers/controllers.h"
#include "minik8s/storage/storage.h"
#include "test/fakes/local_api.h"

namespace minik8s::apiserver {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;
using namespace std::chrono_literals;

using testing::ApiServerFixture;
using testing::Resp;

class ApiServerTest : public ApiServerFixture {};

const std::string kPods = "/api/v1/namespaces/default/pods";

TEST_F(ApiServerTest, HealthVersionAndDiscovery) {
  EXPECT_EQ(req("GET", "/readyz").body, "ok");
  EXPECT_EQ(req("GET", "/version").j()["minor"], "32");
  auto apis = req("GET", "/api").j();
  EXPECT_EQ(apis["versions"][0], "v1");
  auto groups = req("GET", "/apis").j();
  EXPECT_EQ(groups["kind"], "APIGroupList");
  bool apps = false;
  for (auto& g : groups["groups"]) apps = apps || g["name"] == "apps";
  EXPECT_TRUE(apps);
  auto core = req("GET", "/api/v1").j();
  bool pods = false, binding = false;
  for (auto& r : core["resources"]) {
    if (r["name"] == "pods") {
      pods = true;
      EXPECT_EQ(r["kind"], "Pod");
      EXPECT_EQ(r["namespaced"], true);
    }
    binding = binding || r["name"] == "pods/binding";
  }
  EXPECT_TRUE(pods && binding);
  EXPECT_EQ(req("GET", "/apis/nope.io/v1").code, 404);
  auto r404 = req("GET", "/api/v1/namespaces/default/frobs");
  EXPECT_EQ(r404.code, 404);
  EXPECT_EQ(r404.j()["kind"], "Status");
  EXPECT_EQ(req("GET", "/nowhere").code, 404);
  auto v2 = req("GET", "/openapi/v2");
  EXPECT_EQ(v2.code, 200);
  EXPECT_TRUE(v2.body.empty());
  EXPECT_EQ(req("GET", "/openapi/v3").code, 200);
  // Default namespaces exist.
  auto ns = req("GET", "/api/v1/namespaces/kube-system").j();
  EXPECT_EQ(ns["status"]["phase"], "Active");
}

TEST_F(ApiServerTest, CreateGetListUpdateConflictDelete) {
  auto c = post(kPods, pod("a"));
  ASSERT_EQ(c.code, 201) << c.body;
  json created = c.j();
  EXPECT_FALSE(created["metadata"]["uid"].get<std::string>().empty());
  EXPECT_FALSE(created["metadata"]["creationTimestamp"].get<std::string>().empty());
  std::string rv = created["metadata"]["resourceVersion"];
  auto g = req("GET", kPods + "/a");
  ASSERT_EQ(g.code, 200);
  EXPECT_EQ(g.j()["metadata"]["resourceVersion"], rv);
  EXPECT_EQ(post(kPods, pod("a")).code, 409);

  auto l = req("GET", kPods).j();
  EXPECT_EQ(l["kind"], "PodList");
  ASSERT_EQ(l["items"].size(), 1u);

  json upd = created;
  upd["metadata"]["labels"]["x"] = "y";
  auto u = req("PUT", kPods + "/a", upd.dump());
  ASSERT_EQ(u.code, 200) << u.body;
  EXPECT_NE(u.j()["metadata"]["resourceVersion"], rv);
  auto stale = req("PUT", kPods + "/a", upd.dump());  // still carries the old rv
  EXPECT_EQ(stale.code, 409);
  EXPECT_NE(stale.j()["message"].get<std::string>().find("the object has been modified"),
            std::string::npos);

  auto d = req("DELETE", kPods + "/a", R"({"propagationPolicy":"Background"})");
  EXPECT_EQ(d.code, 200) << d.body;
  auto gone = req("GET", kPods + "/a");
  EXPECT_EQ(gone.code, 404);
  EXPECT_EQ(gone.j()["reason"], "NotFound");
  EXPECT_EQ(gone.j()["details"]["kind"], "pods");
}

TEST_F(ApiServerTest, CreateChecksKindNamespaceAndValidation) {
  json wrong = pod("a");
  wrong["kind"] = "Service";
  EXPECT_EQ(post(kPods, wrong).code, 400);
  EXPECT_EQ(post("/api/v1/namespaces/missing/pods", pod("a")).code, 404);
  json bad = pod("bad");
  bad["spec"]["containers"][0].erase("image");
  auto r = post(kPods, bad);
  ASSERT_EQ(r.code, 422) << r.body;
  EXPECT_EQ(r.j()["reason"], "Invalid");
  EXPECT_NE(r.body.find("spec.containers[0].image"), std::string::npos);
  EXPECT_EQ(req("GET", kPods + "/bad").code, 404);  // nothing stored
  json strict = pod("s");
  strict["spec"]["foo"] = 1;
  auto sr = req("POST", kPods + "?fieldValidation=Strict", strict.dump());
  EXPECT_EQ(sr.code, 400) << sr.body;
  EXPECT_NE(sr.body.find("unknown field \\\"spec.foo\\\""), std::string::npos) << sr.body;
  strict["metadata"]["name"] = "s2";
  EXPECT_EQ(req("POST", kPods + "?fieldValidation=Ignore", strict.dump()).code, 201);
  EXPECT_EQ(req("POST", kPods + "?dryRun=All", pod("dry").dump()).code, 201);
  EXPECT_EQ(req("GET", kPods + "/dry").code, 404);
  // YAML body.
  auto y = req("POST", kPods,
               "apiVersion: v1\nkind: Pod\nmetadata:\n  name: y\nspec:\n  containers:\n"
               "  - name: c\n    image: busybox\n",
               "application/yaml");
  EXPECT_EQ(y.code, 201) << y.body;
  // Too large.
  std::string big = pod("big").dump();
  big.insert(big.size() - 1, ",\"pad\":\"" + std::string(70 * 1024, 'x') + "\"");
  EXPECT_EQ(req("POST", kPods, big).code, 413);
}

TEST_F(ApiServerTest, GenerateNameAndSelectorsAndPaging) {
  json g = pod("");
  g["metadata"].erase("name");
  g["metadata"]["generateName"] = "web-";
  auto r = post(kPods, g);
  ASSERT_EQ(r.code, 201) << r.body;
  std::string name = r.j()["metadata"]["name"];
  EXPECT_EQ(name.size(), 9u);
  EXPECT_EQ(name.rfind("web-", 0), 0u);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(post(kPods, pod("p" + std::to_string(i), i % 2 ? "odd" : "even")).code, 201);
  auto odd = req("GET", kPods + "?labelSelector=app%3Dodd").j();
  EXPECT_EQ(odd["items"].size(), 2u);
  auto byname = req("GET", kPods + "?fieldSelector=metadata.name%3Dp3").j();
  ASSERT_EQ(byname["items"].size(), 1u);
  auto bad = req("GET", kPods + "?fieldSelector=spec.foo%3Dx");
  EXPECT_EQ(bad.code, 400);
  EXPECT_NE(bad.body.find("field label not supported: spec.foo"), std::string::npos);
  // limit + continue walk over all 6.
  std::set<std::string> seen;
  std::string cont;
  int pages = 0;
  do {
    auto page = req("GET", kPods + "?limit=4" + (cont.empty() ? "" : "&continue=" + cont)).j();
    for (auto& it : page["items"]) seen.insert(it["metadata"]["name"].get<std::string>());
    cont = page["metadata"].value("continue", "");
    ++pages;
  } while (!cont.empty() && pages < 10);
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_EQ(req("GET", kPods + "?limit=2&continue=garbage").code, 400);
  // Cluster-wide list.
  EXPECT_EQ(req("GET", "/api/v1/pods").j()["items"].size(), 6u);
}

TEST_F(ApiServerTest, PatchTypes) {
  ASSERT_EQ(post(kPods, pod("a")).code, 201);
  auto m = req("PATCH", kPods + "/a", R"({"metadata":{"labels":{"m":"1"}}})",
               "application/merge-patch+json");
  ASSERT_EQ(m.code, 200) << m.body;
  EXPECT_EQ(m.j()["metadata"]["labels"]["m"], "1");
  auto jp = req("PATCH", kPods + "/a", R"([{"op":"add","path":"/metadata/labels/j","value":"2"}])",
                "application/json-patch+json");
  ASSERT_EQ(jp.code, 200) << jp.body;
  EXPECT_EQ(jp.j()["metadata"]["labels"]["j"], "2");
  auto sp = req("PATCH", kPods + "/a",
                R"({"spec":{"containers":[{"name":"c","image":"nginx:1.26"}]}})",
                "application/strategic-merge-patch+json");
  ASSERT_EQ(sp.code, 200) << sp.body;
  EXPECT_EQ(sp.j()["spec"]["containers"][0]["image"], "nginx:1.26");
  EXPECT_EQ(req("PATCH", kPods + "/a", "{}", "application/apply-patch+yaml").code, 415);
  EXPECT_EQ(req("PATCH", kPods + "/nope", "{}", "application/merge-patch+json").code, 404);
  auto stale = req("PATCH", kPods + "/a", R"({"metadata":{"resourceVersion":"1"}})",
                   "application/merge-patch+json");
  EXPECT_EQ(stale.code, 409);
}

TEST_F(ApiServerTest, WatchFromRevisionInOrderAndExpired) {
  auto c = post(kPods, pod("a"));
  ASSERT_EQ(c.code, 201);
  std::string rv = c.j()["metadata"]["resourceVersion"];
  auto events = watch(kPods + "?watch=1&resourceVersion=" + rv, 3, 5s, [&] {
    ASSERT_EQ(post(kPods, pod("b")).code, 201);
    ASSERT_EQ(req("PATCH", kPods + "/b", R"({"metadata":{"labels":{"z":"1"}}})",
                  "application/merge-patch+json").code, 200);
    ASSERT_EQ(req("DELETE", kPods + "/b").code, 200);
  });
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[1]["type"], "MODIFIED");
  EXPECT_EQ(events[2]["type"], "DELETED");
  EXPECT_EQ(events[2]["object"]["metadata"]["name"], "b");
  // Label-selected watch: a pod that stops matching is DELETED for the watcher.
  auto sel = watch(kPods + "?watch=true&labelSelector=app%3Dweb&resourceVersion=0", 2, 5s, [&] {
    ASSERT_EQ(req("PATCH", kPods + "/a", R"({"metadata":{"labels":{"app":"db"}}})",
                  "application/merge-patch+json").code, 200);
  });
  ASSERT_EQ(sel.size(), 2u);
  EXPECT_EQ(sel[0]["type"], "ADDED");
  EXPECT_EQ(sel[1]["type"], "DELETED");
  // Push the ring (capacity 50) past rv.
  for (int i = 0; i < 60; ++i) {
    ASSERT_EQ(req("PATCH", kPods + "/a", json{{"metadata", {{"labels", {{"n", std::to_string(i)}}}}}}.dump(),
                  "application/merge-patch+json").code, 200);
  }
  auto old = watch(kPods + "?watch=1&resourceVersion=" + rv, 1, 3s);
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0]["type"], "ERROR");
  EXPECT_EQ(old[0]["object"]["code"], 410);
  EXPECT_EQ(old[0]["object"]["reason"], "Expired");
}

TEST_F(ApiServerTest, TableOutput) {
  ASSERT_EQ(post(kPods, pod("a")).code, 201);
  const std::string acc = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
  auto t = req("GET", kPods, "", "", acc).j();
  EXPECT_EQ(t["kind"], "Table");
  std::string first = t["columnDefinitions"][0]["name"];
  EXPECT_TRUE(first == "Name" || first == "NAME") << first;
  ASSERT_EQ(t["rows"].size(), 1u);
  EXPECT_EQ(t["rows"][0]["cells"][0], "a");
  EXPECT_EQ(t["rows"][0]["object"]["metadata"]["name"], "a");
  auto one = req("GET", kPods + "/a", "", "", acc).j();
  EXPECT_EQ(one["kind"], "Table");
}

TEST_F(ApiServerTest, StatusScaleAndBinding) {
  ASSERT_EQ(post(kPods, pod("a")).code, 201);
  auto st = req("PATCH", kPods + "/a/status", R"({"status":{"phase":"Running"},"metadata":{"labels":{"no":"x"}}})",
                "application/merge-patch+json");
  ASSERT_EQ(st.code, 200) << st.body;
  EXPECT_EQ(st.j()["status"]["phase"], "Running");
  EXPECT_FALSE(st.j()["metadata"]["labels"].contains("no"));
  // A main-resource write keeps status.
  auto main = req("PATCH", kPods + "/a", R"({"status":{"phase":"Failed"}})",
                  "application/merge-patch+json");
  EXPECT_EQ(main.j()["status"]["phase"], "Running");

  ASSERT_EQ(post(kPods, pod("b")).code, 201);
  auto b = req("POST", kPods + "/b/binding",
               R"({"apiVersion":"v1","kind":"Binding","metadata":{"name":"b"},"target":{"kind":"Node","name":"n1"}})");
  EXPECT_EQ(b.code, 201) << b.body;
  auto bound = req("GET", kPods + "/b").j();
  EXPECT_EQ(bound["spec"]["nodeName"], "n1");
  EXPECT_EQ(bound["status"]["conditions"][0]["type"], "PodScheduled");
  auto again = req("POST", kPods + "/b/binding",
                   R"({"metadata":{"name":"b"},"target":{"kind":"Node","name":"n2"}})");
  EXPECT_EQ(again.code, 409);

  json dep = {{"apiVersion", "apps/v1"},
              {"kind", "Deployment"},
              {"metadata", {{"name", "d"}}},
              {"spec",
               {{"replicas", 1},
                {"selector", {{"matchLabels", {{"app", "web"}}}}},
                {"template",
                 {{"metadata", {{"labels", {{"app", "web"}}}}},
                  {"spec", {{"containers", {{{"name", "c"}, {"image", "nginx"}}}}}}}}}}};
  auto dc = post("/apis/apps/v1/namespaces/default/deployments", dep);
  ASSERT_EQ(dc.code, 201) << dc.body;
  const std::string sc = "/apis/apps/v1/namespaces/default/deployments/d/scale";
  auto s = req("GET", sc).j();
  EXPECT_EQ(s["kind"], "Scale");
  EXPECT_EQ(s["spec"]["replicas"], 1);
  EXPECT_EQ(s["status"]["selector"], "app=web");
  auto sp = req("PATCH", sc, R"({"spec":{"replicas":3}})", "application/merge-patch+json");
  ASSERT_EQ(sp.code, 200) << sp.body;
  EXPECT_EQ(sp.j()["spec"]["replicas"], 3);
  auto d = req("GET", "/apis/apps/v1/namespaces/default/deployments/d").j();
  EXPECT_EQ(d["spec"]["replicas"], 3);
  EXPECT_EQ(d["metadata"]["generation"], 2);
}

TEST_F(ApiServerTest, PodGracefulDeleteAndFinalizers) {
  json p = pod("g");
  p["spec"]["nodeName"] = "n1";
  ASSERT_EQ(post(kPods, p).code, 201);
  auto d = req("DELETE", kPods + "/g");
  ASSERT_EQ(d.code, 200);
  auto still = req("GET", kPods + "/g");
  ASSERT_EQ(still.code, 200);
  EXPECT_TRUE(still.j()["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(still.j()["metadata"]["deletionGracePeriodSeconds"], 30);
  EXPECT_EQ(req("DELETE", kPods + "/g", R"({"gracePeriodSeconds":0})").code, 200);
  EXPECT_EQ(req("GET", kPods + "/g").code, 404);

  json f = pod("f");
  f["metadata"]["finalizers"] = {"example.com/hold"};
  ASSERT_EQ(post(kPods, f).code, 201);
  EXPECT_EQ(req("DELETE", kPods + "/f").code, 200);
  auto held = req("GET", kPods + "/f");
  ASSERT_EQ(held.code, 200);
  EXPECT_TRUE(held.j()["metadata"].contains("deletionTimestamp"));
  auto rel = req("PATCH", kPods + "/f", R"({"metadata":{"finalizers":null}})",
                 "application/merge-patch+json");
  EXPECT_EQ(rel.code, 200) << rel.body;
  EXPECT_EQ(req("GET", kPods + "/f").code, 404);

  ASSERT_EQ(post(kPods, pod("fg")).code, 201);
  EXPECT_EQ(req("DELETE", kPods + "/fg", R"({"propagationPolicy":"Foreground"})").code, 200);
  auto fg = req("GET", kPods + "/fg").j();
  EXPECT_EQ(fg["metadata"]["finalizers"][0], "foregroundDeletion");
}

TEST_F(ApiServerTest, ServiceAllocation) {
  const std::string svcs = "/api/v1/namespaces/default/services";
  auto svc = [](const std::string& name, const std::string& type, json port_extra = json::object()) {
    json port = {{"port", 80}, {"targetPort", 8080}, {"protocol", "TCP"}};
    port.update(port_extra);
    return json{{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", {{"name", name}}},
                {"spec", {{"type", type}, {"selector", {{"app", "web"}}}, {"ports", {port}}}}};
  };
  auto a = post(svcs, svc("a", "ClusterIP"));
  ASSERT_EQ(a.code, 201) << a.body;
  std::string ip = a.j()["spec"]["clusterIP"];
  EXPECT_EQ(ip.rfind("10.", 0), 0u);
  json b = svc("b", "ClusterIP");
  b["spec"]["clusterIP"] = ip;
  auto dup = post(svcs, b);
  EXPECT_EQ(dup.code, 422);
  EXPECT_NE(dup.body.find("provided IP is already allocated"), std::string::npos) << dup.body;
  auto np = post(svcs, svc("n", "NodePort", {{"nodePort", 30080}}));
  ASSERT_EQ(np.code, 201) << np.body;
  EXPECT_EQ(np.j()["spec"]["ports"][0]["nodePort"], 30080);
  auto np2 = post(svcs, svc("n2", "NodePort", {{"nodePort", 30080}}));
  EXPECT_EQ(np2.code, 422);
  EXPECT_NE(np2.body.find("spec.ports[0].nodePort"), std::string::npos);
  auto auto_np = post(svcs, svc("n3", "NodePort"));
  ASSERT_EQ(auto_np.code, 201);
  EXPECT_GE(auto_np.j()["spec"]["ports"][0]["nodePort"].get<int>(), 30000);
  // Updates keep the allocation.
  auto upd = req("PATCH", svcs + "/n", R"({"metadata":{"labels":{"x":"y"}}})",
                 "application/merge-patch+json");
  EXPECT_EQ(upd.j()["spec"]["ports"][0]["nodePort"], 30080);
  // Release on delete.
  ASSERT_EQ(req("DELETE", svcs + "/a").code, 200);
  ASSERT_EQ(req("DELETE", svcs + "/n").code, 200);
  EXPECT_EQ(post(svcs, b).code, 201);
  EXPECT_EQ(post(svcs, svc("n2", "NodePort", {{"nodePort", 30080}})).code, 201);
}

TEST_F(ApiServerTest, NamespaceDeletionCascades) {
  ASSERT_EQ(post("/api/v1/namespaces", json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "tmp"}}}}).code, 201);
  ASSERT_EQ(post("/api/v1/namespaces/tmp/pods", pod("a")).code, 201);
  ASSERT_EQ(req("DELETE", "/api/v1/namespaces/tmp").code, 200);
  auto ns = req("GET", "/api/v1/namespaces/tmp").j();
  EXPECT_EQ(ns["status"]["phase"], "Terminating");
  auto refused = post("/api/v1/namespaces/tmp/pods", pod("b"));
  EXPECT_EQ(refused.code, 403);
  EXPECT_EQ(req("DELETE", "/api/v1/namespaces/default").code, 403);
  // The namespace controller over HTTP (the fixture's client), as `minik8s
  // server` runs it.
  controllers::NamespaceController nc(*client_);
  ASSERT_TRUE(nc.start().is_ok());
  auto deadline = std::chrono::steady_clock::now() + 5s;
  int code = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    code = req("GET", "/api/v1/namespaces/tmp").code;
    if (code == 404) break;
    std::this_thread::sleep_for(20ms);
  }
  nc.stop();
  EXPECT_EQ(code, 404);
  EXPECT_EQ(req("GET", "/api/v1/namespaces/tmp/pods/a").code, 404);
}

TEST_F(ApiServerTest, MetricsCountRequests) {
  ASSERT_EQ(req("GET", kPods).code, 200);
  auto m = req("GET", "/metrics").body;
  EXPECT_NE(m.find("apiserver_request_total{verb=\"list\",resource=\"pods\",code=\"200\"}"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("apiserver_request_duration_seconds_bucket"), std::string::npos);
}

TEST_F(ApiServerTest, MetricsAppendAddedSources) {
  api().add_metrics_source([] { return std::string("# TYPE extra_total counter\nextra_total 7\n"); });
  auto m = req("GET", "/metrics").body;
  size_t own = m.find("apiserver_registered_watchers ");
  size_t extra = m.find("extra_total 7\n");
  ASSERT_NE(own, std::string::npos) << m;
  ASSERT_NE(extra, std::string::npos) << m;
  EXPECT_LT(own, extra);
}

}  // namespace
}  // namespace minik8s::apiserver
