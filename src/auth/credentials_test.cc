#include "minik8s/auth/credentials.h"

#include <gtest/gtest.h>

#include "minik8s/util/base64.h"

namespace minik8s::auth {
namespace {

TEST(Credentials, NodeCertificateNamesTheNodeAndVerifies) {
  auto ca = CertificateAuthority::create("test-ca");
  ASSERT_TRUE(ca.is_ok()) << ca.status().to_string();
  auto kp = issue_node_credential(*ca, "worker-1.example");
  ASSERT_TRUE(kp.is_ok()) << kp.status().to_string();
  EXPECT_TRUE(verify_certificate(kp->cert_pem, ca->cert_pem()).is_ok());
  auto info = parse_certificate(kp->cert_pem);
  ASSERT_TRUE(info.is_ok());
  EXPECT_EQ(info->common_name, "system:node:worker-1.example");
  EXPECT_EQ(info->organizations, std::vector<std::string>{"system:nodes"});
  EXPECT_FALSE(info->is_ca);
  EXPECT_NE(kp->key_pem.find("PRIVATE KEY"), std::string::npos);
}

TEST(Credentials, NodeNamesMustBeDnsSubdomains) {
  auto ca = CertificateAuthority::create("test-ca");
  ASSERT_TRUE(ca.is_ok());
  for (const char* bad :
       {"", "Upper", "a_b", "-a", "a-", "a..b", ".a", "a.", "a/b", "system:node:x"}) {
    auto kp = issue_node_credential(*ca, bad);
    ASSERT_FALSE(kp.is_ok()) << bad;
    EXPECT_EQ(kp.status().code(), Code::kInvalid) << bad;
    EXPECT_NE(kp.status().message().find("RFC 1123"), std::string::npos);
  }
  EXPECT_FALSE(issue_node_credential(*ca, std::string(64, 'a')).is_ok());  // a label > 63
  // system:node:NAME must fit X.509's 64-character common name.
  EXPECT_TRUE(issue_node_credential(*ca, std::string(52, 'a')).is_ok());
  auto long_name = issue_node_credential(*ca, std::string(53, 'a'));
  ASSERT_FALSE(long_name.is_ok());
  EXPECT_NE(long_name.status().message().find("at most 52 characters"), std::string::npos);
}

std::string field(const std::string& text, const std::string& key) {
  auto at = text.find(key + ": ");
  if (at == std::string::npos) return "";
  at += key.size() + 2;
  return text.substr(at, text.find('\n', at) - at);
}

TEST(Credentials, KubeconfigCarriesTheCaAndTheCertificate) {
  KeyPair kp{"-----BEGIN CERTIFICATE-----\nabc\n", "-----BEGIN EC PRIVATE KEY-----\nxyz\n"};
  std::string kc =
      client_kubeconfig("https://10.0.0.1:6443", "CA PEM\n", kp, "tok", "system:node:n1");
  EXPECT_EQ(field(kc, "server"), "https://10.0.0.1:6443");
  EXPECT_EQ(base64_decode(field(kc, "certificate-authority-data")).value_or(""), "CA PEM\n");
  EXPECT_EQ(base64_decode(field(kc, "client-certificate-data")).value_or(""), kp.cert_pem);
  EXPECT_EQ(base64_decode(field(kc, "client-key-data")).value_or(""), kp.key_pem);
  EXPECT_EQ(field(kc, "token"), "");  // a certificate wins over the token
  EXPECT_EQ(field(kc, "    user"), "system:node:n1");
  EXPECT_EQ(field(kc, "current-context"), "minik8s");

  std::string plain = client_kubeconfig("http://127.0.0.1:1", "", KeyPair{}, "tok");
  EXPECT_EQ(field(plain, "certificate-authority-data"), "");
  EXPECT_EQ(field(plain, "    token"), "tok");
}

}  // namespace
}  // namespace minik8s::auth
