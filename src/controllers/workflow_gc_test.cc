// A deleted Workflow takes its WorkflowRuns with it: the API server gives
// every run a controller ownerReference to its Workflow
// (src/apiserver/kinds/workflow_strategy.cc) and the GarbageCollector does
// the rest, in the background and in the foreground.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "minik8s/controllers/controllers.h"
#include "test/fakes/controller_fixture.h"

namespace minik8s::controllers {
namespace {

using api::Json;
using testing_support::ApiFixture;

constexpr const char* kNs = "default";

class WorkflowGcTest : public ApiFixture {
 protected:
  void SetUp() override {
    ApiFixture::SetUp();
    gc_ = std::make_unique<GarbageCollector>(
        *client_, GarbageCollectorOptions{{"serverless.minik8s.io/v1/Workflow", "serverless.minik8s.io/v1/WorkflowRun"}});
    Status st = gc_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
  void TearDown() override {
    gc_.reset();
    ApiFixture::TearDown();
  }
  const api::ResourceType& workflows() { return kind("serverless.minik8s.io/v1", "Workflow"); }
  const api::ResourceType& runs() { return kind("serverless.minik8s.io/v1", "WorkflowRun"); }

  void make_workflow(const std::string& name) {
    Json w = {{"apiVersion", "serverless.minik8s.io/v1"},
              {"kind", "Workflow"},
              {"metadata", {{"name", name}, {"namespace", kNs}}},
              {"spec", {{"startAt", "A"}, {"states", {{"A", {{"type", "Pass"}, {"end", true}}}}}}}};
    auto r = client_->create(workflows(), w);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  std::string make_run(const std::string& workflow) {
    Json r = {{"apiVersion", "serverless.minik8s.io/v1"},
              {"kind", "WorkflowRun"},
              {"metadata", {{"generateName", workflow + "-"}, {"namespace", kNs}}},
              {"spec", {{"workflow", workflow}}}};
    auto created = client_->create(runs(), r);
    EXPECT_TRUE(created.is_ok()) << created.status().to_string();
    return created ? (*created)["metadata"]["name"].get<std::string>() : "";
  }
  bool exists(const api::ResourceType& t, const std::string& name) { return client_->get(t, kNs, name).is_ok(); }
  void remove(const std::string& workflow, const std::string& policy) {
    Json opts = {{"propagationPolicy", policy}};
    auto r = client_->remove(workflows(), kNs, workflow, &opts);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }

  std::unique_ptr<GarbageCollector> gc_;
};

TEST_F(WorkflowGcTest, DeletingAWorkflowDeletesItsRuns) {
  make_workflow("classify");
  make_workflow("keep");
  std::string r1 = make_run("classify"), r2 = make_run("classify"), other = make_run("keep");
  remove("classify", "Background");
  EXPECT_TRUE(eventually([&] { return !exists(runs(), r1) && !exists(runs(), r2); }));
  EXPECT_TRUE(exists(runs(), other));
  EXPECT_TRUE(exists(workflows(), "keep"));
}

TEST_F(WorkflowGcTest, ForegroundDeletionWaitsForTheRuns) {
  make_workflow("classify");
  std::string r1 = make_run("classify");
  remove("classify", "Foreground");
  // The runs block the owner's deletion (blockOwnerDeletion): both go.
  EXPECT_TRUE(eventually([&] { return !exists(runs(), r1) && !exists(workflows(), "classify"); }));
}

}  // namespace
}  // namespace minik8s::controllers
