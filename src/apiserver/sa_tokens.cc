// ServiceAccount tokens: issuing, verifying, authenticating (sa_tokens.h).
#include "sa_tokens.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

#include "object_util.h"
#include "request.h"

namespace minik8s::apiserver {

using nlohmann::json;

namespace {

int64_t wall_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string random_id() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[40];
  uint64_t a = rng(), b = rng();
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return buf;
}

Status unauthorized(std::string m) { return Status(Code::kUnauthorized, std::move(m)); }

}  // namespace

std::string rfc3339_of(int64_t epoch_s) {
  std::time_t t = static_cast<std::time_t>(epoch_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

ServiceAccountTokens::ServiceAccountTokens(std::shared_ptr<const auth::EcKey> key,
                                           std::string issuer, Clock now)
    : key_(std::move(key)), issuer_(std::move(issuer)), now_(now ? std::move(now) : wall_now) {}

Result<std::shared_ptr<const ServiceAccountTokens>> ServiceAccountTokens::load(
    const ApiAuthOptions& opts) {
  std::string pem;
  if (opts.sa_key_file.empty()) {
    auto made = auth::EcKey::generate_private_pem();
    if (!made) return made.status();
    pem = std::move(*made);
  } else {
    std::ifstream in(opts.sa_key_file, std::ios::binary);
    if (!in) {
      return Status(Code::kInvalid,
                    "service account signing key " + opts.sa_key_file + ": cannot be read");
    }
    std::stringstream ss;
    ss << in.rdbuf();
    pem = ss.str();
  }
  auto key = auth::EcKey::from_pem(pem);
  if (!key) {
    return Status(Code::kInvalid, "service account signing key " + opts.sa_key_file + ": " +
                                      key.status().message());
  }
  if (!(*key)->has_private()) {
    return Status(Code::kInvalid,
                  "service account signing key " + opts.sa_key_file + ": a private key is needed");
  }
  return std::make_shared<const ServiceAccountTokens>(std::move(*key), opts.sa_issuer);
}

Result<std::string> ServiceAccountTokens::issue(const ServiceAccountClaims& c,
                                                int64_t ttl_s) const {
  int64_t now = now_();
  json k8s = {{"namespace", c.ns}, {"serviceaccount", {{"name", c.name}, {"uid", c.uid}}}};
  if (!c.pod_name.empty()) k8s["pod"] = {{"name", c.pod_name}, {"uid", c.pod_uid}};
  json claims = {{"iss", issuer_},
                 {"sub", std::string(auth::kServiceAccountUserPrefix) + c.ns + ":" + c.name},
                 {"aud", c.audiences.empty() ? api_audiences() : c.audiences},
                 {"iat", now},
                 {"nbf", now},
                 {"exp", now + ttl_s},
                 {"jti", random_id()},
                 {"kubernetes.io", k8s}};
  return auth::jwt_sign(*key_, claims);
}

Result<std::optional<ServiceAccountClaims>> ServiceAccountTokens::verify(
    const std::string& token, const std::vector<std::string>& audiences) const {
  auto peek = auth::jwt_peek_claims(token);
  if (!peek) return std::optional<ServiceAccountClaims>();
  auto iss = peek->find("iss");
  if (iss == peek->end() || !iss->is_string() || iss->get<std::string>() != issuer_) {
    return std::optional<ServiceAccountClaims>();
  }
  auto claims = auth::jwt_verify(
      *key_, token, {issuer_, audiences.empty() ? api_audiences() : audiences, now_(), 60});
  if (!claims) return claims.status();
  const json& k8s = api::field(*claims, "kubernetes.io");
  ServiceAccountClaims c;
  c.ns = api::sfield(k8s, "namespace");
  c.name = api::sfield(api::field(k8s, "serviceaccount"), "name");
  c.uid = api::sfield(api::field(k8s, "serviceaccount"), "uid");
  c.pod_name = api::sfield(api::field(k8s, "pod"), "name");
  c.pod_uid = api::sfield(api::field(k8s, "pod"), "uid");
  c.expires = api::field(*claims, "exp").is_number() ? (*claims)["exp"].get<int64_t>() : 0;
  const json& aud = api::field(*claims, "aud");
  if (aud.is_string()) c.audiences.push_back(aud.get<std::string>());
  if (aud.is_array()) {
    for (const auto& a : aud) {
      if (a.is_string()) c.audiences.push_back(a.get<std::string>());
    }
  }
  if (c.ns.empty() || c.name.empty() || c.uid.empty()) {
    return unauthorized("the token names no service account");
  }
  if (api::sfield(*claims, "sub") !=
      std::string(auth::kServiceAccountUserPrefix) + c.ns + ":" + c.name) {
    return unauthorized("the token's sub does not match its service account");
  }
  return std::optional<ServiceAccountClaims>(std::move(c));
}

Result<std::optional<auth::UserInfo>> ServiceAccountAuthenticator::authenticate(
    const auth::Credentials& c) {
  if (c.bearer_token.empty()) return std::optional<auth::UserInfo>();
  return authenticate_token(c.bearer_token, tokens_.api_audiences());
}

Result<std::optional<auth::UserInfo>> ServiceAccountAuthenticator::authenticate_token(
    const std::string& token, const std::vector<std::string>& audiences) {
  auto v = tokens_.verify(token, audiences);
  if (!v) return v.status();
  if (!v->has_value()) return std::optional<auth::UserInfo>();
  const ServiceAccountClaims& c = **v;
  const api::ResourceType* sas = api::find_kind("v1", "ServiceAccount");
  const api::ResourceType* pods = api::find_kind("v1", "Pod");
  if (!sas || !pods) return internal_error("no ServiceAccount or Pod kind");
  ObjectPtr sa = cache_.get(object_key(*sas, c.ns, c.name));
  if (!sa) return unauthorized("service account " + c.ns + "/" + c.name + " has been deleted");
  if (meta_str(sa->object, "uid") != c.uid) {
    return unauthorized("service account " + c.ns + "/" + c.name + " was recreated (uid differs)");
  }
  auth::UserInfo u;
  u.name = std::string(auth::kServiceAccountUserPrefix) + c.ns + ":" + c.name;
  u.uid = c.uid;
  u.groups = {auth::kGroupServiceAccounts, std::string(auth::kGroupServiceAccounts) + ":" + c.ns};
  if (!c.pod_name.empty()) {
    ObjectPtr pod = cache_.get(object_key(*pods, c.ns, c.pod_name));
    if (!pod) return unauthorized("pod " + c.ns + "/" + c.pod_name + " has been deleted");
    if (meta_str(pod->object, "uid") != c.pod_uid) {
      return unauthorized("pod " + c.ns + "/" + c.pod_name + " was recreated (uid differs)");
    }
    u.extra["authentication.kubernetes.io/pod-name"] = {c.pod_name};
    u.extra["authentication.kubernetes.io/pod-uid"] = {c.pod_uid};
  }
  return std::optional<auth::UserInfo>(std::move(u));
}

}  // namespace minik8s::apiserver
