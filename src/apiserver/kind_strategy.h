// Per-kind behaviour of the API server: the server half of "adding a kind is
// a table entry plus its hooks". The kind table (minik8s/api/resource.h)
// holds what is a pure function of one object: defaults, validation, Table
// columns, schemas, initial status. A KindStrategy holds what needs the
// server (its allocators, options, other stored objects) or changes how the
// generic verbs treat the kind: Kubernetes' registry strategies
// (PrepareForCreate/Update, graceful deletion, subresources) and the
// admission plugins that concern one kind. The generic code
// (registry_store.h, the REST verbs, discovery) names no kind; the concrete
// strategies live in src/apiserver/kinds/ and make_kind_registry()
// (kinds/kinds.h) wires each to its table entry.
//
// Where the generic registry store calls the hooks:
//   create: (REST only: check_writer → prepare_for_create_by) →
//           server-owned metadata → table initial_status → table set_defaults
//           → prepare_for_create → table validate → allocate (not on dry run)
//           → admit → store create → Allocation::commit
//   update: the caller's mutation → status/subresource scoping
//           (scope_subresource_write) → server-owned metadata → generation →
//           prepare_for_update (main resource only) → table set_defaults →
//           table validate → allocate → admit → store update (or remove when
//           the last finalizer went and !awaits_termination) → commit →
//           release(old, &new) (release(old, nullptr) after a remove)
//   delete: check_delete → mark_for_deletion, else finalizers
//           (has_spec_finalizers) and graceful deletion (deletion_grace) →
//           store remove → release(old, nullptr)
//   start:  restore(stored) for every stored object of a kind that restores()
//
// Every hook has a do-nothing default; a kind without a strategy gets the
// default one. Hooks see untrusted objects (validated only where said) and
// must not throw.
// Thread safety: one strategy serves every request of its kind concurrently;
// every hook must be thread-safe. KindRegistry is immutable once built.
// Ownership: KindRegistry owns the strategies and the namespace gate.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "minik8s/auth/user.h"
#include "minik8s/api/resource.h"
#include "minik8s/util/status.h"

namespace minik8s::apiserver {

// A cross-object admission check's lock, kept by the caller until its store
// write has returned, so that two concurrent writes cannot both pass a check
// against each other. Empty when the check took none.
using AdmissionHold = std::unique_lock<std::mutex>;

// What allocate() reserved for one write (cluster IPs, node ports). Destroying
// it without commit() gives everything back: the write was refused, failed,
// or is about to be retried.
class Allocation {
 public:
  virtual ~Allocation() = default;
  void commit() { committed_ = true; }

 protected:
  bool committed() const { return committed_; }

 private:
  bool committed_ = false;
};

// What mark_for_deletion() did with a DELETE.
enum class DeleteMark {
  kGeneric,        // nothing: the generic finalizer / graceful deletion applies
  kAlreadyMarked,  // the object is already being deleted: answer it unchanged
  kMarked,         // desired is the marked object to write instead of removing
};

class KindStrategy {
 public:
  virtual ~KindStrategy() = default;

  // ---- create and update

