// OpenAPI v3 index and per-group-version documents (table.h), generated from
// the kind table and the field schemas (schema.h). Built once, then served
// from immutable statics.
#include <cstdint>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "minik8s/api/table.h"
#include "minik8s/util/hash.h"
#include "schema.h"

namespace minik8s::api {

namespace {

const char* kPatchSchema = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

std::string prefix_of(const ResourceType& t) {
  return t.group.empty() ? "api/" + t.version : "apis/" + t.group + "/" + t.version;
}

std::string schema_ref(const std::string& name) { return "#/components/schemas/" + name; }

Json gvk(const std::string& group, const std::string& version, const std::string& kind) {
  return {{"group", group}, {"version", version}, {"kind", kind}};
}

// The JSON schema of a node; named nodes become $refs (collected in `named`).
Json to_schema(const schema::Node& n, std::map<std::string, const schema::Node*>& named,
               bool inline_named = false);

Json body_schema(const schema::Node& n, std::map<std::string, const schema::Node*>& named) {
  using schema::Type;
  Json s = Json::object();
  if (!n.description.empty()) s["description"] = n.description;
  switch (n.type) {
    case Type::kObject: {
      s["type"] = "object";
      Json props = Json::object();
      for (const auto& [k, child] : n.props) props[k] = to_schema(*child, named);
      s["properties"] = std::move(props);
      if (!n.kind.empty()) {
        s["x-kubernetes-group-version-kind"] = Json::array({gvk(n.group, n.version, n.kind)});
      }
      break;
    }
    case Type::kMap:
      s["type"] = "object";
      s["additionalProperties"] =
          n.elem ? to_schema(*n.elem, named) : Json{{"x-kubernetes-preserve-unknown-fields", true}};
      break;
    case Type::kArray:
      s["type"] = "array";
      s["items"] = n.elem ? to_schema(*n.elem, named) : Json::object();
      break;
    case Type::kString:
      s["type"] = "string";
      break;
    case Type::kInteger:
      s["type"] = "integer";
      s["format"] = "int64";
      break;
    case Type::kNumber:
      s["type"] = "number";
      s["format"] = "double";
      break;
    case Type::kBoolean:
      s["type"] = "boolean";
      break;
    case Type::kIntOrString:
      s["anyOf"] = Json::array({{{"type", "integer"}}, {{"type", "string"}}});
      s["x-kubernetes-int-or-string"] = true;
      break;
    case Type::kAny:
      s["type"] = "object";
      s["x-kubernetes-preserve-unknown-fields"] = true;
      break;
  }
  return s;
}

Json to_schema(const schema::Node& n, std::map<std::string, const schema::Node*>& named,
               bool inline_named) {
  if (!n.name.empty() && !inline_named) {
    named.emplace(n.name, &n);
    return {{"$ref", schema_ref(n.name)}};
  }
  return body_schema(n, named);
}

std::string camel(const std::string& s) {
  std::string out;
  bool up = true;
  for (char c : s) {
    if (c == '.' || c == '-' || c == '/') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return out;
}

Json query_param(const char* name, const char* description) {
  return {{"name", name},
          {"in", "query"},
          {"description", description},
          {"schema", {{"type", "string"}, {"uniqueItems", true}}}};
}

Json path_param(const char* name, const char* description) {
  return {{"name", name},
          {"in", "path"},
          {"description", description},
          {"required", true},
          {"schema", {{"type", "string"}, {"uniqueItems", true}}}};
}

Json build_document(const std::string& prefix) {
  Json paths = Json::object();
  std::map<std::string, const schema::Node*> named;
  bool any = false;
  for (const ResourceType* t : all_resources()) {
    if (prefix_of(*t) != prefix) continue;
    any = true;
    const schema::Node* root = schema::kind_schema(t->group, t->kind);
    std::string schema_name;
    if (root) {
      schema_name = root->name;
      named.emplace(schema_name, root);
    }
    std::string base = "/" + prefix + "/";
    std::string op_scope = t->namespaced ? "Namespaced" : "";
    std::string path =
        base + (t->namespaced ? "namespaces/{namespace}/" : "") + t->plural + "/{name}";
    Json params = Json::array({path_param("name", ("name of the " + t->kind).c_str())});
    if (t->namespaced) {
      params.push_back(path_param("namespace",
                                  "object name and auth scope, such as for teams "
                                  "and projects"));
    }
    Json response = {{"description", "OK"}};
    if (!schema_name.empty()) {
      response["content"] = {
          {"application/json", {{"schema", {{"$ref", schema_ref(schema_name)}}}}},
          {"application/yaml", {{"schema", {{"$ref", schema_ref(schema_name)}}}}}};
    }
    std::string gv = camel(t->group.empty() ? "core" : t->group) + camel(t->version);
    Json patch_params = params;
    patch_params.push_back(query_param(
        "dryRun", "When present, indicates that modifications should not be persisted."));
    patch_params.push_back(
        query_param("fieldManager",
                    "fieldManager is a name associated with the actor or entity that is "
                    "making these changes."));
    patch_params.push_back(query_param(
        "fieldValidation",
        "fieldValidation instructs the server on how to handle objects in the request "
        "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: Ignore, "
        "Warn, Strict."));
    Json patch_body_schema = {{"$ref", schema_ref(kPatchSchema)}};
    Json patch = {{"tags", Json::array({gv})},
                  {"description", "partially update the specified " + t->kind},
                  {"operationId", "patch" + gv + op_scope + t->kind},
                  {"parameters", std::move(patch_params)},
                  {"requestBody",
                   {{"content",
                     {{"application/json-patch+json", {{"schema", patch_body_schema}}},
                      {"application/merge-patch+json", {{"schema", patch_body_schema}}},
                      {"application/apply-patch+yaml", {{"schema", patch_body_schema}}}}},
                    {"required", true}}},
                  {"responses", {{"200", response}, {"201", {{"description", "Created"}}}}},
                  {"x-kubernetes-action", "patch"},
                  {"x-kubernetes-group-version-kind", gvk(t->group, t->version, t->kind)}};
    Json get = {{"tags", Json::array({gv})},
                {"description", "read the specified " + t->kind},
                {"operationId", "read" + gv + op_scope + t->kind},
                {"parameters", params},
                {"responses", {{"200", response}}},
                {"x-kubernetes-action", "get"},
                {"x-kubernetes-group-version-kind", gvk(t->group, t->version, t->kind)}};
    paths[path] = {{"get", std::move(get)}, {"patch", std::move(patch)}};
  }
  if (!any) return Json();

  // Emit every named schema reachable from the kinds (the set grows as we go).
  Json schemas = Json::object();
  std::set<std::string> done;
  while (true) {
    std::map<std::string, const schema::Node*> todo;
    for (const auto& [name, node] : named) {
      if (!done.count(name)) todo.emplace(name, node);
    }
    if (todo.empty()) break;
    for (const auto& [name, node] : todo) {
      done.insert(name);
      schemas[name] = to_schema(*node, named, /*inline_named=*/true);
    }
  }
  schemas[kPatchSchema] = {
      {"type", "object"},
      {"description",
       "Patch is provided to give a concrete name and type to the Kubernetes PATCH request "
       "body."}};
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "v1.30.0"}}},
          {"paths", std::move(paths)},
          {"components", {{"schemas", std::move(schemas)}}}};
}

