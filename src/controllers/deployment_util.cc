#include "deployment_util.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace minik8s::controllers::deployment {

using api::field;
using api::Json;

std::string safe_encode(std::string_view s) {
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) out.push_back(kAlphabet[c % kAlphabet.size()]);
  return out;
}

bool equal_ignore_hash(const Json& a, const Json& b) {
  return api::normalize_pod_template(a) == api::normalize_pod_template(b);
}

std::string template_hash(const Json& tmpl, int64_t collision_count) {
  std::string data = api::normalize_pod_template(tmpl).dump(-1, ' ', false, Json::error_handler_t::replace);
  if (collision_count > 0) data += "#" + std::to_string(collision_count);
  return safe_encode(std::to_string(fnv1a32(data)));
}

bool resolve_int_or_percent(const Json& value, int64_t total, bool round_up, int64_t* out) {
  if (value.is_number_integer()) {
    *out = value.get<int64_t>();
    return true;
  }
  if (!value.is_string()) return false;
  std::string s = value.get<std::string>();
  if (s.size() < 2 || s.back() != '%') return false;
  int64_t pct = 0;
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9' || pct > 100000) return false;
    pct = pct * 10 + (s[i] - '0');
  }
  double v = static_cast<double>(pct) * static_cast<double>(total) / 100.0;
  *out = static_cast<int64_t>(round_up ? std::ceil(v) : std::floor(v));
  return true;
}

int64_t spec_replicas(const Json& obj) {
  const Json& r = field(field(obj, "spec"), "replicas");
  return r.is_number_integer() ? r.get<int64_t>() : 1;
}

int64_t status_int(const Json& obj, const char* key) { return api::ifield(field(obj, "status"), key); }

Fenceposts resolve_fenceposts(const Json& d) {
  const Json& strategy = field(field(d, "spec"), "strategy");
  if (api::sfield(strategy, "type") == "Recreate") return {};
  const Json& ru = field(strategy, "rollingUpdate");
  int64_t replicas = spec_replicas(d);
  Fenceposts f;
  if (!resolve_int_or_percent(field(ru, "maxSurge"), replicas, true, &f.max_surge)) {
    resolve_int_or_percent(Json("25%"), replicas, true, &f.max_surge);
  }
  if (!resolve_int_or_percent(field(ru, "maxUnavailable"), replicas, false, &f.max_unavailable)) {
    resolve_int_or_percent(Json("25%"), replicas, false, &f.max_unavailable);
  }
  if (f.max_surge < 0) f.max_surge = 0;
  if (f.max_unavailable < 0) f.max_unavailable = 0;
  if (f.max_surge == 0 && f.max_unavailable == 0) f.max_unavailable = 1;
  return f;
}

int64_t max_unavailable(const Json& d) {
  int64_t replicas = spec_replicas(d);
  if (api::sfield(field(field(d, "spec"), "strategy"), "type") == "Recreate" || replicas == 0) return 0;
  int64_t u = resolve_fenceposts(d).max_unavailable;
  return u > replicas ? replicas : u;
}

int64_t max_surge(const Json& d) {
  if (api::sfield(field(field(d, "spec"), "strategy"), "type") == "Recreate") return 0;
  return resolve_fenceposts(d).max_surge;
}

bool int_annotation(const Json& obj, const char* key, int64_t* out) {
  std::string s = api::sfield(field(field(obj, "metadata"), "annotations"), key);
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

int64_t revision_of(const Json& rs) {
  int64_t v = 0;
  return int_annotation(rs, kRevisionAnnotation, &v) ? v : 0;
}

}  // namespace minik8s::controllers::deployment