  // A new object's server-side changes, after the table's defaults and
  // before validation (Namespace: the kubernetes finalizer and phase Active;
  // Pod: DefaultTolerationSeconds).
  virtual void prepare_for_create(nlohmann::json& obj) { (void)obj; }
  // A create through the REST API, before prepare_for_create: changes that
  // depend on who asks (CertificateSigningRequest: spec.username, uid,
  // groups and extra are the requester's, whatever the body said).
  virtual void prepare_for_create_by(nlohmann::json& obj, const auth::UserInfo& user) {
    (void)obj;
    (void)user;
  }
  // A main-resource update's server-side changes given the stored object,
  // before the table's defaults (Service: type-dependent fields dropped).
  virtual void prepare_for_update(nlohmann::json& obj, const nlohmann::json& old) {
    (void)obj;
    (void)old;
  }
  // Reserves what a valid object needs from the server (Service: cluster IP,
  // node ports), writing it into obj; old is the stored object on update.
  // Appends field errors (→ 422) to errs; the returned Allocation (null when
  // nothing was taken) is rolled back unless the caller commits it, also
  // when errs were appended after something was taken.
  virtual std::unique_ptr<Allocation> allocate(nlohmann::json& obj, const nlohmann::json* old,
                                               api::FieldErrors& errs) {
    (void)obj;
    (void)old;
    (void)errs;
    return nullptr;
  }
  // Cross-object admission on a defaulted, validated object: rules that read
  // other stored objects or the server's configuration (Node pod CIDRs, DNS
  // hosts). Appends field errors (→ 422) to errs, or returns a non-OK Status
  // answered as it is (kConflict → 409; a store failure). hold receives the
  // rule's lock; the caller keeps it until its store write has returned.
  virtual Status admit(const nlohmann::json& obj, const nlohmann::json* old, api::FieldErrors& errs,
                       AdmissionHold& hold) {
    (void)obj;
    (void)old;
    (void)errs;
    (void)hold;
    return Status::ok();
  }
  // After a write: gives back what old held and now (null after a delete)
  // no longer does (Service: cluster IP, node ports).
  virtual void release(const nlohmann::json& old, const nlohmann::json* now) {
    (void)old;
    (void)now;
  }
  // At start-up, restore(obj) for every stored object of the kind when
  // restores() (Service: rebuilds the allocators from the stored objects).
  virtual bool restores() const { return false; }
  virtual void restore(const nlohmann::json& stored) { (void)stored; }

  // ---- deletion

  // Refuses a DELETE of name before anything is read (Namespace: the
  // system namespaces, 403).
  virtual Status check_delete(const std::string& name) {
    (void)name;
    return Status::ok();
  }
  // Deletion that marks the object instead of removing it (Namespace:
  // Terminating, emptied by the namespace controller). desired starts as a
  // copy of cur.
  virtual DeleteMark mark_for_deletion(const nlohmann::json& cur, nlohmann::json& desired) {
    (void)cur;
    (void)desired;
    return DeleteMark::kGeneric;
  }
  // Graceful deletion (Pod): nullopt when the kind has none; else the grace
  // period in seconds for a DELETE of cur with the requested
  // gracePeriodSeconds, 0 when the object may go at once. Kinds with graceful
  // deletion also take a shorter (or zero) grace period for an object already
  // terminating.
  virtual std::optional<int64_t> deletion_grace(const nlohmann::json& cur,
                                                std::optional<int64_t> requested) {
    (void)cur;
    (void)requested;
    return std::nullopt;
  }
  // A terminating object whose last finalizer went away is removed at once,
  // unless this says it still waits for someone's final delete (Pod: a bound
  // pod with a grace period waits for its kubelet).
  virtual bool awaits_termination(const nlohmann::json& obj) {
    (void)obj;
    return false;
  }
  // Finalizers outside metadata.finalizers that keep an object being deleted
  // (Namespace: spec.finalizers).
  virtual bool has_spec_finalizers(const nlohmann::json& obj) {
    (void)obj;
    return false;
  }
  // DELETE on the collection (and the deletecollection verb in discovery).
  virtual bool allows_delete_collection() const { return true; }

  // ---- subresources and discovery

