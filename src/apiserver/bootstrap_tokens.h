// Bootstrap tokens (docs/auth.md "Bootstrap tokens and the join"): a bearer
// token "<id>.<secret>" ([a-z0-9]{6}.[a-z0-9]{16}) is the Secret
// kube-system/bootstrap-token-<id> of type bootstrap.kubernetes.io/token.
// Private to mk_apiserver.
// Thread safety: authenticate() is called concurrently; the cache is
// thread-safe and the clock must be too.
#pragma once

#include <optional>
#include <string>

#include "minik8s/auth/authenticator.h"
#include "minik8s/util/time.h"
#include "watch_cache.h"

namespace minik8s::apiserver {

inline constexpr const char* kBootstrapTokenSecretType = "bootstrap.kubernetes.io/token";
inline constexpr const char* kBootstrapTokenPrefix = "bootstrap-token-";

// A bearer token of the bootstrap form: {id, secret}, else nullopt.
std::optional<std::pair<std::string, std::string>> split_bootstrap_token(const std::string& t);

// Tokens of the bootstrap form are this authenticator's: the Secret must
// exist (not being deleted), be of the bootstrap type, hold the same
// token-secret (compared in constant time), allow authentication
// (usage-bootstrap-authentication "true") and not be past its expiration;
// then the user is system:bootstrap:<id> in system:bootstrappers and the
// auth-extra-groups (each must start with system:bootstrappers:). Anything
// else of that form: kUnauthorized (401). Other tokens: nullopt.
class BootstrapTokenAuthenticator final : public auth::Authenticator {
 public:
  explicit BootstrapTokenAuthenticator(WatchCache& cache, Clock& clock = real_clock())
      : cache_(cache), clock_(clock) {}
  Result<std::optional<auth::UserInfo>> authenticate(const auth::Credentials& c) override;

 private:
  WatchCache& cache_;
  Clock& clock_;
};

}  // namespace minik8s::apiserver
