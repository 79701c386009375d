// What the endpoints controller wants for a Service, computed from the
// Service and the pods its selector matches: Kubernetes' Endpoints subsets
// (pkg/controller/endpoint) and EndpointSlice endpoints/ports
// (pkg/controller/endpointslice), as pure functions over JSON so that the
// semantics are tested without an API server. Thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "minik8s/api/json.h"

namespace minik8s::controllers {

using Json = api::Json;

// Pod condition Ready is "True".
bool pod_is_ready(const Json& pod);
// Not Succeeded/Failed, has an IP the API accepts as an endpoint (not
// loopback, link-local, unspecified or multicast: api::non_special_ip_error),
// and (unless include_terminating) no deletionTimestamp.
bool pod_in_endpoints(const Json& pod, bool include_terminating);
// The container port a Service port's targetPort means for this pod: the
// number itself, or the containerPort of the container port with that name
// (and the Service port's protocol); nullopt when the pod has no such port.
std::optional<int> find_target_port(const Json& pod, const Json& service_port);

// The Service's selector says which pods back it (a non-empty spec.selector
// and not type ExternalName); otherwise the controller leaves its Endpoints alone.
bool service_has_selector(const Json& service);

// Endpoints.subsets in canonical form: addresses grouped by identical port
// sets (RepackSubsets), addresses sorted by ip then pod uid, ports by
// name/port/protocol, subsets by their first address. Equal inputs give
// byte-equal output, so the result can be compared with a stored object's
// canonical_subsets().
Json build_subsets(const Json& service, const std::vector<const Json*>& pods);
// Re-sorts stored subsets the same way (null/absent → []).
Json canonical_subsets(const Json& subsets);

// One EndpointSlice's content: {"ports": [...], "endpoints": [...]} per
// distinct port set, sorted; an empty list when no pod qualifies.
std::vector<Json> build_slices(const Json& service, const std::vector<const Json*>& pods);

}  // namespace minik8s::controllers
