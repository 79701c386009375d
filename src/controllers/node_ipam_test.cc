// NodeIpamController against a real in-process ApiServer: nodes are plain
// Node objects (no agent), the controller patches their spec.podCIDR.
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

class NodeIpamTest : public ApiFixture {
 protected:
  void TearDown() override {
    ipam_.reset();
    ApiFixture::TearDown();
  }

  void start(NodeIpamOptions o = {}) {
    ipam_ = std::make_unique<NodeIpamController>(*client_, o);
    Status st = ipam_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
  void restart(NodeIpamOptions o = {}) {
    ipam_.reset();
    start(o);
  }

  void add_node(const std::string& name, const std::string& pod_cidr = "") {
    Json n = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}, {"spec", Json::object()}};
    if (!pod_cidr.empty()) n["spec"]["podCIDR"] = pod_cidr;
    auto r = client_->create(nodes(), n);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  void delete_node(const std::string& name) { ASSERT_TRUE(client_->remove(nodes(), "", name).is_ok()); }

  // spec.podCIDR ("" when unset or the node is gone).
  std::string cidr(const std::string& name) {
    auto r = client_->get(nodes(), "", name);
    if (!r || !(*r)["spec"].contains("podCIDR")) return "";
    return (*r)["spec"]["podCIDR"];
  }
  std::string wait_cidr(const std::string& name) {
    std::string c;
    eventually([&] { return !(c = cidr(name)).empty(); });
    return c;
  }

  const api::ResourceType& nodes() { return kind("v1", "Node"); }

  std::unique_ptr<NodeIpamController> ipam_;
};

TEST_F(NodeIpamTest, AssignsDistinctBlocksLowestFirst) {
  add_node("n1");
  add_node("n2");
  add_node("n3");
  start();
  // Created in the same second: ties broken by name.
  EXPECT_EQ(wait_cidr("n1"), "10.244.0.0/24");
  EXPECT_EQ(wait_cidr("n2"), "10.244.1.0/24");
  EXPECT_EQ(wait_cidr("n3"), "10.244.2.0/24");
  auto n = client_->get(nodes(), "", "n2");
  ASSERT_TRUE(n.is_ok());
  EXPECT_EQ((*n)["spec"]["podCIDRs"], Json::array({"10.244.1.0/24"}));
  add_node("late");
  EXPECT_EQ(wait_cidr("late"), "10.244.3.0/24");
}

TEST_F(NodeIpamTest, CustomClusterCidrAndMask) {
  NodeIpamOptions o;
  o.cluster_cidr = "172.20.0.0/20";
  o.node_cidr_mask = 26;
  start(o);
  add_node("a");
  add_node("b");
  EXPECT_EQ(wait_cidr("a"), "172.20.0.0/26");
  EXPECT_EQ(wait_cidr("b"), "172.20.0.64/26");
}

TEST_F(NodeIpamTest, AssignmentsSurviveRestart) {
  start();
  add_node("n1");
  EXPECT_EQ(wait_cidr("n1"), "10.244.0.0/24");
  add_node("n2");
  EXPECT_EQ(wait_cidr("n2"), "10.244.1.0/24");
  // A node deleted while the controller is down frees its block.
  ipam_.reset();
  delete_node("n1");
  start();
  add_node("n3");
  EXPECT_EQ(wait_cidr("n3"), "10.244.0.0/24");
  add_node("n4");
  EXPECT_EQ(wait_cidr("n4"), "10.244.2.0/24");
  EXPECT_EQ(cidr("n2"), "10.244.1.0/24");  // untouched
}

TEST_F(NodeIpamTest, DeletedNodeFreesItsBlock) {
  start();
  add_node("n1");
  add_node("n2");
  std::set<std::string> got = {wait_cidr("n1"), wait_cidr("n2")};
  EXPECT_EQ(got, (std::set<std::string>{"10.244.0.0/24", "10.244.1.0/24"}));
  std::string freed = cidr("n1");
  delete_node("n1");
  // The delete reaches the controller before the next add (one watch stream, in order).
  add_node("n3");
  EXPECT_EQ(wait_cidr("n3"), freed);
}

TEST_F(NodeIpamTest, ExhaustedRangeRecordsEventAndRetriesWhenANodeGoes) {
  NodeIpamOptions o;
  o.cluster_cidr = "10.244.0.0/23";  // two /24s
  start(o);
  add_node("n1");
  add_node("n2");
  EXPECT_FALSE(wait_cidr("n1").empty());
  EXPECT_FALSE(wait_cidr("n2").empty());
  add_node("n3");
  const auto& events = kind("v1", "Event");
  std::set<std::string> reasons;
  EXPECT_TRUE(eventually([&] {
    auto list = client_->list(events, "default");
    if (!list) return false;
    reasons.clear();
    for (const auto& e : (*list)["items"]) {
      if (e["involvedObject"]["name"] == "n3" && e["involvedObject"]["kind"] == "Node") reasons.insert(e["reason"]);
    }
    return reasons.size() == 2;
  }));
  EXPECT_EQ(reasons, (std::set<std::string>{"CIDRNotAvailable", "CIDRAssignmentFailed"}));
  EXPECT_EQ(cidr("n3"), "");
  std::string freed = cidr("n2");
  delete_node("n2");
  EXPECT_EQ(wait_cidr("n3"), freed);
}

TEST_F(NodeIpamTest, PresetCidrsAreRespected) {
  add_node("pre", "10.244.0.0/24");              // inside: kept and counted as used
  add_node("outside", "192.168.7.0/24");         // outside: left alone, uses nothing
  add_node("wide", "10.244.2.0/23");             // inside, wider than a block: holds 2 and 3
  start();
  add_node("fresh");
  add_node("fresh2");
  add_node("fresh3");
  EXPECT_EQ(wait_cidr("fresh"), "10.244.1.0/24");
  EXPECT_EQ(wait_cidr("fresh2"), "10.244.4.0/24");
  EXPECT_EQ(wait_cidr("fresh3"), "10.244.5.0/24");
  EXPECT_EQ(cidr("pre"), "10.244.0.0/24");
  EXPECT_EQ(cidr("outside"), "192.168.7.0/24");
  EXPECT_EQ(cidr("wide"), "10.244.2.0/23");
}

TEST_F(NodeIpamTest, CidrSetByOthersWhileRunningIsHonoured) {
  start();
  add_node("n1");
  EXPECT_EQ(wait_cidr("n1"), "10.244.0.0/24");
  add_node("manual", "10.244.1.0/24");
  // The informer delivers "manual" before "next" is added: 1 is taken.
  add_node("next");
  EXPECT_EQ(wait_cidr("next"), "10.244.2.0/24");
}

TEST_F(NodeIpamTest, BadOptionsAreRefused) {
  for (auto [range, mask] : std::vector<std::pair<std::string, int>>{
           {"10.244.0.0", 24}, {"10.244.0.0/16", 8}, {"10.244.0.0/16", 31}, {"fd00::/8", 64}, {"10.244.1.0/16", 24}}) {
    NodeIpamOptions o;
    o.cluster_cidr = range;
    o.node_cidr_mask = mask;
    NodeIpamController c(*client_, o);
    Status st = c.start();
    EXPECT_EQ(st.code(), Code::kBadRequest) << range << " /" << mask;
  }
}

}  // namespace
}  // namespace minik8s::controllers
