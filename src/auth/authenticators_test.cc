#include "minik8s/auth/authenticators.h"

#include <gtest/gtest.h>

namespace minik8s::auth {
namespace {

TEST(StaticTokens, ParsesKubernetesCsv) {
  auto e = StaticTokenAuthenticator::parse(
      "# comment\n"
      "t1,alice,1001\n"
      "t2,bob,1002,\"dev,ops\"\r\n"
      "\n");
  ASSERT_TRUE(e.is_ok()) << e.status().to_string();
  ASSERT_EQ(e->size(), 2u);
  EXPECT_EQ((*e)[1].user.name, "bob");
  EXPECT_EQ((*e)[1].user.groups, (std::vector<std::string>{"dev", "ops"}));
  StaticTokenAuthenticator a(std::move(*e));
  Credentials c;
  c.bearer_token = "t2";
  auto u = a.authenticate(c);
  ASSERT_TRUE(u.is_ok());
  ASSERT_TRUE(u->has_value());
  EXPECT_EQ((*u)->name, "bob");
  c.bearer_token = "t3";
  u = a.authenticate(c);
  ASSERT_TRUE(u.is_ok());
  EXPECT_FALSE(u->has_value());
}

TEST(StaticTokens, MalformedLinesNameTheLine) {
  auto e = StaticTokenAuthenticator::parse("t1,alice,1\nt2,bob\n");
  ASSERT_FALSE(e.is_ok());
  EXPECT_NE(e.status().message().find("line 2"), std::string::npos) << e.status().message();
  EXPECT_FALSE(StaticTokenAuthenticator::parse("t1,a,1\nt1,b,2\n").is_ok());
  EXPECT_FALSE(StaticTokenAuthenticator::parse(",a,1\n").is_ok());
  EXPECT_FALSE(StaticTokenAuthenticator::parse("t,a,1,\"g\n").is_ok());
}

TEST(ClientCert, CommonNameIsTheUserOrganizationsTheGroups) {
  ClientCertAuthenticator a;
  Credentials c;
  auto none = a.authenticate(c);
  ASSERT_TRUE(none.is_ok());
  EXPECT_FALSE(none->has_value());
  c.client_cert = PeerCertificate{"system:node:n1", {"system:nodes"}};
  auto u = a.authenticate(c);
  ASSERT_TRUE(u.is_ok() && u->has_value());
  EXPECT_EQ((*u)->name, "system:node:n1");
  EXPECT_TRUE((*u)->in_group("system:nodes"));
  c.client_cert = PeerCertificate{"", {}};
  EXPECT_EQ(a.authenticate(c).status().code(), Code::kUnauthorized);
}

TEST(Union, FirstAnswerDecides) {
  std::vector<std::unique_ptr<Authenticator>> parts;
  parts.push_back(std::make_unique<ClientCertAuthenticator>());
  parts.push_back(std::make_unique<StaticTokenAuthenticator>(
      std::vector<StaticTokenAuthenticator::Entry>{{"tok", UserInfo{"carol", "", {}, {}}}}));
  UnionAuthenticator u(std::move(parts));
  Credentials c;
  c.bearer_token = "tok";
  auto r = u.authenticate(c);
  ASSERT_TRUE(r.is_ok() && r->has_value());
  EXPECT_EQ((*r)->name, "carol");
  c.client_cert = PeerCertificate{"dave", {}};
  r = u.authenticate(c);
  ASSERT_TRUE(r.is_ok() && r->has_value());
  EXPECT_EQ((*r)->name, "dave");  // the certificate comes first
  EXPECT_TRUE(secret_equal("abc", "abc"));
  EXPECT_FALSE(secret_equal("abc", "abd"));
  EXPECT_FALSE(secret_equal("abc", "ab"));
}

}  // namespace
}  // namespace minik8s::auth
