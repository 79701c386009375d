// Percent-encoding for URL paths and query strings (RFC 3986 unreserved
// characters are kept; decoding also reads '+' as a space, as forms do).
// Pure functions; malformed escapes are kept as written.
#pragma once

#include <string>
#include <string_view>

namespace minik8s {

std::string url_encode(std::string_view s);
std::string url_decode(std::string_view s);

}  // namespace minik8s
