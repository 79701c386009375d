// ServiceAccountsController against a real in-process ApiServer: the
// ServiceAccount "default" and the ConfigMap kube-root-ca.crt appear in every
// namespace and come back when deleted or changed.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "minik8s/controllers/controllers.h"
#include "test/fakes/controller_fixture.h"

namespace minik8s::controllers {
namespace {

using api::Json;
using testing_support::ApiFixture;
using namespace std::chrono_literals;

constexpr const char* kCa = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";

class ServiceAccountsControllerTest : public ApiFixture {
 protected:
  void TearDown() override {
    ctrl_.reset();
    ApiFixture::TearDown();
    if (!ca_file_.empty()) std::remove(ca_file_.c_str());
  }
  void start(bool with_ca) {
    ServiceAccountsOptions o;
    if (with_ca) {
      ca_file_ = ::testing::TempDir() + "/mk-sa-ca-" + std::to_string(::getpid()) + ".crt";
      std::ofstream(ca_file_) << kCa;
      o.root_ca_file = ca_file_;
    }
    ctrl_ = std::make_unique<ServiceAccountsController>(*client_, o);
    Status st = ctrl_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
  bool has(const char* k, const std::string& ns, const std::string& name) {
    return client_->get(kind("v1", k), ns, name).is_ok();
  }
  std::string ca_of(const std::string& ns) {
    auto cm = client_->get(kind("v1", "ConfigMap"), ns, "kube-root-ca.crt");
    return cm ? api::sfield(api::field(*cm, "data"), "ca.crt") : "";
  }
  std::unique_ptr<ServiceAccountsController> ctrl_;
  std::string ca_file_;
};

TEST_F(ServiceAccountsControllerTest, DefaultServiceAccountAndRootCaInEveryNamespace) {
  ASSERT_NO_FATAL_FAILURE(start(true));
  for (const char* ns : {"default", "kube-system", "kube-public"}) {
    EXPECT_TRUE(eventually([&] { return has("ServiceAccount", ns, "default"); })) << ns;
    EXPECT_TRUE(eventually([&] { return ca_of(ns) == kCa; })) << ns;
  }
  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team-a"}}}};
  ASSERT_TRUE(client_->create(kind("v1", "Namespace"), ns).is_ok());
  EXPECT_TRUE(eventually([&] { return has("ServiceAccount", "team-a", "default"); }));
  EXPECT_TRUE(eventually([&] { return ca_of("team-a") == kCa; }));
  // Deleted: put back. Changed: rewritten.
  ASSERT_TRUE(client_->remove(kind("v1", "ServiceAccount"), "team-a", "default").is_ok());
  EXPECT_TRUE(eventually([&] { return has("ServiceAccount", "team-a", "default"); }));
  auto cm = client_->get(kind("v1", "ConfigMap"), "team-a", "kube-root-ca.crt");
  ASSERT_TRUE(cm.is_ok());
  (*cm)["data"]["ca.crt"] = "tampered";
  ASSERT_TRUE(client_->update(kind("v1", "ConfigMap"), *cm).is_ok());
  EXPECT_TRUE(eventually([&] { return ca_of("team-a") == kCa; }));
}

TEST_F(ServiceAccountsControllerTest, NoCaFileNoConfigMap) {
  ASSERT_NO_FATAL_FAILURE(start(false));
  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team-b"}}}};
  ASSERT_TRUE(client_->create(kind("v1", "Namespace"), ns).is_ok());
  EXPECT_TRUE(eventually([&] { return has("ServiceAccount", "team-b", "default"); }));
  // The ServiceAccount was written after any ConfigMap would have been.
  EXPECT_FALSE(has("ConfigMap", "team-b", "kube-root-ca.crt"));
}

TEST_F(ServiceAccountsControllerTest, UnreadableCaFailsStart) {
  ServiceAccountsOptions o;
  o.root_ca_file = "/nonexistent/ca.crt";
  ServiceAccountsController c(*client_, o);
  Status st = c.start();
  EXPECT_EQ(st.code(), Code::kInvalid);
}

}  // namespace
}  // namespace minik8s::controllers
