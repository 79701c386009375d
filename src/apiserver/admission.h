// Cross-object admission: the write rules that need the API server's view of
// other objects or its own configuration, which a kind's validate hook (a pure
// function of one object, minik8s/api/resource.h) cannot see. Kubernetes puts
// such rules in admission plugins and registry strategies.
//
//   - Node: spec.podCIDR / spec.podCIDRs may not overlap another Node's
//     (422 naming the field and the other node). Checked on create and when
//     the Node's pod CIDRs change, so status heartbeats never pay for it.
//   - DNS (minik8s.io/v1): spec.host may not be the cluster domain or a name
//     inside it (422), nor a host another DNS object claims (409 Conflict
//     naming that object as namespace/name). Checked on create and when the
//     host changes; an update that keeps the host passes.
//
// Each rule reads the other objects from the store (not the watch cache,
// which may lag a write that just returned) under a per-rule mutex that the
// caller keeps until its store write is done, so two concurrent writes cannot
// both pass a check against each other.
// Thread safety: admit() may run concurrently from any thread.
// Ownership: the Storage is borrowed and must outlive this object.
#pragma once

#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "minik8s/api/resource.h"
#include "minik8s/apiserver/apiserver.h"
#include "minik8s/storage/storage.h"
#include "minik8s/util/status.h"

namespace minik8s::apiserver {

class CrossObjectAdmission {
 public:
  using Hold = std::unique_lock<std::mutex>;

  CrossObjectAdmission(storage::Storage& store, const ApiServerOptions& opts)
      : store_(store), cluster_domain_(normalize_domain(opts.cluster_domain)) {}

  // obj: the object about to be written (defaulted and validated); old: the
  // stored object on update, else null. Appends field errors (→ 422) to errs,
  // or returns a non-OK Status (kConflict → 409; a store failure) that the
  // caller answers as it is. hold receives the rule's lock (empty when no
  // rule applies); keep it until the store write has returned.
  Status admit(const api::ResourceType& t, const nlohmann::json& obj, const nlohmann::json* old,
               api::FieldErrors& errs, Hold& hold);

  // "Cluster.Local." → "cluster.local".
  static std::string normalize_domain(std::string d);

 private:
  Status admit_node(const nlohmann::json& obj, const nlohmann::json* old, api::FieldErrors& errs,
                    Hold& hold);
  Status admit_dns(const nlohmann::json& obj, const nlohmann::json* old, api::FieldErrors& errs,
                   Hold& hold);

  storage::Storage& store_;
  const std::string cluster_domain_;
  std::mutex node_cidr_mu_;  // held across a pod-CIDR check and its write
  std::mutex dns_host_mu_;   // held across a DNS host check and its write
};

}  // namespace minik8s::apiserver
