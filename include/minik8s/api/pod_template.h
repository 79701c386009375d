// Pod templates as the Deployment controller and `rollout undo` compare them.
#pragma once

#include "minik8s/api/json.h"

namespace minik8s::api {

// The label the Deployment controller adds to a ReplicaSet's template.
inline constexpr const char* kPodTemplateHashLabel = "pod-template-hash";

// The template without the pod-template-hash label, nulls, empty objects and
// empty arrays (bottom-up; an array keeps its positions: [{}] ≠ []), as
// Kubernetes' EqualIgnoreHash sees it after its Go round trip; {} when
// nothing is left or tmpl is not an object. Two templates are the same one
// when their normalized forms are equal.
Json normalize_pod_template(const Json& tmpl);

}  // namespace minik8s::api
