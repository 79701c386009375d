// Who may do what (docs/security.md "Request path"): the API server's
// authenticator chain and authorizer, built from ApiServerOptions::auth.
// Private to mk_apiserver.
//   authn.cc  make_authenticator: client certificates, the static token
//             file, ServiceAccount and bootstrap tokens, the loopback token
//   authz.cc  make_authorizer (Node, RBAC, AlwaysAllow in the configured
//             order) and request_attributes
// RestHandler::admit (handler.cc) runs them for every request.
#pragma once

#include <memory>

#include "http_types.h"
#include "minik8s/apiserver/apiserver.h"
#include "minik8s/auth/authenticator.h"
#include "minik8s/auth/authorizer.h"
#include "minik8s/auth/rbac.h"
#include "watch_cache.h"

namespace minik8s::apiserver {

class ServiceAccountTokens;

// The chain for opts.auth; reads ServiceAccounts and Secrets from the cache.
// sa_tokens (null: no ServiceAccount tokens) must outlive the chain.
std::unique_ptr<auth::Authenticator> make_authenticator(const ApiServerOptions& opts,
                                                        WatchCache& cache,
                                                        const ServiceAccountTokens* sa_tokens);

// The configured authorizers in order (docs/auth.md "Authorization"): the
// first that allows or denies decides. Thread-safe; reads the cache per
// request (RBAC objects; for Node, pods).
class ServerAuthorizer : public auth::Authorizer {
 public:
  virtual ~ServerAuthorizer() = default;
  // RBAC's rules for user in ns (SelfSubjectRulesReview); empty without RBAC.
  virtual std::vector<auth::PolicyRule> rules_for(const auth::UserInfo& user,
                                                  const std::string& ns) const = 0;
  // A Role's (ns set) or ClusterRole's rules as RBAC reads them; null when
  // missing or without RBAC.
  virtual auth::RulesPtr role_rules(const std::string& ns, const std::string& name) const = 0;
};

// kInvalid naming the mode when opts.auth.authorization_modes holds one that
// is not "Node", "RBAC", "AlwaysAllow" or "AlwaysDeny".
Status check_authorization_modes(const ApiServerOptions& opts);
// The authorizer for opts.auth.authorization_modes (unknown modes, which
// check_authorization_modes refuses at start, are skipped). No modes: null
// (every authenticated request is allowed).
std::unique_ptr<ServerAuthorizer> make_authorizer(const ApiServerOptions& opts, WatchCache& cache);
// Kubernetes' request attributes of req (its user already set).
auth::Attributes request_attributes(const HttpRequest& req);

}  // namespace minik8s::apiserver
