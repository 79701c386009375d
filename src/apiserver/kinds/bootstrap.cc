// The API server's own objects (kinds.h: create_bootstrap_objects).
#include "kinds.h"

#include <spdlog/spdlog.h>

#include "../registry_store.h"
#include "../request.h"
#include "minik8s/api/address_rules.h"
#include "minik8s/api/json.h"

namespace minik8s::apiserver {

using nlohmann::json;

Status create_bootstrap_objects(RegistryStore& objects, storage::Storage& store,
                                const ApiServerOptions& opts, const std::string& kubernetes_ip,
                                uint16_t server_port) {
  const api::ResourceType* ns_type = api::find_resource("", "v1", "namespaces");
  if (!ns_type) return internal_error("the kind table has no namespaces");
  for (const char* n : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    if (store.get(object_key(*ns_type, "", n))) continue;
    json obj = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", n}}}};
    RegistryStore::Outcome o = objects.create(*ns_type, "", obj, "", false, nullptr);
    if (!o.status.is_ok() && o.status.code() != Code::kAlreadyExists) return o.status;
  }
  // The ServiceAccount "default" of the namespaces above, so that pods can
  // be created in them from the first moment (with authentication on, the
  // ServiceAccount admission refuses a pod whose ServiceAccount is missing;
  // the serviceaccount controller keeps it in every other namespace).
  const api::ResourceType* sa_type = api::find_kind("v1", "ServiceAccount");
  for (const char* n : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    if (!sa_type || store.get(object_key(*sa_type, n, "default"))) continue;
    json obj = {{"apiVersion", "v1"},
                {"kind", "ServiceAccount"},
                {"metadata", {{"name", "default"}, {"namespace", n}}}};
    RegistryStore::Outcome o = objects.create(*sa_type, n, obj, "", false, nullptr);
    if (!o.status.is_ok() && o.status.code() != Code::kAlreadyExists) {
      spdlog::warn("could not create the ServiceAccount {}/default: {}", n, o.status.to_string());
    }
  }
  const api::ResourceType* svc = api::find_resource("", "v1", "services");
  if (svc && !store.get(object_key(*svc, "default", "kubernetes"))) {
    json obj = {{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata",
                 {{"name", "kubernetes"},
                  {"namespace", "default"},
                  {"labels", {{"component", "apiserver"}, {"provider", "kubernetes"}}}}},
                {"spec",
                 {{"type", "ClusterIP"},
                  {"clusterIP", kubernetes_ip},
                  {"ports",
                   {{{"name", "https"},
                     {"port", 443},
                     {"protocol", "TCP"},
                     {"targetPort", server_port}}}}}}};
    RegistryStore::Outcome o = objects.create(*svc, "default", obj, "", false, nullptr);
    if (!o.status.is_ok()) {
      spdlog::warn("could not create the kubernetes Service: {}", o.status.to_string());
    }
  }
  // Its Endpoints: the address pods reach this server at (the advertise
  // address, else the bind address), when it is an IPv4 address that
  // Endpoints validation accepts (not a loopback, link-local or wildcard
  // bind; Kubernetes' endpoint reconciler refuses those too). Replaced at
  // start when the address moved. Not when an endpoint reconciler keeps
  // them (write_kubernetes_endpoints false: every live server listed).
  const api::ResourceType* ep =
      opts.write_kubernetes_endpoints ? api::find_resource("", "v1", "endpoints") : nullptr;
  const std::string& host =
      opts.advertise_address.empty() ? opts.bind_address : opts.advertise_address;
  if (ep && api::non_special_ip_error(host).empty() && host.find(':') == std::string::npos) {
    json subsets = json::array(
        {{{"addresses", json::array({{{"ip", host}}})},
          {"ports",
           json::array({{{"name", "https"}, {"port", server_port}, {"protocol", "TCP"}}})}}});
    auto cur = store.get(object_key(*ep, "default", "kubernetes"));
    bool same = false;
    if (cur) {
      auto c = api::parse_json(cur->value);
      same = c && c->is_object() && c->value("subsets", json()) == subsets;
      if (!same) (void)objects.remove(*ep, "default", "kubernetes", json::object(), false);
    }
    if (!same) {
      json obj = {{"apiVersion", "v1"},
                  {"kind", "Endpoints"},
                  {"metadata", {{"name", "kubernetes"}, {"namespace", "default"}}},
                  {"subsets", subsets}};
      RegistryStore::Outcome o = objects.create(*ep, "default", obj, "", false, nullptr);
      if (!o.status.is_ok() && o.status.code() != Code::kAlreadyExists)
        spdlog::warn("could not write the kubernetes Endpoints: {}", o.status.to_string());
    }
  }
  return Status::ok();
}

}  // namespace minik8s::apiserver
