// The CSR approver's policy (table-driven), the signer, and both controllers
// against a real in-process ApiServer (authentication off there: the
// requester is system:admin, in system:masters).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <nlohmann/json.hpp>

#include "minik8s/controllers/certificates.h"
#include "minik8s/util/base64.h"
#include "test/fakes/controller_fixture.h"

namespace minik8s::controllers {
namespace {

using api::Json;
using testing_support::ApiFixture;
using namespace std::chrono_literals;

// A P-256 CSR for (cn, orgs) with subjectAltName san ("DNS:a,IP:10.0.0.1"; empty: none).
std::string csr_pem(const std::string& cn, const std::vector<std::string>& orgs,
                    const std::string& san = "") {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509_REQ* req = X509_REQ_new();
  X509_NAME* name = X509_REQ_get_subject_name(req);
  for (const auto& o : orgs) {
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(o.c_str()), -1, -1, 0);
  }
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_REQ_set_pubkey(req, key);
  if (!san.empty()) {
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    sk_X509_EXTENSION_push(
        exts, X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str()));
    X509_REQ_add_extensions(req, exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  }
  X509_REQ_sign(req, key, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, req);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  X509_REQ_free(req);
  EVP_PKEY_free(key);
  return out;
}

const std::vector<std::string> kNodes = {"system:nodes"};
const std::vector<std::string> kClientUsages = {"digital signature", "client auth"};
const std::vector<std::string> kServingUsages = {"digital signature", "key encipherment",
                                                 "server auth"};

Json csr(const std::string& signer, const std::string& pem, const std::vector<std::string>& usages,
         const std::string& user, const std::vector<std::string>& groups) {
  return {{"apiVersion", "certificates.k8s.io/v1"},
          {"kind", "CertificateSigningRequest"},
          {"metadata", {{"name", "c1"}}},
          {"spec",
           {{"request", base64_encode(pem)},
            {"signerName", signer},
            {"usages", usages},
            {"username", user},
            {"groups", groups}}}};
}

TEST(CsrApprovalTest, Policy) {
  const std::string node = csr_pem("system:node:n1", kNodes);
  const std::string serving = csr_pem("system:node:n1", kNodes, "DNS:n1,IP:10.0.0.1");
  const std::vector<std::string> boot = {"system:bootstrappers", "system:authenticated"};
  const std::vector<std::string> nodes = {"system:nodes", "system:authenticated"};
  const std::vector<std::string> masters = {"system:masters", "system:authenticated"};
  const std::vector<std::string> users = {"system:authenticated"};
  struct Case {
    const char* what;
    Json csr;
    bool approve;
  };
  Json approved = csr(kSignerKubeletClient, node, kClientUsages, "system:bootstrap:abcdef", boot);
  approved["status"]["conditions"] = {{{"type", "Approved"}, {"status", "True"}}};
  Json denied = csr(kSignerKubeletClient, node, kClientUsages, "system:bootstrap:abcdef", boot);
  denied["status"]["conditions"] = {{{"type", "Denied"}, {"status", "True"}}};
  Json garbage = csr(kSignerKubeletClient, node, kClientUsages, "system:bootstrap:abcdef", boot);
  garbage["spec"]["request"] = base64_encode("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n");
  const Case cases[] = {
      {"join: bootstrapper asks for a node client cert",
       csr(kSignerKubeletClient, node, kClientUsages, "system:bootstrap:abcdef", boot), true},
      {"renewal: the node itself",
       csr(kSignerKubeletClient, node, kClientUsages, "system:node:n1", nodes), true},
      {"admin credential", csr(kSignerKubeletClient, node, kClientUsages, "system:admin", masters),
       true},
      {"another node renews n1's cert",
       csr(kSignerKubeletClient, node, kClientUsages, "system:node:n2", nodes), false},
      {"a plain user", csr(kSignerKubeletClient, node, kClientUsages, "alice", users), false},
      {"client cert with server auth usage",
       csr(kSignerKubeletClient, node, {"client auth", "server auth"}, "system:bootstrap:a", boot),
       false},
      {"client cert with SANs",
       csr(kSignerKubeletClient, serving, kClientUsages, "system:bootstrap:a", boot), false},
      {"client cert, CN not a node",
       csr(kSignerKubeletClient, csr_pem("alice", kNodes), kClientUsages, "system:bootstrap:a",
           boot),
       false},
      {"client cert, CN system:node: without a name",
       csr(kSignerKubeletClient, csr_pem("system:node:", kNodes), kClientUsages,
           "system:bootstrap:a", boot),
       false},
      {"client cert, extra O system:masters",
       csr(kSignerKubeletClient, csr_pem("system:node:n1", {"system:nodes", "system:masters"}),
           kClientUsages, "system:bootstrap:a", boot),
       false},
      {"client cert, no O",
       csr(kSignerKubeletClient, csr_pem("system:node:n1", {}), kClientUsages, "system:bootstrap:a",
           boot),
       false},
      {"serving: the node itself",
       csr(kSignerKubeletServing, serving, kServingUsages, "system:node:n1", nodes), true},
      {"serving: admin credential",
       csr(kSignerKubeletServing, serving, kServingUsages, "system:admin", masters), true},
      {"serving: a bootstrapper may not",
       csr(kSignerKubeletServing, serving, kServingUsages, "system:bootstrap:a", boot), false},
      {"serving: another node",
       csr(kSignerKubeletServing, serving, kServingUsages, "system:node:n2", nodes), false},
      {"serving: no SANs",
       csr(kSignerKubeletServing, node, kServingUsages, "system:node:n1", nodes), false},
      {"serving: client auth usage",
       csr(kSignerKubeletServing, serving, {"server auth", "client auth"}, "system:node:n1", nodes),
       false},
      {"kube-apiserver-client waits for a person",
       csr(kSignerApiserverClient, node, kClientUsages, "system:admin", masters), false},
      {"unknown signer", csr("example.com/x", node, kClientUsages, "system:admin", masters), false},
      {"already approved", approved, false},
      {"denied", denied, false},
      {"request that does not parse", garbage, false},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_EQ(csr_auto_approval(c.csr, &why), c.approve) << c.what << ": " << why;
    EXPECT_FALSE(why.empty()) << c.what;
  }
}

TEST(CsrSignTest, SignsWithTheSignersUsageAndValidity) {
  auto ca = auth::CertificateAuthority::create("test-ca");
  ASSERT_TRUE(ca.is_ok());
  Json c = csr(kSignerKubeletClient, csr_pem("system:node:n1", kNodes), kClientUsages,
               "system:bootstrap:a", {});
  c["spec"]["expirationSeconds"] = 3600;
  auto pem = csr_sign(*ca, c);
  ASSERT_TRUE(pem.is_ok()) << pem.status().to_string();
  auto info = auth::parse_certificate(*pem);
  ASSERT_TRUE(info.is_ok());
  EXPECT_EQ(info->common_name, "system:node:n1");
  EXPECT_EQ(info->organizations, kNodes);
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  EXPECT_LE(info->not_after_unix, now + 3600 + 5);
  EXPECT_GE(info->not_after_unix, now + 3600 - 300);
  EXPECT_TRUE(auth::verify_certificate(*pem, ca->cert_pem()).is_ok());

  // Serving: SANs from the request; no expirationSeconds: one year.
  Json s = csr(kSignerKubeletServing, csr_pem("system:node:n1", kNodes, "DNS:n1,IP:10.0.0.1"),
               kServingUsages, "system:node:n1", {});
  auto spem = csr_sign(*ca, s);
  ASSERT_TRUE(spem.is_ok()) << spem.status().to_string();
  auto sinfo = auth::parse_certificate(*spem);
  ASSERT_TRUE(sinfo.is_ok());
  EXPECT_EQ(sinfo->dns_names, std::vector<std::string>{"n1"});
  EXPECT_EQ(sinfo->ip_addresses, std::vector<std::string>{"10.0.0.1"});
  EXPECT_GE(sinfo->not_after_unix, now + 364 * 24 * 3600);

  // Refused: another signer, a kubelet signer for a non-node subject, an admin cert.
  EXPECT_EQ(
      csr_sign(*ca, csr("example.com/x", csr_pem("system:node:n1", kNodes), kClientUsages, "u", {}))
          .status()
          .code(),
      Code::kInvalid);
  EXPECT_EQ(csr_sign(*ca, csr(kSignerKubeletClient, csr_pem("alice", {}), kClientUsages, "u", {}))
                .status()
                .code(),
            Code::kInvalid);
  EXPECT_EQ(csr_sign(*ca, csr(kSignerApiserverClient, csr_pem("eve", {"system:masters"}),
                              kClientUsages, "u", {}))
                .status()
                .code(),
            Code::kInvalid);
  auto alice = csr_sign(
      *ca, csr(kSignerApiserverClient, csr_pem("alice", {"devs"}), kClientUsages, "u", {}));
  EXPECT_TRUE(alice.is_ok()) << alice.status().to_string();
}

class CsrControllersTest : public ApiFixture {
 protected:
  void SetUp() override {
    ApiFixture::SetUp();
    auto ca = auth::CertificateAuthority::create("test-ca");
    ASSERT_TRUE(ca.is_ok());
    ca_pem_ = ca->cert_pem();
    factory_ = std::make_unique<client::SharedInformerFactory>(*client_);
    approver_ = std::make_unique<CsrApprovingController>(*factory_);
    signer_ = std::make_unique<CsrSigningController>(*factory_, *ca);
    ASSERT_TRUE(approver_->start().is_ok());
    ASSERT_TRUE(signer_->start().is_ok());
  }
  void TearDown() override {
    approver_.reset();
    signer_.reset();
    factory_->stop();
    factory_.reset();
    ApiFixture::TearDown();
  }
  Json get(const std::string& name) {
    auto r = client_->get(kind("certificates.k8s.io/v1", "CertificateSigningRequest"), "", name);
    return r ? *r : Json();
  }
  std::string cert_of(const std::string& name) {
    auto c = base64_decode(api::sfield(api::field(get(name), "status"), "certificate"));
    return c ? *c : "";
  }
  std::string ca_pem_;
  std::unique_ptr<client::SharedInformerFactory> factory_;
  std::unique_ptr<CsrApprovingController> approver_;
  std::unique_ptr<CsrSigningController> signer_;
};

TEST_F(CsrControllersTest, NodeClientCsrIsApprovedAndIssued) {
  const auto& t = kind("certificates.k8s.io/v1", "CertificateSigningRequest");
  Json c = csr(kSignerKubeletClient, csr_pem("system:node:n1", kNodes), kClientUsages, "forged",
               {"system:bootstrappers"});
  c["metadata"]["name"] = "node-csr-n1";
  auto created = client_->create(t, c, "");
  ASSERT_TRUE(created.is_ok()) << created.status().to_string();
  // The server replaced the requester with who asked (the fixture's admin).
  EXPECT_NE(api::sfield((*created)["spec"], "username"), "forged");
  ASSERT_TRUE(eventually([&] { return !cert_of("node-csr-n1").empty(); }, 10s));
  Json got = get("node-csr-n1");
  EXPECT_EQ(got["status"]["conditions"][0]["type"], "Approved");
  EXPECT_EQ(got["status"]["conditions"][0]["reason"], "AutoApproved");
  auto info = auth::parse_certificate(cert_of("node-csr-n1"));
  ASSERT_TRUE(info.is_ok());
  EXPECT_EQ(info->common_name, "system:node:n1");
  EXPECT_TRUE(auth::verify_certificate(cert_of("node-csr-n1"), ca_pem_).is_ok());
}

TEST_F(CsrControllersTest, OtherRequestsWaitForAPersonThenGetSignedOrFail) {
  const auto& t = kind("certificates.k8s.io/v1", "CertificateSigningRequest");
  Json c = csr(kSignerApiserverClient, csr_pem("alice", {"devs"}), kClientUsages, "", {});
  c["metadata"]["name"] = "alice";
  ASSERT_TRUE(client_->create(t, c, "").is_ok());
  Json bad = csr(kSignerApiserverClient, csr_pem("eve", {"system:masters"}), kClientUsages, "", {});
  bad["metadata"]["name"] = "eve";
  ASSERT_TRUE(client_->create(t, bad, "").is_ok());
  // A marker CSR the approver does approve: once it is issued, both
  // controllers have seen the earlier two.
  Json marker = csr(kSignerKubeletClient, csr_pem("system:node:m", kNodes), kClientUsages, "", {});
  marker["metadata"]["name"] = "marker";
  ASSERT_TRUE(client_->create(t, marker, "").is_ok());
  ASSERT_TRUE(eventually([&] { return !cert_of("marker").empty(); }, 10s));
  EXPECT_TRUE(get("alice")["status"]["conditions"].is_null()) << get("alice").dump();
  // A person approves both (kubectl certificate approve: PUT .../approval).
  for (const char* name : {"alice", "eve"}) {
    Json cur = get(name);
    cur["status"]["conditions"] = {
        {{"type", "Approved"}, {"status", "True"}, {"reason", "KubectlApprove"}}};
    auto r =
        client_->patch(t, "", name, client::PatchType::kMerge,
                       {{"status", {{"conditions", cur["status"]["conditions"]}}}}, "approval");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  ASSERT_TRUE(eventually([&] { return !cert_of("alice").empty(); }, 10s));
  auto info = auth::parse_certificate(cert_of("alice"));
  ASSERT_TRUE(info.is_ok());
  EXPECT_EQ(info->common_name, "alice");
  // An admin certificate is never issued through a CSR: Failed.
  ASSERT_TRUE(eventually(
      [&] {
        Json eve = get("eve");
        for (const auto& c : eve["status"]["conditions"]) {
          if (c["type"] == "Failed") return true;
        }
        return false;
      },
      10s))
      << get("eve").dump();
  EXPECT_TRUE(cert_of("eve").empty()) << get("eve").dump();
}

TEST_F(CsrControllersTest, ApiRules) {
  const auto& t = kind("certificates.k8s.io/v1", "CertificateSigningRequest");
  // A request whose signature does not verify: 422 naming spec.request.
  std::string pem = csr_pem("system:node:n1", kNodes);
  size_t body = pem.find('\n') + 10;
  pem[body] = pem[body] == 'A' ? 'B' : 'A';
  Json c = csr(kSignerKubeletClient, pem, kClientUsages, "", {});
  auto r = client_->create(t, c, "");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  EXPECT_NE(r.status().message().find("spec.request"), std::string::npos) << r.status().message();
  // No signerName, expirationSeconds too short: 422 naming each.
  Json d = csr(kSignerKubeletClient, csr_pem("system:node:n1", kNodes), kClientUsages, "", {});
  d["spec"].erase("signerName");
  d["spec"]["expirationSeconds"] = 60;
  r = client_->create(t, d, "");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("spec.signerName"), std::string::npos);
  EXPECT_NE(r.status().message().find("spec.expirationSeconds"), std::string::npos);
  // spec is immutable; Approved and Denied together are refused.
  Json ok = csr("example.com/none", csr_pem("x", {}), kClientUsages, "", {});
  ok["metadata"]["name"] = "imm";
  auto made = client_->create(t, ok, "");
  ASSERT_TRUE(made.is_ok()) << made.status().to_string();
  Json changed = *made;
  changed["spec"]["signerName"] = "example.com/other";
  r = client_->update(t, changed);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("spec"), std::string::npos);
  r = client_->patch(t, "", "imm", client::PatchType::kMerge,
                     {{"status",
                       {{"conditions",
                         {{{"type", "Approved"}, {"status", "True"}},
                          {{"type", "Denied"}, {"status", "True"}}}}}}},
                     "approval");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInvalid);
  // The approval subresource writes only conditions.
  r = client_->patch(t, "", "imm", client::PatchType::kMerge,
                     {{"spec", {{"signerName", "example.com/sneaky"}}},
                      {"status", {{"conditions", {{{"type", "Denied"}, {"status", "True"}}}}}}},
                     "approval");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(get("imm")["spec"]["signerName"], "example.com/none");
  EXPECT_EQ(get("imm")["status"]["conditions"][0]["type"], "Denied");
  // A denial stays.
  r = client_->patch(t, "", "imm", client::PatchType::kMerge,
                     {{"status", {{"conditions", Json::array()}}}}, "approval");
  EXPECT_FALSE(r.is_ok());
}

}  // namespace
}  // namespace minik8s::controllers
