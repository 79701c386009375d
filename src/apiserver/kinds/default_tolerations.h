// DefaultTolerationSeconds admission (Kubernetes'
// plugin/pkg/admission/defaulttolerationseconds): a pod created without a
// toleration for the node.kubernetes.io/not-ready (or /unreachable) NoExecute
// taint gets {key, operator: Exists, effect: NoExecute, tolerationSeconds: N},
// so the node lifecycle controller evicts it N seconds after its node fails.
// A toleration with that key (or an empty key) and effect NoExecute (or an
// empty effect) counts as already tolerating. N < 0 skips that taint.
// Pure function; internal to mk_apiserver.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

namespace minik8s::apiserver {

inline constexpr const char* kNotReadyTaintKey = "node.kubernetes.io/not-ready";
inline constexpr const char* kUnreachableTaintKey = "node.kubernetes.io/unreachable";

// pod: a Pod object (anything else, or a malformed spec.tolerations, is left alone).
void add_default_tolerations(nlohmann::json& pod, int64_t not_ready_seconds, int64_t unreachable_seconds);

}  // namespace minik8s::apiserver
