#include "default_tolerations.h"

#include <string>

namespace minik8s::apiserver {

namespace {

std::string str(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

void add_default_tolerations(nlohmann::json& pod, int64_t not_ready_seconds, int64_t unreachable_seconds) {
  if (!pod.is_object()) return;
  auto spec = pod.find("spec");
  if (spec == pod.end() || !spec->is_object()) return;
  nlohmann::json& tolerations = (*spec)["tolerations"];
  if (tolerations.is_null()) tolerations = nlohmann::json::array();
  if (!tolerations.is_array()) return;  // validation reports it
  bool has_not_ready = false, has_unreachable = false;
  for (const auto& t : tolerations) {
    std::string key = str(t, "key"), effect = str(t, "effect");
    if (!effect.empty() && effect != "NoExecute") continue;
    if (key.empty() || key == kNotReadyTaintKey) has_not_ready = true;
    if (key.empty() || key == kUnreachableTaintKey) has_unreachable = true;
  }
  auto add = [&](const char* key, int64_t seconds) {
    tolerations.push_back(
        {{"key", key}, {"operator", "Exists"}, {"effect", "NoExecute"}, {"tolerationSeconds", seconds}});
  };
  if (!has_not_ready && not_ready_seconds >= 0) add(kNotReadyTaintKey, not_ready_seconds);
  if (!has_unreachable && unreachable_seconds >= 0) add(kUnreachableTaintKey, unreachable_seconds);
  if (tolerations.empty()) spec->erase("tolerations");
}

}  // namespace minik8s::apiserver
