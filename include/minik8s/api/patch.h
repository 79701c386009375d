// Patches applied by the API server's PATCH verb.
// - JSON merge patch (RFC 7386), application/merge-patch+json
// - JSON patch (RFC 6902), application/json-patch+json
// - Strategic merge patch, application/strategic-merge-patch+json, for the
//   built-in kinds: lists merge by their key (containers/initContainers/
//   env/volumes/imagePullSecrets by name, container ports by containerPort,
//   service ports by port, volumeMounts by mountPath, conditions by type,
//   ownerReferences by uid); `null` deletes; directives `$patch: replace|delete|merge`,
//   `$setElementOrder/<list>`, `$retainKeys`, `$deleteFromPrimitiveList/<list>`.
//   Lists without a merge key are replaced; primitive lists with merge
//   semantics (finalizers) are unioned.
// All functions are pure; bad patches yield kBadRequest (or kInvalid for a
// kInvalid for a failed JSON patch `test` op) without throwing.
#pragma once

#include <string>

#include "minik8s/api/json.h"
#include "minik8s/util/status.h"

namespace minik8s::api {

Result<Json> apply_merge_patch(const Json& doc, const Json& patch);
Result<Json> apply_json_patch(const Json& doc, const Json& patch);
// kind: the object's kind ("Pod", "Deployment", "Service", "Node", ...);
// chooses the merge keys. Unknown kinds behave like a merge patch with
// directive handling.
Result<Json> apply_strategic_merge_patch(const Json& doc, const Json& patch,
                                         const std::string& kind);

}  // namespace minik8s::api
