// Control-plane controllers that run inside `minik8s server` and talk to the
// API server through a client::Client like any other client (informers +
// work queue, STYLE.md §4).
//
// NodeIpamController: gives every Node without one a spec.podCIDR (and
// spec.podCIDRs) — the lowest free /node_cidr_mask out of cluster_cidr —
// through a JSON merge patch of the Node. The allocation map is rebuilt from
// the Nodes once the Node cache has synced (the Node objects are the source of
// truth, so assignments persist across restarts); Nodes still without a CIDR
// then get blocks in creation order (ties by name). A deleted Node's CIDR
// becomes free again. A Node that already carries a podCIDR inside
// cluster_cidr keeps it (a conflict with another Node is logged, not
// "fixed"); one outside cluster_cidr is left alone. Exhausted range: Events
// CIDRNotAvailable (Normal) and CIDRAssignmentFailed (Warning) on the Node,
// once, and a retry when a Node goes away. At most 2^16 blocks, mask ≤ /30.
//
// EndpointsController: for every Service with a selector keeps an Endpoints
// object of the same name: subsets of ready pod addresses (ip, nodeName,
// targetRef) and not-ready addresses, ports resolved from targetPort (number,
// or a container port name looked up per pod; pods without the named port are
// left out). Pods terminating, not yet given an IP, or not matching leave the
// object at once (informer-driven; no polling). Services without a selector
// (or of type ExternalName) are left alone (user-managed Endpoints); deleting
// a Service deletes its Endpoints. Also maintains one discovery.k8s.io/v1
// EndpointSlice per port set, named <svc>-mk (<svc>-mk-1, ...; label
// kubernetes.io/service-name, managed-by endpointslice-controller.k8s.io,
// owner reference to the Service) when the kind table has that kind. Writes
// only on change. One worker: Services are reconciled in the order their
// keys were queued. docs/controllers.md has the details.
//
// Threads: start() spawns informers and the controller's worker threads (one
// for node IPAM and endpoints, two for the namespace controller); stop()
// joins (idempotent; also in the destructor). The Client is borrowed and
// must outlive the controller.
//
// NodeIpamController, EndpointsController and NamespaceController are
// client::Controllers (include/minik8s/client/controller.h). Built on a
// SharedInformerFactory (borrowed, outlives them) they share its informers:
// start() starts the factory's informers, and the factory's owner stops them
// after stopping the controllers. Built on a Client they use a private
// factory, stopped with them. `clock` (borrowed) is what their timestamps and
// delays run on.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "minik8s/client/client.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/util/status.h"
#include "minik8s/util/time.h"

namespace minik8s::controllers {

struct NodeIpamOptions {
  std::string cluster_cidr = "10.244.0.0/16";
  int node_cidr_mask = 24;  // prefix length of each node's pod CIDR
};

class NodeIpamController {
 public:
  NodeIpamController(client::Client& client, NodeIpamOptions options);
  NodeIpamController(client::SharedInformerFactory& factory, NodeIpamOptions options, Clock& clock = real_clock());
  ~NodeIpamController();
  // kBadRequest when cluster_cidr / node_cidr_mask are malformed or inconsistent.
  Status start();
  void stop();
  client::ControllerMetrics metrics() const;

 private:
  struct Impl;
  std::unique_ptr<client::SharedInformerFactory> own_factory_;  // built on a Client only
  std::unique_ptr<Impl> impl_;
};

struct EndpointsOptions {
  bool endpoint_slices = true;  // also maintain discovery.k8s.io/v1 EndpointSlices
};

class EndpointsController {
 public:
  EndpointsController(client::Client& client, EndpointsOptions options = {});
  EndpointsController(client::SharedInformerFactory& factory, EndpointsOptions options = {},
                      Clock& clock = real_clock());
  ~EndpointsController();
  Status start();
  void stop();
  client::ControllerMetrics metrics() const;

 private:
  struct Impl;
  std::unique_ptr<client::SharedInformerFactory> own_factory_;  // built on a Client only
  std::unique_ptr<Impl> impl_;
};

// NamespaceController: finishes the deletion of a Namespace. Deleting one
// makes it Terminating (the API server sets deletionTimestamp, status.phase
// Terminating and spec.finalizers ["kubernetes"], and refuses new content).
// deletion_grace after the controller sees that, it deletes every object in
// it — a live list of each namespaced kind in the kind table, Background
// propagation — and, after a pass that found nothing left, clears
// spec.finalizers through the namespaces/NAME/finalize subresource, which
// removes the Namespace. While objects remain (pods in their grace period,
// finalizers) it looks again after 200 ms, and once a second when the
// deletion is older than 10 s (delays measured on `clock`). A list or delete
// that fails is retried with backoff and holds the finalization back. Key:
// the namespace name; two workers.
struct NamespaceOptions {
  // The wait before the first pass, as Kubernetes' namespaceDeletionGracePeriod
  // (5 s there): `kubectl delete -f` of a manifest that lists the Namespace
  // first still finds each object in it, instead of a NotFound error for
  // those the controller got to first.
  std::chrono::milliseconds deletion_grace{2000};
};

class NamespaceController {
 public:
  explicit NamespaceController(client::Client& client, NamespaceOptions options = {});
  explicit NamespaceController(client::SharedInformerFactory& factory, NamespaceOptions options = {},
                               Clock& clock = real_clock());
  ~NamespaceController();
  Status start();
  void stop();
  client::ControllerMetrics metrics() const;

