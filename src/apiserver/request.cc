#include "request.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>

#include "minik8s/api/json.h"
#include "minik8s/api/protobuf.h"
#include "minik8s/util/base64.h"
#include "minik8s/util/utf8.h"

namespace minik8s::apiserver {

namespace {
std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) out.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}
}  // namespace

RequestInfo parse_path(const std::string& path) {
  RequestInfo ri;
  auto seg = split_path(path);
  if (seg.empty()) return ri;
  size_t i = 0;
  if (seg[0] == "api") {
    if (seg.size() == 1) {
      ri.path = PathKind::kApiVersions;
      return ri;
    }
    ri.version = seg[1];
    i = 2;
  } else if (seg[0] == "apis") {
    if (seg.size() == 1) {
      ri.path = PathKind::kApiGroups;
      return ri;
    }
    if (seg.size() < 3) return ri;  // /apis/<group> alone: not served
    ri.group = seg[1];
    ri.version = seg[2];
    i = 3;
  } else {
    return ri;
  }
  if (i == seg.size()) {
    ri.path = PathKind::kResourceList;
    return ri;
  }
  std::vector<std::string> rest(seg.begin() + static_cast<long>(i), seg.end());
  if (rest[0] == "watch") {
    ri.legacy_watch = true;
    rest.erase(rest.begin());
    if (rest.empty()) return ri;
  }
  if (rest[0] == "namespaces" && rest.size() > 1) {
    ri.ns = rest[1];
    if (rest.size() > 2 && rest[2] != "status" && rest[2] != "finalize") {
      rest.erase(rest.begin(), rest.begin() + 2);
    } else {
      ri.ns.clear();  // the namespace object itself
    }
  }
  if (rest.size() > 3) return ri;
  ri.plural = rest[0];
  if (rest.size() > 1) ri.name = rest[1];
  if (rest.size() > 2) ri.subresource = rest[2];
  ri.type = api::find_resource(ri.group, ri.version, ri.plural);
  ri.path = PathKind::kResource;
  if (ri.type && !ri.type->namespaced && !ri.ns.empty()) ri.type = nullptr;
  return ri;
}



std::map<std::string, std::string> parse_query(const std::string& query) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i <= query.size()) {
    size_t j = query.find('&', i);
    if (j == std::string::npos) j = query.size();
    if (j > i) {
      std::string part = query.substr(i, j - i);
      size_t eq = part.find('=');
      if (eq == std::string::npos) {
        out[url_decode(part)] = "";
      } else {
        out[url_decode(part.substr(0, eq))] = url_decode(part.substr(eq + 1));
      }
    }
    i = j + 1;
  }
  return out;
}

bool wants_table(const std::string& accept) {
  // "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
  size_t pos = 0;
  while (pos < accept.size()) {
    size_t end = accept.find(',', pos);
    if (end == std::string::npos) end = accept.size();
    std::string part = accept.substr(pos, end - pos);
    part.erase(std::remove(part.begin(), part.end(), ' '), part.end());
    if (part.find(";as=Table") != std::string::npos &&
        part.rfind("application/json", 0) == 0) {
      return true;
    }
    pos = end + 1;
  }
  return false;
}

std::string media_type(const std::string& content_type) {
  std::string m = content_type.substr(0, content_type.find(';'));
  m.erase(std::remove(m.begin(), m.end(), ' '), m.end());
  std::transform(m.begin(), m.end(), m.begin(), [](unsigned char c) { return std::tolower(c); });
  return m;
}

std::string encode_continue(const ContinueToken& t) {
  nlohmann::json j = {{"rv", t.revision}, {"start", t.start_after}};
  return base64_encode(j.dump());
}

