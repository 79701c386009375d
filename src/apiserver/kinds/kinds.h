// The kinds whose API behaviour goes beyond the kind table: one KindStrategy
// each (../kind_strategy.h says which hook runs when), wired to its table
// entry by make_kind_registry(). The kind-specific rules of the API server
// live in this folder; the generic handler, store, discovery and watch name
// no kind (pod_proxy.h, the pods/log|exec proxy, is Pod's by nature).
//
//   Namespace  created with the kubernetes finalizer and phase Active;
//              DELETE marks it Terminating (the namespace controller empties
//              and finalizes it); the finalize subresource writes
//              spec.finalizers only; default, kube-system and kube-public
//              cannot be deleted; no DELETE of the collection. Also the
//              NamespaceLifecycle gate: no new content in a namespace that is
//              missing or terminating.
//   Pod        DefaultTolerationSeconds on create (default_tolerations.h);
//              graceful deletion of bound pods (the kubelet confirms);
//              the binding subresource; pods/log and pods/exec in discovery
//              (served by pod_proxy.h).
//   Service    cluster IP and node port allocation, rollback and release;
//              type-dependent fields dropped on a type change.
//   Node       spec.podCIDR(s) may not overlap another Node's.
//   DNS        spec.host not in the cluster domain and not claimed twice.
//   Function   spec.code.hash names an upload in the code store; a blob no
//              Function names any more is removed.
//   Workflow   spec is a valid state machine (workflow::validate_machine).
//   WorkflowRun spec.workflow names a Workflow of the namespace; the run
//              gets its label and a controller ownerReference to it.
//   Trigger    spec.schedule parses (workflow::Schedule).
//   ServiceAccount  the token subresource (TokenRequest): a signed token,
//              answered, never stored (auth_strategy.cc).
//   TokenReview, SelfSubjectReview  answered, never stored.
//   CertificateSigningRequest  the requester on create, the request's
//              signature, the approval subresource (csr_strategy.cc).
//   GPUJob     created with the finalizer minik8s.io/slurm-job;
//              spec.source.hash and status.result.hash name blobs in the
//              blob store; a blob no GPUJob names any more is removed.
//
// Adding a kind: its table entry in src/api/kinds_*.cc; when it needs more
// than the table (allocation, cross-object checks, deletion rules), a
// strategy here and one line in make_kind_registry (registry.cc).
// Thread safety: see KindStrategy; all state below sits under its own mutex
// (allocators, admission locks).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "../access.h"
#include "../allocator.h"
#include "../kind_strategy.h"
#include "blob_refs.h"
#include "minik8s/apiserver/apiserver.h"
#include "minik8s/apiserver/code_store.h"
#include "minik8s/auth/authenticator.h"
#include "minik8s/storage/storage.h"

namespace minik8s::apiserver {

class RegistryStore;

class NamespaceStrategy final : public KindStrategy {
 public:
  void prepare_for_create(nlohmann::json& obj) override;
  Status check_delete(const std::string& name) override;
  DeleteMark mark_for_deletion(const nlohmann::json& cur, nlohmann::json& desired) override;
  bool has_spec_finalizers(const nlohmann::json& obj) override;
  bool allows_delete_collection() const override { return false; }
  bool serves_subresource(std::string_view sub) const override { return sub == "finalize"; }
  nlohmann::json scope_subresource_write(std::string_view sub, const nlohmann::json& cur,
                                         const nlohmann::json& desired) override;
};

// NamespaceLifecycle: reads the namespace from the store (not the watch
// cache: a stale cache could still show a namespace that the namespace
// controller is already emptying).
class NamespaceLifecycle final : public NamespaceGate {
 public:
  NamespaceLifecycle(storage::Storage& store, const api::ResourceType& namespaces)
      : store_(store), namespaces_(namespaces) {}
  Status admit_content(const std::string& ns) override;

