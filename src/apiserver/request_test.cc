#include "request.h"

#include <gtest/gtest.h>

#include "minik8s/util/base64.h"

namespace minik8s::apiserver {
namespace {

TEST(RequestTest, ParsesCorePaths) {
  auto ri = parse_path("/api/v1/namespaces/default/pods/web-1/status");
  EXPECT_EQ(ri.path, PathKind::kResource);
  ASSERT_NE(ri.type, nullptr);
  EXPECT_EQ(ri.type->kind, "Pod");
  EXPECT_EQ(ri.ns, "default");
  EXPECT_EQ(ri.name, "web-1");
  EXPECT_EQ(ri.subresource, "status");

  auto all = parse_path("/api/v1/pods");
  ASSERT_NE(all.type, nullptr);
  EXPECT_TRUE(all.ns.empty());
  EXPECT_TRUE(all.name.empty());

  auto ns = parse_path("/api/v1/namespaces/kube-system");
  ASSERT_NE(ns.type, nullptr);
  EXPECT_EQ(ns.type->kind, "Namespace");
  EXPECT_EQ(ns.name, "kube-system");
  EXPECT_TRUE(ns.ns.empty());

  auto fin = parse_path("/api/v1/namespaces/x/finalize");
  ASSERT_NE(fin.type, nullptr);
  EXPECT_EQ(fin.name, "x");
  EXPECT_EQ(fin.subresource, "finalize");
}

TEST(RequestTest, ParsesGroupPathsAndDiscovery) {
  auto ri = parse_path("/apis/apps/v1/namespaces/d/deployments/web/scale");
  ASSERT_NE(ri.type, nullptr);
  EXPECT_EQ(ri.type->kind, "Deployment");
  EXPECT_EQ(ri.subresource, "scale");
  EXPECT_EQ(parse_path("/api").path, PathKind::kApiVersions);
  EXPECT_EQ(parse_path("/apis").path, PathKind::kApiGroups);
  EXPECT_EQ(parse_path("/apis/apps/v1").path, PathKind::kResourceList);
  EXPECT_EQ(parse_path("/api/v1/").path, PathKind::kResourceList);
  EXPECT_EQ(parse_path("/api/v1/namespaces/d/frobs").type, nullptr);
  EXPECT_EQ(parse_path("/nope").path, PathKind::kUnknown);
  // A cluster-scoped kind under a namespace is not a resource.
  EXPECT_EQ(parse_path("/api/v1/namespaces/d/nodes/n1").type, nullptr);
  auto w = parse_path("/api/v1/watch/namespaces/d/pods");
  EXPECT_TRUE(w.legacy_watch);
  ASSERT_NE(w.type, nullptr);
  EXPECT_EQ(w.ns, "d");
}

TEST(RequestTest, QueryDecoding) {
  auto q = parse_query("labelSelector=app%3Dweb%2Ctier+in+(a)&watch=1&x");
  EXPECT_EQ(q["labelSelector"], "app=web,tier in (a)");
  EXPECT_EQ(q["watch"], "1");
  EXPECT_TRUE(q.count("x"));
  EXPECT_EQ(url_decode(url_encode("a b/c=d")), "a b/c=d");
}

TEST(RequestTest, TableAcceptAndMediaType) {
  EXPECT_TRUE(wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"));
  EXPECT_TRUE(wants_table("application/json; as=Table; v=v1; g=meta.k8s.io"));
  EXPECT_FALSE(wants_table("application/json"));
  EXPECT_EQ(media_type("Application/Merge-Patch+JSON; charset=utf-8"),
            "application/merge-patch+json");
}

TEST(RequestTest, ContinueTokenRoundTripAndRejectsGarbage) {
  std::string tok = encode_continue({42, "/registry/pods/ns/b"});
  auto t = decode_continue(tok);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->revision, 42);
  EXPECT_EQ(t->start_after, "/registry/pods/ns/b");
  EXPECT_FALSE(decode_continue("!!!"));
  EXPECT_FALSE(decode_continue(base64_encode("{\"rv\":1}")));
  EXPECT_FALSE(decode_continue(base64_encode("{\"rv\":1,\"start\":\"/etc/passwd\"}")));
}

TEST(RequestTest, StorageKeys) {
  auto* pods = api::find_resource("", "v1", "pods");
  auto* deps = api::find_resource("apps", "v1", "deployments");
  auto* nodes = api::find_resource("", "v1", "nodes");
  ASSERT_TRUE(pods && deps && nodes);
  EXPECT_EQ(object_key(*pods, "ns", "a"), "/registry/pods/ns/a");
  EXPECT_EQ(object_key(*deps, "ns", "a"), "/registry/deployments.apps/ns/a");
  EXPECT_EQ(object_key(*nodes, "", "n1"), "/registry/nodes/n1");
  EXPECT_EQ(collection_prefix(*pods, ""), "/registry/pods/");
}

}  // namespace
}  // namespace minik8s::apiserver
