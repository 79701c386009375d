// GarbageCollector against a real in-process ApiServer: owners are
// ConfigMaps (a Deployment stand-in) and ReplicaSets, dependents pods. Pods
// are never bound here, so a delete removes them at once unless a finalizer
// holds them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "minik8s/controllers/controllers.h"
#include "test/fakes/controller_fixture.h"

namespace minik8s::controllers {
namespace {

using api::Json;
using testing_support::ApiFixture;
using namespace std::chrono_literals;

constexpr const char* kNs = "default";

class GarbageCollectorTest : public ApiFixture {
 protected:
  void TearDown() override {
    gc_.reset();
    ApiFixture::TearDown();
  }
  void start(std::vector<std::string> kinds = {}) {
    gc_ = std::make_unique<GarbageCollector>(*client_, GarbageCollectorOptions{std::move(kinds)});
    Status st = gc_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }

  const api::ResourceType& pods() { return kind("v1", "Pod"); }
  const api::ResourceType& cms() { return kind("v1", "ConfigMap"); }
  const api::ResourceType& sets() { return kind("apps/v1", "ReplicaSet"); }

  static Json ref(const Json& owner, bool block = true) {
    return {{"apiVersion", owner["apiVersion"]},
            {"kind", owner["kind"]},
            {"name", owner["metadata"]["name"]},
            {"uid", owner["metadata"]["uid"]},
            {"controller", true},
            {"blockOwnerDeletion", block}};
  }
  Json make_cm(const std::string& name) {
    Json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}, {"namespace", kNs}}}};
    auto r = client_->create(cms(), cm);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r ? *r : Json();
  }
  Json make_rs(const std::string& name, const Json& owner) {
    Json rs = {{"apiVersion", "apps/v1"},
               {"kind", "ReplicaSet"},
               {"metadata", {{"name", name}, {"namespace", kNs}, {"ownerReferences", {ref(owner)}}}},
               {"spec",
                {{"replicas", 0},
                 {"selector", {{"matchLabels", {{"app", name}}}}},
                 {"template",
                  {{"metadata", {{"labels", {{"app", name}}}}},
                   {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox:1.36"}}}}}}}}}}};
    auto r = client_->create(sets(), rs);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r ? *r : Json();
  }
  Json make_pod(const std::string& name, Json owner_refs, Json finalizers = nullptr) {
    Json p = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", kNs}, {"ownerReferences", owner_refs}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox:1.36"}}}}}}};
    if (!finalizers.is_null()) p["metadata"]["finalizers"] = finalizers;
    auto r = client_->create(pods(), p);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r ? *r : Json();
  }
  bool exists(const api::ResourceType& t, const std::string& name) {
    auto r = client_->get(t, kNs, name);
    return r.is_ok();
  }
  Json get(const api::ResourceType& t, const std::string& name) {
    auto r = client_->get(t, kNs, name);
    return r ? *r : Json();
  }
  void remove(const api::ResourceType& t, const std::string& name, const std::string& policy) {
    Json opts = {{"propagationPolicy", policy}};
    auto r = client_->remove(t, kNs, name, &opts);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  void drop_finalizers(const std::string& pod) {
    auto r = client_->patch(pods(), kNs, pod, client::PatchType::kMerge, {{"metadata", {{"finalizers", nullptr}}}});
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }

  std::unique_ptr<GarbageCollector> gc_;
};

TEST_F(GarbageCollectorTest, BackgroundDeletesDependentsOfADeletedOwner) {
  start();  // every kind
  Json cm = make_cm("owner");
  make_pod("d1", {ref(cm)});
  make_pod("d2", {ref(cm, false)});
  Json other = make_cm("other");
  make_pod("keep", {ref(other)});
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(exists(pods(), "d1"));  // owners alive: nothing happens
  remove(cms(), "owner", "Background");
  EXPECT_FALSE(exists(cms(), "owner"));  // background: the owner goes first
  EXPECT_TRUE(eventually([&] { return !exists(pods(), "d1") && !exists(pods(), "d2"); }));
  EXPECT_TRUE(exists(pods(), "keep"));
}

TEST_F(GarbageCollectorTest, DependentCreatedForAGoneOwnerIsCollected) {
  start({"v1/Pod", "v1/ConfigMap"});
  Json cm = make_cm("owner");
  Json stale = ref(cm);
  ASSERT_TRUE(client_->remove(cms(), kNs, "owner").is_ok());
  make_pod("late", {stale});
  EXPECT_TRUE(eventually([&] { return !exists(pods(), "late"); }));
  // Same name, new uid: a reference to the old uid is dangling too.
  Json again = make_cm("owner");
  make_pod("late2", {stale});
  EXPECT_TRUE(eventually([&] { return !exists(pods(), "late2"); }));
  EXPECT_TRUE(exists(cms(), "owner"));
}