 private:
  storage::Storage& store_;
  const api::ResourceType& namespaces_;
};

class PodStrategy final : public KindStrategy {
 public:
  // DefaultTolerationSeconds for the not-ready and unreachable taints (< 0: none).
  // The ServiceAccount admission (service_account_admission.cc) reads the
  // pod's ServiceAccount from store; a missing one is refused only when
  // refuse_missing_sa (the server's auth.enabled).
  PodStrategy(int64_t not_ready_toleration_seconds, int64_t unreachable_toleration_seconds,
              storage::Storage* store = nullptr, bool refuse_missing_sa = false)
      : not_ready_s_(not_ready_toleration_seconds),
        unreachable_s_(unreachable_toleration_seconds),
        store_(store),
        refuse_missing_sa_(refuse_missing_sa) {}
  void prepare_for_create(nlohmann::json& obj) override;
  Status admit(const nlohmann::json& obj, const nlohmann::json* old, api::FieldErrors& errs,
               AdmissionHold& hold) override;
  std::optional<int64_t> deletion_grace(const nlohmann::json& cur,
                                        std::optional<int64_t> requested) override;
  bool awaits_termination(const nlohmann::json& obj) override;
  bool serves_subresource(std::string_view sub) const override { return sub == "binding"; }
  Status bind(const std::string& name, const std::string& target, const nlohmann::json& cur,
              nlohmann::json& desired) override;
  void discovery_subresources(const api::ResourceType& t, nlohmann::json& resources) const override;

 private:
  const int64_t not_ready_s_, unreachable_s_;
  storage::Storage* const store_;  // null: no ServiceAccount admission
  const bool refuse_missing_sa_;
};

// Kubernetes' ServiceAccount admission for a new pod: spec.serviceAccountName
// defaults to "default" (spec.serviceAccount mirrors it) and, unless the pod
// or its ServiceAccount (sa, null when not found) sets
// automountServiceAccountToken false, the projected volume
// kube-api-access-<5 random> (token, ca.crt from the ConfigMap
// kube-root-ca.crt, namespace) mounted read-only at
// /var/run/secrets/kubernetes.io/serviceaccount in every container and init
// container that has no mount there yet.
void add_service_account_volume(nlohmann::json& pod, const nlohmann::json* sa);

class ServiceAccountTokens;
class WatchCache;

// ServiceAccount: POST serviceaccounts/<name>/token answers a TokenRequest
// (spec.audiences, default the API server's; spec.expirationSeconds, default
// 3600, at least 600, at most 2^32; spec.boundObjectRef to a Pod of the
// namespace that runs as this ServiceAccount, its uid checked) with
// status.token and status.expirationTimestamp. Nothing is stored.
class ServiceAccountStrategy final : public KindStrategy {
 public:
  ServiceAccountStrategy(storage::Storage& store, const ServiceAccountTokens& tokens)
      : store_(store), tokens_(tokens) {}
  bool serves_subresource(std::string_view sub) const override { return sub == "token"; }
  Result<nlohmann::json> answer_subresource_create(std::string_view sub, const nlohmann::json& cur,
                                                   const nlohmann::json& body,
                                                   const auth::UserInfo& user) override;
  void discovery_subresources(const api::ResourceType& t, nlohmann::json& resources) const override;

 private:
  storage::Storage& store_;
  const ServiceAccountTokens& tokens_;
};

// TokenReview (authentication.k8s.io/v1): status.authenticated and
// status.user for spec.token as the server's authenticator chain sees it;
// a ServiceAccount token must be meant for one of spec.audiences (default:
// the API server's), other tokens are the API server's audience only.
class TokenReviewStrategy final : public KindStrategy {
 public:
  // Null pieces authenticate nothing (every token is then unauthenticated).
  TokenReviewStrategy(auth::Authenticator* chain, const ServiceAccountTokens* tokens,
                      WatchCache* cache)
      : chain_(chain), tokens_(tokens), cache_(cache) {}
  bool answers_create() const override { return true; }
  Result<nlohmann::json> answer_create(const nlohmann::json& obj,
                                       const auth::UserInfo& user) override;

