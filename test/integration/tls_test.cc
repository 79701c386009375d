// The API server over HTTPS (docs/auth.md "TLS"): the REST client verifies
// the server against the cluster CA (and the host against the SANs); a
// client certificate that verifies becomes the request's user once
// authentication is on; watches stream through the TLS layer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "minik8s/auth/pki.h"
#include "minik8s/client/rest_client.h"
#include "test/fakes/local_api.h"
#include "test/fakes/temp_dir.h"

namespace minik8s::apiserver {
namespace {

auth::TlsClientConfig tls_config(std::string ca_file, std::string ca_pem = "",
                                 std::string cert_pem = "", std::string key_pem = "",
                                 bool insecure = false) {
  auth::TlsClientConfig c;
  c.ca_file = std::move(ca_file);
  c.ca_pem = std::move(ca_pem);
  c.cert_pem = std::move(cert_pem);
  c.key_pem = std::move(key_pem);
  c.insecure_skip_verify = insecure;
  return c;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = auth::CertificateAuthority::create("test-ca");
    ASSERT_TRUE(ca.is_ok());
    ca_ = std::make_unique<auth::CertificateAuthority>(std::move(*ca));
    auth::CertSpec spec;
    spec.common_name = "kube-apiserver";
    spec.ip_addresses = {"127.0.0.1"};  // no DNS name: https://localhost must fail
    spec.usage = auth::KeyUsage::kServer;
    auto serving = ca_->issue(spec);
    ASSERT_TRUE(serving.is_ok());
    ca_file_ = dir_.path() + "/ca.crt";
    ASSERT_TRUE(auth::write_key_pair(ca_file_, "", {ca_->cert_pem(), ""}).is_ok());
    ASSERT_TRUE(
        auth::write_key_pair(dir_.path() + "/s.crt", dir_.path() + "/s.key", *serving).is_ok());
    ApiServerOptions o;
    o.tls.cert_file = dir_.path() + "/s.crt";
    o.tls.key_file = dir_.path() + "/s.key";
    o.tls.client_ca_file = ca_file_;
    o.auth.enabled = true;
    o.auth.authorization_modes = {};
    ASSERT_NO_FATAL_FAILURE(api_.start(o, "tls"));
  }

  std::unique_ptr<client::RestClient> client(auth::TlsClientConfig tls,
                                             const std::string& server = "") {
    client::HttpRestClientOptions ro;
    ro.server = server.empty() ? api_.url() : server;
    ro.tls = std::move(tls);
    ro.timeout = std::chrono::seconds(10);
    auto r = client::make_http_rest_client(ro);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? std::move(*r) : nullptr;
  }

  testing::TempDir dir_{"tls"};
  std::unique_ptr<auth::CertificateAuthority> ca_;
  std::string ca_file_;
  testing::LocalApi api_;
};

TEST_F(TlsTest, ClientVerifiesServerWithTheCa) {
  ASSERT_EQ(api_.url().rfind("https://127.0.0.1:", 0), 0u) << api_.url();
  auto c = client(tls_config(ca_file_));
  ASSERT_TRUE(c);
  // Keep-alive: several requests, one connection.
  for (int i = 0; i < 3; ++i) {
    auto r = c->request("GET", "/version");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find("gitVersion"), std::string::npos);
  }
  // No client certificate: anonymous, 401 on the API.
  auto r = c->request("GET", "/api/v1/namespaces/default/pods");
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->status, 401);
  // The CA as PEM text works the same.
  auto c2 = client(tls_config("", ca_->cert_pem()));
  ASSERT_TRUE(c2);
  auto r2 = c2->request("GET", "/readyz");
  ASSERT_TRUE(r2.is_ok()) << r2.status().to_string();
  EXPECT_EQ(r2->status, 200);
}

TEST_F(TlsTest, WrongCaOrHostIsRefused) {
  auto other = auth::CertificateAuthority::create("other-ca");
  ASSERT_TRUE(other.is_ok());
  auto c = client(tls_config("", other->cert_pem()));
  ASSERT_TRUE(c);
  auto r = c->request("GET", "/version");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("certificate"), std::string::npos) << r.status().message();
  // The right CA, but a name the certificate does not carry.
  auto host = client(tls_config(ca_file_), "https://localhost:" + std::to_string(api_.port()));
  ASSERT_TRUE(host);
  auto rh = host->request("GET", "/version");
  EXPECT_FALSE(rh.is_ok());
  // insecure-skip-tls-verify: anything goes.
  auto insecure =
      client(tls_config("", "", "", "", true), "https://localhost:" + std::to_string(api_.port()));
  ASSERT_TRUE(insecure);
  auto ri = insecure->request("GET", "/version");
  ASSERT_TRUE(ri.is_ok()) << ri.status().to_string();
  EXPECT_EQ(ri->status, 200);
  // Plain HTTP to the TLS port gets no answer.
  auto plain = client(tls_config(""), "http://127.0.0.1:" + std::to_string(api_.port()));
  ASSERT_TRUE(plain);
  auto rp = plain->request("GET", "/version");
  EXPECT_TRUE(!rp.is_ok() || rp->status != 200);
}

TEST_F(TlsTest, ClientCertificateAuthenticates) {
  auth::CertSpec spec;
  spec.common_name = "alice";
  spec.organizations = {"dev"};
  auto alice = ca_->issue(spec);
  ASSERT_TRUE(alice.is_ok());
  auto c = client(tls_config(ca_file_, "", alice->cert_pem, alice->key_pem));
  ASSERT_TRUE(c);
  auto r = c->request("GET", "/api/v1/namespaces/default/pods");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->status, 200) << r->body;
  nlohmann::json pod = {{"apiVersion", "v1"},
                        {"kind", "Pod"},
                        {"metadata", {{"name", "p1"}}},
                        {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
  auto created = c->request("POST", "/api/v1/namespaces/default/pods", pod.dump());
  ASSERT_TRUE(created.is_ok());
  EXPECT_EQ(created->status, 201) << created->body;

  // A watch streams through the TLS layer.
  auto w = c->watch("/api/v1/namespaces/default/pods?watch=1");
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  auto line = (*w)->next(std::chrono::seconds(10));
  ASSERT_TRUE(line.has_value());
  EXPECT_NE(line->find("\"p1\""), std::string::npos);
  (*w)->close();

  // A certificate from another CA is not believed: anonymous, 401.
  auto other = auth::CertificateAuthority::create("other-ca");
  ASSERT_TRUE(other.is_ok());
  auto mallory = other->issue(spec);
  ASSERT_TRUE(mallory.is_ok());
  auto m = client(tls_config(ca_file_, "", mallory->cert_pem, mallory->key_pem));
  ASSERT_TRUE(m);
  auto rm = m->request("GET", "/api/v1/namespaces/default/pods");
  ASSERT_TRUE(rm.is_ok()) << rm.status().to_string();
  EXPECT_EQ(rm->status, 401);
}

}  // namespace
}  // namespace minik8s::apiserver
