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
#include "watch_cache.h"

namespace minik8s::apiserver {

class ServiceAccountTokens;

// The chain for opts.auth; reads ServiceAccounts and Secrets from the cache.
// sa_tokens (null: no ServiceAccount tokens) must outlive the chain.
std::unique_ptr<auth::Authenticator> make_authenticator(const ApiServerOptions& opts,
                                                        WatchCache& cache,
                                                        const ServiceAccountTokens* sa_tokens);
// The authorizer for opts.auth.authorization_modes; reads RBAC objects (and,
// for Node, pods and nodes) from the cache.
std::unique_ptr<auth::Authorizer> make_authorizer(const ApiServerOptions& opts, WatchCache& cache);
// Kubernetes' request attributes of req (its user already set).
auth::Attributes request_attributes(const HttpRequest& req);

}  // namespace minik8s::apiserver
