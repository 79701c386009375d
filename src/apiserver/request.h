// Request parsing for the REST handler: URL path → RequestInfo, query
// strings, media types, and the opaque list continue token.
// Pure functions, thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "minik8s/api/resource.h"

#include "minik8s/util/url.h"

namespace minik8s::apiserver {

enum class PathKind {
  kUnknown,
  kApiVersions,      // /api
  kApiGroups,        // /apis
  kResourceList,     // /api/v1, /apis/g/v (discovery)
  kResource,         // a kind's collection or object
};

struct RequestInfo {
  PathKind path = PathKind::kUnknown;
  std::string group, version;
  std::string plural;  // URL resource segment
  const api::ResourceType* type = nullptr;  // null when the plural is unknown
  std::string ns;       // namespace from the URL ("" when none)
  std::string name;     // "" for collections
  std::string subresource;
  bool legacy_watch = false;  // /watch/ prefix
};

// Parses the path part of a URL (without query).
RequestInfo parse_path(const std::string& path);

// Splits "a=b&c=d" into a map (percent-decoding, '+' as space; the last value
// of a repeated key wins).
std::map<std::string, std::string> parse_query(const std::string& query);

// True when an Accept header asks for a meta.k8s.io Table.
bool wants_table(const std::string& accept);
// The media type without parameters, lower-cased ("application/json").
std::string media_type(const std::string& content_type);

// List continuation: the revision the first page was read at and the last key
// returned. Encoded as base64 of {"rv":N,"start":"key"}.
struct ContinueToken {
  int64_t revision = 0;
  std::string start_after;
};
std::string encode_continue(const ContinueToken& t);
std::optional<ContinueToken> decode_continue(const std::string& token);

// Storage keys: /registry/<qualified plural>/<ns>/<name> (namespaced) or
// /registry/<qualified plural>/<name> (cluster-scoped). Prefixes end in '/'.
std::string object_key(const api::ResourceType& t, const std::string& ns, const std::string& name);
std::string collection_prefix(const api::ResourceType& t, const std::string& ns);

}  // namespace minik8s::apiserver
