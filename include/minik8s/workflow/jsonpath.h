// The JSONPath subset of workflows (docs/workflows.md "JSONPath subset"):
// `$` followed by `.name`, `['any string']` and `[N]` segments. Pure
// functions, no allocation beyond the results; safe from any thread.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/util/status.h"

namespace minik8s::workflow {

// One step of a path: an object member or an array index.
using PathSegment = std::variant<std::string, size_t>;

struct JsonPath {
  std::vector<PathSegment> segments;  // empty: `$` (the whole document)
  std::string text;                   // as written
};

// 400-style Status (kInvalid) naming the offending position; at most 1024 bytes.
Result<JsonPath> parse_path(const std::string& text);

// The value at `path`, or nullptr when a segment is missing or the types do
// not fit (an index into an object, a name into an array, ...).
const api::Json* lookup(const api::Json& doc, const JsonPath& path);

// Puts `value` at `path` inside `doc` (`$` replaces doc). Missing objects on
// the way are created; stepping into a non-object (or a missing array index)
// is an error (kInvalid, "States.Runtime"-worthy message).
Status assign(api::Json& doc, const JsonPath& path, api::Json value);

}  // namespace minik8s::workflow
