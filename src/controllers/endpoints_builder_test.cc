#include "endpoints_builder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

namespace minik8s::controllers {
namespace {

using api::Json;

Json service(Json ports, Json selector = {{"app", "web"}}) {
  return {{"metadata", {{"name", "web"}, {"namespace", "default"}}},
          {"spec", {{"selector", selector}, {"ports", ports}, {"type", "ClusterIP"}}}};
}

Json pod(const std::string& name, const std::string& ip, bool ready, Json container_ports = Json::array()) {
  Json p = {{"metadata", {{"name", name}, {"namespace", "default"}, {"uid", "uid-" + name}}},
            {"spec", {{"nodeName", "n1"}, {"containers", {{{"name", "c"}, {"ports", container_ports}}}}}},
            {"status", {{"phase", "Running"}, {"conditions", {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}}}}}};
  if (!ip.empty()) p["status"]["podIP"] = ip;
  return p;
}

std::vector<const Json*> ptrs(const std::vector<Json>& v) {
  std::vector<const Json*> out;
  for (const auto& j : v) out.push_back(&j);
  return out;
}

TEST(EndpointsBuilder, ReadyAndNotReadyAddressesWithTargetRef) {
  Json svc = service(Json::parse(R"([{"port":80,"targetPort":8080,"protocol":"TCP"}])"));
  std::vector<Json> pods = {pod("b", "10.244.0.3", true), pod("a", "10.244.0.2", true), pod("c", "10.244.0.4", false),
                            pod("noip", "", true)};
  Json subsets = build_subsets(svc, ptrs(pods));
  Json want = Json::parse(R"([{
    "addresses":[
      {"ip":"10.244.0.2","nodeName":"n1","targetRef":{"kind":"Pod","namespace":"default","name":"a","uid":"uid-a"}},
      {"ip":"10.244.0.3","nodeName":"n1","targetRef":{"kind":"Pod","namespace":"default","name":"b","uid":"uid-b"}}],
    "notReadyAddresses":[
      {"ip":"10.244.0.4","nodeName":"n1","targetRef":{"kind":"Pod","namespace":"default","name":"c","uid":"uid-c"}}],
    "ports":[{"name":"","port":8080,"protocol":"TCP"}]}])");
  EXPECT_EQ(subsets, want) << subsets.dump();
}

TEST(EndpointsBuilder, TerminatingAndFinishedPodsLeave) {
  Json svc = service(Json::parse(R"([{"port":80,"targetPort":80}])"));
  Json term = pod("t", "10.244.0.5", true);
  term["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  Json done = pod("d", "10.244.0.6", false);
  done["status"]["phase"] = "Succeeded";
  std::vector<Json> pods = {term, done};
  EXPECT_EQ(build_subsets(svc, ptrs(pods)), Json::array());
  // publishNotReadyAddresses keeps terminating and unready pods, as ready.
  svc["spec"]["publishNotReadyAddresses"] = true;
  Json unready = pod("u", "10.244.0.7", false);
  pods = {term, unready};
  Json s = build_subsets(svc, ptrs(pods));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]["addresses"].size(), 2u);
  EXPECT_FALSE(s[0].contains("notReadyAddresses"));
}

TEST(EndpointsBuilder, NamedTargetPortResolvedPerPod) {
  Json svc = service(Json::parse(R"([{"name":"http","port":80,"targetPort":"web","protocol":"TCP"},
                                     {"name":"metrics","port":9090,"targetPort":9090,"protocol":"TCP"}])"));
  std::vector<Json> pods = {pod("a", "10.244.0.2", true, Json::parse(R"([{"name":"web","containerPort":8080}])")),
                            pod("b", "10.244.1.2", true, Json::parse(R"([{"name":"web","containerPort":9000}])")),
                            pod("c", "10.244.2.2", true, Json::parse(R"([{"name":"web","containerPort":7000,"protocol":"UDP"}])"))};
  Json s = build_subsets(svc, ptrs(pods));
  // a: http→8080, b: http→9000, c: only metrics (its "web" is UDP).
  ASSERT_EQ(s.size(), 3u) << s.dump();
  std::map<std::string, Json> by_ip;
  for (const auto& sub : s) by_ip[sub["addresses"][0]["ip"]] = sub["ports"];
  EXPECT_EQ(by_ip["10.244.0.2"], Json::parse(R"([{"name":"http","port":8080,"protocol":"TCP"},
                                                 {"name":"metrics","port":9090,"protocol":"TCP"}])"));
  EXPECT_EQ(by_ip["10.244.1.2"], Json::parse(R"([{"name":"http","port":9000,"protocol":"TCP"},
                                                 {"name":"metrics","port":9090,"protocol":"TCP"}])"));
  EXPECT_EQ(by_ip["10.244.2.2"], Json::parse(R"([{"name":"metrics","port":9090,"protocol":"TCP"}])"));
}

