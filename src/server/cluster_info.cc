// publish_cluster_info (cluster_info.h).
#include "cluster_info.h"

#include <nlohmann/json.hpp>

#include "minik8s/api/json.h"
#include "minik8s/api/resource.h"
#include "server_pki.h"

namespace minik8s::server {

namespace {

constexpr const char* kNs = "kube-public";
constexpr const char* kRbacName = "kubeadm:bootstrap-signer-clusterinfo";

// Creates obj, or replaces the stored one's `part` when it differs.
Status ensure(client::Client& c, const char* api_version, const char* kind, api::Json obj,
              const char* part) {
  const api::ResourceType* t = api::find_kind(api_version, kind);
  if (!t) return internal_error(std::string("no kind ") + kind);
  const std::string name = obj["metadata"]["name"].get<std::string>();
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto cur = c.get(*t, kNs, name);
    if (!cur) {
      if (cur.status().code() != Code::kNotFound) return cur.status();
      auto made = c.create(*t, obj, kNs);
      if (made || made.status().code() != Code::kAlreadyExists) return made.status();
      continue;
    }
    bool same = true;
    for (const char* p : {part, "roleRef"}) {
      if (obj.contains(p) && api::field(*cur, p) != obj[p]) same = false;
    }
    if (same) return Status::ok();
    api::Json next = *cur;
    for (const char* p : {part, "roleRef"}) {
      if (obj.contains(p)) next[p] = obj[p];
    }
    auto put = c.update(*t, next);
    if (put || put.status().code() != Code::kConflict) return put.status();
  }
  return Status(Code::kConflict, std::string("kube-public/") + name + ": kept changing");
}

}  // namespace

Status publish_cluster_info(client::Client& client, const std::string& url,
                            const std::string& ca_pem) {
  api::Json cm = {{"apiVersion", "v1"},
                  {"kind", "ConfigMap"},
                  {"metadata", {{"name", "cluster-info"}, {"namespace", kNs}}},
                  {"data", {{"kubeconfig", admin_kubeconfig(url, ca_pem, auth::KeyPair{})}}}};
  if (Status st = ensure(client, "v1", "ConfigMap", cm, "data"); !st) return st;
  api::Json role = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                    {"kind", "Role"},
                    {"metadata", {{"name", kRbacName}, {"namespace", kNs}}},
                    {"rules",
                     {{{"verbs", {"get"}},
                       {"apiGroups", {""}},
                       {"resources", {"configmaps"}},
                       {"resourceNames", {"cluster-info"}}}}}};
  if (Status st = ensure(client, "rbac.authorization.k8s.io/v1", "Role", role, "rules"); !st) {
    return st;
  }
  api::Json binding = {
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", "RoleBinding"},
      {"metadata", {{"name", kRbacName}, {"namespace", kNs}}},
      {"roleRef",
       {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", kRbacName}}},
      {"subjects",
       {{{"kind", "Group"},
         {"apiGroup", "rbac.authorization.k8s.io"},
         {"name", "system:unauthenticated"}}}}};
  return ensure(client, "rbac.authorization.k8s.io/v1", "RoleBinding", binding, "subjects");
}

}  // namespace minik8s::server
