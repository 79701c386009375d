// EndpointsController against a real in-process ApiServer: pods are plain
// Pod objects whose status (podIP, Ready) the test writes like a kubelet.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "minik8s/controllers/controllers.h"
#include "test/fakes/controller_fixture.h"

namespace minik8s::controllers {
namespace {

using api::Json;
using testing_support::ApiFixture;
using namespace std::chrono_literals;

constexpr const char* kNs = "default";

class EndpointsControllerTest : public ApiFixture {
 protected:
  void TearDown() override {
    ctrl_.reset();
    ApiFixture::TearDown();
  }

  void start(EndpointsOptions o = {}) {
    ctrl_ = std::make_unique<EndpointsController>(*client_, o);
    Status st = ctrl_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }

  const api::ResourceType& pods() { return kind("v1", "Pod"); }
  const api::ResourceType& services() { return kind("v1", "Service"); }
  const api::ResourceType& endpoints() { return kind("v1", "Endpoints"); }

  void add_service(const std::string& name, Json selector, Json ports) {
    Json s = {{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", name}, {"namespace", kNs}, {"labels", {{"svc", name}}}}},
              {"spec", {{"ports", ports}}}};
    if (!selector.is_null()) s["spec"]["selector"] = selector;
    auto r = client_->create(services(), s);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }

  void add_pod(const std::string& name, Json labels, Json container_ports = Json::array()) {
    Json p = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", kNs}, {"labels", labels}}},
              {"spec",
               {{"nodeName", "node-a"},
                {"containers", {{{"name", "c"}, {"image", "nginx:1.25"}, {"ports", container_ports}}}}}}};
    auto r = client_->create(pods(), p);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  // What a kubelet reports: Running with an IP, Ready True/False.
  void set_status(const std::string& name, const std::string& ip, bool ready) {
    Json patch = {{"status",
                   {{"phase", "Running"},
                    {"podIP", ip},
                    {"podIPs", {{{"ip", ip}}}},
                    {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
    auto r = client_->patch(pods(), kNs, name, client::PatchType::kMerge, patch, "status");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  void set_labels(const std::string& name, Json labels) {
    auto r = client_->patch(pods(), kNs, name, client::PatchType::kMerge, {{"metadata", {{"labels", labels}}}});
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }

  Json get_ep(const std::string& name) {
    auto r = client_->get(endpoints(), kNs, name);
    return r ? *r : Json();
  }
  // "ip:port" for ready addresses × ports, sorted ("" entries when no ports).
  static std::set<std::string> ready(const Json& ep, const char* list = "addresses") {
    std::set<std::string> out;
    if (!ep.is_object() || !ep.contains("subsets")) return out;
    for (const auto& s : ep["subsets"]) {
      if (!s.contains(list)) continue;
      for (const auto& a : s[list]) {
        for (const auto& p : s.value("ports", Json::array())) out.insert(a["ip"].get<std::string>() + ":" + std::to_string(p["port"].get<int>()));
      }
    }
    return out;
  }
  // Waits until the Endpoints' ready (or not-ready) set is want.
  bool wait_ready(const std::string& svc, const std::set<std::string>& want, const char* list = "addresses",
                  std::chrono::milliseconds limit = 5s) {
    return eventually([&] { return ready(get_ep(svc), list) == want; }, limit);
  }

  std::unique_ptr<EndpointsController> ctrl_;
};

const Json kWeb = {{"app", "web"}};
const Json kPort80 = Json::parse(R"([{"port":80,"targetPort":8080}])");

TEST_F(EndpointsControllerTest, FollowsPodAddReadyUnreadyDelete) {
  start();
  add_service("web", kWeb, kPort80);
  ASSERT_TRUE(eventually([&] { return get_ep("web").is_object(); }));
  Json ep = get_ep("web");
  EXPECT_EQ(ep["metadata"]["labels"]["svc"], "web");  // the Service's labels are copied
  EXPECT_TRUE(ep["metadata"]["annotations"].contains("endpoints.kubernetes.io/last-change-trigger-time"));

  add_pod("p1", kWeb);
  add_pod("p2", kWeb);
  add_pod("other", {{"app", "db"}});
  set_status("other", "10.244.0.9", true);
  set_status("p1", "10.244.0.2", true);
  EXPECT_TRUE(wait_ready("web", {"10.244.0.2:8080"}));
  set_status("p2", "10.244.1.2", false);
  EXPECT_TRUE(wait_ready("web", {"10.244.1.2:8080"}, "notReadyAddresses"));
  EXPECT_EQ(ready(get_ep("web")), (std::set<std::string>{"10.244.0.2:8080"}));

  // The address carries nodeName and a targetRef to the pod.
  ep = get_ep("web");
  const Json& addr = ep["subsets"][0]["addresses"][0];
  EXPECT_EQ(addr["nodeName"], "node-a");
  EXPECT_EQ(addr["targetRef"]["kind"], "Pod");
  EXPECT_EQ(addr["targetRef"]["name"], "p1");
  EXPECT_EQ(addr["targetRef"]["namespace"], kNs);
  EXPECT_FALSE(addr["targetRef"]["uid"].get<std::string>().empty());
  EXPECT_EQ(ep["subsets"][0]["ports"][0]["name"], "");
  EXPECT_EQ(ep["subsets"][0]["ports"][0]["protocol"], "TCP");

  set_status("p2", "10.244.1.2", true);
  EXPECT_TRUE(wait_ready("web", {"10.244.0.2:8080", "10.244.1.2:8080"}));
  set_status("p1", "10.244.0.2", false);  // unready: moves to notReadyAddresses within ~1 s
  EXPECT_TRUE(wait_ready("web", {"10.244.1.2:8080"}, "addresses", 1500ms));

  // A bound pod deleted gracefully is terminating: it leaves at once.
  ASSERT_TRUE(client_->remove(pods(), kNs, "p2").is_ok());
  EXPECT_TRUE(wait_ready("web", {}, "addresses", 1500ms));
  EXPECT_TRUE(wait_ready("web", {"10.244.0.2:8080"}, "notReadyAddresses"));
  // Deleted outright (grace 0): gone from notReadyAddresses too.
  Json now = {{"gracePeriodSeconds", 0}};
  ASSERT_TRUE(client_->remove(pods(), kNs, "p1", &now).is_ok());
  EXPECT_TRUE(wait_ready("web", {}, "notReadyAddresses", 1500ms));
}

TEST_F(EndpointsControllerTest, RelabelledPodLeavesAndJoins) {
  add_pod("p1", kWeb);
  set_status("p1", "10.244.0.2", true);
  add_service("web", kWeb, kPort80);
  add_service("db", {{"app", "db"}}, kPort80);
  start();  // existing objects are picked up after the caches sync
  EXPECT_TRUE(wait_ready("web", {"10.244.0.2:8080"}));
  set_labels("p1", {{"app", "db"}});
  EXPECT_TRUE(wait_ready("web", {}, "addresses", 1500ms));
  EXPECT_TRUE(wait_ready("db", {"10.244.0.2:8080"}, "addresses", 1500ms));
}

TEST_F(EndpointsControllerTest, NamedTargetPortsPerPod) {
  start();
  add_service("web", kWeb, Json::parse(R"([{"name":"http","port":80,"targetPort":"http-alt"},
                                            {"name":"admin","port":81,"targetPort":9000}])"));
  add_pod("a", kWeb, Json::parse(R"([{"name":"http-alt","containerPort":8080}])"));
  add_pod("b", kWeb, Json::parse(R"([{"name":"http-alt","containerPort":8081}])"));
  add_pod("c", kWeb);  // no such named port: only "admin"
  set_status("a", "10.244.0.2", true);
  set_status("b", "10.244.0.3", true);
  set_status("c", "10.244.0.4", true);
  EXPECT_TRUE(wait_ready("web", {"10.244.0.2:8080", "10.244.0.2:9000", "10.244.0.3:8081", "10.244.0.3:9000",
                                 "10.244.0.4:9000"}));
  // Port names are kept per subset.
  for (const auto& s : get_ep("web")["subsets"]) {
    for (const auto& p : s["ports"]) {
      EXPECT_EQ(p["name"], p["port"] == 9000 ? "admin" : "http") << p.dump();
    }
  }
}

TEST_F(EndpointsControllerTest, SelectorChangeAndServiceDelete) {
  start();
  add_pod("w", kWeb);
  add_pod("d", {{"app", "db"}});
  set_status("w", "10.244.0.2", true);
  set_status("d", "10.244.0.3", true);
  add_service("svc", kWeb, kPort80);
  EXPECT_TRUE(wait_ready("svc", {"10.244.0.2:8080"}));
  auto r = client_->patch(services(), kNs, "svc", client::PatchType::kMerge,
                          {{"spec", {{"selector", {{"app", "db"}}}}}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(wait_ready("svc", {"10.244.0.3:8080"}));
  ASSERT_TRUE(client_->remove(services(), kNs, "svc").is_ok());
  EXPECT_TRUE(eventually([&] { return client_->get(endpoints(), kNs, "svc").status().code() == Code::kNotFound; }));
}

TEST_F(EndpointsControllerTest, ServicesWithoutSelectorAreLeftAlone) {
  start();
  add_pod("w", kWeb);
  set_status("w", "10.244.0.2", true);
  add_service("manual", nullptr, kPort80);
  Json ep = {{"apiVersion", "v1"},
             {"kind", "Endpoints"},
             {"metadata", {{"name", "manual"}, {"namespace", kNs}}},
             {"subsets", Json::parse(R"([{"addresses":[{"ip":"192.0.2.1"}],"ports":[{"port":80}]}])")}};
  ASSERT_TRUE(client_->create(endpoints(), ep).is_ok());
  // A selector Service created afterwards is handled: once it is, "manual"
  // (enqueued earlier, one worker) was seen too.
  add_service("web", kWeb, kPort80);
  EXPECT_TRUE(wait_ready("web", {"10.244.0.2:8080"}));
  EXPECT_EQ(ready(get_ep("manual")), (std::set<std::string>{"192.0.2.1:80"}));
  EXPECT_FALSE(get_ep("manual")["metadata"].contains("annotations"));
}

TEST_F(EndpointsControllerTest, DeletedEndpointsAreRecreated) {
  start();
  add_pod("w", kWeb);
  set_status("w", "10.244.0.2", true);
  add_service("web", kWeb, kPort80);
  EXPECT_TRUE(wait_ready("web", {"10.244.0.2:8080"}));
  ASSERT_TRUE(client_->remove(endpoints(), kNs, "web").is_ok());
  EXPECT_TRUE(wait_ready("web", {"10.244.0.2:8080"}));
}

TEST_F(EndpointsControllerTest, NoWriteWhenNothingChanged) {
  start();
  add_pod("w", kWeb);
  set_status("w", "10.244.0.2", true);
  add_pod("d", {{"app", "db"}});
  set_status("d", "10.244.0.3", true);
  add_service("web", kWeb, kPort80);
  add_service("db", {{"app", "db"}}, kPort80);
  EXPECT_TRUE(wait_ready("web", {"10.244.0.2:8080"}));
  EXPECT_TRUE(wait_ready("db", {"10.244.0.3:8080"}));
  std::string rv = get_ep("web")["metadata"]["resourceVersion"];
  // Changes that do not alter web's endpoints: a pod annotation, a status
  // rewrite with the same values, a Service annotation.
  ASSERT_TRUE(client_->patch(pods(), kNs, "w", client::PatchType::kMerge,
                             {{"metadata", {{"annotations", {{"x", "1"}}}}}}).is_ok());
  set_status("w", "10.244.0.2", true);
  ASSERT_TRUE(client_->patch(services(), kNs, "web", client::PatchType::kMerge,
                             {{"metadata", {{"annotations", {{"x", "1"}}}}}}).is_ok());
  // Then a change for db on each watch stream (Services, then Pods); with one
  // worker and a FIFO queue, whatever web's changes queued has been
  // reconciled by the time db's Endpoints show both.
  ASSERT_TRUE(client_->patch(services(), kNs, "db", client::PatchType::kMerge,
                             Json::parse(R"({"spec":{"ports":[{"port":80,"targetPort":8081}]}})")).is_ok());
  EXPECT_TRUE(wait_ready("db", {"10.244.0.3:8081"}));
  set_status("d", "10.244.0.3", false);
  EXPECT_TRUE(wait_ready("db", {"10.244.0.3:8081"}, "notReadyAddresses"));
  EXPECT_EQ(get_ep("web")["metadata"]["resourceVersion"], rv);
  // A Service label change does write (labels are copied).
  ASSERT_TRUE(client_->patch(services(), kNs, "web", client::PatchType::kMerge,
                             {{"metadata", {{"labels", {{"tier", "front"}}}}}}).is_ok());
  EXPECT_TRUE(eventually([&] { return get_ep("web")["metadata"]["labels"].value("tier", "") == "front"; }));
  EXPECT_NE(get_ep("web")["metadata"]["resourceVersion"], rv);
}

TEST_F(EndpointsControllerTest, EndpointSlicesWhenServed) {
  const api::ResourceType* slices = api::find_kind("discovery.k8s.io/v1", "EndpointSlice");
  if (!slices) GTEST_SKIP() << "discovery.k8s.io/v1 EndpointSlice is not in the kind table yet";
  start();
  add_service("web", kWeb, Json::parse(R"([{"name":"http","port":80,"targetPort":8080}])"));
  add_pod("a", kWeb);
  add_pod("b", kWeb);
  set_status("a", "10.244.0.2", true);
  set_status("b", "10.244.0.3", false);
  auto slice = [&]() -> Json {
    auto r = client_->get(*slices, kNs, "web-mk");
    return r ? *r : Json();
  };
  EXPECT_TRUE(eventually([&] {
    Json s = slice();
    return s.is_object() && s.contains("endpoints") && s["endpoints"].size() == 2;
  }));
  Json s = slice();
  EXPECT_EQ(s["addressType"], "IPv4");
  EXPECT_EQ(s["metadata"]["labels"]["kubernetes.io/service-name"], "web");
  EXPECT_EQ(s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"], "endpointslice-controller.k8s.io");
  EXPECT_EQ(s["metadata"]["ownerReferences"][0]["kind"], "Service");
  EXPECT_EQ(s["metadata"]["ownerReferences"][0]["name"], "web");
  EXPECT_EQ(s["ports"], Json::parse(R"([{"name":"http","port":8080,"protocol":"TCP"}])"));
  ASSERT_EQ(s["endpoints"].size(), 2u);
  EXPECT_EQ(s["endpoints"][0]["addresses"], Json::array({"10.244.0.2"}));
  EXPECT_EQ(s["endpoints"][0]["conditions"]["ready"], true);
  EXPECT_EQ(s["endpoints"][1]["conditions"]["ready"], false);
  EXPECT_EQ(s["endpoints"][0]["targetRef"]["name"], "a");
  EXPECT_EQ(s["endpoints"][0]["nodeName"], "node-a");
  ASSERT_TRUE(client_->remove(services(), kNs, "web").is_ok());
  EXPECT_TRUE(eventually([&] { return client_->get(*slices, kNs, "web-mk").status().code() == Code::kNotFound; }));
}

}  // namespace
}  // namespace minik8s::controllers
