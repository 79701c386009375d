// The authenticator chain (access.h): client certificate, the loopback
// token, the static token file. ServiceAccount and bootstrap tokens join it
// here.
#include <spdlog/spdlog.h>

#include "access.h"
#include "minik8s/auth/authenticators.h"

namespace minik8s::apiserver {

std::unique_ptr<auth::Authenticator> make_authenticator(const ApiServerOptions& opts, WatchCache&) {
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
  return std::make_unique<auth::UnionAuthenticator>(std::move(parts));
}

}  // namespace minik8s::apiserver
