// Kubernetes' ServiceAccount admission for pods (kinds.h
// add_service_account_volume; PodStrategy's prepare_for_create and admit).
#include <chrono>
#include <random>
#include <thread>

#include "../object_util.h"
#include "../request.h"
#include "default_tolerations.h"
#include "kinds.h"

namespace minik8s::apiserver {

using nlohmann::json;

namespace {

constexpr const char* kMountPath = "/var/run/secrets/kubernetes.io/serviceaccount";
constexpr const char* kMirrorAnnotation = "kubernetes.io/config.mirror";
constexpr int64_t kTokenExpirationSeconds = 3607;

std::string random_suffix() {
  static const char kChars[] = "bcdfghjklmnpqrstvwxz2456789";
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::string s;
  for (int i = 0; i < 5; ++i) s.push_back(kChars[rng() % (sizeof(kChars) - 1)]);
  return s;
}

bool is_mirror(const json& pod) {
  const json& ann = api::field(meta_of(pod), "annotations");
  return ann.is_object() && ann.contains(kMirrorAnnotation);
}

bool mounts_token_path(const json& container) {
  for (const auto& m : api::field(container, "volumeMounts")) {
    if (api::sfield(m, "mountPath") == kMountPath) return true;
  }
  return false;
}

json projected_volume(const std::string& name) {
  return {{"name", name},
          {"projected",
           {{"defaultMode", 420},
            {"sources",
             json::array(
                 {{{"serviceAccountToken",
                    {{"expirationSeconds", kTokenExpirationSeconds}, {"path", "token"}}}},
                  // optional (Kubernetes' is not): kube-root-ca.crt exists only
                  // once the server has a cluster CA (docs/auth.md).
                  {{"configMap",
                    {{"name", "kube-root-ca.crt"},
                     {"optional", true},
                     {"items", json::array({{{"key", "ca.crt"}, {"path", "ca.crt"}}})}}}},
                  {{"downwardAPI",
                    {{"items", json::array({{{"path", "namespace"},
                                             {"fieldRef",
                                              {{"apiVersion", "v1"},
                                               {"fieldPath", "metadata.namespace"}}}}})}}}}})}}}};
}

// The pod's ServiceAccount from the store: the object, nullopt when it does
// not exist, or a store error.
Result<std::optional<json>> read_service_account(storage::Storage& store, const std::string& ns,
                                                 const std::string& name) {
  const api::ResourceType* sas = api::find_kind("v1", "ServiceAccount");
  if (!sas) return std::optional<json>();
  auto kv = store.get(object_key(*sas, ns, name));
  if (!kv) {
    if (kv.status().code() == Code::kNotFound) return std::optional<json>();
    return kv.status();
  }
  return std::optional<json>(to_wire(*kv));
}

}  // namespace

void add_service_account_volume(json& pod, const json* sa) {
  if (!pod.is_object() || !pod.contains("spec") || !pod["spec"].is_object()) return;
  json& spec = pod["spec"];
  const json& pod_auto = api::field(spec, "automountServiceAccountToken");
  if (pod_auto.is_boolean() && !pod_auto.get<bool>()) return;
  if (pod_auto.is_null() && sa) {
    const json& sa_auto = api::field(*sa, "automountServiceAccountToken");
    if (sa_auto.is_boolean() && !sa_auto.get<bool>()) return;
  }
  std::vector<json*> containers;
  for (const char* list : {"initContainers", "containers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (auto& c : spec[list]) {
      if (c.is_object() && !mounts_token_path(c)) containers.push_back(&c);
    }
  }
  if (containers.empty()) return;
  if (spec.contains("volumes") && !spec["volumes"].is_null() && !spec["volumes"].is_array()) return;
  std::string name;
  for (int tries = 0; tries < 10 && name.empty(); ++tries) {
    name = "kube-api-access-" + random_suffix();
    for (const auto& v : api::field(spec, "volumes")) {
      if (api::sfield(v, "name") == name) name.clear();
    }
  }
  if (name.empty()) return;
  if (!spec.contains("volumes") || spec["volumes"].is_null()) spec["volumes"] = json::array();
  spec["volumes"].push_back(projected_volume(name));
  for (json* c : containers) {
    if (!c->contains("volumeMounts") || !(*c)["volumeMounts"].is_array()) {
      (*c)["volumeMounts"] = json::array();
    }
    (*c)["volumeMounts"].push_back({{"name", name}, {"readOnly", true}, {"mountPath", kMountPath}});
  }
}

void PodStrategy::prepare_for_create(json& obj) {
  add_default_tolerations(obj, not_ready_s_, unreachable_s_);
  if (!store_ || !obj.is_object() || is_mirror(obj)) return;
  if (!obj.contains("spec") || !obj["spec"].is_object()) return;
  json& spec = obj["spec"];
  std::string sa = api::sfield(spec, "serviceAccountName");
  if (sa.empty()) sa = api::sfield(spec, "serviceAccount");
  if (sa.empty()) sa = "default";
  spec["serviceAccountName"] = sa;
  spec["serviceAccount"] = sa;
  auto found = read_service_account(*store_, meta_str(obj, "namespace"), sa);
  const json* sa_obj = found && found->has_value() ? &**found : nullptr;
  add_service_account_volume(obj, sa_obj);
}

Status PodStrategy::admit(const json& obj, const json* old, api::FieldErrors&, AdmissionHold&) {
  if (old || !store_ || !refuse_missing_sa_ || is_mirror(obj)) return Status::ok();
  std::string ns = meta_str(obj, "namespace");
  std::string sa = api::sfield(api::field(obj, "spec"), "serviceAccountName");
  if (sa.empty()) return Status::ok();
  auto found = read_service_account(*store_, ns, sa);
  // Kubernetes' admission reads again for a while when the missing one is
  // "default": the serviceaccount controller makes it just after the
  // namespace, and a pod created right after the namespace should not lose
  // that race (Kubernetes: 10 reads 100–200 ms apart; here every 100 ms for
  // up to 3 s).
  if (found && !found->has_value() && sa == "default") {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (found && !found->has_value() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      found = read_service_account(*store_, ns, sa);
    }
  }
  if (!found) return found.status();
  if (!found->has_value()) {
    return Status(Code::kForbidden, "pods \"" + meta_str(obj, "name") +
                                        "\" is forbidden: error looking up service account " + ns +
                                        "/" + sa + ": serviceaccount \"" + sa + "\" not found");
  }
  return Status::ok();
}

}  // namespace minik8s::apiserver
