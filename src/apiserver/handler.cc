// RestHandler: routing (handler.h lists the other parts).
#include "handler.h"

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "kinds/kinds.h"
#include "minik8s/api/table.h"

namespace minik8s::apiserver {

RestHandler::RestHandler(storage::Storage& store, WatchCache& cache, const ApiServerOptions& opts,
                         std::unique_ptr<IpAllocator> ips,
                         std::shared_ptr<const ServiceAccountTokens> sa_tokens)
    : store_(store),
      cache_(cache),
      opts_(opts),
      kubernetes_service_ip_(ips->nth(1)),
      sa_tokens_(std::move(sa_tokens)),
      review_authn_(make_authenticator(opts, cache, sa_tokens_.get())),
      kinds_(make_kind_registry(store, opts, std::move(ips),
                                KindDeps{sa_tokens_.get(), review_authn_.get(), &cache})),
      code_(opts.code_dir.empty() ? nullptr
                                  : std::make_unique<CodeStore>(opts.code_dir, kCodeStoreSpec)),
      blob_(opts.blob_dir.empty() ? nullptr
                                  : std::make_unique<CodeStore>(opts.blob_dir, kBlobStoreSpec)),
      objects_(store, *kinds_),
      authn_(opts.auth.enabled ? review_authn_.get() : nullptr),
      authz_(opts.auth.enabled ? make_authorizer(opts, cache) : nullptr) {
  const bool rbac_only = opts.auth.authorization_modes == std::vector<std::string>{"RBAC"};
  using Review = AccessReviewStrategy::Kind;
  for (auto [kind, review] : {std::pair{"SelfSubjectAccessReview", Review::kSelf},
                              std::pair{"SubjectAccessReview", Review::kSubject},
                              std::pair{"SelfSubjectRulesReview", Review::kRules}}) {
    if (const auto* t = api::find_kind("authorization.k8s.io/v1", kind)) {
      kinds_->add(*t, std::make_unique<AccessReviewStrategy>(review, authz_.get(), rbac_only));
    }
  }
  for (const char* kind : {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}) {
    if (const auto* t = api::find_kind("rbac.authorization.k8s.io/v1", kind)) {
      kinds_->add(*t, std::make_unique<RbacWriteStrategy>(*t, authz_.get()));
    }
  }
}

Status RestHandler::init(const std::string& server_host, uint16_t server_port) {
  server_address_ = server_host + ":" + std::to_string(server_port);
  for (const api::ResourceType* t : kinds_->restoring_kinds()) {
    KindStrategy& s = kinds_->strategy(*t);
    int64_t rev = 0;
    for (const auto& o : cache_.list(collection_prefix(*t, ""), &rev)) s.restore(o->object);
  }
  if (opts_.auth.enabled) {
    if (Status st = check_authorization_modes(opts_); !st.is_ok()) return st;
  }
  if (opts_.create_default_namespaces || opts_.auth.enabled)
    reconcile_rbac_defaults(objects_, store_);
  // The authorizer reads the defaults from the cache: ready only once it has them.
  if (opts_.auth.enabled) cache_.wait_fresh(std::chrono::seconds(5));
  if (opts_.create_default_namespaces) {
    return create_bootstrap_objects(objects_, store_, opts_, kubernetes_service_ip_, server_port);
  }
  return Status::ok();
}

bool RestHandler::is_watch(const HttpRequest& req) const {
  if (req.method != "GET") return false;
  auto it = req.query.find("watch");
  if (it != req.query.end() && query_bool(it->second)) return true;
  return req.path.find("/watch/") != std::string::npos && parse_path(req.path).legacy_watch;
}

namespace {

// Paths anyone may read, authenticated or not (Kubernetes'
// system:public-info-viewer): health and version.
bool public_path(const std::string& p) {
  return p == "/healthz" || p == "/livez" || p == "/readyz" || p == "/version" ||
         p == "/version/" || p.rfind("/healthz/", 0) == 0 || p.rfind("/livez/", 0) == 0 ||
         p.rfind("/readyz/", 0) == 0;
}

std::string bearer_token(const std::string& header) {
  constexpr std::string_view kBearer = "bearer ";
  if (header.size() <= kBearer.size()) return "";
  for (size_t i = 0; i < kBearer.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kBearer[i]) return "";
  }
  size_t b = header.find_first_not_of(' ', kBearer.size());
  return b == std::string::npos ? "" : header.substr(b);
}

HttpResponse unauthorized() { return error_response(Status(Code::kUnauthorized, "Unauthorized")); }

}  // namespace

