// CertificateSigningRequest validation and Table, and the bootstrap token
// Secret type's validation (docs/auth.md "Joining nodes, CSRs and the
// kubelet's server").
#include <gtest/gtest.h>

#include "kinds_test_util.h"
#include "minik8s/util/base64.h"

namespace minik8s::api {
namespace {

using kinds_test::dump;
using kinds_test::has_error;
using kinds_test::kind;

const char* kPem = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n";

Json csr() {
  return {{"apiVersion", "certificates.k8s.io/v1"},
          {"kind", "CertificateSigningRequest"},
          {"metadata", {{"name", "c"}}},
          {"spec",
           {{"request", base64_encode(kPem)},
            {"signerName", "kubernetes.io/kube-apiserver-client"},
            {"usages", {"client auth"}}}}};
}

FieldErrors validate(const Json& obj, const Json* old = nullptr) {
  const ResourceType& t = kind("certificates.k8s.io/v1", "CertificateSigningRequest");
  Json o = obj;
  if (t.set_defaults) t.set_defaults(o);
  FieldErrors errs;
  t.validate(o, old, errs);
  return errs;
}

TEST(CsrKindTest, Validation) {
  EXPECT_TRUE(validate(csr()).empty()) << dump(validate(csr()));
  Json c = csr();
  c["spec"]["request"] = "not base64!";
  EXPECT_TRUE(has_error(validate(c), "spec.request", "base64"));
  c = csr();
  c["spec"]["request"] = base64_encode("hello");
  EXPECT_TRUE(has_error(validate(c), "spec.request", "CERTIFICATE REQUEST"));
  c = csr();
  c["spec"].erase("signerName");
  EXPECT_TRUE(has_error(validate(c), "spec.signerName", "Required"));
  c["spec"]["signerName"] = "nodomain";
  EXPECT_TRUE(has_error(validate(c), "spec.signerName", "example.com/signer-name"));
  c = csr();
  c["spec"]["usages"] = {"client auth", "flying"};
  EXPECT_TRUE(has_error(validate(c), "spec.usages[1]", "Unsupported"));
  c["spec"]["usages"] = {"client auth", "client auth"};
  EXPECT_TRUE(has_error(validate(c), "spec.usages[1]", "Duplicate"));
  c = csr();
  c["spec"]["expirationSeconds"] = 599;
  EXPECT_TRUE(has_error(validate(c), "spec.expirationSeconds", "600"));
  c = csr();
  c["status"]["conditions"] = {{{"type", "Approved"}}, {{"type", "Denied"}}};
  EXPECT_TRUE(has_error(validate(c), "status.conditions", "mutually exclusive"));
}

TEST(CsrKindTest, UpdateRules) {
  Json old = csr();
  old["status"]["conditions"] = {{{"type", "Denied"}, {"status", "True"}}};
  old["status"]["certificate"] = base64_encode("-----BEGIN CERTIFICATE-----\nx\n");
  Json c = old;
  c["spec"]["signerName"] = "example.com/other";
  EXPECT_TRUE(has_error(validate(c, &old), "spec", "immutable"));
  c = old;
  c["status"]["conditions"] = Json::array();
  EXPECT_TRUE(has_error(validate(c, &old), "status.conditions", "Denied"));
  c = old;
  c["status"]["certificate"] = base64_encode("-----BEGIN CERTIFICATE-----\ny\n");
  EXPECT_TRUE(has_error(validate(c, &old), "status.certificate", "immutable"));
  EXPECT_TRUE(validate(old, &old).empty()) << dump(validate(old, &old));
}

TEST(CsrKindTest, TableCondition) {
  const ResourceType& t = kind("certificates.k8s.io/v1", "CertificateSigningRequest");
  Json c = csr();
  c["spec"]["username"] = "system:bootstrap:abcdef";
  c["spec"]["expirationSeconds"] = 3600;
  Json cells = t.table_cells(c);
  ASSERT_EQ(cells.size(), t.table_columns().size());
  EXPECT_EQ(cells[1], "kubernetes.io/kube-apiserver-client");
  EXPECT_EQ(cells[2], "system:bootstrap:abcdef");
  EXPECT_EQ(cells[3], "60m");
  EXPECT_EQ(cells[4], "Pending");
  c["status"]["conditions"] = {{{"type", "Approved"}, {"status", "True"}}};
  c["status"]["certificate"] = "eA==";
  EXPECT_EQ(t.table_cells(c)[4], "Approved,Issued");
}

Json token_secret(Json data) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"name", "bootstrap-token-abcdef"}, {"namespace", "kube-system"}}},
          {"type", "bootstrap.kubernetes.io/token"},
          {"stringData", std::move(data)}};
}

FieldErrors validate_secret(const Json& obj) {
  const ResourceType& t = kind("v1", "Secret");
  Json o = obj;
  t.set_defaults(o);
  FieldErrors errs;
  t.validate(o, nullptr, errs);
  return errs;
}

TEST(BootstrapTokenSecretTest, Validation) {
  Json good = {{"token-id", "abcdef"},
               {"token-secret", "0123456789abcdef"},
               {"expiration", "2030-01-01T00:00:00Z"},
               {"usage-bootstrap-authentication", "true"},
               {"auth-extra-groups", "system:bootstrappers:workers"}};
  EXPECT_TRUE(validate_secret(token_secret(good)).empty())
      << dump(validate_secret(token_secret(good)));
  Json d = good;
  d["token-id"] = "ABCDEF";
  EXPECT_TRUE(has_error(validate_secret(token_secret(d)), "data[token-id]", "[a-z0-9]{6}"));
  d = good;
  d["token-id"] = "zzzzzz";
  EXPECT_TRUE(
      has_error(validate_secret(token_secret(d)), "metadata.name", "bootstrap-token-zzzzzz"));
  d = good;
  d["token-secret"] = "short";
  EXPECT_TRUE(has_error(validate_secret(token_secret(d)), "data[token-secret]", "[a-z0-9]{16}"));
  d = good;
  d.erase("token-secret");
  EXPECT_TRUE(has_error(validate_secret(token_secret(d)), "data[token-secret]", "Required"));
  d = good;
  d["expiration"] = "tomorrow";
  EXPECT_TRUE(has_error(validate_secret(token_secret(d)), "data[expiration]", "RFC 3339"));
  d = good;
  d["usage-bootstrap-signing"] = "yes";
  EXPECT_TRUE(has_error(validate_secret(token_secret(d)), "data[usage-bootstrap-signing]", "true"));
  d = good;
  d["auth-extra-groups"] = "system:bootstrappers:ok,system:masters";
  EXPECT_TRUE(has_error(validate_secret(token_secret(d)), "data[auth-extra-groups]",
                        "system:bootstrappers:"));
  // Other Secret types are not held to these rules.
  Json opaque = token_secret({{"token-id", "nope"}});
  opaque["type"] = "Opaque";
  EXPECT_TRUE(validate_secret(opaque).empty());
}

}  // namespace
}  // namespace minik8s::api
