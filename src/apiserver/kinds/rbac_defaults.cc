// The default ClusterRoles and ClusterRoleBindings (kinds.h:
// reconcile_rbac_defaults; docs/auth.md "Authorization"). Contents follow
// Kubernetes' bootstrap policy (plugin/pkg/auth/authorizer/rbac/
// bootstrappolicy) for the kinds minik8s serves; minik8s' own groups get
// the same treatment an aggregated CRD would (view: read, edit: write).
#include <spdlog/spdlog.h>

#include "../registry_store.h"
#include "../request.h"
#include "kinds.h"
#include "minik8s/api/json.h"

namespace minik8s::apiserver {

using nlohmann::json;

namespace {

constexpr const char* kAutoupdate = "rbac.authorization.kubernetes.io/autoupdate";
const json kRead = {"get", "list", "watch"};
const json kWrite = {"create", "delete", "deletecollection", "patch", "update"};

json rule(json verbs, json groups, json resources) {
  return {{"verbs", std::move(verbs)},
          {"apiGroups", std::move(groups)},
          {"resources", std::move(resources)}};
}

json url_rule(json verbs, json urls) {
  return {{"verbs", std::move(verbs)}, {"nonResourceURLs", std::move(urls)}};
}

json meta(const std::string& name) {
  return {{"name", name},
          {"annotations", {{kAutoupdate, "true"}}},
          {"labels", {{"kubernetes.io/bootstrapping", "rbac-defaults"}}}};
}

json cluster_role(const std::string& name, json rules) {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "ClusterRole"},
          {"metadata", meta(name)},
          {"rules", std::move(rules)}};
}

json binding(const std::string& name, const std::string& role, json subjects) {
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "ClusterRoleBinding"},
          {"metadata", meta(name)},
          {"roleRef",
           {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", role}}},
          {"subjects", std::move(subjects)}};
}

json group(const std::string& name) {
  return {{"kind", "Group"}, {"apiGroup", "rbac.authorization.k8s.io"}, {"name", name}};
}

json user(const std::string& name) {
  return {{"kind", "User"}, {"apiGroup", "rbac.authorization.k8s.io"}, {"name", name}};
}

void add(json& rules, json r) { rules.push_back(std::move(r)); }

// minik8s' own API groups: every served kind (and its status) of them.
json minik8s_resources(bool with_status) {
  json by_group = json::object();
  for (const api::ResourceType* t : api::all_resources()) {
    if (t->group.find("minik8s.io") == std::string::npos) continue;
    by_group[t->group].push_back(t->plural);
    if (with_status && t->has_status) by_group[t->group].push_back(t->plural + "/status");
  }
  return by_group;
}

json view_rules() {
  json r = json::array();
  add(r, rule(kRead, {""},
              {"configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status",
               "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
               "services", "services/status"}));
  add(r, rule(kRead, {""},
              {"bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
               "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"}));
  add(r, rule(kRead, {""}, {"namespaces"}));
  add(r, rule(kRead, {"discovery.k8s.io"}, {"endpointslices"}));
  add(r, rule(kRead, {"apps"},
              {"controllerrevisions", "daemonsets", "daemonsets/status", "deployments",
               "deployments/scale", "deployments/status", "replicasets", "replicasets/scale",
               "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"}));
  add(r, rule(kRead, {"autoscaling"},
              {"horizontalpodautoscalers", "horizontalpodautoscalers/status"}));
  const json own = minik8s_resources(true);
  for (auto it = own.begin(); it != own.end(); ++it) add(r, rule(kRead, {it.key()}, *it));
  return r;
}

json edit_rules() {
  json r = view_rules();
  add(r, rule(kRead, {""},
              {"pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
               "services/proxy"}));
  add(r, rule({"impersonate"}, {""}, {"serviceaccounts"}));
  add(r,
      rule(kWrite, {""}, {"pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"}));
  add(r, rule({"create"}, {""}, {"pods/eviction"}));
  add(r, rule(kWrite, {""},
              {"configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
               "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
               "services/proxy"}));
  add(r, rule({"create"}, {""}, {"serviceaccounts/token"}));
  add(r, rule(kWrite, {"apps"},
              {"daemonsets", "deployments", "deployments/rollback", "deployments/scale",
               "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"}));
  add(r, rule(kWrite, {"autoscaling"}, {"horizontalpodautoscalers"}));
  const json own = minik8s_resources(false);
  for (auto it = own.begin(); it != own.end(); ++it) add(r, rule(kWrite, {it.key()}, *it));
  // The content-addressed stores (docs/serverless.md, docs/gpu.md).
  add(r, rule({"create", "get"}, {"minik8s.io"}, {"code", "blobs"}));
  return r;
}

