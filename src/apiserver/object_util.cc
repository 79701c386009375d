#include "object_util.h"

#include "minik8s/api/json.h"
#include "minik8s/util/time.h"

namespace minik8s::apiserver {

using nlohmann::json;

const json& meta_of(const json& o) {
  static const json kEmpty = json::object();
  auto it = o.find("metadata");
  return (it != o.end() && it->is_object()) ? *it : kEmpty;
}

std::string str_at(const json& o, const char* k) {
  auto it = o.find(k);
  return (it != o.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

std::string meta_str(const json& o, const char* k) { return str_at(meta_of(o), k); }

int64_t rv_of(const json& o) {
  std::string s = meta_str(o, "resourceVersion");
  if (s.empty()) return 0;
  try {
    return std::stoll(s);
  } catch (const std::exception&) {
    return -1;
  }
}

json to_wire(const storage::KeyValue& kv) {
  auto p = api::parse_json(kv.value);
  if (!p || !p->is_object()) return json::object();
  json o = std::move(p.value());
  o["metadata"]["resourceVersion"] = std::to_string(kv.mod_revision);
  return o;
}

std::string to_stored(json o) {
  if (o.contains("metadata") && o["metadata"].is_object()) o["metadata"].erase("resourceVersion");
  return o.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string now_rfc3339() { return format_rfc3339(real_clock().now()); }

}  // namespace minik8s::apiserver