  // Subresources served besides the table's status and scale: "binding"
  // (POST, bind()) or one written like status (GET/PUT/PATCH) whose writes
  // change only what scope_subresource_write takes (Namespace "finalize").
  virtual bool serves_subresource(std::string_view sub) const {
    (void)sub;
    return false;
  }
  // The object a write to subresource sub stores: cur with the part of
  // desired that the subresource owns.
  virtual nlohmann::json scope_subresource_write(std::string_view sub, const nlohmann::json& cur,
                                                 const nlohmann::json& desired) {
    (void)sub;
    (void)desired;
    return cur;
  }
  // Who may write this object at all (RBAC's escalation prevention): run on
  // the desired object of a create, update or patch through the REST API
  // (ns: the request's namespace), before defaults. Non-OK (kForbidden):
  // the write is refused with that Status.
  virtual Status check_writer(const nlohmann::json& obj, const std::string& ns,
                              const auth::UserInfo& user) {
    (void)obj;
    (void)ns;
    (void)user;
    return Status::ok();
  }
  // Kinds that are answered, not stored (SubjectAccessReview, TokenReview):
  // when answers_create(), a create of the kind gets answer_create()'s
  // object with 201 and nothing is written (docs/auth.md). obj: the request
  // body after the kind table's defaults and validation; user: who asks.
  virtual bool answers_create() const { return false; }
  virtual Result<nlohmann::json> answer_create(const nlohmann::json& obj,
                                               const auth::UserInfo& user) {
    (void)obj;
    (void)user;
    return Status(Code::kMethodNotAllowed, "the server does not allow this method");
  }
  // A POST to subresource sub of the existing object cur that is answered,
  // not stored (serviceaccounts/token, the TokenRequest): the response
  // object (201) or an error Status. Only called for a sub that
  // serves_subresource() and that is not "binding".
  virtual Result<nlohmann::json> answer_subresource_create(std::string_view sub,
                                                           const nlohmann::json& cur,
                                                           const nlohmann::json& body,
                                                           const auth::UserInfo& user) {
    (void)sub;
    (void)cur;
    (void)body;
    (void)user;
    return Status(Code::kMethodNotAllowed, "the server does not allow this method");
  }
  // The binding subresource: desired = cur bound to target (a 409 Status when
  // cur cannot be bound). name is the object's.
  virtual Status bind(const std::string& name, const std::string& target, const nlohmann::json& cur,
                      nlohmann::json& desired) {
    (void)name;
    (void)target;
    (void)cur;
    (void)desired;
    return not_found("the server could not find the requested resource");
  }
  // APIResource entries appended after the kind's own, status and scale in
  // the APIResourceList (Pod: binding, log, exec).
  virtual void discovery_subresources(const api::ResourceType& t, nlohmann::json& resources) const {
    (void)t;
    (void)resources;
  }
};

// Whether new namespaced objects may be created in a namespace (Kubernetes'
// NamespaceLifecycle admission): kNotFound when it does not exist, kForbidden
// while it is being terminated.
class NamespaceGate {
 public:
  virtual ~NamespaceGate() = default;
  virtual Status admit_content(const std::string& ns) = 0;
};

// The strategies by kind. Built once (make_kind_registry), then read-only.
class KindRegistry {
 public:
  // t must be an entry of the kind table (api::all_resources()).
  void add(const api::ResourceType& t, std::unique_ptr<KindStrategy> s);
  void set_namespace_gate(std::unique_ptr<NamespaceGate> gate) { gate_ = std::move(gate); }

  // t's strategy, or the do-nothing default.
  KindStrategy& strategy(const api::ResourceType& t) const;
  // The first registered kind whose strategy serves sub (the older
  // POST /api/v1/namespaces/<ns>/bindings names no kind); null when none.
  const api::ResourceType* kind_serving(std::string_view sub) const;
  // NamespaceGate::admit_content, OK when no gate is set.
  Status admit_content(const std::string& ns) const;
  // The registered kinds whose strategy restores(), in registration order.
  std::vector<const api::ResourceType*> restoring_kinds() const;

 private:
  std::vector<const api::ResourceType*> order_;
  std::unordered_map<const api::ResourceType*, std::unique_ptr<KindStrategy>> strategies_;
  std::unique_ptr<NamespaceGate> gate_;
  std::unique_ptr<KindStrategy> default_ = std::make_unique<KindStrategy>();
};

}  // namespace minik8s::apiserver
