// Cross-object admission over HTTP (the admit hooks of the Node and DNS
// strategies, src/apiserver/kinds/): a DNS host claimed by another DNS object
// answers 409 naming the owner, names inside
// the cluster domain 422; a Node pod CIDR overlapping another Node's 422
// naming the field and the other node, while node IPAM's patch and status
// heartbeats keep working.
#include <algorithm>
#include <thread>

#include <nlohmann/json.hpp>

#include "test/fakes/local_api.h"

namespace minik8s::apiserver {
namespace {

using nlohmann::json;
using testing::ApiServerFixture;

json dns(const std::string& name, const std::string& host, const std::string& path = "/a") {
  return {{"apiVersion", "minik8s.io/v1"},
          {"kind", "DNS"},
          {"metadata", {{"name", name}}},
          {"spec", {{"host", host}, {"paths", {{{"path", path}, {"serviceName", "svc"}, {"servicePort", 80}}}}}}};
}

json node(const std::string& name, const std::string& cidr = "") {
  json n = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}};
  if (!cidr.empty()) n["spec"] = {{"podCIDR", cidr}, {"podCIDRs", {cidr}}};
  return n;
}

class AdmissionTest : public ApiServerFixture {
 protected:
  void SetUp() override {
    ApiServerFixture::SetUp();
    ASSERT_EQ(post("/api/v1/namespaces", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team-b"}}}})
                  .code,
              201);
  }
  static constexpr const char* kDnsA = "/apis/minik8s.io/v1/namespaces/default/dnses";
  static constexpr const char* kDnsB = "/apis/minik8s.io/v1/namespaces/team-b/dnses";
};

TEST_F(AdmissionTest, DnsHostClaimedByAnotherObjectIsAConflict) {
  ASSERT_EQ(post(kDnsA, dns("shop", "shop.example.com")).code, 201);
  // Another namespace, and the same namespace: 409 naming the owner.
  for (const auto* coll : {kDnsB, kDnsA}) {
    auto r = post(coll, dns("grab", "shop.example.com", "/b"));
    ASSERT_EQ(r.code, 409) << r.body;
    EXPECT_EQ(r.j()["reason"], "Conflict");
    EXPECT_EQ(r.j()["message"],
              "Operation cannot be fulfilled on dnses.minik8s.io \"grab\": spec.host \"shop.example.com\" is "
              "already claimed by DNS default/shop");
  }
  // Moving another object onto the host (update and merge patch) is refused too.
  ASSERT_EQ(post(kDnsB, dns("other", "other.example.com")).code, 201);
  auto moved = req("PATCH", std::string(kDnsB) + "/other", R"({"spec":{"host":"shop.example.com"}})",
                   "application/merge-patch+json");
  EXPECT_EQ(moved.code, 409) << moved.body;
  // The owner may update itself keeping its host.
  auto own = req("PATCH", std::string(kDnsA) + "/shop",
                 R"({"spec":{"paths":[{"path":"/c","serviceName":"svc","servicePort":80}]}})",
                 "application/merge-patch+json");
  EXPECT_EQ(own.code, 200) << own.body;
  // Once the owner is gone, the host is free.
  ASSERT_EQ(req("DELETE", std::string(kDnsA) + "/shop").code, 200);
  EXPECT_EQ(post(kDnsB, dns("grab", "shop.example.com", "/b")).code, 201);
}

TEST_F(AdmissionTest, DnsHostInsideTheClusterDomainIsInvalid) {
  for (const char* host : {"cluster.local", "kubernetes.default.svc.cluster.local", "x.cluster.local"}) {
    auto r = post(kDnsA, dns("in-zone", host));
    ASSERT_EQ(r.code, 422) << host << ": " << r.body;
    ASSERT_EQ(r.j()["details"]["causes"].size(), 1u) << r.body;
    EXPECT_EQ(r.j()["details"]["causes"][0]["field"], "spec.host");
    EXPECT_NE(r.j()["message"].get<std::string>().find("may not be inside the cluster domain cluster.local"),
              std::string::npos)
        << r.body;
  }
  EXPECT_EQ(post(kDnsA, dns("near", "cluster.local.example.com")).code, 201);
  EXPECT_EQ(post(kDnsA, dns("near2", "mycluster.local")).code, 201);
  // Paths the ingress would drop are refused at create time.
  auto bad = post(kDnsA, dns("badpath", "paths.example.com", "/a;return"));
  ASSERT_EQ(bad.code, 422) << bad.body;
  EXPECT_EQ(bad.j()["details"]["causes"][0]["field"], "spec.paths[0].path");
}

TEST_F(AdmissionTest, NodePodCidrOverlapIsInvalid) {
  ASSERT_EQ(post("/api/v1/nodes", node("n1", "10.244.1.0/24")).code, 201);
  auto r = post("/api/v1/nodes", node("n2", "10.244.0.0/16"));
  ASSERT_EQ(r.code, 422) << r.body;
  EXPECT_EQ(r.j()["details"]["causes"][0]["field"], "spec.podCIDR");
  EXPECT_EQ(r.j()["details"]["causes"][0]["message"],
            "Invalid value: \"10.244.0.0/16\": overlaps 10.244.1.0/24, the pod CIDR of node \"n1\" (spec.podCIDR)");
  // A node without a CIDR, then node IPAM's merge patch: a free block passes,
  // a taken one does not.
  ASSERT_EQ(post("/api/v1/nodes", node("n2")).code, 201);
  auto taken = req("PATCH", "/api/v1/nodes/n2", R"({"spec":{"podCIDR":"10.244.1.0/24","podCIDRs":["10.244.1.0/24"]}})",
                   "application/merge-patch+json");
  EXPECT_EQ(taken.code, 422) << taken.body;
  auto free_block = req("PATCH", "/api/v1/nodes/n2",
                        R"({"spec":{"podCIDR":"10.244.2.0/24","podCIDRs":["10.244.2.0/24"]}})",
                        "application/merge-patch+json");
  EXPECT_EQ(free_block.code, 200) << free_block.body;
  // podCIDRs entries beyond the first are checked (and named) too.
  auto second = req("PATCH", "/api/v1/nodes/n2",
                    R"({"spec":{"podCIDRs":["10.244.2.0/24","10.244.1.128/25"]}})", "application/merge-patch+json");
  ASSERT_EQ(second.code, 422) << second.body;
  EXPECT_EQ(second.j()["details"]["causes"][0]["field"], "spec.podCIDRs[1]");
  // The node itself may be rewritten with its own CIDR (status heartbeat, label).
  auto n1 = req("GET", "/api/v1/nodes/n1").j();
  n1["status"] = {{"addresses", {{{"type", "InternalIP"}, {"address", "10.0.0.1"}}}}};
  EXPECT_EQ(req("PUT", "/api/v1/nodes/n1/status", n1.dump()).code, 200);
  EXPECT_EQ(req("PATCH", "/api/v1/nodes/n1", R"({"metadata":{"labels":{"a":"b"}}})", "application/merge-patch+json")
                .code,
            200);
  // Once n1 is gone its block is free again.
  ASSERT_EQ(req("DELETE", "/api/v1/nodes/n1").code, 200);
  EXPECT_EQ(post("/api/v1/nodes", node("n3", "10.244.1.0/24")).code, 201);
}

TEST_F(AdmissionTest, ConcurrentClaimsOfOneCidrAdmitOne) {
  constexpr int kClients = 8;
  std::vector<int> codes(kClients);
  std::vector<std::thread> ts;
  for (int i = 0; i < kClients; ++i) {
    ts.emplace_back([&, i] { codes[i] = post("/api/v1/nodes", node("c" + std::to_string(i), "10.250.0.0/24")).code; });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(std::count(codes.begin(), codes.end(), 201), 1);
  EXPECT_EQ(std::count(codes.begin(), codes.end(), 422), kClients - 1);
}

TEST_F(AdmissionTest, EndpointsWithSpecialAddressesAreInvalid) {
  json ep = {{"apiVersion", "v1"},
             {"kind", "Endpoints"},
             {"metadata", {{"name", "ext"}}},
             {"subsets", {{{"addresses", {{{"ip", "169.254.169.254"}}}}, {"ports", {{{"port", 80}}}}}}}};
  auto r = post("/api/v1/namespaces/default/endpoints", ep);
  ASSERT_EQ(r.code, 422) << r.body;
  EXPECT_EQ(r.j()["details"]["causes"][0]["field"], "subsets[0].addresses[0].ip");
  ep["subsets"][0]["addresses"][0]["ip"] = "10.244.3.4";
  EXPECT_EQ(post("/api/v1/namespaces/default/endpoints", ep).code, 201);
}

}  // namespace
}  // namespace minik8s::apiserver
