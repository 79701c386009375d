// Kinds that are answered, never stored (docs/auth.md): every kind of the
// authentication.k8s.io and authorization.k8s.io groups (TokenReview,
// SelfSubjectReview, SubjectAccessReview, SelfSubjectAccessReview,
// SelfSubjectRulesReview) takes only create — as in Kubernetes. Whoever
// walks every kind to list or watch it (the garbage collector, the
// namespace controller) skips them.
#pragma once

#include "minik8s/api/resource.h"

namespace minik8s::api {

inline bool answered_not_stored(const ResourceType& t) {
  return t.group == "authentication.k8s.io" || t.group == "authorization.k8s.io";
}

}  // namespace minik8s::api
