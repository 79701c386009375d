// The Service strategy driven directly (no HTTP): allocation, rollback of an
// uncommitted Allocation (also a partial one), release after a write, the
// start-up restore, and the type-dependent fields on update.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kinds.h"

namespace minik8s::apiserver {
namespace {

using nlohmann::json;

class ServiceStrategyTest : public ::testing::Test {
 protected:
  // 10.96.0.0/29: .2 to .6 allocatable; node ports 30000-30002.
  ServiceStrategyTest()
      : s_(std::move(IpAllocator::create("10.96.0.0/29").value()), 30000, 30002) {}

  static json svc(const std::string& type,
                  json ports = json::array({{{"port", 80}, {"protocol", "TCP"}}})) {
    return {{"apiVersion", "v1"},
            {"kind", "Service"},
            {"metadata", {{"name", "s"}, {"namespace", "default"}}},
            {"spec", {{"type", type}, {"ports", ports}}}};
  }

  ServiceStrategy s_;
};

TEST_F(ServiceStrategyTest, CommittedAllocationIsKeptUncommittedIsGivenBack) {
  json a = svc("NodePort");
  api::FieldErrors errs;
  auto taken = s_.allocate(a, nullptr, errs);
  ASSERT_TRUE(errs.empty()) << errs[0].message;
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(a["spec"]["clusterIP"], "10.96.0.2");
  EXPECT_EQ(a["spec"]["clusterIPs"], json::array({"10.96.0.2"}));
  EXPECT_EQ(a["spec"]["ports"][0]["nodePort"], 30000);
  taken->commit();
  taken.reset();
  EXPECT_TRUE(s_.ips().in_use("10.96.0.2"));
  EXPECT_TRUE(s_.ports().in_use(30000));

  // A second write that is refused (never committed) gives back what it took.
  json b = svc("NodePort");
  auto refused = s_.allocate(b, nullptr, errs);
  ASSERT_TRUE(errs.empty());
  EXPECT_EQ(b["spec"]["clusterIP"], "10.96.0.3");
  EXPECT_EQ(b["spec"]["ports"][0]["nodePort"], 30001);
  EXPECT_TRUE(s_.ips().in_use("10.96.0.3"));
  refused.reset();
  EXPECT_FALSE(s_.ips().in_use("10.96.0.3"));
  EXPECT_FALSE(s_.ports().in_use(30001));
  EXPECT_TRUE(s_.ips().in_use("10.96.0.2"));
  EXPECT_TRUE(s_.ports().in_use(30000));
}

TEST_F(ServiceStrategyTest, PartialAllocationIsRolledBack) {
  json first = svc("NodePort");
  api::FieldErrors errs;
  auto kept = s_.allocate(first, nullptr, errs);
  ASSERT_TRUE(errs.empty());
  kept->commit();
  // The cluster IP is taken, then the requested node port is refused: the
  // error names the port and the IP goes back with the Allocation.
  json second =
      svc("NodePort", json::array({{{"port", 81}, {"protocol", "TCP"}, {"nodePort", 30000}}}));
  auto partial = s_.allocate(second, nullptr, errs);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "spec.ports[0].nodePort");
  EXPECT_NE(errs[0].message.find("Invalid value: 30000"), std::string::npos) << errs[0].message;
  EXPECT_EQ(second["spec"]["clusterIP"], "10.96.0.3");
  EXPECT_TRUE(s_.ips().in_use("10.96.0.3"));
  partial.reset();
  EXPECT_FALSE(s_.ips().in_use("10.96.0.3"));
  EXPECT_TRUE(s_.ports().in_use(30000));  // the first Service's, untouched
}

TEST_F(ServiceStrategyTest, UpdateKeepsWhatTheOldObjectOwnsAndReleaseGivesBackTheRest) {
  json old = svc("NodePort");
  api::FieldErrors errs;
  s_.allocate(old, nullptr, errs)->commit();
  ASSERT_TRUE(errs.empty());
  // Same Service, now ClusterIP: prepare_for_update drops the carried-over
  // node port, allocation keeps the IP and takes nothing new.
  json now = old;
  now["spec"]["type"] = "ClusterIP";
  s_.prepare_for_update(now, old);
  EXPECT_FALSE(now["spec"]["ports"][0].contains("nodePort"));
  auto taken = s_.allocate(now, &old, errs);
  ASSERT_TRUE(errs.empty());
  EXPECT_EQ(now["spec"]["clusterIP"], old["spec"]["clusterIP"]);
  taken->commit();
  s_.release(old, &now);
  EXPECT_TRUE(s_.ips().in_use("10.96.0.2"));
  EXPECT_FALSE(s_.ports().in_use(30000));
  // A changed cluster IP is refused.
  json moved = now;
  moved["spec"]["clusterIP"] = "10.96.0.5";
  auto refused = s_.allocate(moved, &now, errs);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "spec.clusterIP");
  EXPECT_EQ(errs[0].message, "Invalid value: \"10.96.0.5\": field is immutable");
  // Delete.
  s_.release(now, nullptr);
  EXPECT_FALSE(s_.ips().in_use("10.96.0.2"));
}

TEST_F(ServiceStrategyTest, RestoreMarksStoredAllocations) {
  json stored = svc("NodePort", json::array({{{"port", 80}, {"nodePort", 30001}}}));
  stored["spec"]["clusterIP"] = "10.96.0.4";
  ASSERT_TRUE(s_.restores());
  s_.restore(stored);
  EXPECT_TRUE(s_.ips().in_use("10.96.0.4"));
  EXPECT_TRUE(s_.ports().in_use(30001));
  json headless = svc("ClusterIP");
  headless["spec"]["clusterIP"] = "None";
  s_.restore(headless);  // nothing to mark, nothing thrown
  json fresh = svc("NodePort");
  api::FieldErrors errs;
  auto taken = s_.allocate(fresh, nullptr, errs);
  ASSERT_TRUE(errs.empty());
  EXPECT_NE(fresh["spec"]["clusterIP"], "10.96.0.4");
  EXPECT_NE(fresh["spec"]["ports"][0]["nodePort"], 30001);
}

TEST_F(ServiceStrategyTest, HeadlessAndExternalNameTakeNoAddress) {
  json headless = svc("ClusterIP");
  headless["spec"]["clusterIP"] = "None";
  api::FieldErrors errs;
  auto taken = s_.allocate(headless, nullptr, errs);
  ASSERT_TRUE(errs.empty());
  EXPECT_EQ(headless["spec"]["clusterIPs"], json::array({"None"}));
  json ext = svc("ExternalName");
  ext["spec"]["clusterIP"] = "10.96.0.6";
  auto none = s_.allocate(ext, nullptr, errs);
  ASSERT_TRUE(errs.empty());
  EXPECT_FALSE(ext["spec"].contains("clusterIP"));
  EXPECT_FALSE(s_.ips().in_use("10.96.0.6"));
}

}  // namespace
}  // namespace minik8s::apiserver
