// The PLEG's relist diff against the in-memory FakeRuntime: new, changed
// and vanished sandboxes/containers mark their pod changed; other nodes'
// objects are not seen; a runtime error keeps the baseline.
#include "pleg.h"

#include <gtest/gtest.h>

#include "labels.h"
#include "test/fakes/fake_runtime.h"

namespace minik8s::kubelet {
namespace {

using testing::FakeRuntime;

class PlegTest : public ::testing::Test {
 protected:
  PlegTest() { runtime_.add_image("busybox:1.36"); }

  // A sandbox of pod uid on node, with one running container "app".
  std::pair<std::string, std::string> run_pod(const std::string& uid, const std::string& node = "node1") {
    cri::SandboxConfig sb;
    sb.name = "pod-" + uid;
    sb.namespace_ = "default";
    sb.uid = uid;
    sb.labels = {{kPodUidLabel, uid}, {kPodNameLabel, sb.name}, {kPodNamespaceLabel, "default"}, {kNodeLabel, node}};
    auto sid = runtime_.run_pod_sandbox(sb);
    EXPECT_TRUE(sid.is_ok());
    cri::ContainerConfig cc;
    cc.name = "app";
    cc.image = "busybox:1.36";
    cc.labels = sb.labels;
    cc.labels[kContainerNameLabel] = "app";
    auto cid = runtime_.create_container(*sid, cc, sb);
    EXPECT_TRUE(cid.is_ok());
    EXPECT_TRUE(runtime_.start_container(*cid).is_ok());
    return {*sid, *cid};
  }

  FakeRuntime runtime_;
  Pleg pleg_{runtime_, "node1", std::chrono::milliseconds(1000)};
};

TEST_F(PlegTest, FirstRelistSeesEverythingOfThisNodeAsChanged) {
  run_pod("u1");
  run_pod("u2");
  run_pod("other", "node2");
  auto r = pleg_.relist();
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->changed, (std::set<std::string>{"u1", "u2"}));
  ASSERT_EQ(r->pods.size(), 2u);
  EXPECT_EQ(r->pods.at("u1"), (std::pair<std::string, std::string>{"default", "pod-u1"}));
  EXPECT_EQ(r->containers.size(), 2u);
}

TEST_F(PlegTest, OnlyStateChangesAndDisappearancesCount) {
  auto [sb1, ct1] = run_pod("u1");
  auto [sb2, ct2] = run_pod("u2");
  ASSERT_TRUE(pleg_.relist().is_ok());
  auto quiet = pleg_.relist();
  ASSERT_TRUE(quiet.is_ok());
  EXPECT_TRUE(quiet->changed.empty());
  ASSERT_TRUE(runtime_.kill(ct1, 137));  // killed from outside
  auto r = pleg_.relist();
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->changed, (std::set<std::string>{"u1"}));
  ASSERT_TRUE(runtime_.stop_pod_sandbox(sb2).is_ok());
  ASSERT_TRUE(runtime_.remove_pod_sandbox(sb2).is_ok());  // its containers go with it
  r = pleg_.relist();
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->changed, (std::set<std::string>{"u2"}));
  EXPECT_EQ(r->pods.count("u2"), 0u);
}

TEST_F(PlegTest, RuntimeErrorKeepsTheBaseline) {
  run_pod("u1");
  ASSERT_TRUE(pleg_.relist().is_ok());
  runtime_.set_unavailable(true);
  EXPECT_FALSE(pleg_.relist().is_ok());
  runtime_.set_unavailable(false);
  run_pod("u2");
  auto r = pleg_.relist();
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->changed, (std::set<std::string>{"u2"}));
}

}  // namespace
}  // namespace minik8s::kubelet
