#include "minik8s/auth/pki.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "test/fakes/temp_dir.h"

namespace minik8s::auth {
namespace {

bool has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  return out;
}

TEST(Pki, IssuesServingCertificateThatVerifies) {
  auto ca = CertificateAuthority::create("test-ca");
  ASSERT_TRUE(ca.is_ok()) << ca.status().to_string();
  CertSpec spec;
  spec.common_name = "kube-apiserver";
  spec.dns_names = {"localhost", "kubernetes.default.svc"};
  spec.ip_addresses = {"127.0.0.1", "10.96.0.1", "::1"};
  spec.usage = KeyUsage::kServer;
  auto kp = ca->issue(spec);
  ASSERT_TRUE(kp.is_ok()) << kp.status().to_string();
  EXPECT_TRUE(verify_certificate(kp->cert_pem, ca->cert_pem()).is_ok());
  auto info = parse_certificate(kp->cert_pem);
  ASSERT_TRUE(info.is_ok());
  EXPECT_EQ(info->common_name, "kube-apiserver");
  EXPECT_TRUE(has(info->dns_names, "localhost"));
  EXPECT_TRUE(has(info->dns_names, "kubernetes.default.svc"));
  EXPECT_TRUE(has(info->ip_addresses, "127.0.0.1"));
  EXPECT_TRUE(has(info->ip_addresses, "10.96.0.1"));
  EXPECT_TRUE(has(info->ip_addresses, "::1"));
  EXPECT_FALSE(info->is_ca);
  auto ca_info = parse_certificate(ca->cert_pem());
  ASSERT_TRUE(ca_info.is_ok());
  EXPECT_TRUE(ca_info->is_ca);
  // Ten years, give or take the leap days.
  EXPECT_GT(ca_info->not_after_unix - ::time(nullptr), int64_t{3650 - 3} * 86400);

  // A different CA does not vouch for it.
  auto other = CertificateAuthority::create("other-ca");
  ASSERT_TRUE(other.is_ok());
  EXPECT_FALSE(verify_certificate(kp->cert_pem, other->cert_pem()).is_ok());
}

TEST(Pki, ClientCertificateCarriesUserAndGroups) {
  auto ca = CertificateAuthority::create("test-ca");
  ASSERT_TRUE(ca.is_ok());
  CertSpec spec;
  spec.common_name = "system:admin";
  spec.organizations = {"system:masters", "devs"};
  spec.ttl = std::chrono::hours(1);
  auto kp = ca->issue(spec);
  ASSERT_TRUE(kp.is_ok());
  auto info = parse_certificate(kp->cert_pem);
  ASSERT_TRUE(info.is_ok());
  EXPECT_EQ(info->common_name, "system:admin");
  EXPECT_EQ(info->organizations, (std::vector<std::string>{"system:masters", "devs"}));
  EXPECT_LE(info->not_after_unix - ::time(nullptr), 3600 + 5);
}

TEST(Pki, RefusesBadSpec) {
  auto ca = CertificateAuthority::create("test-ca");
  ASSERT_TRUE(ca.is_ok());
  CertSpec spec;
  spec.ip_addresses = {"not-an-ip"};
  auto kp = ca->issue(spec);
  ASSERT_FALSE(kp.is_ok());
  EXPECT_EQ(kp.status().code(), Code::kInvalid);
  EXPECT_NE(kp.status().message().find("ip_addresses"), std::string::npos);
  spec.ip_addresses.clear();
  spec.dns_names = {"bad name"};
  EXPECT_FALSE(ca->issue(spec).is_ok());
  EXPECT_FALSE(ca->sign_csr("garbage", CertSpec{}).is_ok());
  EXPECT_FALSE(parse_certificate("garbage").is_ok());
  EXPECT_FALSE(CertificateAuthority::from_pem("x", "y").is_ok());
}

TEST(Pki, SignsCertificateRequest) {
  auto ca = CertificateAuthority::create("test-ca");
  ASSERT_TRUE(ca.is_ok());
  auto csr = make_csr("system:node:n1", {"system:nodes"});
  ASSERT_TRUE(csr.is_ok()) << csr.status().to_string();
  auto sub = parse_csr(csr->cert_pem);
  ASSERT_TRUE(sub.is_ok());
  EXPECT_EQ(sub->common_name, "system:node:n1");
  CertSpec spec;
  spec.common_name = "ignored";
  spec.ttl = std::chrono::hours(24);
  auto cert = ca->sign_csr(csr->cert_pem, spec);
  ASSERT_TRUE(cert.is_ok()) << cert.status().to_string();
  EXPECT_TRUE(verify_certificate(*cert, ca->cert_pem()).is_ok());
  auto info = parse_certificate(*cert);
  ASSERT_TRUE(info.is_ok());
  EXPECT_EQ(info->common_name, "system:node:n1");
  EXPECT_EQ(info->organizations, (std::vector<std::string>{"system:nodes"}));
  // A tampered request: its signature no longer verifies.
  std::string bad = csr->cert_pem;
  auto pos = bad.find("\n", bad.find("BEGIN")) + 40;
  bad[pos] = bad[pos] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(ca->sign_csr(bad, spec).is_ok());
}

TEST(Pki, ARequestCarriesItsSubjectAltNames) {
  CertSpec want;
  want.common_name = "system:node:n1";
  want.organizations = {"system:nodes"};
  want.dns_names = {"n1.example"};
  want.ip_addresses = {"10.0.0.7"};
  auto csr = make_csr(want);
  ASSERT_TRUE(csr.is_ok()) << csr.status().to_string();
  auto sub = parse_csr(csr->cert_pem);
  ASSERT_TRUE(sub.is_ok()) << sub.status().to_string();
  EXPECT_EQ(sub->common_name, "system:node:n1");
  EXPECT_EQ(sub->organizations, (std::vector<std::string>{"system:nodes"}));
  EXPECT_EQ(sub->dns_names, (std::vector<std::string>{"n1.example"}));
  EXPECT_EQ(sub->ip_addresses, (std::vector<std::string>{"10.0.0.7"}));
  want.ip_addresses = {"not-an-ip"};
  EXPECT_EQ(make_csr(want).status().code(), Code::kInvalid);
}

TEST(Pki, LoadOrCreateKeepsTheCaAndMatchesOpensslHash) {
  testing::TempDir dir("pki");
  auto ca = CertificateAuthority::load_or_create(dir.path() + "/pki");
  ASSERT_TRUE(ca.is_ok()) << ca.status().to_string();
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() + "/pki/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = CertificateAuthority::load_or_create(dir.path() + "/pki");
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->cert_pem(), ca->cert_pem());
  EXPECT_EQ(again->spki_sha256(), ca->spki_sha256());
  EXPECT_EQ(ca->spki_sha256().size(), 64u);
  std::string want = run("openssl x509 -pubkey -noout -in " + dir.path() +
                         "/pki/ca.crt | openssl pkey -pubin -outform der | sha256sum");
  ASSERT_GE(want.size(), 64u) << "openssl is needed for this test";
  EXPECT_EQ(ca->spki_sha256(), want.substr(0, 64));
  // OpenSSL's own verifier accepts an issued certificate.
  auto kp = ca->issue(CertSpec{"alice", {"g"}, {}, {}, std::chrono::hours(1), KeyUsage::kClient});
  ASSERT_TRUE(kp.is_ok());
  ASSERT_TRUE(write_key_pair(dir.path() + "/a.crt", dir.path() + "/a.key", *kp).is_ok());
  std::string out =
      run("openssl verify -CAfile " + dir.path() + "/pki/ca.crt " + dir.path() + "/a.crt 2>&1");
  EXPECT_NE(out.find(": OK"), std::string::npos) << out;
}

}  // namespace
}  // namespace minik8s::auth
