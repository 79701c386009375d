// Request parsing for the REST handler: URL path → RequestInfo, query
// strings and parameters, bodies, label/field selectors, media types, and
// the opaque list continue token. Errors are 400/415 Statuses a client can
// act on. Pure functions, thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "http_types.h"
#include "minik8s/api/resource.h"
#include "minik8s/api/selector.h"
#include "minik8s/util/status.h"
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

// ---- query parameters and bodies of an HttpRequest

// The value of query parameter k, "" when absent.
std::string query(const HttpRequest& req, const char* k);
// Boolean query parameters as Go's strconv.ParseBool reads them (clients send
// "1", "true" and, from the Python client, "True").
bool query_bool(const std::string& v);
// dryRun=All (check_dry_run has refused any other value).
bool is_dry_run(const HttpRequest& req);
// dryRun takes only "All" (Kubernetes rejects anything else rather than
// writing for real).
Status check_dry_run(const HttpRequest& req);
// Query parameters and bodies must be UTF-8: they end up in JSON objects and
// in Status messages.
Status check_utf8(const HttpRequest& req);
// A decimal integer with nothing else around it (no sign unless allow_negative).
std::optional<int64_t> parse_int(const std::string& s, bool allow_negative);
// A resourceVersion query parameter: empty (0), or a non-negative integer.
Result<int64_t> parse_rv_query(const std::string& rv);
// The body as a JSON object: JSON, YAML or Kubernetes protobuf per Content-Type.
Result<nlohmann::json> parse_body(const HttpRequest& req);
// A merge, JSON or strategic merge patch body (415 for other media types).
Result<nlohmann::json> parse_patch_body(const HttpRequest& req);

// labelSelector + fieldSelector of a list, watch or deletecollection.
struct Filter {
  api::LabelSelector labels;
  std::optional<api::FieldSelector> fields;
  bool empty() const { return labels.empty() && !fields; }
  bool matches(const nlohmann::json& o) const;
};
// 400 for a malformed selector or a field the kind does not index
// (metadata.name, metadata.namespace and t.field_selectors).
Result<Filter> make_filter(const api::ResourceType& t, const HttpRequest& req);

}  // namespace minik8s::apiserver
