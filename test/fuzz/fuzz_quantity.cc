// Quantity::parse must never crash; canonical text parses back to the same
// value (not necessarily the same text: "187.5Ki" prints as "192000", which
// reads back as a decimal quantity and prints "192k", as in Kubernetes).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "minik8s/api/quantity.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto q = minik8s::api::Quantity::parse(text);
  if (!q.is_ok()) return 0;
  (void)q->value();
  std::string canon = q->to_string();
  auto back = minik8s::api::Quantity::parse(canon);
  if (!back.is_ok() || back->milli_value() != q->milli_value()) {
    std::fprintf(stderr, "quantity canonical form unstable: [%s] -> [%s]\n", text.c_str(),
                 canon.c_str());
    std::abort();
  }
  return 0;
}
