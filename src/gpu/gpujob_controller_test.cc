// GPUJobController against a real in-process ApiServer (test/fakes/
// controller_fixture.h). No kubelet: the tests write submitter pod status
// themselves (Pending with a waiting reason, Running, Failed), and pods are
// never bound, so a delete removes them at once. The GPUJob strategy that
// adds the finalizer at create is not assumed: jobs are created with it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "minik8s/controllers/controllers.h"
#include "minik8s/gpu/controller.h"
#include "test/fakes/controller_fixture.h"

namespace minik8s::gpu {
namespace {

using api::Json;
using controllers::testing_support::ApiFixture;
using namespace std::chrono_literals;

constexpr const char* kNs = "default";
constexpr const char* kServer = "http://127.0.0.1:6443";

class GPUJobControllerTest : public ApiFixture {
 protected:
  void TearDown() override {
    gc_.reset();
    ctl_.reset();
    ApiFixture::TearDown();
  }

  const api::ResourceType& jobs() { return kind("minik8s.io/v1", "GPUJob"); }
  const api::ResourceType& clusters() { return kind("minik8s.io/v1", "SlurmCluster"); }
  const api::ResourceType& pods() { return kind("v1", "Pod"); }
  const api::ResourceType& events() { return kind("v1", "Event"); }

