// The generic registry store: create, update and delete of any kind in the
// kind table, on JSON objects, with the Kubernetes semantics every kind
// shares (server-owned metadata, generateName, generation, resourceVersion
// CAS with retries, status scoping, finalizers, dry run, namespace
// lifecycle) and the kind's strategy hooks at fixed points (kind_strategy.h
// lists them in order). No HTTP here: the REST verbs, the subresources and
// the start-up objects call it; reads are served from the watch cache by the
// verbs themselves.
// Thread safety: every method may run concurrently from any thread; the
// store's CAS orders concurrent writers of one object.
// Ownership: the Storage and the KindRegistry are borrowed and outlive this.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "kind_strategy.h"
#include "minik8s/api/resource.h"
#include "minik8s/storage/storage.h"
#include "minik8s/util/status.h"

namespace minik8s::apiserver {

class RegistryStore {
 public:
  // A write's result: the object written (wire form, with resourceVersion)
  // and 200/201, or a failing status with the field errors behind a 422.
  struct Outcome {
    Status status;
    api::FieldErrors causes;
    nlohmann::json object;
    int code = 200;

    static Outcome failure(Status s) {
      Outcome o;
      o.status = std::move(s);
      return o;
    }
  };
  // Produces the desired full object from the current one (wire form).
  using Mutator = std::function<Status(const nlohmann::json& current, nlohmann::json& desired)>;
  enum class UpdateMode {
    kMain,         // the object: status kept from the stored one when the kind has status
    kStatus,       // <plural>/status: only status changes
    kSubresource,  // a strategy's subresource (scope_subresource_write)
    kInternal,     // the server's own write (binding): no defaults, no generation bump
  };

  RegistryStore(storage::Storage& store, KindRegistry& kinds) : store_(store), kinds_(kinds) {}

  // Creates obj (a parsed body) in namespace ns. fv: the fieldValidation
  // query parameter (Strict → 400 on unknown fields, Warn → warnings).
  Outcome create(const api::ResourceType& t, const std::string& ns, nlohmann::json obj,
                 const std::string& fv, bool dry_run, std::vector<std::string>* warnings);
  // Read-modify-write with CAS retries; the mutator sees the current object
  // and produces the desired one. subresource names the strategy's
  // subresource when mode is kSubresource.
  Outcome update(const api::ResourceType& t, const std::string& ns, const std::string& name,
                 UpdateMode mode, std::string_view subresource, const Mutator& mutate,
                 const std::string& fv, bool dry_run, std::vector<std::string>* warnings);
  // A DELETE with DeleteOptions opts (gracePeriodSeconds, propagationPolicy,
  // orphanDependents, preconditions): removes the object, or marks it
  // (deletionTimestamp) while finalizers or a grace period keep it.
  Outcome remove(const api::ResourceType& t, const std::string& ns, const std::string& name,
                 const nlohmann::json& opts, bool dry_run);

 private:
  bool has_finalizers(KindStrategy& s, const nlohmann::json& o) const;

  storage::Storage& store_;
  KindRegistry& kinds_;
};

}  // namespace minik8s::apiserver