 private:
  auth::Authenticator* chain_;
  const ServiceAccountTokens* tokens_;
  WatchCache* cache_;
};

// SelfSubjectReview (authentication.k8s.io/v1, `kubectl auth whoami`):
// status.userInfo is who asks.
class SelfSubjectReviewStrategy final : public KindStrategy {
 public:
  bool answers_create() const override { return true; }
  Result<nlohmann::json> answer_create(const nlohmann::json& obj,
                                       const auth::UserInfo& user) override;
};

// Owns the service CIDR's IP allocator and the node-port allocator.
class ServiceStrategy final : public KindStrategy {
 public:
  ServiceStrategy(std::unique_ptr<IpAllocator> ips, int node_port_min, int node_port_max)
      : ips_(std::move(ips)), ports_(node_port_min, node_port_max) {}
  void prepare_for_update(nlohmann::json& obj, const nlohmann::json& old) override;
  std::unique_ptr<Allocation> allocate(nlohmann::json& obj, const nlohmann::json* old,
                                       api::FieldErrors& errs) override;
  void release(const nlohmann::json& old, const nlohmann::json* now) override;
  bool restores() const override { return true; }
  void restore(const nlohmann::json& stored) override;

  const IpAllocator& ips() const { return *ips_; }
  const PortAllocator& ports() const { return ports_; }

 private:
  const std::unique_ptr<IpAllocator> ips_;
  PortAllocator ports_;
};

// Node: pod CIDRs may not overlap another Node's (422 naming the field and
// the other node). Checked on create and when the pod CIDRs change, so status
// heartbeats never pay for it; the other Nodes are read from the store under
// a lock the caller keeps until its write is done.
class NodeStrategy final : public KindStrategy {
 public:
  explicit NodeStrategy(storage::Storage& store) : store_(store) {}
  Status admit(const nlohmann::json& obj, const nlohmann::json* old, api::FieldErrors& errs,
               AdmissionHold& hold) override;

 private:
  storage::Storage& store_;
  std::mutex cidr_mu_;  // held across a pod-CIDR check and its write
};

// DNS (minik8s.io/v1): spec.host may not be the cluster domain or a name
// inside it (422), nor a host another DNS object claims (409 naming that
// object). Checked on create and when the host changes, under a lock as for
// Node.
class DnsStrategy final : public KindStrategy {
 public:
  DnsStrategy(storage::Storage& store, const std::string& cluster_domain)
      : store_(store), cluster_domain_(normalize_domain(cluster_domain)) {}
  Status admit(const nlohmann::json& obj, const nlohmann::json* old, api::FieldErrors& errs,
               AdmissionHold& hold) override;

  // "Cluster.Local." → "cluster.local".
  static std::string normalize_domain(std::string d);

 private:
  storage::Storage& store_;
  const std::string cluster_domain_;
  std::mutex host_mu_;  // held across a DNS host check and its write
};

// Function (serverless.minik8s.io/v1), with a code store (opts.code_dir;
// without one nothing is checked): spec.code.hash must name a stored blob
// (422 on spec.code.hash) on create and when an update changes it. A blob
// that no Function names any more is removed: at once after a delete, and
// after an update that dropped it on the next delete or hash check (release()
// may run while the caller still holds admit()'s lock, so it only notes the
// hash). Errors removing blobs are logged, never returned. An upload that
// races the removal of the same bytes' last Function may be removed before
// its own Function is created (that create gets the 422; uploading again
// fixes it).
class FunctionStrategy final : public KindStrategy {
 public:
  FunctionStrategy(storage::Storage& store, const std::string& code_dir);
  Status admit(const nlohmann::json& obj, const nlohmann::json* old, api::FieldErrors& errs,
               AdmissionHold& hold) override;
  void release(const nlohmann::json& old, const nlohmann::json* now) override;

