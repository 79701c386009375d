// Base64 (RFC 4648 §4, the standard alphabet "A-Za-z0-9+/" with '=' padding),
// as the Kubernetes API writes []byte fields, Secret data and ConfigMap
// binaryData. Pure functions, thread-safe.
//
// Two decoders, for the two kinds of input:
// - base64_decode: strict, what the API server accepts (Go's
//   base64.StdEncoding): length a multiple of 4, at most two '=' and only at
//   the end, nothing outside the alphabet. nullopt on anything else.
// - base64_decode_lenient: what the kubelet accepts from a stored Secret or
//   ConfigMap: the standard and the URL-safe alphabet ("-_") alike, padding
//   optional, ' ', '\r' and '\n' skipped. kInvalid ("illegal base64 data: …")
//   on bad input.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "minik8s/util/status.h"

namespace minik8s {

// Always padded to a multiple of 4.
std::string base64_encode(std::string_view in);

std::optional<std::string> base64_decode(std::string_view in);

Result<std::string> base64_decode_lenient(std::string_view in);

}  // namespace minik8s