std::optional<ContinueToken> decode_continue(const std::string& token) {
  auto raw = base64_decode(token);
  if (!raw) return std::nullopt;
  try {
    auto parsed = api::parse_json(*raw);
    if (!parsed) return std::nullopt;
    const nlohmann::json& j = parsed.value();
    ContinueToken t;
    t.revision = j.at("rv").get<int64_t>();
    t.start_after = j.at("start").get<std::string>();
    if (t.revision <= 0 || t.start_after.rfind("/registry/", 0) != 0) return std::nullopt;
    return t;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string object_key(const api::ResourceType& t, const std::string& ns, const std::string& name) {
  return collection_prefix(t, ns) + name;
}

std::string collection_prefix(const api::ResourceType& t, const std::string& ns) {
  std::string p = "/registry/" + t.qualified_plural() + "/";
  if (t.namespaced && !ns.empty()) p += ns + "/";
  return p;
}

std::string query(const HttpRequest& req, const char* k) {
  auto it = req.query.find(k);
  return it == req.query.end() ? std::string() : it->second;
}

bool query_bool(const std::string& v) {
  return v == "1" || v == "t" || v == "T" || v == "true" || v == "True" || v == "TRUE";
}

bool is_dry_run(const HttpRequest& req) { return query(req, "dryRun") == "All"; }

Status check_dry_run(const HttpRequest& req) {
  auto it = req.query.find("dryRun");
  if (it == req.query.end() || it->second == "All") return Status::ok();
  return bad_request("Invalid value for dryRun: \"" + it->second +
                     "\": supported values: \"All\"");
}

Status check_utf8(const HttpRequest& req) {
  for (const auto& [k, v] : req.query) {
    if (!valid_utf8(k)) return bad_request("invalid UTF-8 in a query parameter name");
    if (!valid_utf8(v)) return bad_request("invalid UTF-8 in query parameter \"" + k + "\"");
  }
  // Protobuf bodies are binary; their strings are checked by the decoder.
  if (media_type(req.content_type) == api::kK8sProtobufContentType) return Status::ok();
  if (!valid_utf8(req.body)) return bad_request("invalid UTF-8 in the request body");
  return Status::ok();
}

std::optional<int64_t> parse_int(const std::string& s, bool allow_negative) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  size_t i = 0;
  if (s[0] == '-') {
    if (!allow_negative || s.size() == 1) return std::nullopt;
    i = 1;
  }
  for (size_t k = i; k < s.size(); ++k) {
    if (s[k] < '0' || s[k] > '9') return std::nullopt;
  }
  try {
    return std::stoll(s);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

Result<int64_t> parse_rv_query(const std::string& rv) {
  if (rv.empty()) return int64_t{0};
  auto v = parse_int(rv, false);
  if (!v) return bad_request("Invalid value for resourceVersion: \"" + rv + "\": must be a non-negative integer");
  return *v;
}

Result<nlohmann::json> parse_body(const HttpRequest& req) {
  std::string mt = media_type(req.content_type);
  if (mt == "application/yaml" || mt == "application/x-yaml" || mt == "text/yaml") {
    auto r = api::yaml_to_json(req.body);
    if (!r) return r.status();
    if (!r->is_object()) return bad_request("the request body must be an object");
    return std::move(r.value());
  }
  if (mt == api::kK8sProtobufContentType) {
    // kubectl 1.32+ send the bodies of typed commands (`kubectl create
    // deployment|configmap|namespace …`) as Kubernetes protobuf.
    return api::decode_k8s_protobuf(req.body);
  }
  auto j = api::parse_json(req.body);
  if (!j) return bad_request("invalid JSON in request body: " + j.status().message());
  if (!j->is_object()) return bad_request("the request body must be a JSON object");
  return std::move(j.value());
}

Result<nlohmann::json> parse_patch_body(const HttpRequest& req) {
  std::string mt = media_type(req.content_type);
  if (mt != "application/merge-patch+json" && mt != "application/json-patch+json" &&
      mt != "application/strategic-merge-patch+json") {
    return Status(Code::kUnsupported,
                  "the body of the request was in an unknown format - accepted media types "
                  "include: application/json-patch+json, application/merge-patch+json, "
                  "application/strategic-merge-patch+json");
  }
  auto j = api::parse_json(req.body);
  if (!j) return bad_request("invalid JSON in patch: " + j.status().message());
  return j;
}

bool Filter::matches(const nlohmann::json& o) const {
  if (!labels.empty()) {
    if (!labels.matches_json(api::field(api::field(o, "metadata"), "labels"))) return false;
  }
  if (fields && !fields->matches(o)) return false;
  return true;
}

namespace {
bool allowed_field(const api::ResourceType& t, const std::string& f) {
  if (f == "metadata.name" || f == "metadata.namespace") return true;
  for (const auto& a : t.field_selectors) {
    if (a == f) return true;
  }
  return false;
}
}  // namespace

Result<Filter> make_filter(const api::ResourceType& t, const HttpRequest& req) {
  Filter f;
  std::string ls = query(req, "labelSelector");
  if (!ls.empty()) {
    auto r = api::LabelSelector::parse(ls);
    if (!r) return r.status();
    f.labels = std::move(r.value());
  }
  std::string fs = query(req, "fieldSelector");
  if (!fs.empty()) {
    auto r = api::FieldSelector::parse(fs);
    if (!r) return r.status();
    for (const auto& req2 : r->requirements()) {
      if (!allowed_field(t, req2.field)) {
        return bad_request("field label not supported: " + req2.field);
      }
    }
    if (!r->empty()) f.fields = std::move(r.value());
  }
  return f;
}

}  // namespace minik8s::apiserver