json admin_rules() {
  json r = edit_rules();
  add(r, rule({"create"}, {"authorization.k8s.io"}, {"localsubjectaccessreviews"}));
  add(r, rule({"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
              {"rbac.authorization.k8s.io"}, {"rolebindings", "roles"}));
  return r;
}

// The Kubernetes parts of system:node (what the Node authorizer grants is
// in authz.cc; this role is not bound by default, as in Kubernetes).
json node_rules() {
  json r = json::array();
  add(r, rule({"create", "get", "list", "watch", "delete", "patch", "update"}, {""}, {"nodes"}));
  add(r, rule({"patch", "update"}, {""}, {"nodes/status"}));
  add(r, rule({"create", "patch", "update"}, {"", "events.k8s.io"}, {"events"}));
  add(r, rule(kRead, {""}, {"pods", "services", "endpoints"}));
  add(r, rule({"delete"}, {""}, {"pods"}));
  add(r, rule({"patch", "update"}, {""}, {"pods/status"}));
  add(r, rule({"get"}, {""}, {"configmaps", "secrets"}));
  add(r, rule({"create"}, {""}, {"serviceaccounts/token"}));
  add(r, rule(kRead, {"discovery.k8s.io"}, {"endpointslices"}));
  add(r, rule({"create", "get", "list", "watch"}, {"certificates.k8s.io"},
              {"certificatesigningrequests"}));
  add(r, rule({"create", "delete", "get", "patch", "update"}, {"coordination.k8s.io"}, {"leases"}));
  // The kubelet's server asks the API server who a token is and what it may do.
  add(r, rule({"create"}, {"authentication.k8s.io"}, {"tokenreviews"}));
  add(r, rule({"create"}, {"authorization.k8s.io"},
              {"subjectaccessreviews", "localsubjectaccessreviews"}));
  return r;
}

std::vector<json> default_cluster_roles() {
  std::vector<json> out;
  out.push_back(cluster_role("cluster-admin",
                             json::array({rule({"*"}, {"*"}, {"*"}), url_rule({"*"}, {"*"})})));
  out.push_back(cluster_role("admin", admin_rules()));
  out.push_back(cluster_role("edit", edit_rules()));
  out.push_back(cluster_role("view", view_rules()));
  out.push_back(
      cluster_role("system:basic-user",
                   json::array({rule({"create"}, {"authorization.k8s.io"},
                                     {"selfsubjectaccessreviews", "selfsubjectrulesreviews"}),
                                rule({"create"}, {"authentication.k8s.io"},
                                     {"selfsubjectreviews"})})));
  out.push_back(cluster_role(
      "system:discovery",
      json::array(
          {url_rule({"get"}, {"/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                              "/openapi", "/openapi/*", "/readyz", "/version", "/version/"})})));
  out.push_back(cluster_role("system:public-info-viewer",
                             json::array({url_rule({"get"}, {"/healthz", "/livez", "/readyz",
                                                             "/version", "/version/"})})));
  out.push_back(
      cluster_role("system:node-bootstrapper",
                   json::array({rule({"create", "get", "list", "watch"}, {"certificates.k8s.io"},
                                     {"certificatesigningrequests"})})));
  out.push_back(cluster_role("system:node", node_rules()));
  // Full use of the kubelets' API (Kubernetes' role; bound to the API
  // server's kubelet client certificate, docs/auth.md "The kubelet's server").
  out.push_back(cluster_role(
      "system:kubelet-api-admin",
      json::array(
          {rule(kRead, {""}, {"nodes"}), rule({"proxy"}, {""}, {"nodes"}),
           rule({"*"}, {""},
                {"nodes/proxy", "nodes/metrics", "nodes/spec", "nodes/stats", "nodes/log"})})));
  // What a minik8s agent runs besides the kubelet (proxy, DNS, ingress, file
  // triggers) and the Node authorizer does not cover.
  json extra = json::array();
  add(extra, rule(kRead, {"minik8s.io"}, {"dnses"}));
  add(extra, rule(kRead, {"serverless.minik8s.io"}, {"triggers", "functions"}));
  add(extra, rule({"patch", "update"}, {"serverless.minik8s.io"}, {"triggers/status"}));
  add(extra, rule({"create"}, {"serverless.minik8s.io"}, {"workflowruns"}));
  out.push_back(cluster_role("system:minik8s:node-services", extra));
  // The GPUJob submitter pods' ServiceAccounts (docs/gpu.md "The submitter's
  // rights"; the gpujob controller binds them): their namespace's GPUJobs
  // (a RoleBinding), and cluster-wide the SlurmClusters and the blob store.
  json submitter = json::array();
  add(submitter, rule({"get", "update", "patch"}, {"minik8s.io"}, {"gpujobs", "gpujobs/status"}));
  add(submitter, rule({"create", "update", "patch"}, {"", "events.k8s.io"}, {"events"}));
  out.push_back(cluster_role("system:minik8s:gpujob-submitter", submitter));
  json submitter_cluster = json::array();
  add(submitter_cluster, rule({"get"}, {"minik8s.io"}, {"slurmclusters"}));
  add(submitter_cluster, rule({"get", "create"}, {"minik8s.io"}, {"blobs"}));
  out.push_back(cluster_role("system:minik8s:gpujob-submitter-cluster", submitter_cluster));
  return out;
}

std::vector<json> default_bindings() {
  std::vector<json> out;
  out.push_back(binding("cluster-admin", "cluster-admin", json::array({group("system:masters")})));
  out.push_back(binding("system:basic-user", "system:basic-user",
                        json::array({group("system:authenticated")})));
  out.push_back(binding("system:discovery", "system:discovery",
                        json::array({group("system:authenticated")})));
  out.push_back(
      binding("system:public-info-viewer", "system:public-info-viewer",
              json::array({group("system:authenticated"), group("system:unauthenticated")})));
  out.push_back(binding("system:node-bootstrapper", "system:node-bootstrapper",
                        json::array({group("system:bootstrappers")})));
  out.push_back(binding("system:minik8s:node-services", "system:minik8s:node-services",
                        json::array({group("system:nodes")})));
  out.push_back(binding("system:kubelet-api-admin", "system:kubelet-api-admin",
                        json::array({user("kube-apiserver-kubelet-client")})));
  return out;
}

// Kubernetes' reconciliation: missing rules (subjects) are added to an
// object that allows autoupdate; extra ones are kept.
bool merge_missing(json& into, const json& want, const char* field) {
  bool changed = false;
  if (!into.contains(field) || !into[field].is_array()) into[field] = json::array();
  for (const json& x : want[field]) {
    bool found = false;
    for (const json& y : into[field]) found = found || y == x;
    if (!found) {
      into[field].push_back(x);
      changed = true;
    }
  }
  return changed;
}

void reconcile(RegistryStore& objects, storage::Storage& store, const api::ResourceType& t,
               const json& want, const char* field) {
  const std::string name = want["metadata"]["name"];
  auto cur = store.get(object_key(t, "", name));
  if (!cur) {
    auto o = objects.create(t, "", want, "", false, nullptr);
    if (!o.status.is_ok() && o.status.code() != Code::kAlreadyExists) {
      spdlog::warn("could not create {} {}: {}", t.kind, name, o.status.to_string());
    }
    return;
  }
  auto o = objects.update(
      t, "", name, RegistryStore::UpdateMode::kMain, "",
      [&](const json& current, json& desired) {
        desired = current;
        const json& ann = current["metadata"].value("annotations", json::object());
        if (ann.is_object() && ann.value(kAutoupdate, "true") == "false") {
          return Status(Code::kAlreadyExists, "not updated");  // the admin's own version
        }
        if (!merge_missing(desired, want, field)) return Status(Code::kAlreadyExists, "same");
        return Status::ok();
      },
      "", false, nullptr);
  if (!o.status.is_ok() && o.status.code() != Code::kAlreadyExists) {
    spdlog::warn("could not reconcile {} {}: {}", t.kind, name, o.status.to_string());
  }
}

}  // namespace

void reconcile_rbac_defaults(RegistryStore& objects, storage::Storage& store) {
  const api::ResourceType* roles =
      api::find_resource("rbac.authorization.k8s.io", "v1", "clusterroles");
  const api::ResourceType* bindings =
      api::find_resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings");
  if (!roles || !bindings) return;
  for (const json& r : default_cluster_roles()) reconcile(objects, store, *roles, r, "rules");
  for (const json& b : default_bindings()) reconcile(objects, store, *bindings, b, "subjects");
}

}  // namespace minik8s::apiserver
