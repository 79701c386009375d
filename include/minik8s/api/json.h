// Objects are nlohmann::json values shaped like the Kubernetes wire format.
// This header only forward-declares json so that it stays cheap to include;
// .cc files that touch values include <nlohmann/json.hpp>.
//
// Decoders never throw and never crash on untrusted input: bad input yields
// kBadRequest with a message naming the line/offset.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::api {

using Json = nlohmann::json;

// The deepest nesting of arrays and objects minik8s accepts anywhere: request
// bodies (JSON, YAML, protobuf, patches and their results), stored objects,
// and what agents and the CLI decode. `{"a":[1]}` is 2 deep. Kubernetes'
// decoder stops at 10,000. minik8s stops at 256 for two reasons: every
// object it accepts must read back from its YAML (`-o yaml` into
// `mkctl apply -f`), and yaml-cpp refuses documents nested about 500 deep;
// and every recursive walk of an object (nlohmann's copy, dump and compare,
// to_yaml, strategic merge, tables) stays far inside a thread's stack
// (json_test's DeepestAcceptedObjectWalksFitInOneMiBStack; about 660 bytes a
// level for strategic merge, the deepest), against 8 MiB per connection thread.
inline constexpr int kMaxJsonDepth = 256;
// Responses wrap an object in at most this many more levels (a List's items,
// a Table row, a watch event around either); decoders of responses allow
// kMaxJsonDepth + kJsonEnvelopeDepth so that every stored object reads back.
inline constexpr int kJsonEnvelopeDepth = 4;

// Parses one JSON document; kBadRequest when it nests deeper than max_depth.
Result<Json> parse_json(std::string_view text, int max_depth = kMaxJsonDepth);
// Parses a server response (an object, a List, a Table or a watch event):
// parse_json with room for the envelope around a stored object.
Result<Json> parse_json_response(std::string_view text);
// True when value nests arrays/objects at most max_depth deep. Recurses at
// most max_depth + 1 frames, whatever the value's depth.
bool json_depth_within(const Json& value, int max_depth = kMaxJsonDepth);
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
// member as a string, "" unless it is one; as an integer, 0 unless it is
// one; as a bool, false unless it is true; as an array, [] unless it is one;
// and metadata.<key> as a string. Never throw.
const Json& field(const Json& obj, const char* key);
std::string sfield(const Json& obj, const char* key);
int64_t ifield(const Json& obj, const char* key);
bool bfield(const Json& obj, const char* key);
const Json& afield(const Json& obj, const char* key);
std::string meta_string(const Json& obj, const char* key);
// field() along a path: field_at(pod, {"spec", "nodeName"}).
const Json& field_at(const Json& obj, std::initializer_list<const char*> path);

}  // namespace minik8s::api