std::optional<HttpResponse> RestHandler::admit(HttpRequest& req) const {
  if (!opts_.auth.enabled) {
    req.user = auth::UserInfo{auth::kUserAdmin, "", {auth::kGroupMasters, auth::kGroupAuthenticated}, {}};
    return std::nullopt;
  }
  auth::Credentials c;
  c.bearer_token = bearer_token(req.authorization);
  c.client_cert = req.client_cert;
  std::optional<auth::UserInfo> user;
  if (!c.empty() && authn_) {
    auto r = authn_->authenticate(c);
    if (!r) {
      spdlog::debug("apiserver: {} {}: authentication failed: {}", req.method, req.path,
                    r.status().message());
      return unauthorized();
    }
    user = std::move(*r);
  }
  const bool open = public_path(req.path);
  if (!user) {
    if (!c.empty()) return unauthorized();  // credentials nobody took
    req.user = auth::UserInfo{auth::kUserAnonymous, "", {auth::kGroupUnauthenticated}, {}};
    if (open) return std::nullopt;
    // No credentials: only what the authorizer grants system:unauthenticated
    // (kube-public/cluster-info for a joining node); anything else is 401.
    if (authz_ && authz_->authorize(request_attributes(req)).allowed()) return std::nullopt;
    return unauthorized();
  }
  if (!user->in_group(auth::kGroupAuthenticated)) user->groups.push_back(auth::kGroupAuthenticated);
  req.user = std::move(*user);
  if (auto refused = impersonate(req)) return refused;
  if (open || !authz_) return std::nullopt;
  auth::Attributes a = request_attributes(req);
  auth::Decision d = authz_->authorize(a);
  if (d.allowed()) return std::nullopt;
  spdlog::debug("apiserver: {} {}: forbidden: user {} (groups {}) {} {}{}", req.method, req.path,
                req.user.name, fmt::join(req.user.groups, ","), a.verb,
                a.resource_request ? a.resource : a.path,
                a.subresource.empty() ? "" : "/" + a.subresource);
  return forbidden(a, d.reason);
}

// Kubernetes' NewForbidden: "<resource>[.<group>] ["<name>"] is forbidden: …".
HttpResponse RestHandler::forbidden(const auth::Attributes& a, const std::string& reason) {
  std::string prefix = "forbidden: ";
  if (a.resource_request) {
    prefix = (a.api_group.empty() ? a.resource : a.resource + "." + a.api_group) +
             (a.name.empty() ? "" : " \"" + a.name + "\"") + " is forbidden: ";
  }
  return error_response(Status(Code::kForbidden, prefix + auth::forbidden_message(a, reason)));
}

