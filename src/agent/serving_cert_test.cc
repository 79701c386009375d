// The kubelet server's TLS set-up (kubelet_tls.h) and its serving
// certificate from a kubelet-serving CSR (serving_cert.h), against the
// in-memory FakeRestClient; the test plays the cluster's signer with a CA of
// its own (minik8s/auth/pki.h).
#include "serving_cert.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kubelet_tls.h"
#include "minik8s/auth/pki.h"
#include "minik8s/util/base64.h"
#include "test/fakes/fake_rest_client.h"
#include "test/fakes/temp_dir.h"

namespace minik8s::agent {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kCsrs = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

TEST(KubeletTls, HttpsFollowsTheApiServerAndTheCaComesFromTheKubeconfig) {
  testing::TempDir dir("ktls");
  NodeConfig c;
  c.data_dir = dir.path();
  client::HttpRestClientOptions ro;
  ro.server = "http://127.0.0.1:6443";
  auto plain = kubelet_tls(c, ro);
  ASSERT_TRUE(plain.is_ok());
  EXPECT_FALSE(plain->https);

  auto ca = auth::CertificateAuthority::create("ca");
  ASSERT_TRUE(ca.is_ok());
  ro.server = "https://10.0.0.1:6443,https://10.0.0.2:6443";
  ro.tls.ca_pem = ca->cert_pem();
  auto t = kubelet_tls(c, ro);
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_TRUE(t->https);
  EXPECT_EQ(t->client_ca_file, dir.path() + "/pki/client-ca.crt");
  EXPECT_EQ(*auth::read_pem_file(t->client_ca_file), ca->cert_pem());
  EXPECT_TRUE(t->cert_file.empty());

  ro.tls.ca_pem.clear();
  ro.tls.ca_file = "/etc/k/ca.crt";
  EXPECT_EQ(kubelet_tls(c, ro)->client_ca_file, "/etc/k/ca.crt");
  c.client_ca_file = "/given/ca.crt";
  c.tls_cert_file = "/given/k.crt";
  c.tls_key_file = "/given/k.key";
  t = kubelet_tls(c, ro);
  EXPECT_EQ(t->client_ca_file, "/given/ca.crt");
  EXPECT_EQ(t->cert_file, "/given/k.crt");
  EXPECT_EQ(t->key_file, "/given/k.key");
}

class ServingCertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = auth::CertificateAuthority::create("cluster-ca");
    ASSERT_TRUE(ca.is_ok());
    ca_ = std::make_unique<auth::CertificateAuthority>(std::move(*ca));
    o_.data_dir = dir_.path();
    o_.node_name = "node-1";
    o_.ip_addresses = {"10.1.2.3"};
    o_.dns_names = {"host-1", "Not_A_Name"};
    o_.ca_pem = ca_->cert_pem();
    o_.wait = 5s;
    o_.poll = 1ms;
  }

  // The posted CSRs, as the fake stores them.
  std::vector<json> csrs() {
    auto r = rest_.request("GET", kCsrs, "", "", "application/json");
    std::vector<json> out;
    if (!r) return out;
    json l = json::parse(r->body, nullptr, false);
    for (const json& i : l.value("items", json::array())) out.push_back(i);
    return out;
  }

  // The cluster's signer: every CSR without a certificate gets one (SANs
  // from the request), or the given condition.
  bool sign_all(const std::string& condition = "") {
    for (json c : csrs()) {
      if (c.contains("status") && c["status"].contains("certificate")) continue;
      if (!condition.empty()) {
        c["status"]["conditions"] = {
            {{"type", condition}, {"reason", "Test"}, {"message", "said no"}}};
      } else {
        auto pem = base64_decode_lenient(c["spec"]["request"].get<std::string>());
        EXPECT_TRUE(pem.is_ok());
        auto req = auth::parse_csr(*pem);
        EXPECT_TRUE(req.is_ok());
        auth::CertSpec spec;
        spec.dns_names = req->dns_names;
        spec.ip_addresses = req->ip_addresses;
        spec.usage = auth::KeyUsage::kServer;
        spec.ttl = ttl_;
        auto cert = ca_->sign_csr(*pem, spec);
        EXPECT_TRUE(cert.is_ok()) << cert.status().to_string();
        c["status"]["certificate"] = base64_encode(*cert);
      }
      std::string path = std::string(kCsrs) + "/" + c["metadata"]["name"].get<std::string>();
      auto r = rest_.request("PUT", path, c.dump(), "application/json", "application/json");
      EXPECT_TRUE(r.is_ok() && r->status == 200);
    }
    return false;  // not stopped
  }

  testing::TempDir dir_{"kserving"};
  testing::FakeRestClient rest_;
  std::unique_ptr<auth::CertificateAuthority> ca_;
  ServingCertOptions o_;
  std::chrono::seconds ttl_{std::chrono::hours(24)};
};

