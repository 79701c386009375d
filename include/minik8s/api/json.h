// Objects are nlohmann::json values shaped like the Kubernetes wire format.
// This header only forward-declares json so that it stays cheap to include;
// .cc files that touch values include <nlohmann/json.hpp>.
//
// Decoders never throw and never crash on untrusted input: bad input yields
// kBadRequest with a message naming the line/offset.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::api {

using Json = nlohmann::json;

// Parses one JSON document.
Result<Json> parse_json(std::string_view text);
// Parses a YAML or JSON manifest stream: several '---'-separated YAML
// documents or one JSON value; empty documents are skipped; a `kind: List`
// (or any `*List` with `items`) is flattened into its items. Every returned
// value is a JSON object.
Result<std::vector<Json>> parse_manifests(std::string_view text);
// Converts one YAML document to JSON (scalars typed as YAML 1.2 core schema:
// unquoted true/false/null/ints/floats become JSON types; quoted stay strings).
Result<Json> yaml_to_json(std::string_view yaml_text);
// Renders a JSON value as block-style YAML (like kubectl -o yaml).
std::string to_yaml(const Json& value);

// Null-safe reads of untrusted objects (informer snapshots, request bodies):
// obj[key] when obj is an object holding key, else a shared null; and the
// member as a string, "" unless it is one. Never throw.
const Json& field(const Json& obj, const char* key);
std::string sfield(const Json& obj, const char* key);

}  // namespace minik8s::api