 private:
  struct Impl;
  std::unique_ptr<client::SharedInformerFactory> own_factory_;  // built on a Client only
  std::unique_ptr<Impl> impl_;
};

// ReplicaSetController (apps/v1 ReplicaSet): keeps spec.replicas pods that
// match the selector, created from spec.template with a controller
// ownerReference. Expectations per ReplicaSet (creates/deletes in flight are
// counted until the pod informer sees them, so a slow watch never causes
// over-creation); adopts matching orphans, releases owned pods whose labels
// stop matching; creates in slow-start batches (1, 2, 4, ... up to burst);
// deletes the least useful pods first (unscheduled < pending < not ready <
// ready, then newest); status replicas / fullyLabeledReplicas /
// readyReplicas / availableReplicas (minReadySeconds) / observedGeneration.
// `clock` (borrowed, outlives the controller) is what minReadySeconds and the
// expectations' expiry are measured on.
struct ReplicaSetOptions {
  int burst = 500;  // most pod creates/deletes per sync
};

class ReplicaSetController {
 public:
  ReplicaSetController(client::Client& client, ReplicaSetOptions options = {}, Clock& clock = real_clock());
  ~ReplicaSetController();
  Status start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// DeploymentController (apps/v1 Deployment): one ReplicaSet per pod template
// (label pod-template-hash, annotations deployment.kubernetes.io/revision,
// desired-replicas, max-replicas), RollingUpdate (maxSurge/maxUnavailable)
// and Recreate, paused, minReadySeconds, progressDeadlineSeconds with the
// Progressing / Available conditions, revisionHistoryLimit, rollback by
// template (kubectl rollout undo writes the old template; the matching
// ReplicaSet is re-used and gets the next revision).
struct DeploymentOptions {};

class DeploymentController {
 public:
  DeploymentController(client::Client& client, DeploymentOptions options = {});
  ~DeploymentController();
  Status start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// GarbageCollector: deletes objects whose owners (metadata.ownerReferences,
// matched by uid) are all gone (background propagation); for an owner being
// deleted with the foregroundDeletion finalizer deletes its dependents and
// removes the finalizer when none with blockOwnerDeletion is left; for one
// with the orphan finalizer removes its ownerReferences from the dependents
// and then the finalizer.
struct GarbageCollectorOptions {
  // Kinds watched as dependents/owners ("v1/Pod", "apps/v1/ReplicaSet" ...);
  // empty = every listable kind in the kind table except Events.
  std::vector<std::string> kinds;
};

class GarbageCollector {
 public:
  GarbageCollector(client::Client& client, GarbageCollectorOptions options = {});
  ~GarbageCollector();
  Status start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// HpaController (autoscaling/v2 HorizontalPodAutoscaler): every sync_period
// reads the target's scale subresource, the pods' metrics from the metrics
// API (metrics.k8s.io/v1beta1 PodMetrics through the client), computes
// Kubernetes' proposal per metric (ceil(current * usage / target), tolerance,
// missing / not-ready pods), takes the largest, applies behavior (policies,
// selectPolicy, stabilization windows) and min/max, writes the scale
// subresource, status (currentReplicas, desiredReplicas, currentMetrics,
// conditions AbleToScale / ScalingActive / ScalingLimited, lastScaleTime)
// and an Event SuccessfulRescale per change.
struct HpaOptions {
  std::chrono::milliseconds sync_period{15000};
  double tolerance = 0.1;
  // Default scaleDown stabilization window when behavior does not set one.
  std::chrono::milliseconds downscale_stabilization{300000};
  // A pod younger than this whose metric sample predates readiness is
  // treated as not yet ready for cpu (Kubernetes' defaults).
  std::chrono::milliseconds cpu_initialization_period{300000};
  std::chrono::milliseconds initial_readiness_delay{30000};
};

class HpaController {
 public:
  HpaController(client::Client& client, HpaOptions options = {});
  ~HpaController();
  Status start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// NodeLifecycleController: watches Nodes and their Leases
// (kube-node-lease). A node whose Lease (or Ready condition heartbeat) is
// older than grace_period gets every condition set to Unknown (reason
// NodeStatusUnknown), the taints node.kubernetes.io/unreachable NoSchedule +
// NoExecute (not-ready for Ready=False), and its pods Ready=False (so their
// endpoints go at once). NoExecute taints evict (delete) pods that do not
// tolerate them, after their tolerationSeconds. A node reporting Ready again
// loses the taints. `clock` (borrowed, outlives the controller) is what the
// grace period (its monotonic time), tolerationSeconds and the timestamps it
// writes are measured on.
struct NodeLifecycleOptions {
  std::chrono::milliseconds grace_period{20000};
  std::chrono::milliseconds monitor_period{1000};
};

class NodeLifecycleController {
 public:
  NodeLifecycleController(client::Client& client, NodeLifecycleOptions options = {}, Clock& clock = real_clock());
  ~NodeLifecycleController();
  Status start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::controllers
