// NamespaceController against a real in-process ApiServer: deleting a
// Namespace makes it Terminating; the controller empties it through the API
// and then finalizes it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "minik8s/client/informer_factory.h"
#include "minik8s/controllers/controllers.h"
#include "test/fakes/controller_fixture.h"

namespace minik8s::controllers {
namespace {

using api::Json;
using testing_support::ApiFixture;
using namespace std::chrono_literals;

// One object of a manifest: its kind (core v1) and name.
struct Item {
  std::string kind;  // "Pod", "ConfigMap", ...
  std::string name;
};

class NamespaceControllerTest : public ApiFixture {
 protected:
  void TearDown() override {
    ctrl_.reset();
    ApiFixture::TearDown();
  }

  void start(NamespaceOptions o = {}) {
    ctrl_ = std::make_unique<NamespaceController>(*client_, o);
    Status st = ctrl_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }

  static Json object(const std::string& k, const std::string& ns, const std::string& name) {
    Json o = {{"apiVersion", "v1"}, {"kind", k}, {"metadata", {{"name", name}}}};
    if (k != "Namespace") o["metadata"]["namespace"] = ns;
    if (k == "Pod") o["spec"] = {{"containers", {{{"name", "c"}, {"image", "nginx:1.25"}}}}};
    if (k == "ConfigMap") o["data"] = {{"k", "v"}};
    if (k == "Secret") o["stringData"] = {{"k", "v"}};
    if (k == "Service") o["spec"] = {{"selector", {{"app", name}}}, {"ports", {{{"port", 80}}}}};
    return o;
  }

  void create(const std::string& k, const std::string& ns, const std::string& name,
              Json extra = Json::object()) {
    Json o = object(k, ns, name);
    o.merge_patch(extra);
    auto r = client_->create(kind("v1", k.c_str()), o, ns);
    ASSERT_TRUE(r.is_ok()) << k << " " << name << ": " << r.status().to_string();
  }

  // HTTP code of a raw request (0 on a transport error).
  int http(const std::string& method, const std::string& path, const std::string& body = "") {
    auto r = client_->rest().request(method, path, body);
    return r ? r->status : 0;
  }
  std::string path(const std::string& k, const std::string& ns, const std::string& name) {
    return client::Client::path(kind("v1", k.c_str()), k == "Namespace" ? "" : ns, name);
  }
  bool gone(const std::string& k, const std::string& ns, const std::string& name) {
    return http("GET", path(k, ns, name)) == 404;
  }
  Json get_namespace(const std::string& ns) {
    auto r = client_->get(kind("v1", "Namespace"), "", ns);
    return r ? *r : Json();
  }

  // `trials` times: a Namespace with objects, deleted as `kubectl delete -f`
  // deletes a manifest with the Namespace first.
  void delete_manifest(const std::string& prefix, int trials, bool all_found) {
    const std::vector<Item> items = {{"ConfigMap", "config"}, {"Secret", "creds"},
                                     {"Service", "web"},      {"Pod", "web-0"},
                                     {"Pod", "web-1"},        {"ConfigMap", "extra"}};
    const std::string opts =
        R"({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"})";
    for (int trial = 0; trial < trials; ++trial) {
      std::string ns = prefix + std::to_string(trial);
      ASSERT_NO_FATAL_FAILURE(create("Namespace", "", ns));
      for (const auto& it : items) ASSERT_NO_FATAL_FAILURE(create(it.kind, ns, it.name));
      ASSERT_EQ(http("DELETE", path("Namespace", "", ns), opts), 200) << ns;
      for (const auto& it : items) {
        int code = http("DELETE", path(it.kind, ns, it.name), opts);
        if (all_found) {
          EXPECT_EQ(code, 200) << ns << " " << it.kind << "/" << it.name;
        } else {
          EXPECT_TRUE(code == 200 || code == 404)
              << ns << " " << it.kind << "/" << it.name << ": " << code;
        }
      }
      EXPECT_TRUE(eventually([&] { return gone("Namespace", "", ns); }, 10s)) << ns;
      for (const auto& it : items)
        EXPECT_TRUE(gone(it.kind, ns, it.name)) << ns << " " << it.kind << "/" << it.name;
    }
  }

  std::unique_ptr<NamespaceController> ctrl_;
};

