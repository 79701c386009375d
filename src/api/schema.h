// Internal: a compact schema of the fields each served kind may carry.
//
// One tree per kind feeds two consumers: the unknown-field check behind
// fieldValidation=Strict (unknown_fields) and the OpenAPI v3 component schemas
// kubectl reads for `explain` (openapi.cc). Nodes are built once, on first
// use, and never freed; reading them is thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "minik8s/api/json.h"

namespace minik8s::api::schema {

enum class Type {
  kObject,  // known properties only
  kMap,     // object with arbitrary keys; values described by elem (null: any)
  kArray,   // items described by elem
  kString,
  kInteger,
  kNumber,
  kBoolean,
  kIntOrString,  // IntOrString / Quantity
  kAny,          // free-form (not checked)
};

struct Node {
  Type type = Type::kAny;
  // Component name for OpenAPI ("io.k8s.api.core.v1.PodSpec"); empty: inline.
  std::string name;
  std::string description;
  std::vector<std::pair<std::string, const Node*>> props;  // kObject
  const Node* elem = nullptr;                              // kArray, kMap
  // Root kinds: their group/version/kind for x-kubernetes-group-version-kind.
  std::string group, version, kind;

  const Node* prop(const std::string& key) const;
};

// The root schema of a served kind; null for a kind without one.
const Node* kind_schema(const std::string& group, const std::string& kind);

// Appends the JSON paths ("spec.containers[0].imagee") of fields in obj that
// the schema does not know. Values of the wrong JSON type are not reported
// (validation does that). Never throws.
void unknown_fields(const Node& root, const Json& obj, std::vector<std::string>& paths);

}  // namespace minik8s::api::schema
