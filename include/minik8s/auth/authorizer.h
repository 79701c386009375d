// Authorization (docs/security.md "Authorization"): may this user do this
// verb on this resource? Kubernetes' request attributes and decisions.
//
// Thread safety: authorize() is called concurrently from connection threads.
#pragma once

#include <string>

#include "minik8s/auth/user.h"

namespace minik8s::auth {

struct Attributes {
  UserInfo user;
  // Resource requests: get list watch create update patch delete
  // deletecollection (and the special verbs: bind, escalate, impersonate…).
  // Non-resource requests: the lowercased HTTP method (get, post, put, …).
  std::string verb;
  bool resource_request = true;
  std::string api_group;  // "" for the core group
  std::string api_version;
  std::string resource;     // plural, "pods"
  std::string subresource;  // "status", "log", "exec", …
  std::string ns;           // namespace; empty for cluster-scoped / all namespaces
  std::string name;         // empty for list/watch/create/deletecollection
  std::string path;         // the URL path (non-resource requests)
};

struct Decision {
  enum class Kind { kAllow, kDeny, kNoOpinion };
  Kind kind = Kind::kNoOpinion;
  std::string reason;  // why, for the 403 message and SubjectAccessReview status
  bool allowed() const { return kind == Kind::kAllow; }
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  virtual Decision authorize(const Attributes& a) const = 0;
};

// Kubernetes' 403 message: `User "x" cannot list resource "pods" in API
// group "" in the namespace "y"` (…` at the cluster scope`, `cannot get
// path "/metrics"`), plus ": <reason>" when the decision has one.
std::string forbidden_message(const Attributes& a, const std::string& reason);

}  // namespace minik8s::auth
