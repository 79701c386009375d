// KubeletAuth and the API reviewer (include/minik8s/kubelet/server_auth.h).
#include "minik8s/kubelet/server_auth.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace minik8s::kubelet {

using nlohmann::json;

namespace {

// Kubernetes' isSubpath: path itself or below it.
bool is_subpath(std::string_view p, std::string_view prefix) {
  if (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  return p == prefix || (p.size() > prefix.size() && p.substr(0, prefix.size()) == prefix &&
                         p[prefix.size()] == '/');
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// "Bearer <token>" (scheme case-insensitive, as Kubernetes' bearertoken
// authenticator); "" when the header carries no bearer token.
std::string bearer_token(std::string_view header) {
  std::string h = trim(header);
  size_t sp = h.find(' ');
  if (sp == std::string::npos || lower(std::string_view(h).substr(0, sp)) != "bearer") return "";
  return trim(std::string_view(h).substr(sp + 1));
}

std::string jstr(const json& o, const char* k) {
  if (!o.is_object()) return "";
  auto it = o.find(k);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

class ApiReviewer final : public AuthReviewer {
 public:
  explicit ApiReviewer(client::RestClient& rest) : rest_(rest) {}

  Result<std::optional<auth::UserInfo>> review_token(const std::string& token) override {
    json req = {{"apiVersion", "authentication.k8s.io/v1"},
                {"kind", "TokenReview"},
                {"metadata", json::object()},
                {"spec", {{"token", token}}}};
    auto r = post("/apis/authentication.k8s.io/v1/tokenreviews", req);
    if (!r) return r.status();
    const json& status = r->value("status", json::object());
    if (!status.is_object() || !status.value("authenticated", false)) {
      return std::optional<auth::UserInfo>();
    }
    const json& u = status.value("user", json::object());
    auth::UserInfo user;
    user.name = jstr(u, "username");
    user.uid = jstr(u, "uid");
    if (u.contains("groups") && u["groups"].is_array()) {
      for (const json& g : u["groups"])
        if (g.is_string()) user.groups.push_back(g.get<std::string>());
    }
    if (u.contains("extra") && u["extra"].is_object()) {
      for (auto it = u["extra"].begin(); it != u["extra"].end(); ++it) {
        if (!it->is_array()) continue;
        for (const json& v : *it)
          if (v.is_string()) user.extra[it.key()].push_back(v.get<std::string>());
      }
    }
    if (user.name.empty())
      return Status(Code::kInternal, "TokenReview: authenticated without a user name");
    return std::optional<auth::UserInfo>(std::move(user));
  }

  Result<auth::Decision> review_access(const auth::Attributes& a) override {
    json extra = json::object();
    for (const auto& [k, v] : a.user.extra) extra[k] = v;
    json spec = {{"user", a.user.name},
                 {"groups", a.user.groups},
                 {"resourceAttributes",
                  {{"verb", a.verb},
                   {"group", a.api_group},
                   {"version", a.api_version},
                   {"resource", a.resource},
                   {"subresource", a.subresource},
                   {"namespace", a.ns},
                   {"name", a.name}}}};
    if (!a.user.uid.empty()) spec["uid"] = a.user.uid;
    if (!extra.empty()) spec["extra"] = extra;
    json req = {{"apiVersion", "authorization.k8s.io/v1"},
                {"kind", "SubjectAccessReview"},
                {"metadata", json::object()},
                {"spec", spec}};
    auto r = post("/apis/authorization.k8s.io/v1/subjectaccessreviews", req);
    if (!r) return r.status();
    const json& status = r->value("status", json::object());
    auth::Decision d;
    d.kind = status.is_object() && status.value("allowed", false) ? auth::Decision::Kind::kAllow
                                                                  : auth::Decision::Kind::kDeny;
    d.reason = jstr(status, "reason");
    return d;
  }

 private:
  Result<json> post(const std::string& path, const json& body) {
    auto resp = rest_.request("POST", path, body.dump());
    if (!resp) return resp.status();
    if (Status st = client::check_response(*resp); !st) return st;
    json j = json::parse(resp->body, nullptr, false);
    if (!j.is_object())
      return Status(Code::kInternal, "POST " + path + ": the answer is not a JSON object");
    return j;
  }

  client::RestClient& rest_;
};

std::string access_key(const auth::Attributes& a) {
  // What the review depends on; the name (the node's) and resource are fixed.
  json k = {a.user.name, a.user.uid, a.user.groups, a.user.extra, a.verb, a.subresource};
  return k.dump();
}

}  // namespace

std::unique_ptr<AuthReviewer> make_api_reviewer(client::RestClient& rest) {
  return std::make_unique<ApiReviewer>(rest);
}

auth::Attributes kubelet_request_attributes(const auth::UserInfo& user, std::string_view method,
                                            std::string_view path, const std::string& node_name) {
  auth::Attributes a;
  a.user = user;
  if (method == "GET" || method == "HEAD") {
    a.verb = "get";
  } else if (method == "POST") {
    a.verb = "create";
  } else if (method == "PUT") {
    a.verb = "update";
  } else if (method == "PATCH") {
    a.verb = "patch";
  } else if (method == "DELETE") {
    a.verb = "delete";
  } else {
    a.verb = lower(method);
  }
  a.resource_request = true;
  a.api_group = "";
  a.api_version = "v1";
  a.resource = "nodes";
  a.name = node_name;
  a.path = std::string(path);
  if (is_subpath(path, "/stats/")) {
    a.subresource = "stats";
  } else if (is_subpath(path, "/metrics")) {
    a.subresource = "metrics";
  } else if (is_subpath(path, "/logs/")) {
    a.subresource = "log";  // as pods/log
  } else if (is_subpath(path, "/spec/")) {
    a.subresource = "spec";
  } else {
    a.subresource = "proxy";
  }
  return a;
}

KubeletAuth::KubeletAuth(AuthReviewer& reviewer, std::string node_name, KubeletAuthOptions options,
                         Clock& clock)
    : reviewer_(reviewer), node_name_(std::move(node_name)), options_(options), clock_(clock) {}

template <typename Entry>
void KubeletAuth::make_room(std::map<std::string, Entry>& cache,
                            std::chrono::steady_clock::time_point now) {
  if (cache.size() < options_.max_entries) return;
  std::erase_if(cache, [&](const auto& kv) { return kv.second.expires <= now; });
  if (cache.size() >= options_.max_entries) cache.clear();
}

Result<std::optional<auth::UserInfo>> KubeletAuth::authenticate_token(const std::string& token) {
  const auto now = clock_.monotonic();
  {
    std::lock_guard l(mu_);
    auto it = tokens_.find(token);
    if (it != tokens_.end() && it->second.expires > now) return it->second.user;
  }
  auto r = reviewer_.review_token(token);
  if (!r) return r.status();
  std::lock_guard l(mu_);
  make_room(tokens_, now);
  tokens_[token] = TokenEntry{*r, now + options_.token_ttl};
  return *r;
}

Result<auth::Decision> KubeletAuth::authorize(const auth::Attributes& a) {
  const auto now = clock_.monotonic();
  const std::string key = access_key(a);
  {
    std::lock_guard l(mu_);
    auto it = access_.find(key);
    if (it != access_.end() && it->second.expires > now) return it->second.decision;
  }
  auto r = reviewer_.review_access(a);
  if (!r) return r.status();
  std::lock_guard l(mu_);
  make_room(access_, now);
  access_[key] = AccessEntry{*r, now + (r->allowed() ? options_.allow_ttl : options_.deny_ttl)};
  return *r;
}

AuthVerdict KubeletAuth::check(std::string_view method, std::string_view path,
                               std::string_view authorization,
                               const std::optional<PeerIdentity>& peer) {
  AuthVerdict v;
  std::optional<auth::UserInfo> user;
  if (peer && !peer->common_name.empty()) {
    auth::UserInfo u;
    u.name = peer->common_name;
    u.groups = peer->organizations;
    user = std::move(u);
  } else if (std::string token = bearer_token(authorization); !token.empty()) {
    auto r = authenticate_token(token);
    if (!r) {
      spdlog::warn("kubelet server: TokenReview failed: {}", r.status().to_string());
    } else {
      user = std::move(*r);
    }
  }
  if (!user) {
    v.code = 401;
    v.message = "Unauthorized";
    return v;
  }
  if (!user->in_group(auth::kGroupAuthenticated)) user->groups.push_back(auth::kGroupAuthenticated);
  auth::Attributes a = kubelet_request_attributes(*user, method, path, node_name_);
  v.user = *user;
  auto d = authorize(a);
  if (!d) {
    spdlog::warn("kubelet server: SubjectAccessReview failed: {}", d.status().to_string());
    v.code = 500;
    v.message = "Authorization error (user=" + a.user.name + ", verb=" + a.verb +
                ", resource=" + a.resource + ", subresource=" + a.subresource + ")";
    return v;
  }
  if (!d->allowed()) {
    spdlog::debug("kubelet server: forbidden: {} {} for {}: {}", method, path, a.user.name,
                  d->reason);
    v.code = 403;
    v.message = "Forbidden (user=" + a.user.name + ", verb=" + a.verb + ", resource=" + a.resource +
                ", subresource=" + a.subresource + ")";
    return v;
  }
  return v;
}

}  // namespace minik8s::kubelet
