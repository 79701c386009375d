// BootstrapTokenAuthenticator (bootstrap_tokens.h).
#include "bootstrap_tokens.h"

#include <nlohmann/json.hpp>

#include "minik8s/api/json.h"
#include "minik8s/api/resource.h"
#include "minik8s/auth/authenticators.h"
#include "minik8s/util/base64.h"
#include "request.h"

namespace minik8s::apiserver {

namespace {

bool lower_alnum(const std::string& s) {
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

std::string data_of(const nlohmann::json& secret, const char* key) {
  auto v = base64_decode(api::sfield(api::field(secret, "data"), key));
  return v ? *v : "";
}

Status refused(const std::string& id, const std::string& why) {
  return Status(Code::kUnauthorized, "bootstrap token " + id + ": " + why);
}

}  // namespace

std::optional<std::pair<std::string, std::string>> split_bootstrap_token(const std::string& t) {
  if (t.size() != 23 || t[6] != '.') return std::nullopt;
  std::string id = t.substr(0, 6), secret = t.substr(7);
  if (!lower_alnum(id) || !lower_alnum(secret)) return std::nullopt;
  return std::make_pair(id, secret);
}

Result<std::optional<auth::UserInfo>> BootstrapTokenAuthenticator::authenticate(
    const auth::Credentials& c) {
  auto parts = split_bootstrap_token(c.bearer_token);
  if (!parts) return std::optional<auth::UserInfo>();
  const auto& [id, secret] = *parts;
  const api::ResourceType* secrets = api::find_kind("v1", "Secret");
  if (!secrets) return internal_error("no Secret kind");
  ObjectPtr o = cache_.get(object_key(*secrets, "kube-system", kBootstrapTokenPrefix + id));
  if (!o) return refused(id, "no such token");
  const nlohmann::json& s = o->object;
  if (!api::field(api::field(s, "metadata"), "deletionTimestamp").is_null()) {
    return refused(id, "being deleted");
  }
  if (api::sfield(s, "type") != kBootstrapTokenSecretType) return refused(id, "not a token Secret");
  if (!auth::secret_equal(data_of(s, "token-secret"), secret) || data_of(s, "token-id") != id) {
    return refused(id, "the secret does not match");
  }
  if (data_of(s, "usage-bootstrap-authentication") != "true") {
    return refused(id, "not for authentication");
  }
  std::string exp = data_of(s, "expiration");
  // A year past what a system_clock time_point holds (2262) is never.
  if (!exp.empty() && exp.compare(0, 4, "2262") < 0) {
    SysTime when;
    if (!parse_rfc3339(exp, &when)) return refused(id, "expiration does not parse");
    if (clock_.now() >= when) return refused(id, "expired at " + exp);
  }
  auth::UserInfo u;
  u.name = "system:bootstrap:" + id;
  u.groups = {auth::kGroupBootstrappers};
  std::string extra = data_of(s, "auth-extra-groups");
  size_t start = 0;
  while (!extra.empty() && start <= extra.size()) {
    size_t comma = extra.find(',', start);
    std::string g =
        extra.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (g.rfind("system:bootstrappers:", 0) != 0) {
      return refused(id, "extra group " + g + " does not start with system:bootstrappers:");
    }
    u.groups.push_back(g);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return std::optional<auth::UserInfo>(std::move(u));
}

}  // namespace minik8s::apiserver
