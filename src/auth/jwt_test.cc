#include "minik8s/auth/jwt.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace minik8s::auth {
namespace {

std::shared_ptr<const EcKey> new_key() {
  auto pem = EcKey::generate_private_pem();
  EXPECT_TRUE(pem.is_ok());
  auto k = EcKey::from_pem(*pem);
  EXPECT_TRUE(k.is_ok()) << k.status().to_string();
  return *k;
}

nlohmann::json claims(int64_t now) {
  return {{"iss", "https://issuer"},
          {"aud", {"api", "other"}},
          {"sub", "system:serviceaccount:a:b"},
          {"iat", now},
          {"nbf", now},
          {"exp", now + 600}};
}

JwtExpectations expect(int64_t now) { return {"https://issuer", {"api"}, now, 60}; }

TEST(Base64Url, RoundTripsAndRefusesBadInput) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\xff\x00\xfe", 3)}) {
    auto d = base64url_decode(base64url_encode(s));
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_FALSE(base64url_decode("ab=").has_value());
  EXPECT_FALSE(base64url_decode("a").has_value());
  EXPECT_FALSE(base64url_decode("a+b/").has_value());
}

TEST(Jwt, SignsAndVerifies) {
  auto key = new_key();
  EXPECT_TRUE(key->has_private());
  EXPECT_EQ(key->kid().size(), 43u);  // base64url of 32 bytes
  auto t = jwt_sign(*key, claims(1000));
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  auto c = jwt_verify(*key, *t, expect(1000));
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ((*c)["sub"], "system:serviceaccount:a:b");
  // The public half alone verifies, has the same kid, and cannot sign.
  auto pub = EcKey::from_pem(key->public_pem());
  ASSERT_TRUE(pub.is_ok());
  EXPECT_FALSE((*pub)->has_private());
  EXPECT_EQ((*pub)->kid(), key->kid());
  EXPECT_TRUE(jwt_verify(**pub, *t, expect(1000)).is_ok());
  EXPECT_FALSE(jwt_sign(**pub, claims(1000)).is_ok());
  auto peek = jwt_peek_claims(*t);
  ASSERT_TRUE(peek.has_value());
  EXPECT_EQ((*peek)["iss"], "https://issuer");
}

TEST(Jwt, RefusesAnotherKeysToken) {
  auto a = new_key(), b = new_key();
  auto t = jwt_sign(*a, claims(1000));
  auto c = jwt_verify(*b, *t, expect(1000));
  EXPECT_EQ(c.status().code(), Code::kUnauthorized);
}

TEST(Jwt, RefusesTamperedSignatureAndPayload) {
  auto key = new_key();
  std::string t = *jwt_sign(*key, claims(1000));
  auto dot1 = t.find('.'), dot2 = t.rfind('.');
  std::string sig = t.substr(dot2 + 1);
  sig[5] = sig[5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(jwt_verify(*key, t.substr(0, dot2 + 1) + sig, expect(1000)).status().code(),
            Code::kUnauthorized);
  auto evil = claims(1000);
  evil["sub"] = "system:serviceaccount:kube-system:admin";
  std::string forged = t.substr(0, dot1 + 1) + base64url_encode(evil.dump()) + t.substr(dot2);
  EXPECT_EQ(jwt_verify(*key, forged, expect(1000)).status().code(), Code::kUnauthorized);
}

TEST(Jwt, ChecksTimesIssuerAndAudience) {
  auto key = new_key();
  std::string t = *jwt_sign(*key, claims(1000));
  EXPECT_TRUE(jwt_verify(*key, t, expect(1600 + 59)).is_ok());  // within the leeway
  auto late = jwt_verify(*key, t, expect(1600 + 61));
  EXPECT_EQ(late.status().code(), Code::kUnauthorized);
  EXPECT_NE(late.status().message().find("expired"), std::string::npos);
  EXPECT_FALSE(jwt_verify(*key, t, expect(1000 - 120)).is_ok());  // nbf/iat in the future
  auto e = expect(1000);
  e.issuer = "https://other";
  EXPECT_FALSE(jwt_verify(*key, t, e).is_ok());
  e = expect(1000);
  e.audiences = {"nobody"};
  auto wrong_aud = jwt_verify(*key, t, e);
  EXPECT_EQ(wrong_aud.status().code(), Code::kUnauthorized);
  EXPECT_NE(wrong_aud.status().message().find("audience"), std::string::npos);
  e.audiences = {"nobody", "other"};
  EXPECT_TRUE(jwt_verify(*key, t, e).is_ok());
  auto no_exp = claims(1000);
  no_exp.erase("exp");
  EXPECT_FALSE(jwt_verify(*key, *jwt_sign(*key, no_exp), expect(1000)).is_ok());
  auto bad_exp = claims(1000);
  bad_exp["exp"] = "tomorrow";
  EXPECT_FALSE(jwt_verify(*key, *jwt_sign(*key, bad_exp), expect(1000)).is_ok());
}

TEST(Jwt, RefusesAlgNone) {
  auto key = new_key();
  std::string t = *jwt_sign(*key, claims(1000));
  std::string payload = t.substr(t.find('.') + 1, t.rfind('.') - t.find('.') - 1);
  for (const char* alg : {"none", "HS256", "ES384"}) {
    nlohmann::json h = {{"alg", alg}, {"typ", "JWT"}};
    std::string forged = base64url_encode(h.dump()) + "." + payload + ".";
    EXPECT_EQ(jwt_verify(*key, forged, expect(1000)).status().code(), Code::kUnauthorized) << alg;
    forged = base64url_encode(h.dump()) + "." + payload + t.substr(t.rfind('.'));
    EXPECT_FALSE(jwt_verify(*key, forged, expect(1000)).is_ok()) << alg;
  }
}

TEST(Jwt, MalformedInputNeverCrashes) {
  auto key = new_key();
  std::string good = *jwt_sign(*key, claims(1000));
  std::vector<std::string> inputs = {"",
                                     ".",
                                     "..",
                                     "...",
                                     "a.b.c",
                                     "a.b",
                                     "e30.e30.",
                                     base64url_encode("[1]") + ".e30.AAAA",
                                     base64url_encode("{\"alg\":\"ES256\"}") + ".bm90IGpzb24.AAAA",
                                     std::string(100000, 'a'),
                                     std::string("\0.\0.\0", 5)};
  for (size_t i = 0; i < good.size(); i += 7) inputs.push_back(good.substr(0, i));
  for (const auto& in : inputs) {
    EXPECT_FALSE(jwt_verify(*key, in, expect(1000)).is_ok()) << in.substr(0, 40);
    (void)jwt_peek_claims(in);
  }
  EXPECT_FALSE(EcKey::from_pem("").is_ok());
  EXPECT_FALSE(
      EcKey::from_pem("-----BEGIN PRIVATE KEY-----\nzzz\n-----END PRIVATE KEY-----\n").is_ok());
}

TEST(Jwt, EnsurePrivateKeyFileCreatesOnceWithMode0600) {
  std::string dir = ::testing::TempDir() + "/mk-jwt-" + std::to_string(::getpid());
  std::string path = dir + "/pki/sa.key";
  ASSERT_TRUE(ensure_private_key_file(path).is_ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string first = ss.str();
  auto key = EcKey::from_pem(first);
  ASSERT_TRUE(key.is_ok());
  EXPECT_TRUE((*key)->has_private());
  ASSERT_TRUE(ensure_private_key_file(path).is_ok());  // kept, not replaced
  std::ifstream again(path);
  std::stringstream ss2;
  ss2 << again.rdbuf();
  EXPECT_EQ(ss2.str(), first);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace minik8s::auth