 private:
  BlobRefs refs_;  // the code store and what Functions name in it
  const bool enabled_;
};

// Workflow (serverless.minik8s.io/v1): on create and when spec changes,
// spec must be a valid state machine (workflow::validate_machine): field
// errors (422) naming the field ("spec.states.A.next"). Status
// writes and Workflows being deleted are not re-checked.
class WorkflowStrategy final : public KindStrategy {
 public:
  Status admit(const nlohmann::json& obj, const nlohmann::json* old, api::FieldErrors& errs,
               AdmissionHold& hold) override;
};

// WorkflowRun: on create, spec.workflow must name a Workflow of the run's
// namespace that is not being deleted (422 "spec.workflow: Not found"); the
// run gets the label serverless.minik8s.io/workflow=<name> and a controller
// ownerReference (blockOwnerDeletion) to that Workflow, so that the garbage
// collector deletes the runs of a deleted Workflow. The Workflow is read from
// the store (not a cache) in prepare_for_create and again in admit. What may
// change on update is the table's rule (src/api/kinds_workflow.cc).
class WorkflowRunStrategy final : public KindStrategy {
 public:
  explicit WorkflowRunStrategy(storage::Storage& store) : store_(store) {}
  void prepare_for_create(nlohmann::json& obj) override;
  Status admit(const nlohmann::json& obj, const nlohmann::json* old, api::FieldErrors& errs,
               AdmissionHold& hold) override;

 private:
  storage::Storage& store_;
};

// Trigger: spec.schedule, on create and when it changes, must parse
// (workflow::Schedule::parse; 422 on spec.schedule naming the bad token).
// The rest of the spec is the table's (pure) validation.
class TriggerStrategy final : public KindStrategy {
 public:
  Status admit(const nlohmann::json& obj, const nlohmann::json* old, api::FieldErrors& errs,
               AdmissionHold& hold) override;
};

// GPUJob (minik8s.io/v1; docs/gpu.md): created with the finalizer
// kGpuJobFinalizer (the submitter or the GPUJob controller removes it once
// the Slurm job is cancelled or over). With a blob store (opts.blob_dir;
// without one nothing is checked): spec.source.hash (on create) and
// status.result.hash (when a write sets or changes it) must name stored
// blobs (422 on that field). Blobs no GPUJob names any more are removed: at
// once after a delete, after an update that dropped one on the next delete
// or hash check (BlobRefs, blob_refs.h, as for FunctionStrategy). Errors
// removing blobs are logged, never returned. An upload racing the removal of
// the same bytes' last GPUJob may go before its write (which gets the 422;
// uploading again fixes it).
inline constexpr const char* kGpuJobFinalizer = "minik8s.io/slurm-job";

class GpuJobStrategy final : public KindStrategy {
 public:
  GpuJobStrategy(storage::Storage& store, const std::string& blob_dir);
  void prepare_for_create(nlohmann::json& obj) override;
  Status admit(const nlohmann::json& obj, const nlohmann::json* old, api::FieldErrors& errs,
               AdmissionHold& hold) override;
  void release(const nlohmann::json& old, const nlohmann::json* now) override;

