// PoolController against a real in-process ApiServer; the test plays the
// nodes (Node objects with a Ready condition) and finishes pod deletions.
#include <gtest/gtest.h>

#include "controller_test_support.h"
#include "minik8s/serverless/controllers.h"

namespace minik8s::serverless {
namespace {

using api::Json;
using namespace std::chrono_literals;
using testing_support::PodLoop;
using testing_support::ServerlessFixture;

class PoolControllerTest : public ServerlessFixture {
 protected:
  void TearDown() override {
    pool_.reset();
    loop_.reset();
    ServerlessFixture::TearDown();
  }
  void start(int size = 2) {
    PoolOptions o;
    o.pool_size = size;
    pool_ = std::make_unique<PoolController>(*client_, o);
    ASSERT_TRUE(pool_->start().is_ok());
  }
  // Live pool pods in ns, per node.
  std::map<std::string, int> pool_per_node(const std::string& ns) {
    std::map<std::string, int> out;
    for (const Json& p : live_pods(ns, std::string(kLabelPool) + "=true"))
      ++out[p["spec"].value("nodeName", "")];
    return out;
  }
  std::unique_ptr<PoolController> pool_;
  std::unique_ptr<PodLoop> loop_;
};

TEST_F(PoolControllerTest, NoPoolPodsWithoutFunctionsThenPerNodeAndNamespace) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  ASSERT_NO_FATAL_FAILURE(add_node("n2"));
  ASSERT_NO_FATAL_FAILURE(add_node("n3", /*ready=*/false));
  ASSERT_NO_FATAL_FAILURE(add_namespace("other"));
  loop_ = std::make_unique<PodLoop>(*client_);
  ASSERT_NO_FATAL_FAILURE(start(2));
  // A Function in "other" fills the pool there; when it exists, "default"
  // (no Function) must still have none: the first check is not vacuous.
  ASSERT_NO_FATAL_FAILURE(
      create_function(function("other", "f1", "def handler(e, c): return 1\n")));
  ASSERT_TRUE(eventually([&] {
    return pool_per_node("other") == std::map<std::string, int>{{"n1", 2}, {"n2", 2}};
  })) << pool_per_node("other").size();
  EXPECT_TRUE(pool_per_node("default").empty());
  for (const Json& p : live_pods("other", std::string(kLabelPool) + "=true")) {
    EXPECT_EQ(p["spec"]["containers"][0]["image"], kRuntimeImage);
    EXPECT_FALSE(p["metadata"].contains("ownerReferences"));
    EXPECT_EQ(p["metadata"]["generateName"], "pool-");
  }

  // A second namespace with a Function gets its own pool.
  ASSERT_NO_FATAL_FAILURE(
      create_function(function("default", "f2", "def handler(e, c): return 2\n")));
  ASSERT_TRUE(eventually([&] {
    return pool_per_node("default") == std::map<std::string, int>{{"n1", 2}, {"n2", 2}};
  }));

  // A node turning Ready gets pods; one turning NotReady loses them.
  ASSERT_NO_FATAL_FAILURE(set_node_ready("n3", true));
  ASSERT_NO_FATAL_FAILURE(set_node_ready("n1", false));
  ASSERT_TRUE(eventually([&] {
    return pool_per_node("default") == std::map<std::string, int>{{"n2", 2}, {"n3", 2}};
  }));
  ASSERT_TRUE(eventually([&] {
    return pool_per_node("other") == std::map<std::string, int>{{"n2", 2}, {"n3", 2}};
  }));

  // The last Function of a namespace gone: its pool goes; the other stays.
  auto r = client_->remove(functions(), "other", "f1");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_TRUE(eventually([&] { return pool_per_node("other").empty(); }));
  EXPECT_EQ(pool_per_node("default"), (std::map<std::string, int>{{"n2", 2}, {"n3", 2}}));
}

// Pool pods run the python3 image: a namespace whose Functions are all
// python3-ml keeps no pool; a runtime change adds or removes it.
TEST_F(PoolControllerTest, OnlyPython3FunctionsMakeAPool) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  ASSERT_NO_FATAL_FAILURE(add_namespace("other"));
  loop_ = std::make_unique<PodLoop>(*client_);
  ASSERT_NO_FATAL_FAILURE(start(2));
  Json ml = function("default", "ml", "def handler(e, c): return 1\n");
  ml["spec"]["runtime"] = "python3-ml";
  ASSERT_NO_FATAL_FAILURE(create_function(ml));
  // A python3 Function elsewhere fills its pool: by then "default" would
  // have one too if the ML function asked for it.
  ASSERT_NO_FATAL_FAILURE(
      create_function(function("other", "f", "def handler(e, c): return 2\n")));
  ASSERT_TRUE(eventually(
      [&] { return pool_per_node("other") == std::map<std::string, int>{{"n1", 2}}; }));
  EXPECT_TRUE(pool_per_node("default").empty());

  ASSERT_NO_FATAL_FAILURE(
      update_function("default", "ml", [](Json& f) { f["spec"]["runtime"] = "python3"; }));
  ASSERT_TRUE(eventually(
      [&] { return pool_per_node("default") == std::map<std::string, int>{{"n1", 2}}; }));
  ASSERT_NO_FATAL_FAILURE(
      update_function("default", "ml", [](Json& f) { f["spec"]["runtime"] = "python3-ml"; }));
  ASSERT_TRUE(eventually([&] { return pool_per_node("default").empty(); }));
  EXPECT_EQ(pool_per_node("other"), (std::map<std::string, int>{{"n1", 2}}));
}

TEST_F(PoolControllerTest, ExtrasAndFailedPodsAreReplacedToTheSize) {
  ASSERT_NO_FATAL_FAILURE(add_node("n1"));
  loop_ = std::make_unique<PodLoop>(*client_);
  ASSERT_NO_FATAL_FAILURE(
      create_function(function("default", "f", "def handler(e, c): return 1\n")));
  ASSERT_NO_FATAL_FAILURE(start(3));
  ASSERT_TRUE(eventually([&] {
    return pool_per_node("default") == std::map<std::string, int>{{"n1", 3}};
  }));
  // An extra pool pod made by hand is deleted.
  Json extra = {
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", "pool-extra"}, {"namespace", "default"}, {"labels", {{kLabelPool, "true"}}}}},
      {"spec",
       {{"nodeName", "n1"}, {"containers", {{{"name", "runtime"}, {"image", kRuntimeImage}}}}}}};
  ASSERT_TRUE(client_->create(pods(), extra, "default").is_ok());
  ASSERT_TRUE(eventually([&] {
    return pool_per_node("default") == std::map<std::string, int>{{"n1", 3}} &&
           live_pods("default", std::string(kLabelPool) + "=true").size() == 3;
  }));
  // A failed one is deleted and replaced.
  auto live = live_pods("default", std::string(kLabelPool) + "=true");
  ASSERT_EQ(live.size(), 3u);
  std::string victim = live[0]["metadata"]["name"];
  Json patch = {{"status", {{"phase", "Failed"}}}};
  ASSERT_TRUE(client_->patch(pods(), "default", victim, client::PatchType::kMerge, patch, "status")
                  .is_ok());
  ASSERT_TRUE(eventually([&] {
    auto now = live_pods("default", std::string(kLabelPool) + "=true");
    if (now.size() != 3) return false;
    for (const Json& p : now) {
      if (p["metadata"]["name"] == victim) return false;
    }
    return true;
  }));
}

}  // namespace
}  // namespace minik8s::serverless