TEST_F(GarbageCollectorTest, OneOfTwoOwnersGoneDropsOnlyThatReference) {
  start({"v1/Pod", "v1/ConfigMap"});
  Json a = make_cm("a");
  Json b = make_cm("b");
  Json rb = ref(b);
  rb["controller"] = false;
  make_pod("shared", {ref(a), rb});
  remove(cms(), "a", "Background");
  EXPECT_TRUE(eventually([&] {
    Json p = get(pods(), "shared");
    return p.is_object() && p["metadata"]["ownerReferences"].size() == 1 &&
           p["metadata"]["ownerReferences"][0]["uid"] == b["metadata"]["uid"];
  }));
}

TEST_F(GarbageCollectorTest, OrphanKeepsDependentsAndStripsTheirReferences) {
  start({"v1/Pod", "v1/ConfigMap"});
  Json cm = make_cm("owner");
  Json other = make_cm("other");
  Json ro = ref(other);
  ro["controller"] = false;
  make_pod("o1", {ref(cm)});
  make_pod("o2", {ref(cm), ro});
  remove(cms(), "owner", "Orphan");
  EXPECT_TRUE(eventually([&] { return !exists(cms(), "owner"); }));
  Json p1 = get(pods(), "o1");
  ASSERT_TRUE(p1.is_object());
  EXPECT_FALSE(p1["metadata"].contains("ownerReferences"));
  Json p2 = get(pods(), "o2");
  ASSERT_TRUE(p2.is_object());
  ASSERT_EQ(p2["metadata"]["ownerReferences"].size(), 1u);
  EXPECT_EQ(p2["metadata"]["ownerReferences"][0]["name"], "other");
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(exists(pods(), "o1"));  // and nothing collects them later
}

TEST_F(GarbageCollectorTest, ForegroundChainWaitsForBlockingDependents) {
  start({"v1/Pod", "v1/ConfigMap", "apps/v1/ReplicaSet"});
  // Deployment-like owner (ConfigMap) → ReplicaSet → pods; one pod held by
  // its own finalizer so that the chain must wait for it.
  Json top = make_cm("deploy");
  Json rs = make_rs("web", top);
  make_pod("p1", {ref(rs)});
  make_pod("held", {ref(rs)}, Json::array({"example.com/hold"}));
  remove(cms(), "deploy", "Foreground");
  // p1 goes; the held pod is terminating; ReplicaSet and owner wait.
  ASSERT_TRUE(eventually([&] { return !exists(pods(), "p1"); }));
  ASSERT_TRUE(eventually([&] { return get(pods(), "held")["metadata"].contains("deletionTimestamp"); }));
  std::this_thread::sleep_for(300ms);
  Json owner = get(cms(), "deploy");
  ASSERT_TRUE(owner.is_object());
  EXPECT_TRUE(owner["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(owner["metadata"]["finalizers"], Json::array({"foregroundDeletion"}));
  Json set = get(sets(), "web");
  ASSERT_TRUE(set.is_object());
  EXPECT_TRUE(set["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(set["metadata"]["finalizers"], Json::array({"foregroundDeletion"}));
  // The last blocking dependent goes: the whole chain finishes.
  drop_finalizers("held");
  EXPECT_TRUE(eventually([&] { return !exists(pods(), "held"); }));
  EXPECT_TRUE(eventually([&] { return !exists(sets(), "web"); }));
  EXPECT_TRUE(eventually([&] { return !exists(cms(), "deploy"); }));
}

TEST_F(GarbageCollectorTest, ForegroundWithNonBlockingDependentFinishesThenCollectsIt) {
  start({"v1/Pod", "v1/ConfigMap"});
  Json cm = make_cm("owner");
  make_pod("loose", {ref(cm, false)}, Json::array({"example.com/hold"}));
  remove(cms(), "owner", "Foreground");
  // Not blocking: the owner does not wait for it...
  EXPECT_TRUE(eventually([&] { return !exists(cms(), "owner"); }));
  // ...and it is collected afterwards as an orphan of a gone owner.
  EXPECT_TRUE(eventually([&] { return get(pods(), "loose")["metadata"].contains("deletionTimestamp"); }));
  drop_finalizers("loose");
  EXPECT_TRUE(eventually([&] { return !exists(pods(), "loose"); }));
}

TEST_F(GarbageCollectorTest, UnknownKindIsRefused) {
  gc_ = std::make_unique<GarbageCollector>(*client_, GarbageCollectorOptions{{"v1/NoSuchKind"}});
  EXPECT_EQ(gc_->start().code(), Code::kBadRequest);
}

}  // namespace
}  // namespace minik8s::controllers
