// The kind table and its lookups (resource.h), plus helpers shared by the
// per-group Table hooks (kinds.h).
#include "minik8s/api/resource.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <nlohmann/json.hpp>

#include "kinds.h"
#include "minik8s/api/selector.h"
#include "minik8s/util/time.h"
#include "schema.h"

namespace minik8s::api {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::vector<const ResourceType*> build() {
  std::vector<const ResourceType*> out;
  add_core_kinds(out);
  add_apps_kinds(out);
  add_other_kinds(out);
  add_discovery_kinds(out);
  add_serverless_kinds(out);
  add_workflow_kinds(out);
  add_gpu_kinds(out);
  add_auth_kinds(out);
  add_rbac_kinds(out);
  add_authorization_kinds(out);
  add_certificates_kinds(out);
  return out;
}

bool matches_user_name(const ResourceType& t, const std::string& n) {
  if (n == t.plural || n == t.singular || n == lower(t.kind)) return true;
  return std::find(t.short_names.begin(), t.short_names.end(), n) != t.short_names.end();
}

}  // namespace

const std::vector<const ResourceType*>& all_resources() {
  static const std::vector<const ResourceType*> all = build();
  return all;
}

const ResourceType* find_resource(const std::string& group, const std::string& version,
                                  const std::string& plural) {
  for (const ResourceType* t : all_resources()) {
    if (t->group == group && t->version == version && t->plural == plural) return t;
  }
  return nullptr;
}

const ResourceType* find_kind(const std::string& api_version, const std::string& kind) {
  for (const ResourceType* t : all_resources()) {
    if (t->api_version() == api_version && t->kind == kind) return t;
  }
  return nullptr;
}

const ResourceType* find_by_user_name(const std::string& name) {
  std::string n = lower(name);
  if (n.empty()) return nullptr;
  for (const ResourceType* t : all_resources()) {
    if (matches_user_name(*t, n)) return t;
  }
  // "deployments.apps", "deploy.apps", "hpa.autoscaling", "deployments.v1.apps".
  for (size_t dot = n.find('.'); dot != std::string::npos; dot = n.find('.', dot + 1)) {
    std::string head = n.substr(0, dot);
    std::string group = n.substr(dot + 1);
    for (const ResourceType* t : all_resources()) {
      if (!matches_user_name(*t, head)) continue;
      if (group == t->group || group == t->version + "." + t->group) return t;
    }
  }
  return nullptr;
}

void unknown_fields_for(const std::string& group, const std::string& kind, const Json& obj,
                        std::vector<std::string>& paths) {
  if (const schema::Node* n = schema::kind_schema(group, kind)) {
    schema::unknown_fields(*n, obj, paths);
  }
}

namespace tbl {

TableColumn col(const char* name, const char* type, const char* description, int priority) {
  TableColumn c;
  c.name = name;
  c.type = type;
  c.description = description;
  c.priority = priority;
  return c;
}

TableColumn age_column() {
  return col("AGE", "string",
             "CreationTimestamp is a timestamp representing the server time when this object "
             "was created.");
}

std::string age(const Json& obj) {
  if (!obj.is_object()) return "<unknown>";
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return "<unknown>";
  auto ts = m->find("creationTimestamp");
  if (ts == m->end() || !ts->is_string()) return "<unknown>";
  SysTime t;
  if (!parse_rfc3339(ts->get<std::string>(), &t)) return "<unknown>";
  auto d = std::chrono::duration_cast<std::chrono::seconds>(real_clock().now() - t);
  return human_duration(d);
}

std::string or_none(const std::string& s) { return s.empty() ? "<none>" : s; }

std::string selector_string(const Json& selector) {
  if (!selector.is_object() || selector.empty()) return "<none>";
  auto s = LabelSelector::from_json(selector);
  if (!s.is_ok()) return "<error>";
  std::string text = s->to_string();
  return text.empty() ? "<none>" : text;
}

namespace {
std::string join_containers(const Json& spec, const char* key) {
  std::string out;
  if (!spec.is_object()) return out;
  auto cs = spec.find("containers");
  if (cs == spec.end() || !cs->is_array()) return out;
  for (const Json& c : *cs) {
    if (!c.is_object()) continue;
    auto v = c.find(key);
    if (!out.empty()) out += ",";
    if (v != c.end() && v->is_string()) out += v->get<std::string>();
  }
  return out;
}
}  // namespace

std::string container_names(const Json& pod_spec) { return join_containers(pod_spec, "name"); }
std::string container_images(const Json& pod_spec) { return join_containers(pod_spec, "image"); }

long long num(const Json& obj, const char* key) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? it->get<long long>() : 0;
}

}  // namespace tbl
}  // namespace minik8s::api
