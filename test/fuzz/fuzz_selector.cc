// Selector parsers must never crash; a parsed label selector's canonical
// string parses back to the same canonical string.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "minik8s/api/selector.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto sel = minik8s::api::LabelSelector::parse(text);
  if (sel.is_ok()) {
    std::string canon = sel->to_string();
    auto again = minik8s::api::LabelSelector::parse(canon);
    if (!again.is_ok() || again->to_string() != canon) {
      std::fprintf(stderr, "label selector canonical form unstable: [%s] -> [%s] (%s)\n",
                   text.c_str(), canon.c_str(), again.status().message().c_str());
      std::abort();
    }
    (void)sel->matches({{"app", "web"}, {"a", ""}});
  }
  auto fs = minik8s::api::FieldSelector::parse(text);
  if (fs.is_ok()) {
    auto obj = minik8s::api::Json::parse(R"({"metadata":{"name":"x"},"spec":{"n":1}})");
    (void)fs->matches(obj);
  }
  (void)minik8s::api::check_label_key(text);
  (void)minik8s::api::check_label_value(text);
  return 0;
}
