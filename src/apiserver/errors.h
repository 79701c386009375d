// Error answers of the API server: every failure is a Kubernetes `Status`
// body (reason, code, details{name, group, kind (the plural), causes[]}),
// and the messages Kubernetes prints for the common cases, so clients that
// match on them (kubectl, client-go's IsNotFound/IsConflict) behave alike.
// Pure functions.
#pragma once

#include <string>

#include "http_types.h"
#include "minik8s/api/resource.h"
#include "minik8s/util/status.h"

namespace minik8s::apiserver {

// A Kubernetes Status body for an error.
std::string status_body(const Status& st, const std::string& name, const std::string& group,
                        const std::string& kind, const api::FieldErrors& causes = {});
HttpResponse error_response(const Status& st, const std::string& name = {},
                            const api::ResourceType* t = nullptr,
                            const api::FieldErrors& causes = {});

// 404 for a path no kind, subresource or group serves.
HttpResponse not_served_response();
// 405 for a method the path does not take.
HttpResponse method_not_allowed_response();

// `Pod "x" is invalid: spec.a: Required value` (one error) or
// `Pod "x" is invalid: [a: …, b: …]`.
std::string invalid_message(const api::ResourceType& t, const std::string& name,
                            const api::FieldErrors& errs);
// `pods "x" not found`.
std::string not_found_msg(const api::ResourceType& t, const std::string& name);
// `Operation cannot be fulfilled on pods "x": the object has been modified; …`.
std::string conflict_msg(const api::ResourceType& t, const std::string& name);

}  // namespace minik8s::apiserver
