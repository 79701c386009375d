// parse_json must never crash; accepted values render to YAML that reads back
// as the same value.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "minik8s/api/json.h"

using minik8s::api::Json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto v = minik8s::api::parse_json(text);
  if (!v.is_ok()) return 0;
  std::string y = minik8s::api::to_yaml(*v);
  auto back = minik8s::api::yaml_to_json(y);
  if (!back.is_ok() || *back != *v) {
    std::fprintf(stderr, "round trip failed\njson: %s\nyaml:\n%s\nerror: %s\n",
                 v->dump().c_str(), y.c_str(), back.status().message().c_str());
    std::abort();
  }
  (void)minik8s::api::parse_manifests(text);
  return 0;
}