// Kubernetes' impersonation filter: the authenticated user needs
// "impersonate" on each users/groups (serviceaccounts for
// system:serviceaccount:ns:name) it asks for; the request then acts as the
// impersonated user (plus system:authenticated, and the service account
// groups for a service account).
std::optional<HttpResponse> RestHandler::impersonate(HttpRequest& req) const {
  if (req.impersonate_user.empty() && req.impersonate_groups.empty()) return std::nullopt;
  if (req.impersonate_user.empty()) {
    return error_response(bad_request("requested impersonation of groups without a user"));
  }
  auto check = [&](const std::string& resource, const std::string& ns,
                   const std::string& name) -> std::optional<HttpResponse> {
    if (!authz_) return std::nullopt;
    auth::Attributes a;
    a.user = req.user;
    a.verb = "impersonate";
    a.resource = resource;
    a.ns = ns;
    a.name = name;
    auth::Decision d = authz_->authorize(a);
    if (d.allowed()) return std::nullopt;
    return forbidden(a, d.reason);
  };
  auth::UserInfo as{req.impersonate_user, "", {}, {}};
  const std::string sa = auth::kServiceAccountUserPrefix;
  if (as.name.compare(0, sa.size(), sa) == 0) {
    std::string rest = as.name.substr(sa.size());
    auto colon = rest.find(':');
    if (colon == std::string::npos) return error_response(bad_request("bad service account name"));
    if (auto r = check("serviceaccounts", rest.substr(0, colon), rest.substr(colon + 1))) return r;
    as.groups = {auth::kGroupServiceAccounts,
                 std::string(auth::kGroupServiceAccounts) + ":" + rest.substr(0, colon)};
  } else if (auto r = check("users", "", as.name)) {
    return r;
  }
  for (const auto& g : req.impersonate_groups) {
    if (auto r = check("groups", "", g)) return r;
    as.groups.push_back(g);
  }
  if (!as.in_group(auth::kGroupAuthenticated)) as.groups.push_back(auth::kGroupAuthenticated);
  req.user = std::move(as);
  return std::nullopt;
}

HttpResponse RestHandler::handle(HttpRequest req) {
  if (auto refused = admit(req)) {
    metrics_.observe(req.method, "", refused->code, 0);
    return std::move(*refused);
  }
  return handle_admitted(req);
}

