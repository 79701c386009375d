// The Pod and Namespace strategies driven directly (no HTTP): default
// tolerations on create, graceful deletion, binding, the finalize
// subresource and Terminating marking; and the registry's wiring.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "default_tolerations.h"
#include "kinds.h"
#include "test/fakes/mem_storage.h"

namespace minik8s::apiserver {
namespace {

using nlohmann::json;

json pod(json spec = json::object()) {
  if (!spec.contains("containers")) spec["containers"] = {{{"name", "c"}, {"image", "busybox"}}};
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "p"}, {"namespace", "default"}}},
          {"spec", spec}};
}

json toleration(const char* key, int64_t s) {
  return {{"key", key}, {"operator", "Exists"}, {"effect", "NoExecute"}, {"tolerationSeconds", s}};
}

TEST(PodStrategyTest, PrepareForCreateAddsTheConfiguredTolerations) {
  PodStrategy s(7, 9);
  json p = pod();
  s.prepare_for_create(p);
  EXPECT_EQ(p["spec"]["tolerations"],
            json::array({toleration(kNotReadyTaintKey, 7), toleration(kUnreachableTaintKey, 9)}));
  // The pod's own toleration for a key stays and is not doubled.
  json own = toleration(kUnreachableTaintKey, 1);
  json q = pod({{"tolerations", json::array({own})}});
  s.prepare_for_create(q);
  EXPECT_EQ(q["spec"]["tolerations"], json::array({own, toleration(kNotReadyTaintKey, 7)}));
  PodStrategy off(-1, -1);
  json r = pod();
  off.prepare_for_create(r);
  EXPECT_FALSE(r["spec"].contains("tolerations")) << r.dump();
}

TEST(PodStrategyTest, GracefulDeletionOnlyForBoundUnfinishedPods) {
  PodStrategy s(30, 30);
  EXPECT_EQ(s.deletion_grace(pod(), std::nullopt), 0);  // unbound: nothing to wait for
  json bound = pod({{"nodeName", "n1"}});
  EXPECT_EQ(s.deletion_grace(bound, std::nullopt), 30);  // the default
  bound["spec"]["terminationGracePeriodSeconds"] = 5;
  EXPECT_EQ(s.deletion_grace(bound, std::nullopt), 5);
  EXPECT_EQ(s.deletion_grace(bound, 2), 2);  // the request wins
  EXPECT_EQ(s.deletion_grace(bound, -3), 0);
  bound["status"] = {{"phase", "Succeeded"}};
  EXPECT_EQ(s.deletion_grace(bound, std::nullopt), 0);

  json terminating = pod({{"nodeName", "n1"}});
  terminating["metadata"]["deletionGracePeriodSeconds"] = 5;
  EXPECT_TRUE(s.awaits_termination(terminating));
  terminating["metadata"]["deletionGracePeriodSeconds"] = 0;
  EXPECT_FALSE(s.awaits_termination(terminating));
  json unbound = pod();
  unbound["metadata"]["deletionGracePeriodSeconds"] = 5;
  EXPECT_FALSE(s.awaits_termination(unbound));
}

TEST(PodStrategyTest, BindSetsTheNodeAndPodScheduledOnce) {
  PodStrategy s(30, 30);
  EXPECT_TRUE(s.serves_subresource("binding"));
  EXPECT_FALSE(s.serves_subresource("finalize"));
  json p = pod();
  p["status"] = {{"conditions", json::array({{{"type", "PodScheduled"}, {"status", "False"}}})}};
  json bound;
  ASSERT_TRUE(s.bind("p", "n1", p, bound).is_ok());
  EXPECT_EQ(bound["spec"]["nodeName"], "n1");
  ASSERT_EQ(bound["status"]["conditions"].size(), 1u);
  EXPECT_EQ(bound["status"]["conditions"][0]["status"], "True");
  json again;
  Status st = s.bind("p", "n2", bound, again);
  EXPECT_EQ(st.code(), Code::kConflict);
  EXPECT_EQ(st.message(), "pod p is already assigned to node \"n1\"");
  json deleting = pod();
  deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  EXPECT_EQ(s.bind("p", "n1", deleting, again).code(), Code::kConflict);
}

TEST(NamespaceStrategyTest, CreateDeleteAndFinalize) {
  NamespaceStrategy s;
  json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "x"}}}};
  s.prepare_for_create(ns);
  EXPECT_EQ(ns["spec"]["finalizers"], json::array({"kubernetes"}));
  EXPECT_EQ(ns["status"]["phase"], "Active");
  EXPECT_TRUE(s.has_spec_finalizers(ns));
  EXPECT_FALSE(s.allows_delete_collection());
  EXPECT_EQ(s.check_delete("kube-system").code(), Code::kForbidden);
  EXPECT_TRUE(s.check_delete("x").is_ok());

  json marked = ns;
  ASSERT_EQ(s.mark_for_deletion(ns, marked), DeleteMark::kMarked);
  EXPECT_EQ(marked["status"]["phase"], "Terminating");
  EXPECT_TRUE(marked["metadata"].contains("deletionTimestamp"));
  json again = marked;
  EXPECT_EQ(s.mark_for_deletion(marked, again), DeleteMark::kAlreadyMarked);

  // finalize writes spec.finalizers only.
  json desired = marked;
  desired["spec"]["finalizers"] = json::array();
  desired["metadata"]["labels"] = {{"a", "b"}};
  json next = s.scope_subresource_write("finalize", marked, desired);
  EXPECT_EQ(next["spec"]["finalizers"], json::array());
  EXPECT_FALSE(next["metadata"].contains("labels"));
  EXPECT_FALSE(s.has_spec_finalizers(next));
}

TEST(KindRegistryTest, WiresTheStrategiesAndDefaultsTheRest) {
  testing::MemStorage store;
  ApiServerOptions opts;
  auto r = make_kind_registry(store, opts, std::move(IpAllocator::create("10.96.0.0/24").value()));
  const api::ResourceType* pods = api::find_kind("v1", "Pod");
  const api::ResourceType* cms = api::find_kind("v1", "ConfigMap");
  ASSERT_NE(pods, nullptr);
  ASSERT_NE(cms, nullptr);
  EXPECT_NE(dynamic_cast<PodStrategy*>(&r->strategy(*pods)), nullptr);
  KindStrategy& plain = r->strategy(*cms);
  EXPECT_TRUE(plain.allows_delete_collection());
  EXPECT_FALSE(plain.serves_subresource("binding"));
  EXPECT_EQ(r->kind_serving("binding"), pods);
  EXPECT_EQ(r->kind_serving("finalize"), api::find_kind("v1", "Namespace"));
  EXPECT_EQ(r->restoring_kinds(),
            std::vector<const api::ResourceType*>{api::find_kind("v1", "Service")});
  // The namespace gate reads the store: "default" does not exist here.
  EXPECT_EQ(r->admit_content("default").code(), Code::kNotFound);
}

}  // namespace
}  // namespace minik8s::apiserver
