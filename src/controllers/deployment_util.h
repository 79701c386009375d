// Pure helpers of the Deployment controller (Kubernetes'
// pkg/controller/deployment/util/deployment_util.go): the pod-template hash,
// template equality that survives a `kubectl rollout undo`, maxSurge /
// maxUnavailable resolution and the annotations the controller keeps on its
// ReplicaSets. No I/O, no state; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "minik8s/api/json.h"
#include "minik8s/api/pod_template.h"
#include "minik8s/util/hash.h"

namespace minik8s::controllers::deployment {

inline constexpr const char* kHashLabel = api::kPodTemplateHashLabel;
inline constexpr const char* kRevisionAnnotation = "deployment.kubernetes.io/revision";
inline constexpr const char* kRevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history";
inline constexpr const char* kDesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas";
inline constexpr const char* kMaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas";
inline constexpr const char* kChangeCauseAnnotation = "kubernetes.io/change-cause";
inline constexpr const char* kLastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration";
inline constexpr const char* kRollbackToAnnotation = "deprecated.deployment.rollback.to";

// FNV-1a 32-bit (minik8s/util/hash.h).
using minik8s::fnv1a32;
// Kubernetes' rand.SafeEncodeString: each byte → "bcdfghjklmnpqrstvwxz2456789"[b % 27].
std::string safe_encode(std::string_view s);

// Templates compared as api::normalize_pod_template sees them: what kubectl's
// round trip through Go structs adds (creationTimestamp: null, resources: {})
// or drops does not make two templates differ.
bool equal_ignore_hash(const api::Json& a, const api::Json& b);
// safe_encode(decimal string of FNV-32a(canonical JSON of the normalised
// template, then the collision count as a decimal when > 0)).
std::string template_hash(const api::Json& tmpl, int64_t collision_count);

// An IntOrString against total: ints as they are, "N%" of total rounded up
// or down. False for anything else.
bool resolve_int_or_percent(const api::Json& value, int64_t total, bool round_up, int64_t* out);
struct Fenceposts {
  int64_t max_surge = 0;
  int64_t max_unavailable = 0;
};
// maxSurge (rounded up) and maxUnavailable (rounded down) of a RollingUpdate
// Deployment; both 0 → maxUnavailable 1 (Kubernetes' ResolveFenceposts).
// Recreate: {0, 0}. Unparseable values count as 25%.
Fenceposts resolve_fenceposts(const api::Json& deployment);
// MaxUnavailable / MaxSurge as the controller uses them (0 for Recreate or
// 0 replicas; unavailable capped at replicas).
int64_t max_unavailable(const api::Json& deployment);
int64_t max_surge(const api::Json& deployment);

int64_t spec_replicas(const api::Json& obj);  // spec.replicas (default 1)
int64_t status_int(const api::Json& obj, const char* key);
// The revision annotation as a number (0 when missing or bad).
int64_t revision_of(const api::Json& rs);
// An integer annotation; false when missing or not a number.
bool int_annotation(const api::Json& obj, const char* key, int64_t* out);

}  // namespace minik8s::controllers::deployment
