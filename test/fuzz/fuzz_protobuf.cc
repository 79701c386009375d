// decode_k8s_protobuf must never crash or throw on any body, and whatever it
// decodes must serialise as JSON.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "minik8s/api/protobuf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = minik8s::api::decode_k8s_protobuf(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (r.is_ok()) (void)r->dump();
  return 0;
}
