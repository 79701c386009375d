// parse_manifests / yaml_to_json must never crash, and whatever they accept
// must survive to_yaml -> yaml_to_json unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "minik8s/api/json.h"

using minik8s::api::Json;

static void check_round_trip(const Json& v) {
  std::string y = minik8s::api::to_yaml(v);
  auto back = minik8s::api::yaml_to_json(y);
  if (!back.is_ok() || *back != v) {
    std::fprintf(stderr, "round trip failed\nvalue: %s\nyaml:\n%s\nerror: %s\nback: %s\n",
                 v.dump(-1, ' ', false, Json::error_handler_t::replace).c_str(), y.c_str(),
                 back.status().message().c_str(),
                 back.is_ok() ? back->dump(-1, ' ', false, Json::error_handler_t::replace).c_str()
                              : "");
    std::abort();
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto docs = minik8s::api::parse_manifests(text);
  if (docs.is_ok()) {
    for (const Json& d : *docs) check_round_trip(d);
  }
  auto one = minik8s::api::yaml_to_json(text);
  if (one.is_ok()) check_round_trip(*one);
  return 0;
}
