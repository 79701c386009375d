// ServiceAccount tokens (docs/auth.md "Authentication"): JWTs signed ES256
// with the server's sa.key, issued by the TokenRequest subresource
// (serviceaccounts/token) and verified by ServiceAccountAuthenticator, which
// also checks that the ServiceAccount (and, for a bound token, the Pod) still
// exists with the uid the token names. Private to mk_apiserver.
// Thread safety: both classes are immutable after construction.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "minik8s/apiserver/apiserver.h"
#include "minik8s/auth/authenticator.h"
#include "minik8s/auth/jwt.h"
#include "watch_cache.h"

namespace minik8s::apiserver {

// Who a verified token names.
struct ServiceAccountClaims {
  std::string ns, name, uid;      // the ServiceAccount
  std::string pod_name, pod_uid;  // empty unless bound to a Pod
  std::vector<std::string> audiences;
  int64_t expires = 0;  // exp, seconds since the epoch
};

class ServiceAccountTokens {
 public:
  using Clock = std::function<int64_t()>;  // seconds since the epoch
  ServiceAccountTokens(std::shared_ptr<const auth::EcKey> key, std::string issuer,
                       Clock now = nullptr);
  // opts.sa_key_file's key (kInvalid naming the file when it cannot be read
  // or is no P-256 private key); an empty path: a key made now, kept in
  // memory only (tokens die with the server; tests).
  static Result<std::shared_ptr<const ServiceAccountTokens>> load(const ApiAuthOptions& opts);

  const std::string& issuer() const { return issuer_; }
  // The audiences a token is for when none are asked for: the API server's
  // own (Kubernetes' --api-audiences, defaulting to the issuer).
  std::vector<std::string> api_audiences() const { return {issuer_}; }
  int64_t now() const { return now_(); }

  // A token for c valid from now for ttl_s seconds.
  Result<std::string> issue(const ServiceAccountClaims& c, int64_t ttl_s) const;
  // nullopt: not a JWT of this issuer (another authenticator's); an error
  // (kUnauthorized): ours but invalid for one of audiences; else the claims.
  Result<std::optional<ServiceAccountClaims>> verify(
      const std::string& token, const std::vector<std::string>& audiences) const;

 private:
  std::shared_ptr<const auth::EcKey> key_;
  std::string issuer_;
  Clock now_;
};

// Bearer tokens that are ServiceAccount JWTs: user
// system:serviceaccount:<ns>:<name>, groups system:serviceaccounts and
// system:serviceaccounts:<ns>, extra authentication.kubernetes.io/pod-name
// and pod-uid for a bound token. The ServiceAccount and Pod are read from
// the watch cache.
class ServiceAccountAuthenticator final : public auth::Authenticator {
 public:
  ServiceAccountAuthenticator(const ServiceAccountTokens& tokens, WatchCache& cache)
      : tokens_(tokens), cache_(cache) {}
  Result<std::optional<auth::UserInfo>> authenticate(const auth::Credentials& c) override;
  // As authenticate, for a token meant for one of audiences.
  Result<std::optional<auth::UserInfo>> authenticate_token(
      const std::string& token, const std::vector<std::string>& audiences);

 private:
  const ServiceAccountTokens& tokens_;
  WatchCache& cache_;
};

// RFC 3339 UTC of seconds since the epoch ("2026-01-02T03:04:05Z").
std::string rfc3339_of(int64_t epoch_s);

}  // namespace minik8s::apiserver
