// mkctl rollout: kubectl's status lines, history table, undo patch, and the
// command's errors against a server that is not there.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "rollout_format.h"
#include "workload_cmds.h"

namespace minik8s::cli {
namespace {

client::HttpRestClientOptions server_at(const std::string& url) {
  client::HttpRestClientOptions o;
  o.server = url;
  return o;
}

using api::Json;

Json deploy(int64_t generation, Json status, int replicas = 3) {
  return {{"metadata", {{"name", "web"}, {"uid", "u1"}, {"generation", generation}, {"annotations", {{"a", "b"}}}}},
          {"spec",
           {{"replicas", replicas},
            {"template",
             {{"metadata", {{"labels", {{"app", "web"}}}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", "v2"}}}}}}}}}},
          {"status", status}};
}

Json rs(const std::string& name, const std::string& revision, const std::string& image, const std::string& owner = "u1",
        const std::string& cause = "") {
  Json r = {{"metadata",
             {{"name", name},
              {"annotations", {{"deployment.kubernetes.io/revision", revision}}},
              {"ownerReferences", {{{"kind", "Deployment"}, {"uid", owner}, {"controller", true}}}}}},
            {"spec",
             {{"template",
               {{"metadata", {{"labels", {{"app", "web"}, {"pod-template-hash", name.substr(4)}}}}},
                {"spec", {{"containers", {{{"name", "c"}, {"image", image}}}}}}}}}}};
  if (!cause.empty()) r["metadata"]["annotations"]["kubernetes.io/change-cause"] = cause;
  return r;
}

TEST(RolloutStatus, FollowsKubectlsStages) {
  EXPECT_EQ(rollout::deployment_status(deploy(2, {{"observedGeneration", 1}})).text,
            "Waiting for deployment spec update to be observed...\n");
  EXPECT_EQ(rollout::deployment_status(deploy(2, {{"observedGeneration", 2}, {"updatedReplicas", 1}, {"replicas", 4}})).text,
            "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...\n");
  EXPECT_EQ(rollout::deployment_status(deploy(2, {{"observedGeneration", 2}, {"updatedReplicas", 3}, {"replicas", 4}})).text,
            "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...\n");
  EXPECT_EQ(rollout::deployment_status(
                deploy(2, {{"observedGeneration", 2}, {"updatedReplicas", 3}, {"replicas", 3}, {"availableReplicas", 1}}))
                .text,
            "Waiting for deployment \"web\" rollout to finish: 1 of 3 updated replicas are available...\n");
  auto done = rollout::deployment_status(
      deploy(2, {{"observedGeneration", 2}, {"updatedReplicas", 3}, {"replicas", 3}, {"availableReplicas", 3}}));
  EXPECT_TRUE(done.done);
  EXPECT_EQ(done.text, "deployment \"web\" successfully rolled out\n");
  auto timed_out = rollout::deployment_status(
      deploy(2, {{"observedGeneration", 2},
                 {"conditions", {{{"type", "Progressing"}, {"status", "False"}, {"reason", "ProgressDeadlineExceeded"}}}}}));
  EXPECT_EQ(timed_out.error, "deployment \"web\" exceeded its progress deadline");
  EXPECT_FALSE(timed_out.done);
}

TEST(RolloutHistory, ListsOwnedRevisionsWithChangeCause) {
  std::vector<Json> all = {rs("web-bbb", "2", "v2", "u1", "kubectl set image"), rs("web-aaa", "1", "v1"),
                           rs("web-zzz", "9", "v9", "someone-else")};
  auto owned = rollout::owned_replica_sets(deploy(1, {}), all);
  ASSERT_EQ(owned.size(), 2u);
  EXPECT_EQ(rollout::history_table(owned),
            "REVISION  CHANGE-CAUSE\n"
            "1         <none>\n"
            "2         kubectl set image\n");
  std::string text;
  ASSERT_TRUE(rollout::revision_template(owned, 1, &text));
  EXPECT_NE(text.find("Image:      v1"), std::string::npos) << text;
  EXPECT_EQ(text.find("pod-template-hash"), std::string::npos) << text;
  EXPECT_FALSE(rollout::revision_template(owned, 7, &text));
}

TEST(RolloutUndo, PatchesTemplateAndAnnotationsLikeKubectl) {
  Json d = deploy(3, {});
  d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "2";
  std::vector<Json> owned = {rs("web-aaa", "1", "v1", "u1", "first"), rs("web-bbb", "2", "v2")};
  auto plan = rollout::plan_undo(d, owned, 0);
  ASSERT_TRUE(plan.error.empty()) << plan.error;
  EXPECT_FALSE(plan.skipped);
  EXPECT_EQ(plan.revision, 1);
  ASSERT_EQ(plan.patch.size(), 2u);
  EXPECT_EQ(plan.patch[0]["op"], "replace");
  EXPECT_EQ(plan.patch[0]["path"], "/spec/template");
  EXPECT_EQ(plan.patch[0]["value"]["spec"]["containers"][0]["image"], "v1");
  EXPECT_FALSE(plan.patch[0]["value"]["metadata"]["labels"].contains("pod-template-hash"));
  EXPECT_EQ(plan.patch[1]["path"], "/metadata/annotations");
  // The Deployment keeps its revision; the RS contributes its change cause
  // (and not its own revision).
  EXPECT_EQ(plan.patch[1]["value"]["deployment.kubernetes.io/revision"], "2");
  EXPECT_EQ(plan.patch[1]["value"]["kubernetes.io/change-cause"], "first");
  EXPECT_FALSE(plan.patch[1]["value"].contains("a"));

  EXPECT_TRUE(rollout::plan_undo(d, owned, 2).skipped);  // v2 is the current template
  EXPECT_EQ(rollout::plan_undo(d, owned, 5).error, "unable to find specified revision 5 in history");
  EXPECT_EQ(rollout::plan_undo(d, {owned[1]}, 0).error, "no rollout history found for deployment \"web\"");
  d["spec"]["paused"] = true;
  EXPECT_NE(rollout::plan_undo(d, owned, 0).error.find("cannot rollback a paused deployment"), std::string::npos);
}

TEST(RolloutCommand, RejectsOtherKindsAndReportsAnUnreachableServer) {
  std::ostringstream out, err;
  RolloutOptions o;
  o.action = "status";
  o.args = {"web"};
  EXPECT_EQ(run_rollout(server_at("http://127.0.0.1:1"), "default", o, out, err), 1);
  EXPECT_NE(err.str().find("deployment/web"), std::string::npos) << err.str();
  err.str("");
  o.args = {"deployment/web"};
  EXPECT_EQ(run_rollout(server_at("http://127.0.0.1:1"), "default", o, out, err), 1);
  EXPECT_NE(err.str().find("error"), std::string::npos);
  EXPECT_EQ(out.str(), "");
}

}  // namespace
}  // namespace minik8s::cli