TEST_F(ServingCertTest, PostsACsrWaitsForTheCertificateThenReusesIt) {
  auto got =
      ensure_serving_certificate(rest_, o_, [&](std::chrono::milliseconds) { return sign_all(); });
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_FALSE(got->reused);
  EXPECT_EQ(got->cert_file, dir_.path() + "/pki/kubelet-serving.crt");
  EXPECT_EQ(got->key_file, dir_.path() + "/pki/kubelet-serving.key");
  // What was asked for.
  auto posted = csrs();
  ASSERT_EQ(posted.size(), 1u);
  const json& spec = posted[0]["spec"];
  EXPECT_EQ(spec["signerName"], "kubernetes.io/kubelet-serving");
  EXPECT_EQ(spec["usages"], json({"digital signature", "server auth"}));
  EXPECT_EQ(posted[0]["metadata"]["name"].get<std::string>().rfind("kubelet-serving-node-1-", 0),
            0u);
  auto req = auth::parse_csr(*base64_decode_lenient(spec["request"].get<std::string>()));
  ASSERT_TRUE(req.is_ok());
  EXPECT_EQ(req->common_name, "system:node:node-1");
  EXPECT_EQ(req->organizations, (std::vector<std::string>{"system:nodes"}));
  EXPECT_EQ(req->ip_addresses, (std::vector<std::string>{"10.1.2.3"}));
  EXPECT_EQ(req->dns_names, (std::vector<std::string>{"host-1"}));  // not a DNS name: left out
  // What was kept: the certificate and its key, which match.
  auto cert = auth::read_pem_file(got->cert_file);
  ASSERT_TRUE(cert.is_ok());
  EXPECT_TRUE(auth::verify_certificate(*cert, ca_->cert_pem()).is_ok());
  EXPECT_EQ(
      std::filesystem::status(got->key_file).permissions() & std::filesystem::perms::group_read,
      std::filesystem::perms::none);
  // A second start reuses it: no new CSR.
  auto again =
      ensure_serving_certificate(rest_, o_, [&](std::chrono::milliseconds) { return sign_all(); });
  ASSERT_TRUE(again.is_ok());
  EXPECT_TRUE(again->reused);
  EXPECT_EQ(csrs().size(), 1u);
  // A new address: a new CSR.
  o_.ip_addresses = {"10.1.2.4"};
  again =
      ensure_serving_certificate(rest_, o_, [&](std::chrono::milliseconds) { return sign_all(); });
  ASSERT_TRUE(again.is_ok());
  EXPECT_FALSE(again->reused);
  EXPECT_EQ(csrs().size(), 2u);
}

TEST_F(ServingCertTest, ACertificateAboutToExpireOrOfAnotherCaIsReplaced) {
  ttl_ = std::chrono::minutes(30);
  ASSERT_TRUE(ensure_serving_certificate(rest_, o_, [&](auto) { return sign_all(); }).is_ok());
  ttl_ = std::chrono::hours(24);
  auto r = ensure_serving_certificate(rest_, o_, [&](auto) { return sign_all(); });
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(r->reused);  // 30 minutes left: renewed
  auto other = auth::CertificateAuthority::create("other");
  ASSERT_TRUE(other.is_ok());
  o_.ca_pem = other->cert_pem();
  r = ensure_serving_certificate(rest_, o_, [&](auto) { return sign_all(); });
  ASSERT_FALSE(r.is_ok());  // the new one does not chain to that CA either
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_NE(r.status().message().find("does not chain to the cluster CA"), std::string::npos);
  EXPECT_EQ(csrs().size(), 3u);
}

TEST_F(ServingCertTest, DeniedTimedOutStoppedAndUnserved) {
  auto r = ensure_serving_certificate(rest_, o_, [&](auto) { return sign_all("Denied"); });
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kForbidden);
  EXPECT_NE(r.status().message().find("was denied: Test: said no"), std::string::npos)
      << r.status().message();

  o_.wait = 0s;
  r = ensure_serving_certificate(rest_, o_, [&](auto) { return false; });
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kTimeout);
  EXPECT_NE(r.status().message().find("kubectl certificate approve kubelet-serving-node-1-"),
            std::string::npos)
      << r.status().message();

  // The API server not answering yet: retried until told to stop.
  rest_.fail_next(100, Status(Code::kUnavailable, "connection refused"));
  int pauses = 0;
  r = ensure_serving_certificate(rest_, o_, [&](auto) { return ++pauses == 3; });
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(pauses, 3);
  rest_.fail_next(0, Status::ok());
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/pki/kubelet-serving.crt"));
}

}  // namespace
}  // namespace minik8s::agent
