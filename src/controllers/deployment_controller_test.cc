// DeploymentController against a real in-process ApiServer. The test plays
// the ReplicaSet controller: it writes RS status (replicas / ready /
// available) the way that controller would once pods are up.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "deployment_util.h"
#include "minik8s/controllers/controllers.h"
#include "test/fakes/controller_fixture.h"

namespace minik8s::controllers {
namespace {

using api::Json;
using testing_support::ApiFixture;
using namespace std::chrono_literals;
namespace du = deployment;

constexpr const char* kNs = "default";

// ---- pure helpers

TEST(DeploymentUtil, HashUsesTheSafeAlphabetAndIgnoresTheHashLabel) {
  Json t = {{"metadata", {{"labels", {{"app", "web"}}}}}, {"spec", {{"containers", {{{"name", "c"}, {"image", "a"}}}}}}};
  std::string h = du::template_hash(t, 0);
  ASSERT_FALSE(h.empty());
  for (char c : h) EXPECT_NE(std::string("bcdfghjklmnpqrstvwxz2456789").find(c), std::string::npos) << h;
  Json with_label = t;
  with_label["metadata"]["labels"][du::kHashLabel] = h;
  EXPECT_EQ(du::template_hash(with_label, 0), h);
  EXPECT_NE(du::template_hash(t, 1), h);  // collisionCount changes the name
  Json other = t;
  other["spec"]["containers"][0]["image"] = "b";
  EXPECT_NE(du::template_hash(other, 0), h);
  EXPECT_EQ(du::fnv1a32("a"), 0xe40c292cu);  // the FNV-1a test vector
}

TEST(DeploymentUtil, TemplatesEqualAfterKubectlRoundTrip) {
  Json stored = {{"metadata", {{"labels", {{"app", "web"}, {du::kHashLabel, "abc"}}}}},
                 {"spec", {{"containers", {{{"name", "c"}, {"image", "a"}}}}}}};
  // What kubectl rollout undo sends back.
  Json sent = {{"metadata", {{"creationTimestamp", nullptr}, {"labels", {{"app", "web"}}}}},
               {"spec", {{"containers", {{{"name", "c"}, {"image", "a"}, {"resources", Json::object()}}}}}}};
  EXPECT_TRUE(du::equal_ignore_hash(stored, sent));
  sent["spec"]["containers"][0]["image"] = "b";
  EXPECT_FALSE(du::equal_ignore_hash(stored, sent));
}

TEST(DeploymentUtil, FencepostsRoundSurgeUpAndUnavailableDown) {
  auto d = [](int replicas, Json surge, Json unavail) {
    return Json{{"spec",
                 {{"replicas", replicas},
                  {"strategy", {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", surge}, {"maxUnavailable", unavail}}}}}}}};
  };
  EXPECT_EQ(du::max_surge(d(10, "25%", "25%")), 3);
  EXPECT_EQ(du::max_unavailable(d(10, "25%", "25%")), 2);
  EXPECT_EQ(du::max_surge(d(3, 1, 0)), 1);
  EXPECT_EQ(du::max_unavailable(d(3, 1, 0)), 0);
  EXPECT_EQ(du::max_unavailable(d(3, 0, 0)), 1);      // both zero → 1 unavailable
  EXPECT_EQ(du::max_unavailable(d(2, 0, 5)), 2);      // capped at replicas
  EXPECT_EQ(du::max_unavailable(d(3, "10%", "10%")), 0);
  EXPECT_EQ(du::max_surge(d(3, "10%", "10%")), 1);
  Json recreate = {{"spec", {{"replicas", 3}, {"strategy", {{"type", "Recreate"}}}}}};
  EXPECT_EQ(du::max_surge(recreate), 0);
  EXPECT_EQ(du::max_unavailable(recreate), 0);
}

// ---- the controller

class DeploymentControllerTest : public ApiFixture {
 protected:
  void TearDown() override {
    ctrl_.reset();
    ApiFixture::TearDown();
  }
  void start() {
    ctrl_ = std::make_unique<DeploymentController>(*client_);
    Status st = ctrl_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
  const api::ResourceType& deploys() { return kind("apps/v1", "Deployment"); }
  const api::ResourceType& rses() { return kind("apps/v1", "ReplicaSet"); }

  static Json deployment(const std::string& name, int replicas, const std::string& image, Json strategy = nullptr) {
    Json d = {{"apiVersion", "apps/v1"},
              {"kind", "Deployment"},
              {"metadata", {{"name", name}, {"namespace", kNs}}},
              {"spec",
               {{"replicas", replicas},
                {"selector", {{"matchLabels", {{"app", name}}}}},
                {"template",
                 {{"metadata", {{"labels", {{"app", name}}}}},
                  {"spec", {{"containers", {{{"name", "c"}, {"image", image}}}}}}}}}}};
    if (!strategy.is_null()) d["spec"]["strategy"] = strategy;
    return d;
  }
  void create(const Json& d) {
    auto r = client_->create(deploys(), d);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  Json get(const std::string& name) {
    auto r = client_->get(deploys(), kNs, name);
    return r ? *r : Json();
  }
  void patch(const std::string& name, const Json& p, client::PatchType t = client::PatchType::kMerge,
             const std::string& sub = "") {
    auto r = client_->patch(deploys(), kNs, name, t, p, sub);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  void set_image(const std::string& name, const std::string& image) {
    patch(name, Json::parse(R"({"spec":{"template":{"spec":{"containers":[{"name":"c","image":")" + image + R"("}]}}}})"));
  }
  // The Deployment's ReplicaSets by name.
  std::map<std::string, Json> rs_of(const std::string& name) {
    std::map<std::string, Json> out;
    auto r = client_->list(rses(), kNs);
    if (!r) return out;
    for (const auto& rs : (*r)["items"]) {
      if (rs["metadata"]["name"].get<std::string>().rfind(name + "-", 0) == 0) out[rs["metadata"]["name"]] = rs;
    }
    return out;
  }
  static std::string image_of(const Json& rs) {
    return rs["spec"]["template"]["spec"]["containers"][0]["image"].get<std::string>();
  }
  // Plays the ReplicaSet controller for one RS: all its pods up at once,
  // or (available=false) created but never available.
  void settle(const Json& rs, bool available = true, int64_t replicas = -1) {
    int64_t n = replicas >= 0 ? replicas : du::spec_replicas(rs);
    Json status = {{"replicas", n},
                   {"readyReplicas", available ? n : 0},
                   {"availableReplicas", available ? n : 0},
                   {"observedGeneration", rs["metadata"]["generation"]}};
    auto r = client_->patch(rses(), kNs, rs["metadata"]["name"].get<std::string>(), client::PatchType::kMerge,
                            {{"status", status}}, "status");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  static const Json* condition(const Json& d, const std::string& type) {
    if (!d.contains("status") || !d["status"].contains("conditions")) return nullptr;
    for (const auto& c : d["status"]["conditions"]) {
      if (c["type"] == type) return &c;
    }
    return nullptr;
  }
  std::string progressing_reason(const std::string& name) {
    Json d = get(name);
    const Json* c = condition(d, "Progressing");
    return c ? (*c)["reason"].get<std::string>() : "";
  }
  bool complete(const std::string& name) {
    Json d = get(name);
    if (!d.is_object()) return false;
    const Json& s = d["status"];
    auto gi = [&](const char* k) { return s.contains(k) ? s[k].get<int64_t>() : 0; };
    int64_t want = d["spec"]["replicas"].get<int64_t>();
    return s.value("observedGeneration", 0) >= d["metadata"]["generation"].get<int64_t>() &&
           gi("updatedReplicas") == want && gi("replicas") == want && gi("availableReplicas") == want;
  }

  std::unique_ptr<DeploymentController> ctrl_;
};

TEST_F(DeploymentControllerTest, CreatesOneOwnedReplicaSetPerTemplate) {
  start();
  create(deployment("web", 3, "nginx:1"));
  std::map<std::string, Json> rs;
  ASSERT_TRUE(eventually([&] { return (rs = rs_of("web")).size() == 1; }));
  const Json& r = rs.begin()->second;
  std::string hash = r["metadata"]["labels"][du::kHashLabel].get<std::string>();
  EXPECT_EQ(r["metadata"]["name"], "web-" + hash);
  EXPECT_EQ(hash, du::template_hash(get("web")["spec"]["template"], 0));
  EXPECT_EQ(r["spec"]["selector"]["matchLabels"][du::kHashLabel], hash);
  EXPECT_EQ(r["spec"]["template"]["metadata"]["labels"][du::kHashLabel], hash);
  EXPECT_EQ(r["spec"]["replicas"], 3);
  EXPECT_EQ(r["metadata"]["annotations"][du::kRevisionAnnotation], "1");
  EXPECT_EQ(r["metadata"]["annotations"][du::kDesiredReplicasAnnotation], "3");
  EXPECT_EQ(r["metadata"]["annotations"][du::kMaxReplicasAnnotation], "4");  // 25% of 3 rounds up to 1
  ASSERT_TRUE(r["metadata"]["ownerReferences"].is_array());
  EXPECT_EQ(r["metadata"]["ownerReferences"][0]["kind"], "Deployment");
  EXPECT_EQ(r["metadata"]["ownerReferences"][0]["uid"], get("web")["metadata"]["uid"]);
  EXPECT_EQ(r["metadata"]["ownerReferences"][0]["controller"], true);

  EXPECT_TRUE(eventually([&] { return progressing_reason("web") == "NewReplicaSetCreated"; }));
  settle(r);
  ASSERT_TRUE(eventually([&] { return complete("web"); }));
  EXPECT_TRUE(eventually([&] { return progressing_reason("web") == "NewReplicaSetAvailable"; }));
  Json web = get("web");
  const Json* avail = condition(web, "Available");
  ASSERT_NE(avail, nullptr);
  EXPECT_EQ((*avail)["status"], "True");
  EXPECT_EQ((*avail)["reason"], "MinimumReplicasAvailable");

  // The ScalingReplicaSet event on the Deployment.
  auto evs = client_->list(kind("v1", "Event"), kNs);
  ASSERT_TRUE(evs.is_ok());
  bool found = false;
  for (const auto& e : (*evs)["items"]) {
    if (e["reason"] == "ScalingReplicaSet" && e["involvedObject"]["name"] == "web" &&
        e["message"] == "Scaled up replica set web-" + hash + " to 3") {
      found = true;
    }
  }
  EXPECT_TRUE(found) << evs->dump();
}

TEST_F(DeploymentControllerTest, RollingUpdateStaysWithinSurgeAndAvailability) {
  start();
  Json strategy = {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxSurge", 1}, {"maxUnavailable", 0}}}};
  create(deployment("roll", 3, "v1", strategy));
  ASSERT_TRUE(eventually([&] { return rs_of("roll").size() == 1; }));
  settle(rs_of("roll").begin()->second);
  ASSERT_TRUE(eventually([&] { return complete("roll"); }));

  set_image("roll", "v2");
  // Play the RS controller step by step, checking the bounds at every step.
  int steps = 0;
  bool saw_both = false;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!complete("roll") || rs_of("roll").size() != 2 ||
         du::spec_replicas(rs_of("roll").begin()->second) + du::spec_replicas(std::next(rs_of("roll").begin())->second) != 3) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "rollout did not finish";
    auto all = rs_of("roll");
    int64_t total = 0, available = 0, v1 = 0, v2 = 0;
    for (auto& [n, rs] : all) {
      total += du::spec_replicas(rs);
      available += std::min(du::spec_replicas(rs), du::status_int(rs, "availableReplicas"));
      (image_of(rs) == "v1" ? v1 : v2) += du::spec_replicas(rs);
    }
    EXPECT_LE(total, 4) << "more than replicas + maxSurge";
    EXPECT_GE(available, 3) << "fewer than replicas - maxUnavailable available";
    if (v1 > 0 && v2 > 0) saw_both = true;
    // Bring up (or down) the first RS whose status lags its spec.
    for (auto& [n, rs] : all) {
      if (du::status_int(rs, "availableReplicas") != du::spec_replicas(rs) ||
          du::status_int(rs, "replicas") != du::spec_replicas(rs)) {
        settle(rs);
        ++steps;
        break;
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(saw_both);
  EXPECT_GE(steps, 3);
  auto all = rs_of("roll");
  for (auto& [n, rs] : all) {
    if (image_of(rs) == "v1") {
      EXPECT_EQ(du::spec_replicas(rs), 0);
      EXPECT_EQ(rs["metadata"]["annotations"][du::kRevisionAnnotation], "1");
    } else {
      EXPECT_EQ(du::spec_replicas(rs), 3);
      EXPECT_EQ(rs["metadata"]["annotations"][du::kRevisionAnnotation], "2");
    }
  }
}

// Drives a rollout to completion, settling every RS as soon as it changes.
class SettlingDeploymentTest : public DeploymentControllerTest {
 protected:
  bool drive(const std::string& name, std::chrono::milliseconds limit = 10s) {
    return eventually(
        [&] {
          for (auto& [n, rs] : rs_of(name)) {
            if (du::status_int(rs, "availableReplicas") != du::spec_replicas(rs) ||
                du::status_int(rs, "replicas") != du::spec_replicas(rs)) {
              settle(rs);
            }
          }
          return complete(name);
        },
        limit);
  }
};

TEST_F(SettlingDeploymentTest, UndoReusesTheOldReplicaSetWithTheNextRevision) {
  start();
  create(deployment("undo", 2, "v1"));
  ASSERT_TRUE(eventually([&] { return rs_of("undo").size() == 1; }));
  ASSERT_TRUE(drive("undo"));
  std::string v1_name = rs_of("undo").begin()->first;
  set_image("undo", "v2");
  ASSERT_TRUE(eventually([&] { return rs_of("undo").size() == 2; }));
  ASSERT_TRUE(drive("undo"));
  ASSERT_TRUE(eventually([&] { return du::spec_replicas(rs_of("undo")[v1_name]) == 0; }));

  // What kubectl rollout undo sends: the old template without the hash,
  // with creationTimestamp: null and resources: {}.
  Json tmpl = rs_of("undo")[v1_name]["spec"]["template"];
  tmpl["metadata"]["labels"].erase(du::kHashLabel);
  tmpl["metadata"]["creationTimestamp"] = nullptr;
  tmpl["spec"]["containers"][0]["resources"] = Json::object();
  patch("undo", Json::array({{{"op", "replace"}, {"path", "/spec/template"}, {"value", tmpl}}}), client::PatchType::kJson);
  ASSERT_TRUE(eventually([&] { return du::spec_replicas(rs_of("undo")[v1_name]) >= 1; }));
  ASSERT_TRUE(drive("undo"));
  auto all = rs_of("undo");
  EXPECT_EQ(all.size(), 2u) << "undo must not create a third ReplicaSet";
  EXPECT_EQ(all[v1_name]["metadata"]["annotations"][du::kRevisionAnnotation], "3");
}

TEST_F(SettlingDeploymentTest, RecreateScalesOldToZeroBeforeCreatingTheNew) {
  start();
  create(deployment("rec", 2, "v1", {{"type", "Recreate"}}));
  ASSERT_TRUE(eventually([&] { return rs_of("rec").size() == 1; }));
  ASSERT_TRUE(drive("rec"));
  std::string v1_name = rs_of("rec").begin()->first;
  set_image("rec", "v2");
  ASSERT_TRUE(eventually([&] { return du::spec_replicas(rs_of("rec")[v1_name]) == 0; }));
  // The old pods are still there (status.replicas 2): no new ReplicaSet yet.
  std::this_thread::sleep_for(300ms);  // give a wrong controller the chance to create it
  EXPECT_EQ(rs_of("rec").size(), 1u);
  settle(rs_of("rec")[v1_name], true, 0);  // the old pods are gone
  ASSERT_TRUE(eventually([&] { return rs_of("rec").size() == 2; }));
  ASSERT_TRUE(drive("rec"));
  for (auto& [n, rs] : rs_of("rec")) EXPECT_EQ(du::spec_replicas(rs), n == v1_name ? 0 : 2);
}

TEST_F(SettlingDeploymentTest, RevisionHistoryLimitDeletesTheOldestIdleReplicaSets) {
  start();
  Json d = deployment("hist", 1, "v1");
  d["spec"]["revisionHistoryLimit"] = 1;
  create(d);
  for (const char* img : {"v2", "v3", "v4"}) {
    ASSERT_TRUE(eventually([&] { return !rs_of("hist").empty(); }));
    ASSERT_TRUE(drive("hist"));
    set_image("hist", img);
    ASSERT_TRUE(eventually([&] {
      for (auto& [n, rs] : rs_of("hist")) {
        if (image_of(rs) == img) return true;
      }
      return false;
    }));
  }
  ASSERT_TRUE(drive("hist"));
  std::map<std::string, Json> all;
  ASSERT_TRUE(eventually([&] { return (all = rs_of("hist")).size() == 2; })) << all.size();
  std::set<std::string> images;
  for (auto& [n, rs] : all) images.insert(image_of(rs));
  EXPECT_EQ(images, (std::set<std::string>{"v3", "v4"}));
}

TEST_F(SettlingDeploymentTest, ProgressDeadlineExceededWhenTheNewPodsNeverBecomeAvailable) {
  start();
  Json d = deployment("stuck", 2, "v1");
  d["spec"]["progressDeadlineSeconds"] = 1;
  create(d);
  ASSERT_TRUE(eventually([&] { return !rs_of("stuck").empty(); }));
  ASSERT_TRUE(drive("stuck"));
  set_image("stuck", "does-not-exist");
  ASSERT_TRUE(eventually([&] { return rs_of("stuck").size() == 2; }));
  for (auto& [n, rs] : rs_of("stuck")) {
    if (image_of(rs) == "does-not-exist") settle(rs, false);  // pods exist, never ready
  }
  ASSERT_TRUE(eventually([&] { return progressing_reason("stuck") == "ProgressDeadlineExceeded"; }, 8s));
  Json stuck = get("stuck");
  const Json* c = condition(stuck, "Progressing");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ((*c)["status"], "False");
  EXPECT_NE((*c)["message"].get<std::string>().find("has timed out progressing"), std::string::npos);
  // The old pods stay: maxUnavailable 25% of 2 rounds down to 0.
  for (auto& [n, rs] : rs_of("stuck")) {
    if (image_of(rs) == "v1") {
      EXPECT_EQ(du::spec_replicas(rs), 2);
    }
  }
}

TEST_F(SettlingDeploymentTest, PausedRollsOutNothingButScalesAndResumes) {
  start();
  create(deployment("p", 2, "v1"));
  ASSERT_TRUE(eventually([&] { return !rs_of("p").empty(); }));
  ASSERT_TRUE(drive("p"));
  patch("p", {{"spec", {{"paused", true}}}});
  ASSERT_TRUE(eventually([&] { return progressing_reason("p") == "DeploymentPaused"; }));
  set_image("p", "v2");
  // Scaling through the scale subresource still works while paused.
  patch("p", {{"spec", {{"replicas", 4}}}}, client::PatchType::kMerge, "scale");
  ASSERT_TRUE(eventually([&] { return du::spec_replicas(rs_of("p").begin()->second) == 4; }));
  EXPECT_EQ(rs_of("p").size(), 1u);
  EXPECT_EQ(image_of(rs_of("p").begin()->second), "v1");
  patch("p", {{"spec", {{"paused", false}}}});
  ASSERT_TRUE(eventually([&] { return rs_of("p").size() == 2; }));
  ASSERT_TRUE(drive("p"));
  for (auto& [n, rs] : rs_of("p")) EXPECT_EQ(du::spec_replicas(rs), image_of(rs) == "v2" ? 4 : 0);
}

}  // namespace
}  // namespace minik8s::controllers
