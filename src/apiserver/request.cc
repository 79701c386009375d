#include "request.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>

#include "minik8s/api/json.h"
#include "minik8s/util/base64.h"

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

}  // namespace minik8s::apiserver