struct Docs {
  std::map<std::string, Json> by_prefix;
  Json index;
};

std::string fnv_hex(const std::string& s) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llX", static_cast<unsigned long long>(fnv1a64(s)));
  return buf;
}

const Docs& docs() {
  static const Docs d = [] {
    Docs out;
    Json paths = Json::object();
    for (const ResourceType* t : all_resources()) {
      std::string p = prefix_of(*t);
      if (out.by_prefix.count(p)) continue;
      out.by_prefix[p] = build_document(p);
      paths[p] = {
          {"serverRelativeURL", "/openapi/v3/" + p + "?hash=" + fnv_hex(out.by_prefix[p].dump())}};
    }
    out.index = {{"paths", std::move(paths)}};
    return out;
  }();
  return d;
}

}  // namespace

Json openapi_v3_index() { return docs().index; }

Json openapi_v3_document(const std::string& prefix) {
  std::string p = prefix;
  if (auto q = p.find('?'); q != std::string::npos) p.resize(q);
  while (!p.empty() && p.front() == '/') p.erase(p.begin());
  while (!p.empty() && p.back() == '/') p.pop_back();
  const auto& m = docs().by_prefix;
  auto it = m.find(p);
  return it == m.end() ? Json() : it->second;
}

}  // namespace minik8s::api