  void start() {
    GPUJobControllerOptions o;
    o.server_url = kServer;
    ctl_ = std::make_unique<GPUJobController>(*client_, o);
    Status st = ctl_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
  void start_gc() {
    gc_ = std::make_unique<controllers::GarbageCollector>(
        *client_, controllers::GarbageCollectorOptions{{"v1/Pod", "minik8s.io/v1/GPUJob"}});
    Status st = gc_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }

  // spec over the fields the API requires (controller, auth).
  Json make_cluster(const std::string& name, Json spec = Json::object()) {
    Json full = {
        {"controller", {{"host", "127.0.0.1"}}},
        {"auth", {{"secretRef", {{"namespace", "kube-system"}, {"name", "slurm-munge"}}}}}};
    full.update(spec);
    Json c = {{"apiVersion", "minik8s.io/v1"},
              {"kind", "SlurmCluster"},
              {"metadata", {{"name", name}}},
              {"spec", full}};
    auto r = client_->create(clusters(), c);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r ? *r : Json();
  }
  Json make_job(const std::string& name, const std::string& cluster = "") {
    Json j = {
        {"apiVersion", "minik8s.io/v1"},
        {"kind", "GPUJob"},
        {"metadata", {{"name", name}, {"namespace", kNs}, {"finalizers", {kSlurmJobFinalizer}}}},
        {"spec", {{"run", "./matmul 64"}, {"slurm", {{"partition", "cpu"}}}}}};
    if (!cluster.empty()) j["spec"]["slurm"]["cluster"] = cluster;
    auto r = client_->create(jobs(), j);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r ? *r : Json();
  }
  Json get(const api::ResourceType& t, const std::string& name) {
    auto r = client_->get(t, t.namespaced ? kNs : "", name);
    return r ? *r : Json();
  }
  bool exists(const api::ResourceType& t, const std::string& name) {
    return client_->get(t, t.namespaced ? kNs : "", name).is_ok();
  }
  std::string status_of(const std::string& job, const char* key) {
    return api::sfield(api::field(get(jobs(), job), "status"), key);
  }
  // Merges `status` into the object's status through the status subresource.
  void patch_status(const api::ResourceType& t, const std::string& name, const Json& status) {
    auto r =
        client_->patch(t, kNs, name, client::PatchType::kMerge, {{"status", status}}, "status");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  std::vector<Json> submitter_pods() {
    client::ListOptions lo;
    lo.label_selector = kGpuJobLabel;
    auto r = client_->list(pods(), kNs, lo);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    std::vector<Json> out;
    if (r) {
      for (const Json& p : (*r)["items"]) out.push_back(p);
    }
    return out;
  }
  // Events on the job `name` with this reason.
  std::vector<Json> events_for(const std::string& name, const std::string& reason) {
    auto r = client_->list(events(), kNs);
    std::vector<Json> out;
    if (!r) return out;
    for (const Json& e : (*r)["items"]) {
      if (api::sfield(e["involvedObject"], "name") == name &&
          api::sfield(e["involvedObject"], "kind") == "GPUJob" &&
          api::sfield(e, "reason") == reason)
        out.push_back(e);
    }
    return out;
  }
  // Waits until the controller has reconciled at least `more` times since
  // `before` and its queue is empty: what it was going to do is done.
  void settle(uint64_t before, uint64_t more = 1) {
    ASSERT_TRUE(eventually([&] {
      auto m = ctl_->metrics();
      return m.reconcile_total >= before + more && m.workqueue_depth == 0;
    }));
  }
  uint64_t reconciles() { return ctl_->metrics().reconcile_total; }
  // A container status block for the submitter.
  static Json container_status(const Json& state) {
    return Json::array({{{"name", kSubmitterContainer},
                         {"image", kDefaultSubmitterImage},
                         {"ready", false},
                         {"restartCount", 0},
                         {"state", state}}});
  }
  void pod_running(const std::string& pod) {
    patch_status(pods(), pod,
                 {{"phase", "Running"},
                  {"containerStatuses",
                   container_status({{"running", {{"startedAt", "2026-12-07T18:00:00Z"}}}})}});
  }

  std::unique_ptr<GPUJobController> ctl_;
  std::unique_ptr<controllers::GarbageCollector> gc_;
};

TEST_F(GPUJobControllerTest, CreatesTheSubmitterPodInTheDocumentedShape) {
  make_cluster("default", {{"workDir", "/var/tmp/mk-gpuctl-test/work"},
                           {"submitterImage", "example.org/submitter:7"},
                           {"nodeSelector", {{"slurm", "login"}}}});
  Json job = make_job("matmul");
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(eventually([&] { return exists(pods(), "matmul-submitter"); }));
  Json pod = get(pods(), "matmul-submitter");
  // The ServiceAccount admission adds its kube-api-access volume to every
  // pod (docs/auth.md); what the controller wrote is the rest.
  auto drop_sa = [](Json& list) {
    Json kept = Json::array();
    for (const Json& v : list) {
      if (api::sfield(v, "name").rfind("kube-api-access-", 0) != 0) kept.push_back(v);
    }
    const bool had = kept.size() + 1 == list.size();
    list = kept;
    return had;
  };
  EXPECT_TRUE(drop_sa(pod["spec"]["volumes"]));
  EXPECT_TRUE(drop_sa(pod["spec"]["containers"][0]["volumeMounts"]));
  const Json& m = pod["metadata"];
  EXPECT_EQ(m["labels"], Json({{"minik8s.io/gpujob", "matmul"}}));
  ASSERT_EQ(m["ownerReferences"].size(), 1u);
  const Json& ref = m["ownerReferences"][0];
  EXPECT_EQ(ref["apiVersion"], "minik8s.io/v1");
  EXPECT_EQ(ref["kind"], "GPUJob");
  EXPECT_EQ(ref["name"], "matmul");
  EXPECT_EQ(ref["uid"], job["metadata"]["uid"]);
  EXPECT_EQ(ref["controller"], true);
  EXPECT_EQ(ref["blockOwnerDeletion"], true);
  const Json& spec = pod["spec"];
  EXPECT_EQ(spec["restartPolicy"], "OnFailure");
  EXPECT_EQ(spec["hostNetwork"], true);
  EXPECT_EQ(spec["nodeSelector"], Json({{"slurm", "login"}}));
  ASSERT_EQ(spec["containers"].size(), 1u);
  const Json& c = spec["containers"][0];
  EXPECT_EQ(c["name"], "submitter");
  EXPECT_EQ(c["image"], "example.org/submitter:7");
  EXPECT_EQ(c["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(c["command"], Json::array({"minik8s-submitter"}));
  Json env = Json::object();
  for (const Json& e : c["env"]) env[e["name"].get<std::string>()] = e["value"];
  EXPECT_EQ(env, Json({{"MINIK8S_SERVER", kServer},
                       {"GPUJOB_NAMESPACE", "default"},
                       {"GPUJOB_NAME", "matmul"}}));
  ASSERT_EQ(c["volumeMounts"].size(), 1u);
  EXPECT_EQ(c["volumeMounts"][0]["mountPath"], "/var/tmp/mk-gpuctl-test/work");
  ASSERT_EQ(spec["volumes"].size(), 1u);
  EXPECT_EQ(spec["volumes"][0]["name"], c["volumeMounts"][0]["name"]);
  EXPECT_EQ(spec["volumes"][0]["hostPath"],
            Json({{"path", "/var/tmp/mk-gpuctl-test/work"}, {"type", "DirectoryOrCreate"}}));

  ASSERT_TRUE(
      eventually([&] { return status_of("matmul", "submitterPod") == "matmul-submitter"; }));
  EXPECT_EQ(status_of("matmul", "phase"), "Pending");
  EXPECT_EQ(status_of("matmul", "reason"), "SubmitterNotRunning");
  EXPECT_TRUE(eventually([&] { return !events_for("matmul", "SubmitterCreated").empty(); }));
}

// docs/gpu.md "The submitter's rights": a ServiceAccount per namespace,
// bound to the submitter roles, and a Role for the one munge key Secret.
TEST_F(GPUJobControllerTest, TheSubmitterRunsAsItsServiceAccountWithLeastRights) {
  make_cluster("default");
  make_job("matmul");
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(eventually([&] { return exists(pods(), "matmul-submitter"); }));
  EXPECT_EQ(get(pods(), "matmul-submitter")["spec"]["serviceAccountName"],
            kSubmitterServiceAccount);
  const auto& rb = kind("rbac.authorization.k8s.io/v1", "RoleBinding");
  const auto& crb = kind("rbac.authorization.k8s.io/v1", "ClusterRoleBinding");
  const auto& role = kind("rbac.authorization.k8s.io/v1", "Role");
  EXPECT_TRUE(exists(kind("v1", "ServiceAccount"), kSubmitterServiceAccount));
  const Json sa = {{"apiGroup", ""},
                   {"kind", "ServiceAccount"},
                   {"name", kSubmitterServiceAccount},
                   {"namespace", kNs}};
  Json b = get(rb, kSubmitterServiceAccount);
  EXPECT_EQ(b["roleRef"]["kind"], "ClusterRole");
  EXPECT_EQ(b["roleRef"]["name"], kSubmitterRole);
  EXPECT_EQ(b["subjects"], Json::array({sa}));
  Json cb = get(crb, kSubmitterClusterRole);
  EXPECT_EQ(cb["roleRef"]["name"], kSubmitterClusterRole);
  EXPECT_EQ(cb["subjects"], Json::array({sa}));
  const std::string secret_role = std::string(kSubmitterServiceAccount) + "-default";
  auto r = client_->get(role, "kube-system", secret_role);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ((*r)["rules"], Json::parse(R"([{"apiGroups":[""],"resources":["secrets"],)"
                                       R"("resourceNames":["slurm-munge"],"verbs":["get"]}])"));
  auto sb = client_->get(rb, "kube-system", secret_role);
  ASSERT_TRUE(sb.is_ok()) << sb.status().to_string();
  EXPECT_EQ((*sb)["roleRef"]["kind"], "Role");
  EXPECT_EQ((*sb)["subjects"], Json::array({sa}));

  // A job in another namespace adds its ServiceAccount to the shared bindings.
  Json other = {{"apiVersion", "minik8s.io/v1"},
                {"kind", "GPUJob"},
                {"metadata", {{"name", "j2"}, {"namespace", "team"}}},
                {"spec", {{"run", "./x"}, {"slurm", {{"partition", "cpu"}}}}}};
  auto ns = client_->create(
      kind("v1", "Namespace"),
      {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team"}}}});
  ASSERT_TRUE(ns.is_ok()) << ns.status().to_string();
  ASSERT_TRUE(client_->create(jobs(), other, "team").is_ok());
  ASSERT_TRUE(eventually([&] { return client_->get(pods(), "team", "j2-submitter").is_ok(); }));
  EXPECT_EQ(get(crb, kSubmitterClusterRole)["subjects"].size(), 2u);
  EXPECT_EQ((*client_->get(rb, "kube-system", secret_role))["subjects"].size(), 2u);
  EXPECT_TRUE(client_->get(rb, "team", kSubmitterServiceAccount).is_ok());
}

TEST_F(GPUJobControllerTest, DefaultImageAndWorkDirWhenTheClusterSetsNone) {
  Json job = {{"metadata", {{"name", "j"}, {"namespace", "team"}, {"uid", "u-1"}}}};
  Json pod = submitter_pod(job, Json::object(),
                           GPUJobControllerOptions{"http://10.0.0.1:6443", "", "Never", 1});
  EXPECT_EQ(pod["metadata"]["name"], "j-submitter");
  EXPECT_EQ(pod["metadata"]["namespace"], "team");
  const Json& c = pod["spec"]["containers"][0];
  EXPECT_EQ(c["image"], kDefaultSubmitterImage);
  EXPECT_EQ(c["imagePullPolicy"], "Never");
  EXPECT_EQ(c["env"][0]["value"], "http://10.0.0.1:6443");
  EXPECT_EQ(pod["spec"]["volumes"][0]["hostPath"]["path"], kDefaultSlurmWorkDir);
  EXPECT_FALSE(pod["spec"].contains("nodeSelector"));
}

TEST_F(GPUJobControllerTest, OnePodPerJobUnderRepeatedReconciles) {
  make_cluster("default");
  make_job("a");
  make_job("b");
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(eventually([&] { return submitter_pods().size() == 2; }));
  const std::string uid_a = get(pods(), "a-submitter")["metadata"]["uid"];
  // Job and cluster changes, a pod status change: each a reconcile of a.
  for (int i = 0; i < 5; ++i) {
    uint64_t before = reconciles();
    auto r = client_->patch(jobs(), kNs, "a", client::PatchType::kMerge,
                            {{"metadata", {{"annotations", {{"poke", std::to_string(i)}}}}}});
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    auto c = client_->patch(clusters(), "", "default", client::PatchType::kMerge,
                            {{"metadata", {{"annotations", {{"poke", std::to_string(i)}}}}}});
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    ASSERT_NO_FATAL_FAILURE(settle(before, 2));
  }
  EXPECT_EQ(submitter_pods().size(), 2u);
  EXPECT_EQ(get(pods(), "a-submitter")["metadata"]["uid"], uid_a);
  EXPECT_EQ(events_for("a", "SubmitterCreated").size(), 1u);
}

TEST_F(GPUJobControllerTest, NoSlurmClusterIsPendingUntilOneIsCreated) {
  make_job("lonely", "hpc");
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(eventually([&] { return status_of("lonely", "reason") == "SlurmClusterNotFound"; }));
  Json st = get(jobs(), "lonely")["status"];
  EXPECT_EQ(st["phase"], "Pending");
  EXPECT_NE(api::sfield(st, "message").find("SlurmCluster \"hpc\" not found"), std::string::npos)
      << st.dump();
  ASSERT_EQ(st["conditions"].size(), 1u);
  EXPECT_EQ(st["conditions"][0]["type"], "Submitted");
  EXPECT_EQ(st["conditions"][0]["status"], "False");
  EXPECT_EQ(st["conditions"][0]["reason"], "SlurmClusterNotFound");
  EXPECT_TRUE(eventually([&] { return !events_for("lonely", "SlurmClusterNotFound").empty(); }));
  EXPECT_EQ(events_for("lonely", "SlurmClusterNotFound")[0]["type"], "Warning");
  EXPECT_TRUE(submitter_pods().empty());
  // A cluster of another name changes nothing; the named one brings the pod.
  make_cluster("default");
  make_cluster("hpc");
  ASSERT_TRUE(eventually([&] { return exists(pods(), "lonely-submitter"); }));
  ASSERT_TRUE(eventually([&] { return status_of("lonely", "reason") == "SubmitterNotRunning"; }));
  EXPECT_EQ(submitter_pods().size(), 1u);
}

TEST_F(GPUJobControllerTest, WaitingReasonsShowWhilePendingAndClearOnceRunning) {
  make_cluster("default");
  make_job("w");
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(eventually([&] { return exists(pods(), "w-submitter"); }));
  ASSERT_NO_FATAL_FAILURE(patch_status(
      pods(), "w-submitter",
      {{"phase", "Pending"},
       {"containerStatuses",
        container_status(
            {{"waiting", {{"reason", "ErrImagePull"}, {"message", "image not found"}}}})}}));
  ASSERT_TRUE(eventually([&] { return status_of("w", "reason") == "ErrImagePull"; }));
  EXPECT_EQ(status_of("w", "phase"), "Pending");
  EXPECT_EQ(status_of("w", "message"), "submitter pod w-submitter: image not found");
  EXPECT_TRUE(eventually([&] { return !events_for("w", "ErrImagePull").empty(); }));

  ASSERT_NO_FATAL_FAILURE(pod_running("w-submitter"));
  ASSERT_TRUE(eventually([&] { return status_of("w", "reason").empty(); }));
  Json st = get(jobs(), "w")["status"];
  EXPECT_EQ(st["phase"], "Pending");
  EXPECT_EQ(st["submitterPod"], "w-submitter");
  EXPECT_EQ(st["conditions"][0]["reason"], "SubmitterRunning");

  // Once the submitter has submitted, a crash loop is not the controller's to report.
  ASSERT_NO_FATAL_FAILURE(patch_status(jobs(), "w", {{"phase", "Running"}, {"jobId", "42"}}));
  uint64_t before = reconciles();
  ASSERT_NO_FATAL_FAILURE(patch_status(
      pods(), "w-submitter",
      {{"containerStatuses", container_status({{"waiting", {{"reason", "CrashLoopBackOff"}}}})}}));
  ASSERT_NO_FATAL_FAILURE(settle(before));
  EXPECT_EQ(status_of("w", "phase"), "Running");
  EXPECT_EQ(status_of("w", "reason"), "");
}

TEST_F(GPUJobControllerTest, FailedSubmitterPodFailsTheJob) {
  make_cluster("default");
  make_job("f");
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(eventually([&] { return exists(pods(), "f-submitter"); }));
  ASSERT_NO_FATAL_FAILURE(patch_status(jobs(), "f", {{"phase", "Queued"}, {"jobId", "7"}}));
  ASSERT_NO_FATAL_FAILURE(
      patch_status(pods(), "f-submitter",
                   {{"phase", "Failed"},
                    {"containerStatuses",
                     container_status({{"terminated", {{"exitCode", 3}, {"reason", "Error"}}}})}}));
  ASSERT_TRUE(eventually([&] { return status_of("f", "phase") == "Failed"; }));
  Json st = get(jobs(), "f")["status"];
  EXPECT_EQ(st["reason"], "SubmitterFailed");
  const std::string msg = st["message"];
  EXPECT_NE(msg.find("submitter pod f-submitter failed: exit code 3 (Error)"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("scancel 7"), std::string::npos) << msg;
  EXPECT_FALSE(api::sfield(st, "endTime").empty());
  bool failed_cond = false;
  for (const Json& c : st["conditions"]) {
    failed_cond |=
        c["type"] == "Failed" && c["status"] == "True" && c["reason"] == "SubmitterFailed";
  }
  EXPECT_TRUE(failed_cond) << st.dump();
  EXPECT_TRUE(eventually([&] { return !events_for("f", "SubmitterFailed").empty(); }));
  // Terminal: the pod going away brings no new one.
  uint64_t before = reconciles();
  ASSERT_TRUE(client_->remove(pods(), kNs, "f-submitter").is_ok());
  ASSERT_NO_FATAL_FAILURE(settle(before));
  EXPECT_FALSE(exists(pods(), "f-submitter"));
  EXPECT_EQ(status_of("f", "phase"), "Failed");
}

TEST_F(GPUJobControllerTest, TerminalJobGetsNoPod) {
  make_cluster("default");
  make_job("done");
  ASSERT_NO_FATAL_FAILURE(patch_status(jobs(), "done", {{"phase", "Completed"}, {"jobId", "5"}}));
  make_job("next");  // a job after it in the queue: proves the controller ran
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(eventually([&] { return exists(pods(), "next-submitter"); }));
  ASSERT_NO_FATAL_FAILURE(settle(0, 2));
  EXPECT_FALSE(exists(pods(), "done-submitter"));
  EXPECT_EQ(status_of("done", "phase"), "Completed");
}

TEST_F(GPUJobControllerTest, DeletionWithoutJobIdRemovesTheFinalizer) {
  make_cluster("default");
  make_job("d");
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(eventually([&] { return exists(pods(), "d-submitter"); }));
  ASSERT_NO_FATAL_FAILURE(pod_running("d-submitter"));
  ASSERT_TRUE(client_->remove(jobs(), kNs, "d").is_ok());
  ASSERT_TRUE(eventually([&] { return !exists(jobs(), "d"); }));
  EXPECT_TRUE(events_for("d", "SlurmJobNotCancelled").empty());
}

TEST_F(GPUJobControllerTest, DeletionOfATerminalJobRemovesTheFinalizer) {
  make_cluster("default");
  make_job("t");
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(eventually([&] { return exists(pods(), "t-submitter"); }));
  ASSERT_NO_FATAL_FAILURE(pod_running("t-submitter"));
  ASSERT_NO_FATAL_FAILURE(patch_status(jobs(), "t", {{"phase", "Completed"}, {"jobId", "9"}}));
  ASSERT_TRUE(client_->remove(jobs(), kNs, "t").is_ok());
  ASSERT_TRUE(eventually([&] { return !exists(jobs(), "t"); }));
  EXPECT_TRUE(events_for("t", "SlurmJobNotCancelled").empty());
}

TEST_F(GPUJobControllerTest, DeletionWithARunningSubmitterIsLeftToIt) {
  make_cluster("default");
  make_job("r");
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(eventually([&] { return exists(pods(), "r-submitter"); }));
  ASSERT_NO_FATAL_FAILURE(pod_running("r-submitter"));
  ASSERT_NO_FATAL_FAILURE(patch_status(jobs(), "r", {{"phase", "Running"}, {"jobId", "11"}}));
  uint64_t before = reconciles();
  ASSERT_TRUE(client_->remove(jobs(), kNs, "r").is_ok());
  ASSERT_NO_FATAL_FAILURE(settle(before));
  Json job = get(jobs(), "r");
  ASSERT_FALSE(job.is_null());
  EXPECT_FALSE(api::field(job["metadata"], "deletionTimestamp").is_null());
  EXPECT_EQ(job["metadata"]["finalizers"], Json::array({kSlurmJobFinalizer}));
  // The submitter removes it (as the real one does after scancel).
  auto r = client_->patch(jobs(), kNs, "r", client::PatchType::kMerge,
                          {{"metadata", {{"finalizers", nullptr}}}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_TRUE(eventually([&] { return !exists(jobs(), "r"); }));
  EXPECT_TRUE(events_for("r", "SlurmJobNotCancelled").empty());
}

TEST_F(GPUJobControllerTest, DeletionWithoutARunningSubmitterWarnsAndRemovesTheFinalizer) {
  make_cluster("default");
  make_job("x");
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(eventually([&] { return exists(pods(), "x-submitter"); }));
  ASSERT_NO_FATAL_FAILURE(pod_running("x-submitter"));
  ASSERT_NO_FATAL_FAILURE(patch_status(jobs(), "x", {{"phase", "Queued"}, {"jobId", "12"}}));
  uint64_t before = reconciles();
  ASSERT_TRUE(client_->remove(jobs(), kNs, "x").is_ok());
  ASSERT_NO_FATAL_FAILURE(settle(before));
  ASSERT_TRUE(exists(jobs(), "x"));  // held while the submitter runs
  // The submitter crash-loops: nobody can cancel; the controller lets go.
  ASSERT_NO_FATAL_FAILURE(patch_status(
      pods(), "x-submitter",
      {{"containerStatuses", container_status({{"waiting", {{"reason", "CrashLoopBackOff"}}}})}}));
  ASSERT_TRUE(eventually([&] { return !exists(jobs(), "x"); }));
  ASSERT_TRUE(eventually([&] { return !events_for("x", "SlurmJobNotCancelled").empty(); }));
  Json e = events_for("x", "SlurmJobNotCancelled")[0];
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["message"], "Slurm job 12 may still run; cancel it with scancel 12");
}

TEST_F(GPUJobControllerTest, SubmitterPodIsCollectedWithItsJob) {
  make_cluster("default");
  make_job("g");
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(start_gc());
  ASSERT_TRUE(eventually([&] { return exists(pods(), "g-submitter"); }));
  ASSERT_TRUE(client_->remove(jobs(), kNs, "g").is_ok());
  ASSERT_TRUE(eventually([&] { return !exists(jobs(), "g"); }));
  ASSERT_TRUE(eventually([&] { return !exists(pods(), "g-submitter"); }));
  EXPECT_TRUE(submitter_pods().empty());
}

TEST_F(GPUJobControllerTest, CancelBeforeSubmissionWithoutASubmitterCancels) {
  make_job("nocluster", "hpc");
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(
      eventually([&] { return status_of("nocluster", "reason") == "SlurmClusterNotFound"; }));
  auto r = client_->patch(jobs(), kNs, "nocluster", client::PatchType::kMerge,
                          {{"spec", {{"cancel", true}}}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_TRUE(eventually([&] { return status_of("nocluster", "phase") == "Cancelled"; }));
  EXPECT_EQ(status_of("nocluster", "message"), "cancelled before submission");
  EXPECT_FALSE(status_of("nocluster", "endTime").empty());
  EXPECT_TRUE(eventually([&] { return !events_for("nocluster", "Cancelled").empty(); }));
  // Terminal: a cluster appearing now brings no pod.
  uint64_t before = reconciles();
  make_cluster("hpc");
  ASSERT_NO_FATAL_FAILURE(settle(before));
  EXPECT_TRUE(submitter_pods().empty());
}

TEST_F(GPUJobControllerTest, CancelWithAScheduledSubmitterIsLeftToIt) {
  make_cluster("default");
  make_job("k");
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(eventually([&] { return exists(pods(), "k-submitter"); }));
  // Bound to a node and starting (the kubelet would run it): the submitter cancels.
  Json binding = {{"apiVersion", "v1"},
                  {"kind", "Binding"},
                  {"metadata", {{"name", "k-submitter"}, {"namespace", kNs}}},
                  {"target", {{"kind", "Node"}, {"name", "node-1"}}}};
  auto b = client_->rest().request("POST", "/api/v1/namespaces/default/pods/k-submitter/binding",
                                   binding.dump(), "application/json");
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  ASSERT_LT(b->status, 300) << b->body;
  ASSERT_TRUE(eventually(
      [&] { return !api::sfield(get(pods(), "k-submitter")["spec"], "nodeName").empty(); }));
  uint64_t before = reconciles();
  auto r =
      client_->patch(jobs(), kNs, "k", client::PatchType::kMerge, {{"spec", {{"cancel", true}}}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_NO_FATAL_FAILURE(settle(before));
  EXPECT_EQ(status_of("k", "phase"), "Pending");
  // Stuck on its image: nobody can act on the cancel but the controller.
  ASSERT_NO_FATAL_FAILURE(patch_status(
      pods(), "k-submitter",
      {{"phase", "Pending"},
       {"containerStatuses", container_status({{"waiting", {{"reason", "ImagePullBackOff"}}}})}}));
  ASSERT_TRUE(eventually([&] { return status_of("k", "phase") == "Cancelled"; }));
}

TEST_F(GPUJobControllerTest, OneEventPerStuckSpell) {
  make_cluster("default");
  make_job("s");
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(eventually([&] { return exists(pods(), "s-submitter"); }));
  for (const char* reason :
       {"ErrImagePull", "ImagePullBackOff", "ErrImagePull", "ImagePullBackOff"}) {
    ASSERT_NO_FATAL_FAILURE(patch_status(
        pods(), "s-submitter",
        {{"phase", "Pending"},
         {"containerStatuses", container_status({{"waiting", {{"reason", reason}}}})}}));
    ASSERT_TRUE(eventually([&] { return status_of("s", "reason") == reason; }));
  }
  ASSERT_TRUE(eventually([&] { return events_for("s", "ErrImagePull").size() == 1; }));
  EXPECT_TRUE(events_for("s", "ImagePullBackOff").empty());
}

TEST_F(GPUJobControllerTest, PodOfTheSameNameNotOwnedIsAConflict) {
  make_cluster("default");
  Json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", "c-submitter"}, {"namespace", kNs}}},
            {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox:1.36"}}}}}}};
  ASSERT_TRUE(client_->create(pods(), p).is_ok());
  make_job("c");
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_TRUE(eventually([&] { return status_of("c", "reason") == "SubmitterPodConflict"; }));
  EXPECT_TRUE(get(pods(), "c-submitter")["metadata"]["ownerReferences"].is_null());
  EXPECT_EQ(status_of("c", "phase"), "Pending");
}

}  // namespace
}  // namespace minik8s::gpu