HttpResponse RestHandler::handle_admitted(const HttpRequest& req) {
  auto start = std::chrono::steady_clock::now();
  std::string verb, resource;
  HttpResponse r;
  try {
    if (const StoreSpec* spec = store_spec_for(req.path)) {  // binary bodies: no UTF-8 check
      resource = spec->noun;
      r = handle_store(*spec, req, &verb);
    } else {
      Status utf8 = check_utf8(req);
      if (utf8.is_ok()) utf8 = check_dry_run(req);
      r = utf8.is_ok() ? dispatch(req, &verb, &resource) : error_response(utf8);
    }
  } catch (const std::exception& e) {
    spdlog::error("apiserver: internal error on {} {}: {}", req.method, req.path, e.what());
    r = error_response(internal_error(e.what()));
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (verb.empty()) verb = req.method;
  metrics_.observe(verb, resource, r.code, secs);
  return r;
}

HttpResponse RestHandler::dispatch(const HttpRequest& req, std::string* verb,
                                   std::string* resource) {
  const std::string& p = req.path;
  if (p == "/healthz" || p == "/livez" || p == "/readyz" || p.rfind("/healthz/", 0) == 0 ||
      p.rfind("/livez/", 0) == 0 || p.rfind("/readyz/", 0) == 0) {
    HttpResponse r;
    r.content_type = "text/plain; charset=utf-8";
    if (p.rfind("/readyz", 0) == 0 && !ready_) {
      r.code = 503;
      r.body = "not ready";
    } else {
      r.body = "ok";
    }
    return r;
  }
  if (p == "/metrics") {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics_.render();
    return r;
  }
  if (p == "/version" || p == "/version/") {
    HttpResponse r;
    r.body = json{{"major", "1"},
                  {"minor", "32"},
                  {"gitVersion", "v1.32.0-minik8s"},
                  {"gitCommit", "minik8s"},
                  {"gitTreeState", "clean"},
                  {"buildDate", "2025-01-01T00:00:00Z"},
                  {"goVersion", "go1.23.0"},
                  {"compiler", "gc"},
                  {"platform", "linux/amd64"}}
                 .dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  if (p == "/openapi/v2") {
    HttpResponse r;
    r.content_type = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
    return r;
  }
  if (p == "/openapi/v3" || p == "/openapi/v3/") {
    HttpResponse r;
    r.body = api::openapi_v3_index().dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  if (p.rfind("/openapi/v3/", 0) == 0) {
    json doc = api::openapi_v3_document(p.substr(std::string("/openapi/v3/").size()));
    if (doc.is_null()) return not_served_response();
    HttpResponse r;
    r.body = doc.dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
  }
  if (auto extra = dispatch_extra(req, verb, resource)) return std::move(*extra);
  RequestInfo ri = parse_path(p);
  switch (ri.path) {
    case PathKind::kApiVersions:
    case PathKind::kApiGroups:
    case PathKind::kResourceList:
      if (req.method != "GET") return method_not_allowed_response();
      *verb = "get";
      return discovery(ri);
    case PathKind::kResource:
      if (ri.type) {
        // Only the kind's plural and known subresources: never a name from
        // the URL (label cardinality).
        const std::string& sub = ri.subresource;
        bool known = (sub == "status" && ri.type->has_status) ||
                     (sub == "scale" && ri.type->has_scale) ||
                     (!sub.empty() && kinds_->strategy(*ri.type).serves_subresource(sub));
        *resource = ri.type->plural + (known ? "/" + sub : "");
      } else if (ri.group.empty() && ri.plural == "bindings") {
        *resource = "bindings";
      }
      return handle_resource(req, ri, verb);
    case PathKind::kUnknown:
      break;
  }
  return not_served_response();
}

HttpResponse RestHandler::handle_resource(const HttpRequest& req, const RequestInfo& ri,
                                          std::string* verb) {
  const std::string& m = req.method;
  if (!ri.type) {
    // POST /api/v1/namespaces/<ns>/bindings (the older scheduler form): a
    // binding of the kind whose strategy serves it.
    if (ri.group.empty() && ri.plural == "bindings" && !ri.ns.empty() && m == "POST" &&
        ri.name.empty()) {
      *verb = "create";
      return do_binding(req, kinds_->kind_serving("binding"), ri.ns, "");
    }
    return not_served_response();
  }
  const api::ResourceType& t = *ri.type;
  KindStrategy& strategy = kinds_->strategy(t);
  if (t.namespaced && ri.ns.empty() && !(ri.name.empty() && m == "GET")) {
    if (!ri.name.empty() || m != "GET") return not_served_response();
  }
  if (strategy.answers_create() && !(ri.name.empty() && m == "POST")) {
    return method_not_allowed_response();  // answered kinds are never stored
  }
  if (ri.name.empty()) {
    if (m == "GET") {
      *verb = "list";
      return do_list(req, ri);
    }
    if (m == "POST") {
      *verb = "create";
      return do_create(req, ri);
    }
    if (m == "DELETE" && strategy.allows_delete_collection()) {
      *verb = "deletecollection";
      return do_delete_collection(req, ri);
    }
    return method_not_allowed_response();
  }
  const std::string& sub = ri.subresource;
  if (sub == "scale") {
    if (!t.has_scale) return not_served_response();
    *verb = m == "GET" ? "get" : m == "PUT" ? "update" : "patch";
    return do_scale(req, ri);
  }
  if (sub == "binding") {
    if (!strategy.serves_subresource(sub) || m != "POST") return not_served_response();
    *verb = "create";
    return do_binding(req, &t, ri.ns, ri.name);
  }
  if (m == "POST" && !sub.empty() && strategy.serves_subresource(sub)) {
    *verb = "create";
    return do_subresource_create(req, ri);
  }
  // What is left: the object itself, status, and a strategy's subresources
  // written like status (update/patch scoped by the strategy).
  if (!sub.empty() && sub != "status" && !strategy.serves_subresource(sub)) {
    return not_served_response();
  }
  if (sub == "status" && !t.has_status) return not_served_response();
  if (m == "GET") {
    *verb = "get";
    return do_get(req, ri);
  }
  if (m == "PUT") {
    *verb = "update";
    return do_update(req, ri);
  }
  if (m == "PATCH") {
    *verb = "patch";
    return do_patch(req, ri);
  }
  if (m == "DELETE" && sub.empty()) {
    *verb = "delete";
    return do_delete(req, ri);
  }
  return method_not_allowed_response();
}

}  // namespace minik8s::apiserver
