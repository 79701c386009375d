// UTF-8 well-formedness, as the API server and the JSON, YAML and protobuf
// readers require of every string they accept (objects are stored and served
// as JSON, which must be valid UTF-8). Pure function, thread-safe.
#pragma once

#include <string_view>

namespace minik8s {

// True when s is well-formed UTF-8 (RFC 3629): no stray continuation bytes,
// no truncated sequences, no overlong forms, no surrogates (U+D800..DFFF),
// nothing above U+10FFFF. NUL bytes are well-formed.
bool valid_utf8(std::string_view s);

}  // namespace minik8s
