// The ReplicaSet controller's decisions as pure functions over JSON, so that
// they are tested without an API server (Kubernetes pkg/controller/replicaset
// and controller_utils.go):
//  - which pods count (active: not terminating, not Succeeded/Failed),
//  - which pods go first on scale-down (ActivePodsWithRanks),
//  - the pod created from a template (generateName, labels, ownerReference),
//  - the status computed from the claimed pods,
//  - expectations: creates/deletes in flight per ReplicaSet key.
// Thread safety: the functions are pure; Expectations is internally locked.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/util/time.h"

namespace minik8s::controllers::rs {

using Json = api::Json;

// metadata.deletionTimestamp is set.
bool is_terminating(const Json& obj);
// Not terminating and phase neither Succeeded nor Failed.
bool is_active_pod(const Json& pod);
// Condition Ready is "True".
bool is_pod_ready(const Json& pod);
// Ready for at least min_ready (by the Ready condition's lastTransitionTime;
// min_ready 0 = ready). *remaining gets the time still to wait when ready
// but not yet available (else 0).
bool is_pod_available(const Json& pod, std::chrono::seconds min_ready, SysTime now,
                      std::chrono::milliseconds* remaining = nullptr);

// The ownerReference marked controller: true (null when none).
const Json* controller_ref(const Json& obj);
// {apiVersion apps/v1, kind ReplicaSet, name, uid, controller, blockOwnerDeletion}.
Json owner_ref_for(const Json& rs);

// The pod the ReplicaSet creates: generateName "<rs>-", namespace, labels /
// annotations / finalizers of the template, the controller ownerReference,
// the template's spec.
Json pod_from_template(const Json& rs);

// Scale-down order (Kubernetes' ActivePodsWithRanks + getPodsToDelete): the
// first `count` of the pods sorted so that the least useful come first:
// unassigned < assigned; Pending < Unknown < Running; not ready < ready;
// lower controller.kubernetes.io/pod-deletion-cost first; more pods of the
// set on the same node first; ready for less time first; more restarts
// first; newer first. Pointers into the caller's pods.
std::vector<const Json*> pods_to_delete(const std::vector<const Json*>& pods, size_t count);

// The status a ReplicaSet should have for its claimed active pods.
// manage_error: the create/delete error of this sync ("" = none);
// scaling_up tells FailedCreate from FailedDelete. Keeps an existing
// ReplicaFailure condition while the error lasts and drops it after.
Json compute_status(const Json& rs, const std::vector<const Json*>& pods, const std::string& manage_error,
                    bool scaling_up, SysTime now);
// Whether the stored status differs from the wanted one (conditions compared
// without lastTransitionTime churn).
bool status_differs(const Json& current, const Json& wanted);

// Creates/deletes a ReplicaSet has issued but not yet seen in the pod cache.
// A sync may create/delete pods only when its expectations are satisfied:
// none recorded, all observed, or older than the TTL (a lost event must not
// stall the ReplicaSet forever). The TTL runs on clock's monotonic time
// (borrowed; it outlives this object).
class Expectations {
 public:
  using Steady = std::chrono::steady_clock;
  explicit Expectations(Steady::duration ttl = std::chrono::minutes(5), const Clock& clock = real_clock())
      : ttl_(ttl), clock_(clock) {}

  bool satisfied(const std::string& key) const;
  // Records `adds` creates (replacing any earlier record).
  void expect_creations(const std::string& key, int adds);
  // Records the deletion of these pod keys ("ns/name").
  void expect_deletions(const std::string& key, const std::vector<std::string>& pod_keys);
  // The pod informer saw a pod of this ReplicaSet appear (or a create failed).
  void creation_observed(const std::string& key, int n = 1);
  // The pod informer saw this pod go (or start terminating), or its delete failed.
  void deletion_observed(const std::string& key, const std::string& pod_key);
  void forget(const std::string& key);
  // Pending (adds, deletes) for tests and logs.
  std::pair<int, int> pending(const std::string& key) const;

 private:
  struct Entry {
    int adds = 0;
    std::set<std::string> dels;
    Steady::time_point at;
  };
  const Steady::duration ttl_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // guarded by mu_
};

}  // namespace minik8s::controllers::rs
