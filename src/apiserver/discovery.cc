// RestHandler: discovery (handler.h lists the other parts). The
// APIVersions, APIGroupList and APIResourceList documents come from the kind
// table (each kind's strategy adds its verbs' and subresources' differences)
// and from the extra API groups (ApiGroupProvider), which are also routed here.
#include "handler.h"

#include <algorithm>
#include <map>

namespace minik8s::apiserver {

HttpResponse RestHandler::discovery(const RequestInfo& ri) {
  HttpResponse r;
  const auto& all = api::all_resources();
  if (ri.path == PathKind::kApiVersions) {
    r.body = json{{"kind", "APIVersions"},
                  {"versions", {"v1"}},
                  {"serverAddressByClientCIDRs",
                   {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address_}}}}}
                 .dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  if (ri.path == PathKind::kApiGroups) {
    json groups = json::array();
    std::vector<std::string> order;
    std::map<std::string, std::vector<std::string>> versions;
    for (const auto* t : all) {
      if (t->group.empty()) continue;
      if (!versions.count(t->group)) order.push_back(t->group);
      auto& v = versions[t->group];
      if (std::find(v.begin(), v.end(), t->version) == v.end()) v.push_back(t->version);
    }
    for (const auto& provider : extra_groups()) {
      const std::string g = provider->group();
      if (!versions.count(g)) order.push_back(g);
      auto& v = versions[g];
      if (std::find(v.begin(), v.end(), provider->version()) == v.end())
        v.push_back(provider->version());
    }
    for (const auto& g : order) {
      json vs = json::array();
      for (const auto& v : versions[g])
        vs.push_back({{"groupVersion", g + "/" + v}, {"version", v}});
      groups.push_back({{"name", g}, {"versions", vs}, {"preferredVersion", vs[0]}});
    }
    r.body = json{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}}.dump(
        -1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  json resources = json::array();
  bool any = false;
  for (const auto* t : all) {
    if (t->group != ri.group || t->version != ri.version) continue;
    any = true;
    const KindStrategy& strategy = kinds_->strategy(*t);
    json verbs = {"create", "delete", "deletecollection", "get",
                  "list",   "patch",  "update",           "watch"};
    if (!strategy.allows_delete_collection()) {
      verbs = {"create", "delete", "get", "list", "patch", "update", "watch"};
    }
    if (strategy.answers_create()) verbs = {"create"};  // reviews: answered, never stored
    json e = {{"name", t->plural},
              {"singularName", t->singular},
              {"namespaced", t->namespaced},
              {"kind", t->kind},
              {"verbs", verbs}};
    if (!t->short_names.empty()) e["shortNames"] = t->short_names;
    if (!t->categories.empty()) e["categories"] = t->categories;
    resources.push_back(e);
    if (t->has_status) {
      resources.push_back({{"name", t->plural + "/status"},
                           {"singularName", ""},
                           {"namespaced", t->namespaced},
                           {"kind", t->kind},
                           {"verbs", {"get", "patch", "update"}}});
    }
    if (t->has_scale) {
      resources.push_back({{"name", t->plural + "/scale"},
                           {"singularName", ""},
                           {"namespaced", t->namespaced},
                           {"group", "autoscaling"},
                           {"version", "v1"},
                           {"kind", "Scale"},
                           {"verbs", {"get", "patch", "update"}}});
    }
    strategy.discovery_subresources(*t, resources);
  }
  if (!any) return not_served_response();
  std::string gv = ri.group.empty() ? ri.version : ri.group + "/" + ri.version;
  r.body = json{{"kind", "APIResourceList"},
                {"apiVersion", "v1"},
                {"groupVersion", gv},
                {"resources", resources}}
               .dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

void RestHandler::add_api_group(std::shared_ptr<ApiGroupProvider> group) {
  if (!group) return;
  std::lock_guard lock(extra_mu_);
  extra_groups_.push_back(std::move(group));
}

std::vector<std::shared_ptr<ApiGroupProvider>> RestHandler::extra_groups() const {
  std::lock_guard lock(extra_mu_);
  return extra_groups_;
}

std::optional<HttpResponse> RestHandler::dispatch_extra(const HttpRequest& req, std::string* verb,
                                                        std::string* resource) {
  static const std::string kApis = "/apis/";
  const std::string& p = req.path;
  if (p.rfind(kApis, 0) != 0) return std::nullopt;
  std::vector<std::shared_ptr<ApiGroupProvider>> groups = extra_groups();
  if (groups.empty()) return std::nullopt;
  // /apis/<g>[/<v>[/<rest>]]
  size_t g_end = p.find('/', kApis.size());
  std::string group =
      p.substr(kApis.size(), g_end == std::string::npos ? std::string::npos : g_end - kApis.size());
  std::vector<std::shared_ptr<ApiGroupProvider>> mine;
  for (auto& provider : groups) {
    if (provider->group() == group) mine.push_back(provider);
  }
  if (mine.empty()) return std::nullopt;
  std::string after = g_end == std::string::npos ? "" : p.substr(g_end + 1);  // "<v>/<rest>" or ""
  size_t v_end = after.find('/');
  std::string version = after.substr(0, v_end);
  std::string rest = v_end == std::string::npos ? "" : after.substr(v_end);  // "" or "/..."
  auto discovery_only = [&]() -> std::optional<HttpResponse> {
    if (req.method != "GET") {
      return method_not_allowed_response();
    }
    *verb = "get";
    return std::nullopt;
  };

  if (version.empty()) {  // /apis/<g> or /apis/<g>/: the APIGroup
    if (auto refused = discovery_only()) return refused;
    json vs = json::array();
    for (const auto& provider : mine) {
      vs.push_back(
          {{"groupVersion", group + "/" + provider->version()}, {"version", provider->version()}});
    }
    HttpResponse r;
    r.body = json{
        {"kind", "APIGroup"},
        {"apiVersion", "v1"},
        {"name", group},
        {"versions", vs},
        {"preferredVersion",
         vs[0]}}.dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  std::shared_ptr<ApiGroupProvider> provider;
  for (auto& candidate : mine) {
    if (candidate->version() == version) provider = candidate;
  }
  if (!provider) return not_served_response();
  std::vector<ExtraResource> resources = provider->resources();
  if (rest.empty() || rest == "/") {  // /apis/<g>/<v>: the APIResourceList
    if (auto refused = discovery_only()) return refused;
    json list = json::array();
    for (const auto& res : resources) {
      list.push_back({{"name", res.name},
                      {"singularName", ""},
                      {"namespaced", res.namespaced},
                      {"kind", res.kind},
                      {"verbs", res.verbs}});
    }
    HttpResponse r;
    r.body = json{
        {"kind", "APIResourceList"},
        {"apiVersion", "v1"},
        {"groupVersion", group + "/" + version},
        {"resources",
         list}}.dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  // The metrics label takes the resource's plural only when the provider
  // declares it (never a name from the URL).
  {
    std::vector<std::string> seg;
    for (size_t i = 1; i <= rest.size();) {
      size_t j = rest.find('/', i);
      if (j == std::string::npos) j = rest.size();
      if (j > i) seg.push_back(rest.substr(i, j - i));
      i = j + 1;
    }
    size_t at = (seg.size() >= 3 && seg[0] == "namespaces") ? 2 : 0;
    if (at < seg.size()) {
      for (const auto& res : resources) {
        if (res.name == seg[at]) *resource = res.name;
      }
    }
    bool named = seg.size() > at + 1;
    if (req.method == "GET") *verb = named ? "get" : "list";
  }
  std::string query;
  for (const auto& [k, v] : req.query) {
    if (!query.empty()) query += '&';
    query += url_encode(k) + "=" + url_encode(v);
  }
  LocalResponse answer = provider->handle(req.method, rest, query, req.accept);
  if (answer.code == 0)
    return error_response(internal_error("the " + group + " provider gave no answer"));
  HttpResponse r;
  r.code = answer.code;
  if (!answer.content_type.empty()) r.content_type = answer.content_type;
  r.body = std::move(answer.body);
  return r;
}

}  // namespace minik8s::apiserver