TEST_F(NamespaceControllerTest, TerminatingUntilItsContentsAreGoneThenRemoved) {
  ASSERT_NO_FATAL_FAILURE(create("Namespace", "", "tidy"));
  ASSERT_NO_FATAL_FAILURE(create("Namespace", "", "keep"));
  const std::vector<Item> items = {{"Pod", "a"},        {"Pod", "b"},       {"ConfigMap", "c1"},
                                   {"ConfigMap", "c2"}, {"Service", "web"}, {"Secret", "s"}};
  for (const auto& it : items) ASSERT_NO_FATAL_FAILURE(create(it.kind, "tidy", it.name));
  // A pod bound to a node goes through its grace period: the kubelet confirms.
  ASSERT_NO_FATAL_FAILURE(create("Pod", "tidy", "bound", {{"spec", {{"nodeName", "node-a"}}}}));
  ASSERT_NO_FATAL_FAILURE(create("ConfigMap", "keep", "c1"));
  ASSERT_NO_FATAL_FAILURE(start());

  ASSERT_EQ(http("DELETE", path("Namespace", "", "tidy")), 200);
  Json ns = get_namespace("tidy");
  EXPECT_EQ(api::sfield(api::field(ns, "status"), "phase"), "Terminating") << ns.dump();
  // The deletion grace (2 s): nothing is touched yet.
  EXPECT_FALSE(gone("ConfigMap", "tidy", "c1"));
  const std::string configmaps = client::Client::path(kind("v1", "ConfigMap"), "tidy");
  EXPECT_EQ(http("POST", configmaps, object("ConfigMap", "tidy", "late").dump()), 403);

  // Everything without a grace period goes; the bound pod is terminating and
  // holds the namespace.
  EXPECT_TRUE(eventually(
      [&] {
        for (const auto& it : items) {
          if (!gone(it.kind, "tidy", it.name)) return false;
        }
        return true;
      },
      10s));
  auto bound = client_->get(kind("v1", "Pod"), "tidy", "bound");
  ASSERT_TRUE(bound.is_ok()) << bound.status().to_string();
  EXPECT_FALSE(api::field(api::field(*bound, "metadata"), "deletionTimestamp").is_null());
  ns = get_namespace("tidy");
  EXPECT_EQ(api::sfield(api::field(ns, "status"), "phase"), "Terminating") << ns.dump();

  // The kubelet's confirmation: then the namespace goes.
  ASSERT_EQ(http("DELETE", path("Pod", "tidy", "bound") + "?gracePeriodSeconds=0"), 200);
  EXPECT_TRUE(eventually([&] { return gone("Namespace", "", "tidy"); }));
  EXPECT_TRUE(gone("Pod", "tidy", "bound"));

  // Another namespace is left alone.
  EXPECT_FALSE(gone("ConfigMap", "keep", "c1"));
  EXPECT_FALSE(gone("Namespace", "", "keep"));
  auto m = ctrl_->metrics();
  EXPECT_GE(m.reconcile_total, 2u);
  EXPECT_EQ(m.reconcile_errors_total, 0u);
}

// `kubectl delete -f` of a manifest whose first document is the Namespace:
// the Namespace is deleted, then each object in order. With the deletion
// grace every object is still there (200, kubectl prints "deleted" for each);
// without it the controller empties the namespace at the same time and a
// delete may find the object gone (404) — never 409 or 500. Nothing is left.
TEST_F(NamespaceControllerTest, DeleteManifestWithTheNamespaceFirst) {
  ASSERT_NO_FATAL_FAILURE(start());
  delete_manifest("manifest", 3, /*all_found=*/true);
}

TEST_F(NamespaceControllerTest, DeleteManifestWithTheNamespaceFirstRacingTheController) {
  ASSERT_NO_FATAL_FAILURE(start(NamespaceOptions{0ms}));
  delete_manifest("race", 5, /*all_found=*/false);
}

// A namespace already Terminating when the controller starts (a restart in
// the middle of a deletion) is finished from the initial list.
TEST_F(NamespaceControllerTest, FinishesADeletionStartedBeforeIt) {
  ASSERT_NO_FATAL_FAILURE(create("Namespace", "", "old"));
  ASSERT_NO_FATAL_FAILURE(create("ConfigMap", "old", "c"));
  ASSERT_EQ(http("DELETE", path("Namespace", "", "old")), 200);
  EXPECT_FALSE(gone("Namespace", "", "old"));
  ASSERT_NO_FATAL_FAILURE(start());
  EXPECT_TRUE(eventually([&] { return gone("Namespace", "", "old"); }, 10s));
  EXPECT_TRUE(gone("ConfigMap", "old", "c"));
}

// Built on a shared factory (as `minik8s server` builds it): one Namespace
// informer; a second start() and a negative grace are refused.
TEST_F(NamespaceControllerTest, SharesTheFactoryInformer) {
  client::SharedInformerFactory factory(*client_);
  {
    NamespaceController nc(factory);
    ASSERT_TRUE(nc.start().is_ok());
    EXPECT_EQ(nc.start().code(), Code::kInvalid);
    EXPECT_EQ(factory.size(), 1u);
    NamespaceController bad(factory, NamespaceOptions{-1ms});
    EXPECT_EQ(bad.start().code(), Code::kBadRequest);
    ASSERT_NO_FATAL_FAILURE(create("Namespace", "", "shared"));
    ASSERT_NO_FATAL_FAILURE(create("Pod", "shared", "p"));
    ASSERT_EQ(http("DELETE", path("Namespace", "", "shared")), 200);
    EXPECT_TRUE(eventually([&] { return gone("Namespace", "", "shared"); }, 10s));
    EXPECT_TRUE(gone("Pod", "shared", "p"));
    nc.stop();
  }
  factory.stop();
}

}  // namespace
}  // namespace minik8s::controllers
