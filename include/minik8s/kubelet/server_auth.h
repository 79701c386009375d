// Who may use the kubelet's server (docs/auth.md "The kubelet's server"):
// authentication and authorization delegated to the API server, as
// Kubernetes' kubelet does with --authentication-token-webhook and
// --authorization-mode=Webhook (pkg/kubelet/server/auth.go).
//
//   1. A client certificate the TLS layer verified against the cluster CA:
//      user CN, groups O (+ system:authenticated).
//   2. Else an "Authorization: Bearer" token, asked of the API server by a
//      TokenReview; answers (yes and no) cached for 2 minutes.
//   3. Else, or when the review says no: 401.
//   Then a SubjectAccessReview of the request's kubelet attributes
//   (kubelet_request_attributes); allows cached 5 minutes, denies 30 s; a
//   deny is 403 "Forbidden (user=U, verb=V, resource=nodes, subresource=S)",
//   a review the API server could not answer 500 (neither is cached).
//
// Thread safety: KubeletAuth::check and kubelet_request_attributes may be
// called from any number of threads. The AuthReviewer is borrowed, must
// outlive the KubeletAuth and be thread-safe (make_api_reviewer's is).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "minik8s/auth/authorizer.h"
#include "minik8s/auth/user.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/util/conn_server.h"
#include "minik8s/util/status.h"
#include "minik8s/util/time.h"

namespace minik8s::kubelet {

// What the kubelet asks the API server.
class AuthReviewer {
 public:
  virtual ~AuthReviewer() = default;
  // TokenReview (authentication.k8s.io/v1) of a bearer token: the user, or
  // nullopt when the API server says it is not authenticated. An error when
  // the API server could not be asked or answered with an error.
  virtual Result<std::optional<auth::UserInfo>> review_token(const std::string& token) = 0;
  // SubjectAccessReview (authorization.k8s.io/v1) of a resource request:
  // kAllow, or kDeny with the API server's reason. An error as above.
  virtual Result<auth::Decision> review_access(const auth::Attributes& a) = 0;
};

// Over the agent's own API client (its credential must be allowed to create
// tokenreviews and subjectaccessreviews: the Node authorizer grants nodes
// both). rest is borrowed.
std::unique_ptr<AuthReviewer> make_api_reviewer(client::RestClient& rest);

// Kubernetes' kubelet attributes for a request: resource "nodes" (group "",
// version v1), name node_name, subresource "stats" (/stats, /stats/…),
// "metrics" (/metrics, /metrics/…), "log" (/logs, /logs/…), "spec"
// (/spec, /spec/…), else "proxy" (exec, attach, portforward, run,
// containerLogs, pods, healthz, …); verb from the method: GET and HEAD
// get, POST create, PUT update, PATCH patch, DELETE delete (other methods:
// the lower-cased method). The path is kept in Attributes::path.
auth::Attributes kubelet_request_attributes(const auth::UserInfo& user, std::string_view method,
                                            std::string_view path, const std::string& node_name);

struct KubeletAuthOptions {
  std::chrono::seconds token_ttl{120};  // TokenReview answers
  std::chrono::seconds allow_ttl{300};  // SubjectAccessReview allows ...
  std::chrono::seconds deny_ttl{30};    // ... and denies
  size_t max_entries = 4096;            // per cache; when full, expired entries go, then all
};

struct AuthVerdict {
  int code = 200;       // 200: go on; 401, 403, 500: refuse with message
  std::string message;  // for a refusal
  auth::UserInfo user;  // who (when authenticated)
};

class KubeletAuth {
 public:
  KubeletAuth(AuthReviewer& reviewer, std::string node_name, KubeletAuthOptions options = {},
              Clock& clock = real_clock());
  // method and path of the request (path without the query), its
  // Authorization header ("" when none) and the verified client certificate.
  AuthVerdict check(std::string_view method, std::string_view path, std::string_view authorization,
                    const std::optional<PeerIdentity>& peer);

 private:
  struct TokenEntry {
    std::optional<auth::UserInfo> user;
    std::chrono::steady_clock::time_point expires;
  };
  struct AccessEntry {
    auth::Decision decision;
    std::chrono::steady_clock::time_point expires;
  };
  Result<std::optional<auth::UserInfo>> authenticate_token(const std::string& token);
  Result<auth::Decision> authorize(const auth::Attributes& a);
  template <typename Entry>
  void make_room(std::map<std::string, Entry>& cache, std::chrono::steady_clock::time_point now);

  AuthReviewer& reviewer_;
  const std::string node_name_;
  const KubeletAuthOptions options_;
  Clock& clock_;
  std::mutex mu_;
  std::map<std::string, TokenEntry> tokens_;  // guarded by mu_; key: the token
  std::map<std::string, AccessEntry>
      access_;  // guarded by mu_; key: user, groups, verb, subresource
};

}  // namespace minik8s::kubelet
