// The authorizer chain and the request attributes (access.h; docs/auth.md
// "Authorization"): Node, RBAC (the evaluator in mk_auth over the watch
// cache), AlwaysAllow, AlwaysDeny.
#include <spdlog/spdlog.h>

#include <mutex>
#include <unordered_map>

#include "access.h"
#include "request.h"

namespace minik8s::apiserver {

using nlohmann::json;

namespace {

using auth::Attributes;
using auth::Decision;

std::string jstr(const json& o, const char* k) {
  if (!o.is_object()) return "";
  auto it = o.find(k);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

const json& jget(const json& o, const char* k) {
  static const json kNull;
  if (!o.is_object()) return kNull;
  auto it = o.find(k);
  return it == o.end() ? kNull : *it;
}

std::vector<std::string> strings(const json& o, const char* k) {
  std::vector<std::string> out;
  const json& a = jget(o, k);
  if (!a.is_array()) return out;
  for (const json& x : a)
    if (x.is_string()) out.push_back(x.get<std::string>());
  return out;
}

std::shared_ptr<const std::vector<auth::PolicyRule>> parse_rules(const json& obj) {
  auto rules = std::make_shared<std::vector<auth::PolicyRule>>();
  const json& rs = jget(obj, "rules");
  if (rs.is_array()) {
    for (const json& r : rs) {
      rules->push_back({strings(r, "verbs"), strings(r, "apiGroups"), strings(r, "resources"),
                        strings(r, "resourceNames"), strings(r, "nonResourceURLs")});
    }
  }
  return rules;
}

std::shared_ptr<const auth::Binding> parse_binding(const json& obj) {
  auto b = std::make_shared<auth::Binding>();
  const json& meta = jget(obj, "metadata");
  b->name = jstr(meta, "name");
  b->ns = jstr(meta, "namespace");
  const json& ref = jget(obj, "roleRef");
  b->role_kind = jstr(ref, "kind");
  b->role_name = jstr(ref, "name");
  const json& subs = jget(obj, "subjects");
  if (subs.is_array()) {
    for (const json& s : subs) {
      b->subjects.push_back({jstr(s, "kind"), jstr(s, "name"), jstr(s, "namespace")});
    }
  }
  return b;
}

// Parsed forms of cached objects, by key, rebuilt when the object changes:
// a request then costs a cache list and pointer copies, not JSON walks.
template <typename T>
class Memo {
 public:
  using Parse = std::shared_ptr<const T> (*)(const json&);
  explicit Memo(Parse parse) : parse_(parse) {}
  std::shared_ptr<const T> get(const CachedObject& o) const {
    {
      std::lock_guard l(mu_);
      auto it = m_.find(o.key);
      if (it != m_.end() && it->second.first == o.mod_revision) return it->second.second;
    }
    auto parsed = parse_(o.object);
    std::lock_guard l(mu_);
    if (m_.size() > kMax) m_.clear();  // deleted objects' entries: bounded
    m_[o.key] = {o.mod_revision, parsed};
    return parsed;
  }

 private:
  static constexpr size_t kMax = 100000;
  const Parse parse_;
  mutable std::mutex mu_;  // guards m_
  mutable std::unordered_map<std::string, std::pair<int64_t, std::shared_ptr<const T>>> m_;
};

// The RBAC objects as the watch cache holds them.
class CacheRbacSource : public auth::RbacSource {
 public:
  explicit CacheRbacSource(WatchCache& cache)
      : cache_(cache),
        roles_(api::find_resource(auth::kRbacGroup, "v1", "roles")),
        cluster_roles_(api::find_resource(auth::kRbacGroup, "v1", "clusterroles")),
        bindings_(api::find_resource(auth::kRbacGroup, "v1", "rolebindings")),
        cluster_bindings_(api::find_resource(auth::kRbacGroup, "v1", "clusterrolebindings")) {}

  std::vector<auth::BindingPtr> cluster_role_bindings() const override {
    return list(*cluster_bindings_, "");
  }
  std::vector<auth::BindingPtr> role_bindings(const std::string& ns) const override {
    return list(*bindings_, ns);
  }
  auth::RulesPtr role_rules(const std::string& ns, const std::string& name) const override {
    ObjectPtr o = cache_.get(object_key(ns.empty() ? *cluster_roles_ : *roles_, ns, name));
    return o ? rules_.get(*o) : nullptr;
  }

 private:
  std::vector<auth::BindingPtr> list(const api::ResourceType& t, const std::string& ns) const {
    int64_t rev = 0;
    std::vector<auth::BindingPtr> out;
    for (const ObjectPtr& o : cache_.list(collection_prefix(t, ns), &rev)) {
      out.push_back(binding_memo_.get(*o));
    }
    return out;
  }

  WatchCache& cache_;
  const api::ResourceType *roles_, *cluster_roles_, *bindings_, *cluster_bindings_;
  Memo<std::vector<auth::PolicyRule>> rules_{parse_rules};
  Memo<auth::Binding> binding_memo_{parse_binding};
};

class RbacMode : public auth::Authorizer {
 public:
  explicit RbacMode(WatchCache& cache) : source_(cache), rbac_(source_) {}
  Decision authorize(const Attributes& a) const override { return rbac_.authorize(a); }
  const auth::RbacAuthorizer& rbac() const { return rbac_; }
  const CacheRbacSource& source() const { return source_; }

 private:
  CacheRbacSource source_;
  auth::RbacAuthorizer rbac_;
};

class FixedMode : public auth::Authorizer {
 public:
  explicit FixedMode(Decision::Kind k) : kind_(k) {}
  Decision authorize(const Attributes&) const override { return {kind_, ""}; }

 private:
  const Decision::Kind kind_;
};

bool one_of(const std::string& x, std::initializer_list<const char*> set) {
  for (const char* s : set)
    if (x == s) return true;
  return false;
}

// Kubernetes' Node authorizer (plugin/pkg/auth/authorizer/node) and the
// node's parts of system:node, for users system:node:<name> in system:nodes
// (docs/auth.md "Node rules"). Objects tied to a node (its pods, their
// secrets, config maps and service accounts) are checked against the pods
// the cache holds. Anything else: no opinion (RBAC decides).
class NodeMode : public auth::Authorizer {
 public:
  explicit NodeMode(WatchCache& cache)
      : cache_(cache), pods_(api::find_resource("", "v1", "pods")) {}

  Decision authorize(const Attributes& a) const override {
    const std::string& user = a.user.name;
    const std::string prefix = auth::kNodeUserPrefix;
    if (!a.resource_request || !a.user.in_group(auth::kGroupNodes) ||
        user.compare(0, prefix.size(), prefix) != 0 || user.size() == prefix.size()) {
      return {};
    }
    const std::string node = user.substr(prefix.size());
    return allows(a, node) ? Decision{Decision::Kind::kAllow, ""} : Decision{};
  }

 private:
  bool allows(const Attributes& a, const std::string& node) const {
    const bool read = one_of(a.verb, {"get", "list", "watch"});
    const std::string& g = a.api_group;
    const std::string& r = a.resource;
    const std::string& sub = a.subresource;
    if (g.empty() && r == "nodes") {
      if (sub.empty() && (read || a.verb == "create")) return true;
      // Its own Node and nodes/status only.
      return a.name == node && (sub.empty() || sub == "status") &&
             one_of(a.verb, {"get", "update", "patch", "delete"});
    }
    if (g.empty() && r == "pods") {
      if (sub.empty() && read) return true;
      // Mirror pods are not supported: nodes do not create pods.
      if (sub.empty() && a.verb == "delete") return bound_here(a.ns, a.name, node);
      if (sub == "status" && one_of(a.verb, {"get", "update", "patch"})) {
        return bound_here(a.ns, a.name, node);
      }
      return false;
    }
    if (sub.empty() && read &&
        ((g.empty() && one_of(r, {"services", "endpoints", "namespaces"})) ||
         (g == "discovery.k8s.io" && r == "endpointslices"))) {
      return true;
    }
    if (g.empty() && (r == "secrets" || r == "configmaps") && sub.empty() && a.verb == "get") {
      return referenced_here(a.ns, r, a.name, node);
    }
    if (g.empty() && r == "serviceaccounts" && sub == "token" && a.verb == "create") {
      return referenced_here(a.ns, r, a.name, node);
    }
    if ((g.empty() || g == "events.k8s.io") && r == "events" && sub.empty()) {
      return one_of(a.verb, {"create", "update", "patch"});
    }
    if (g == "coordination.k8s.io" && r == "leases" && a.ns == "kube-node-lease" && sub.empty()) {
      if (a.verb == "create") return true;  // the name is the body's (not checked here)
      return a.name == node && one_of(a.verb, {"get", "update", "patch", "delete"});
    }
    if (g == "certificates.k8s.io" && r == "certificatesigningrequests" && sub.empty()) {
      return one_of(a.verb, {"create", "get", "list", "watch"});
    }
    // The kubelet's server delegates its authentication and authorization
    // (docs/auth.md "The kubelet's server").
    if (a.verb == "create" && sub.empty() &&
        ((g == "authentication.k8s.io" && r == "tokenreviews") ||
         (g == "authorization.k8s.io" &&
          one_of(r, {"subjectaccessreviews", "localsubjectaccessreviews"})))) {
      return true;
    }
    return false;
  }

  bool bound_here(const std::string& ns, const std::string& name, const std::string& node) const {
    if (name.empty()) return false;
    ObjectPtr o = cache_.get(object_key(*pods_, ns, name));
    return o && jstr(jget(o->object, "spec"), "nodeName") == node;
  }

  // Is ns/name (a secret, config map or service account) used by a pod of
  // ns bound to node? (Kubernetes keeps a graph; the cache's pods of the
  // namespace are scanned instead.)
  bool referenced_here(const std::string& ns, const std::string& resource, const std::string& name,
                       const std::string& node) const {
    if (name.empty() || ns.empty()) return false;
    int64_t rev = 0;
    for (const ObjectPtr& o : cache_.list(collection_prefix(*pods_, ns), &rev)) {
      const json& spec = jget(o->object, "spec");
      if (jstr(spec, "nodeName") != node) continue;
      if (references(spec, resource, name)) return true;
    }
    return false;
  }

  static bool references(const json& spec, const std::string& resource, const std::string& name) {
    if (resource == "serviceaccounts") {
      std::string sa = jstr(spec, "serviceAccountName");
      return (sa.empty() ? "default" : sa) == name;
    }
    const bool secret = resource == "secrets";
    if (secret) {
      for (const json& s : jget(spec, "imagePullSecrets").is_array()
                               ? jget(spec, "imagePullSecrets")
                               : json::array()) {
        if (jstr(s, "name") == name) return true;
      }
    }
    auto volume_source = [&](const json& v) {
      return secret ? jstr(jget(v, "secret"), "secretName") == name
                    : jstr(jget(v, "configMap"), "name") == name;
    };
    const json& vols = jget(spec, "volumes");
    if (vols.is_array()) {
      for (const json& v : vols) {
        if (volume_source(v)) return true;
        const json& srcs = jget(jget(v, "projected"), "sources");
        if (!srcs.is_array()) continue;
        for (const json& s : srcs) {
          if (jstr(jget(s, secret ? "secret" : "configMap"), "name") == name) return true;
        }
      }
    }
    for (const char* list : {"containers", "initContainers", "ephemeralContainers"}) {
      const json& cs = jget(spec, list);
      if (!cs.is_array()) continue;
      for (const json& c : cs) {
        const json& env = jget(c, "env");
        if (env.is_array()) {
          for (const json& e : env) {
            const json& from = jget(e, "valueFrom");
            if (jstr(jget(from, secret ? "secretKeyRef" : "configMapKeyRef"), "name") == name) {
              return true;
            }
          }
        }
        const json& env_from = jget(c, "envFrom");
        if (env_from.is_array()) {
          for (const json& e : env_from) {
            if (jstr(jget(e, secret ? "secretRef" : "configMapRef"), "name") == name) return true;
          }
        }
      }
    }
    return false;
  }

  WatchCache& cache_;
  const api::ResourceType* pods_;
};

class Chain : public ServerAuthorizer {
 public:
  Chain(std::vector<std::unique_ptr<auth::Authorizer>> modes, const RbacMode* rbac)
      : modes_(std::move(modes)), rbac_(rbac) {}
  Decision authorize(const Attributes& a) const override {
    // Kubernetes puts a privileged-groups authorizer first: system:masters
    // may do anything whatever RBAC holds (also before the defaults are in
    // the cache).
    if (a.user.in_group(auth::kGroupMasters)) return {Decision::Kind::kAllow, ""};
    for (const auto& m : modes_) {
      Decision d = m->authorize(a);
      if (d.kind != Decision::Kind::kNoOpinion) return d;
    }
    return {};
  }
  std::vector<auth::PolicyRule> rules_for(const auth::UserInfo& user,
                                          const std::string& ns) const override {
    return rbac_ ? rbac_->rbac().rules_for(user, ns) : std::vector<auth::PolicyRule>{};
  }
  auth::RulesPtr role_rules(const std::string& ns, const std::string& name) const override {
    return rbac_ ? rbac_->source().role_rules(ns, name) : nullptr;
  }

 private:
  std::vector<std::unique_ptr<auth::Authorizer>> modes_;
  const RbacMode* rbac_;
};

}  // namespace

Status check_authorization_modes(const ApiServerOptions& opts) {
  for (const auto& m : opts.auth.authorization_modes) {
    if (!one_of(m, {"Node", "RBAC", "AlwaysAllow", "AlwaysDeny"})) {
      return Status(Code::kInvalid, "unknown authorization mode \"" + m +
                                        "\": the modes are Node, RBAC, AlwaysAllow, AlwaysDeny");
    }
  }
  return Status::ok();
}

std::unique_ptr<ServerAuthorizer> make_authorizer(const ApiServerOptions& opts, WatchCache& cache) {
  if (opts.auth.authorization_modes.empty()) return nullptr;
  std::vector<std::unique_ptr<auth::Authorizer>> modes;
  const RbacMode* rbac = nullptr;
  for (const auto& m : opts.auth.authorization_modes) {
    if (m == "Node") {
      modes.push_back(std::make_unique<NodeMode>(cache));
    } else if (m == "RBAC") {
      auto r = std::make_unique<RbacMode>(cache);
      rbac = r.get();
      modes.push_back(std::move(r));
    } else if (m == "AlwaysAllow") {
      modes.push_back(std::make_unique<FixedMode>(Decision::Kind::kAllow));
    } else if (m == "AlwaysDeny") {
      modes.push_back(std::make_unique<FixedMode>(Decision::Kind::kDeny));
    }
  }
  return std::make_unique<Chain>(std::move(modes), rbac);
}

auth::Attributes request_attributes(const HttpRequest& req) {
  auth::Attributes a;
  a.user = req.user;
  a.path = req.path;
  std::string method;
  for (char c : req.method)
    method += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  RequestInfo ri = parse_path(req.path);
  if (ri.path != PathKind::kResource || ri.plural.empty()) {
    a.resource_request = false;
    a.verb = method == "head" ? "get" : method;
    return a;
  }
  a.api_group = ri.group;
  a.api_version = ri.version;
  a.resource = ri.plural;
  a.subresource = ri.subresource;
  a.ns = ri.ns;
  a.name = ri.name;
  // A namespace is in itself (Kubernetes' RequestInfoFactory).
  if (a.resource == "namespaces" && a.api_group.empty() && !a.name.empty()) a.ns = a.name;
  if (method == "get" || method == "head") {
    auto w = req.query.find("watch");
    bool watch = ri.legacy_watch || (w != req.query.end() && query_bool(w->second));
    a.verb = watch ? "watch" : (a.name.empty() ? "list" : "get");
  } else if (method == "post") {
    a.verb = "create";
  } else if (method == "put") {
    a.verb = "update";
  } else if (method == "patch") {
    a.verb = "patch";
  } else if (method == "delete") {
    a.verb = a.name.empty() ? "deletecollection" : "delete";
  } else {
    a.verb = method;
  }
  // exec, attach and portforward over a WebSocket (a GET) need "create" as
  // over POST (Kubernetes 1.30+, AuthorizePodWebsocketUpgradeCreatePermission).
  if (a.api_group.empty() && a.resource == "pods" && a.verb == "get" &&
      one_of(a.subresource, {"exec", "attach", "portforward"})) {
    a.verb = "create";
  }
  return a;
}

}  // namespace minik8s::apiserver
