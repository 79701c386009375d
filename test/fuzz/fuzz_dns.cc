// libFuzzer: parse_message() and the server's query path on arbitrary bytes.
#include <nlohmann/json.hpp>

#include "wire.h"
#include "zone.h"

using namespace minik8s::dns;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto snap = [] {
    nlohmann::json svc = {{"metadata", {{"name", "web"}, {"namespace", "default"}}},
                          {"spec", {{"clusterIP", "10.96.0.10"}, {"ports", {{{"name", "http"}, {"port", 80}}}}}}};
    return build_snapshot({}, {svc}, {}, {});
  }();
  (void)parse_message(data, size);
  uint8_t out[4096];
  size_t n = 0;
  answer_query(*snap, data, size, true, out, 512, &n);
  if (n > 512) __builtin_trap();
  answer_query(*snap, data, size, false, out, sizeof out, &n);
  (void)error_response(data, size, kRcodeServFail);
  return 0;
}
