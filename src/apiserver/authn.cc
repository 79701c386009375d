// The authenticator chain (access.h): client certificate, the loopback
// token, the static token file, ServiceAccount tokens (sa_tokens.h),
// bootstrap tokens (bootstrap_tokens.h).
#include <spdlog/spdlog.h>

#include "access.h"
#include "bootstrap_tokens.h"
#include "minik8s/auth/authenticators.h"
#include "sa_tokens.h"

namespace minik8s::apiserver {

std::unique_ptr<auth::Authenticator> make_authenticator(const ApiServerOptions& opts,
                                                        WatchCache& cache,
                                                        const ServiceAccountTokens* sa_tokens) {
  std::vector<std::unique_ptr<auth::Authenticator>> parts;
  parts.push_back(std::make_unique<auth::ClientCertAuthenticator>());
  std::vector<auth::StaticTokenAuthenticator::Entry> loopback;
  if (!opts.auth.loopback_token.empty()) {
    loopback.push_back({opts.auth.loopback_token,
                        auth::UserInfo{auth::kUserApiserver, "", {auth::kGroupMasters}, {}}});
  }
  parts.push_back(std::make_unique<auth::StaticTokenAuthenticator>(std::move(loopback)));
  if (!opts.auth.token_file.empty()) {
    auto f = auth::StaticTokenAuthenticator::from_file(opts.auth.token_file);
    if (f) {
      parts.push_back(std::move(*f));
    } else {
      // ApiServer::start checks the file first; this is a file changed since.
      spdlog::error("apiserver: {}", f.status().message());
    }
  }
  if (sa_tokens) parts.push_back(std::make_unique<ServiceAccountAuthenticator>(*sa_tokens, cache));
  parts.push_back(std::make_unique<BootstrapTokenAuthenticator>(cache));
  return std::make_unique<auth::UnionAuthenticator>(std::move(parts));
}

}  // namespace minik8s::apiserver