 private:
  BlobRefs refs_;  // the blob store and what GPUJobs name in it
  const bool enabled_;
};

// CertificateSigningRequest (certificates.k8s.io/v1, docs/auth.md): on a
// create through the REST API spec.username, uid, groups and extra become
// the requester's; spec.request must parse as a CSR whose signature verifies
// (422 on spec.request); the approval subresource writes
// status.conditions only (lastUpdateTime and lastTransitionTime stamped
// where missing). The table's validation keeps spec immutable and refuses
// Approved with Denied.
class CsrStrategy final : public KindStrategy {
 public:
  void prepare_for_create_by(nlohmann::json& obj, const auth::UserInfo& user) override;
  Status admit(const nlohmann::json& obj, const nlohmann::json* old, api::FieldErrors& errs,
               AdmissionHold& hold) override;
  bool serves_subresource(std::string_view sub) const override { return sub == "approval"; }
  nlohmann::json scope_subresource_write(std::string_view sub, const nlohmann::json& cur,
                                         const nlohmann::json& desired) override;
  void discovery_subresources(const api::ResourceType& t, nlohmann::json& resources) const override;
};

// What the authentication kinds need from the server (each must outlive the
// registry; null: that kind keeps the default strategy).
struct KindDeps {
  const ServiceAccountTokens* sa_tokens = nullptr;  // ServiceAccount token subresource
  auth::Authenticator* authenticator = nullptr;     // TokenReview
  WatchCache* cache = nullptr;                      // TokenReview's ServiceAccount lookups
};

// SelfSubjectAccessReview, SubjectAccessReview, SelfSubjectRulesReview
// (authorization.k8s.io/v1, docs/auth.md): a create is answered from authz
// (null: authorization off, everything allowed) and never stored. SSAR asks
// for the caller, SAR for spec.user/groups/extra; SSRR lists RBAC's rules
// for the caller in spec.namespace (incomplete unless RBAC is the only mode).
class AccessReviewStrategy final : public KindStrategy {
 public:
  enum class Kind { kSelf, kSubject, kRules };
  AccessReviewStrategy(Kind kind, const ServerAuthorizer* authz, bool rbac_only)
      : kind_(kind), authz_(authz), rbac_only_(rbac_only) {}
  bool answers_create() const override { return true; }
  bool allows_delete_collection() const override { return false; }
  Result<nlohmann::json> answer_create(const nlohmann::json& obj,
                                       const auth::UserInfo& user) override;

 private:
  const Kind kind_;
  const ServerAuthorizer* const authz_;
  const bool rbac_only_;
};

// Role, ClusterRole, RoleBinding, ClusterRoleBinding: Kubernetes'
// escalation prevention (docs/auth.md "Escalation"). A Role or ClusterRole
// may be written by a user allowed to "escalate" it or who holds every
// permission it grants (in its namespace; cluster-wide for a ClusterRole);
// a binding by a user allowed to "bind" its role or who holds every
// permission of that role where the binding grants it. authz null
// (authorization off): anything goes.
class RbacWriteStrategy final : public KindStrategy {
 public:
  RbacWriteStrategy(const api::ResourceType& type, const ServerAuthorizer* authz)
      : type_(type), authz_(authz) {}
  Status check_writer(const nlohmann::json& obj, const std::string& ns,
                      const auth::UserInfo& user) override;

 private:
  const api::ResourceType& type_;
  const ServerAuthorizer* const authz_;
};

// The default ClusterRoles and ClusterRoleBindings (docs/auth.md
// "Authorization"): missing ones are created; rules and subjects missing
// from one whose rbac.authorization.kubernetes.io/autoupdate annotation is
// not "false" are added (extra ones are kept). Errors are logged.
void reconcile_rbac_defaults(RegistryStore& objects, storage::Storage& store);

// Every strategy above on its table entry, built from the server's options;
// ips is the service CIDR's allocator (the Service strategy owns it).
std::unique_ptr<KindRegistry> make_kind_registry(storage::Storage& store,
                                                 const ApiServerOptions& opts,
                                                 std::unique_ptr<IpAllocator> ips,
                                                 const KindDeps& deps = {});

// The objects the API server keeps for itself (when
// opts.create_default_namespaces): the default, kube-system, kube-public and
// kube-node-lease namespaces and their ServiceAccount "default", the kubernetes Service (cluster IP
// kubernetes_ip, port 443 → server_port) and its Endpoints (this server's
// bind address, when pods can reach it; replaced when it moved). Missing ones
// are created; errors other than the namespaces' are logged, not returned.
Status create_bootstrap_objects(RegistryStore& objects, storage::Storage& store,
                                const ApiServerOptions& opts, const std::string& kubernetes_ip,
                                uint16_t server_port);

}  // namespace minik8s::apiserver
