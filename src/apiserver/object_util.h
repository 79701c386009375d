// Small helpers over stored objects that the REST handler's files and the
// kind strategies share: null-safe reads of metadata fields, the stored ↔
// wire conversion (the store keeps objects without resourceVersion; reads put
// the key's mod revision there), and the server's timestamp format.
// Pure functions; never throw on untrusted objects.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "minik8s/storage/storage.h"

namespace minik8s::apiserver {

// o["metadata"] when it is an object, else a shared empty object.
const nlohmann::json& meta_of(const nlohmann::json& o);
// o[k] when it is a string, else "".
std::string str_at(const nlohmann::json& o, const char* k);
std::string meta_str(const nlohmann::json& o, const char* k);
// metadata.resourceVersion as a number: 0 when absent, -1 when not a number.
int64_t rv_of(const nlohmann::json& o);

// The stored value with metadata.resourceVersion = the key's mod revision
// ({} when the value does not parse as an object).
nlohmann::json to_wire(const storage::KeyValue& kv);
// What the store keeps: the object without metadata.resourceVersion.
std::string to_stored(nlohmann::json o);

// The real clock's now in RFC 3339 (creationTimestamp, deletionTimestamp).
std::string now_rfc3339();

}  // namespace minik8s::apiserver