TEST(EndpointsBuilder, PodWithoutAnyPortIsLeftOut) {
  Json svc = service(Json::parse(R"([{"port":80,"targetPort":"web"}])"));
  std::vector<Json> pods = {pod("a", "10.244.0.2", true)};
  EXPECT_EQ(build_subsets(svc, ptrs(pods)), Json::array());
  // A Service without ports (headless) still lists the addresses.
  Json headless = service(Json::array());
  Json s = build_subsets(headless, ptrs(pods));
  ASSERT_EQ(s.size(), 1u);
  EXPECT_FALSE(s[0].contains("ports"));
  EXPECT_EQ(s[0]["addresses"][0]["ip"], "10.244.0.2");
}

TEST(EndpointsBuilder, HostnameWhenSubdomainIsTheService) {
  Json svc = service(Json::parse(R"([{"port":80}])"));
  Json p = pod("a", "10.244.0.2", true);
  p["spec"]["hostname"] = "db-0";
  p["spec"]["subdomain"] = "web";
  std::vector<Json> pods = {p};
  EXPECT_EQ(build_subsets(svc, ptrs(pods))[0]["addresses"][0]["hostname"], "db-0");
}

TEST(EndpointsBuilder, CanonicalFormIgnoresOrder) {
  Json svc = service(Json::parse(R"([{"name":"a","port":80},{"name":"b","port":81}])"));
  std::vector<Json> pods = {pod("x", "10.244.0.9", true), pod("y", "10.244.0.1", false), pod("z", "10.244.0.5", true)};
  Json built = build_subsets(svc, ptrs(pods));
  Json shuffled = built;
  std::reverse(shuffled[0]["addresses"].begin(), shuffled[0]["addresses"].end());
  std::reverse(shuffled[0]["ports"].begin(), shuffled[0]["ports"].end());
  EXPECT_NE(shuffled, built);
  EXPECT_EQ(canonical_subsets(shuffled), built);
  EXPECT_EQ(canonical_subsets(nullptr), Json::array());
  EXPECT_EQ(canonical_subsets(Json::parse(R"([{"addresses":[],"ports":[{"port":1}]}])")),
            Json::parse(R"([{"ports":[{"port":1}]}])"));
}

TEST(EndpointsBuilder, SelectorRules) {
  EXPECT_TRUE(service_has_selector(service(Json::array())));
  EXPECT_FALSE(service_has_selector(service(Json::array(), Json::object())));
  EXPECT_FALSE(service_has_selector(service(Json::array(), nullptr)));
  Json ext = service(Json::array());
  ext["spec"]["type"] = "ExternalName";
  EXPECT_FALSE(service_has_selector(ext));
  EXPECT_FALSE(service_has_selector(Json("garbage")));
}

TEST(EndpointsBuilder, SlicesCarryConditions) {
  Json svc = service(Json::parse(R"([{"name":"http","port":80,"targetPort":8080,"protocol":"TCP"}])"));
  Json term = pod("t", "10.244.0.5", true);
  term["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  std::vector<Json> pods = {pod("a", "10.244.0.2", true), pod("b", "10.244.0.3", false), term, pod("noip", "", true)};
  auto slices = build_slices(svc, ptrs(pods));
  ASSERT_EQ(slices.size(), 1u);
  EXPECT_EQ(slices[0]["ports"], Json::parse(R"([{"name":"http","port":8080,"protocol":"TCP"}])"));
  const Json& eps = slices[0]["endpoints"];
  ASSERT_EQ(eps.size(), 3u);
  EXPECT_EQ(eps[0]["addresses"], Json::array({"10.244.0.2"}));
  EXPECT_EQ(eps[0]["conditions"], Json::parse(R"({"ready":true,"serving":true,"terminating":false})"));
  EXPECT_EQ(eps[0]["targetRef"]["name"], "a");
  EXPECT_EQ(eps[0]["nodeName"], "n1");
  EXPECT_EQ(eps[1]["conditions"], Json::parse(R"({"ready":false,"serving":false,"terminating":false})"));
  EXPECT_EQ(eps[2]["conditions"], Json::parse(R"({"ready":false,"serving":true,"terminating":true})"));
  EXPECT_TRUE(build_slices(svc, {}).empty());
}

TEST(EndpointsBuilder, GarbageNeverThrows) {
  Json svc = Json::parse(R"({"spec":{"selector":{"a":1},"ports":[7,{"targetPort":[1]},{"port":"x"}]}})");
  std::vector<Json> pods = {Json(3), Json::parse(R"({"status":{"podIP":5,"conditions":"x"},"spec":{"containers":7}})"),
                            Json::parse(R"({"status":{"podIP":"10.0.0.1"},"spec":{"containers":[{"ports":[1,{"name":"x"}]}]}})")};
  EXPECT_NO_THROW(build_subsets(svc, ptrs(pods)));
  EXPECT_NO_THROW(build_slices(svc, ptrs(pods)));
  EXPECT_NO_THROW(canonical_subsets(Json::parse(R"([1,{"addresses":"x","ports":[{"port":"y"}]}])")));
}

}  // namespace
}  // namespace minik8s::controllers
