// What kubectl's describe/get of nodes and services asks of the API server,
// through the real handler (in-process requests): field selectors on pods
// with "!=", EndpointSlices served, listed by label and in discovery, and
// Tables for the issue-4 kinds.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "minik8s/apiserver/apiserver.h"
#include "test/fakes/local_api_test.h"

namespace minik8s::apiserver {
namespace {

using nlohmann::json;

class NetKindsTest : public testing::LocalApiTest {
 protected:
  std::vector<std::string> names(const json& list) {
    std::vector<std::string> out;
    for (const auto& i : list["items"]) out.push_back(i["metadata"]["name"].get<std::string>());
    std::sort(out.begin(), out.end());
    return out;
  }
};

TEST_F(NetKindsTest, DescribeNodePodQuery) {
  ok("POST", "/api/v1/nodes", {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "node-a"}}}});
  auto pod = [&](const std::string& name, const std::string& node, const std::string& phase) {
    ok("POST", "/api/v1/namespaces/default/pods",
       {{"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata", {{"name", name}}},
        {"spec", {{"nodeName", node}, {"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}});
    if (!phase.empty()) {
      ok("PATCH", "/api/v1/namespaces/default/pods/" + name + "/status", {{"status", {{"phase", phase}}}},
         "application/merge-patch+json");
    }
  };
  pod("running", "node-a", "Running");
  pod("pending", "node-a", "");
  pod("done", "node-a", "Succeeded");
  pod("failed", "node-a", "Failed");
  pod("elsewhere", "node-b", "Running");
  // Exactly what kubectl describe node sends (cluster-wide, terms in its order).
  json list = ok("GET",
                 "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a%2Cstatus.phase%21%3DFailed%2C"
                 "status.phase%21%3DSucceeded&limit=500");
  EXPECT_EQ(names(list), (std::vector<std::string>{"pending", "running"}));
  list = ok("GET", "/api/v1/pods?fieldSelector=status.phase!%3DSucceeded,status.phase!%3DFailed,spec.nodeName%3Dnode-a");
  EXPECT_EQ(names(list), (std::vector<std::string>{"pending", "running"}));
  // Events of the node (kubectl: involvedObject.{kind,name,uid,namespace}).
  LocalResponse ev = call("GET",
                          "/api/v1/events?fieldSelector=involvedObject.kind%3DNode%2CinvolvedObject.name%3D"
                          "node-a%2CinvolvedObject.uid%3Dnode-a%2CinvolvedObject.namespace%3D");
  EXPECT_EQ(ev.code, 200) << ev.body;
  // The Lease: absent here, a 404 kubectl ignores.
  EXPECT_EQ(call("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-a").code, 404);
}

TEST_F(NetKindsTest, CordonIsAStrategicMergePatchAndShowsInTheTable) {
  ok("POST", "/api/v1/nodes",
     {{"apiVersion", "v1"},
      {"kind", "Node"},
      {"metadata", {{"name", "node-a"}}},
      {"status", {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}});
  json n = ok("GET", "/api/v1/nodes/node-a");
  n["status"] = {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}}};
  ok("PUT", "/api/v1/nodes/node-a/status", n);
  ok("PATCH", "/api/v1/nodes/node-a", {{"spec", {{"unschedulable", true}}}},
     "application/strategic-merge-patch+json");
  const std::string table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
  LocalResponse r = call("GET", "/api/v1/nodes", nullptr, "application/json", table);
  json t = json::parse(r.body, nullptr, false);
  ASSERT_EQ(t["kind"], "Table") << r.body;
  EXPECT_EQ(t["rows"][0]["cells"][1], "Ready,SchedulingDisabled");
  ok("PATCH", "/api/v1/nodes/node-a", {{"spec", {{"unschedulable", nullptr}}}},
     "application/strategic-merge-patch+json");
  t = json::parse(call("GET", "/api/v1/nodes/node-a", nullptr, "application/json", table).body, nullptr, false);
  EXPECT_EQ(t["rows"][0]["cells"][1], "Ready");
  ok("DELETE", "/api/v1/nodes/node-a");
  EXPECT_EQ(call("GET", "/api/v1/nodes/node-a").code, 404);
}

TEST_F(NetKindsTest, EndpointSlicesServedListedByLabelAndInDiscovery) {
  json groups = ok("GET", "/apis");
  bool found = false;
  for (const auto& g : groups["groups"]) {
    if (g["name"] == "discovery.k8s.io") found = g["preferredVersion"]["groupVersion"] == "discovery.k8s.io/v1";
  }
  EXPECT_TRUE(found) << groups.dump();
  json res = ok("GET", "/apis/discovery.k8s.io/v1");
  ASSERT_EQ(res["resources"].size(), 1u) << res.dump();
  EXPECT_EQ(res["resources"][0]["name"], "endpointslices");
  EXPECT_EQ(res["resources"][0]["kind"], "EndpointSlice");
  EXPECT_EQ(res["resources"][0]["namespaced"], true);

  auto slice = [](const std::string& name, const std::string& svc, const std::string& ip) {
    return json{{"apiVersion", "discovery.k8s.io/v1"},
                {"kind", "EndpointSlice"},
                {"metadata", {{"name", name}, {"labels", {{"kubernetes.io/service-name", svc}}}}},
                {"addressType", "IPv4"},
                {"endpoints", {{{"addresses", {ip}}, {"conditions", {{"ready", true}}}}}},
                {"ports", {{{"port", 80}}}}};
  };
  json created = ok("POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", slice("web-1", "web", "10.244.1.2"));
  EXPECT_EQ(created["ports"][0]["protocol"], "TCP");  // defaulted
  EXPECT_EQ(created["ports"][0]["name"], "");
  ok("POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", slice("db-1", "db", "10.244.1.3"));
  json list = ok("GET",
                 "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector="
                 "kubernetes.io%2Fservice-name%3Dweb");
  EXPECT_EQ(names(list), std::vector<std::string>{"web-1"});
  EXPECT_EQ(list["kind"], "EndpointSliceList");

  json bad = slice("bad", "web", "not-an-ip");
  LocalResponse r = call("POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", bad);
  EXPECT_EQ(r.code, 422) << r.body;
  EXPECT_NE(r.body.find("endpoints[0].addresses[0]"), std::string::npos) << r.body;

  r = call("GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", nullptr, "application/json",
           "application/json;as=Table;v=v1;g=meta.k8s.io,application/json");
  json t = json::parse(r.body, nullptr, false);
  ASSERT_EQ(t["kind"], "Table") << r.body;
  EXPECT_EQ(t["columnDefinitions"][1]["name"], "ADDRESSTYPE");
  EXPECT_EQ(t["rows"].size(), 2u);
}

}  // namespace
}  // namespace minik8s::apiserver
