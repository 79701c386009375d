// Patch functions must never crash or throw; merge patches are idempotent. Input: one selector byte, then
// "<document JSON>\n<patch JSON>".
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "minik8s/api/json.h"
#include "minik8s/api/patch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t nl = text.find('\n');
  if (nl == std::string_view::npos) return 0;
  auto doc = minik8s::api::parse_json(text.substr(0, nl));
  auto patch = minik8s::api::parse_json(text.substr(nl + 1));
  if (!doc.is_ok() || !patch.is_ok()) return 0;
  static const char* const kKinds[] = {"Pod", "Deployment", "Service", "Node", "Job", "Function"};
  switch (data[0] % 8) {
    case 0: {
      // RFC 7386 merge patches are idempotent.
      auto once = minik8s::api::apply_merge_patch(*doc, *patch);
      if (!once.is_ok()) break;
      auto twice = minik8s::api::apply_merge_patch(*once, *patch);
      if (!twice.is_ok() || *twice != *once) {
        std::fprintf(stderr, "merge patch not idempotent\n");
        std::abort();
      }
      break;
    }
    case 1:
      (void)minik8s::api::apply_json_patch(*doc, *patch);
      break;
    default:
      (void)minik8s::api::apply_strategic_merge_patch(*doc, *patch, kKinds[data[0] % 6]);
      break;
  }
  return 0;
}
