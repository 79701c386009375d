// meta.k8s.io/v1 Table responses for `kubectl get` and the OpenAPI documents
// kubectl downloads, both generated from the kind table (resource.h).
#pragma once

#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/api/resource.h"

namespace minik8s::api {

// A Table with columnDefinitions (NAME first, then the kind's columns, with
// AGE where Kubernetes shows it) and one row per object. When include_object,
// rows[].object is a PartialObjectMetadata of the object (apiVersion
// meta.k8s.io/v1, kind PartialObjectMetadata, metadata). list_metadata becomes
// the Table's metadata (resourceVersion, continue).
Json make_table(const ResourceType& type, const std::vector<Json>& objects,
                const Json& list_metadata, bool include_object = true);

// GET /openapi/v3 index: {"paths": {"api/v1": {"serverRelativeURL": ...}, ...}}.
Json openapi_v3_index();
// GET /openapi/v3/<prefix> where prefix is "api/v1" or "apis/<group>/<version>";
// null Json when unknown. Each kind: a schema in components.schemas carrying
// x-kubernetes-group-version-kind, and a PATCH operation with the
// fieldValidation parameter so kubectl leaves validation to the server.
Json openapi_v3_document(const std::string& prefix);

}  // namespace minik8s::api
