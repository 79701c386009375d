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
// Threads: start() spawns informers and the controller's worker threads (see
// each controller); stop()
// joins (idempotent; also in the destructor). The Client is borrowed and
// must outlive the controller.
//
// NodeIpamController, EndpointsController, NamespaceController,
// ReplicaSetController, DeploymentController, GarbageCollector, HpaController
// and NodeLifecycleController are client::ControllerHandles over
// client::Controllers (include/minik8s/client/controller.h): start(),
// stop(), name() and metrics() come from the handle. Built on a
// SharedInformerFactory (borrowed, outlives them) they share its informers
// (one Pod watch and cache for all): start() starts the factory's informers,
// and the factory's owner stops them after stopping the controllers. Built on
// a Client they use a private factory, stopped with them. `clock` (borrowed)
// is what their timestamps, delays and retry backoff run on. metrics() reads
// the runtime's per-controller work-queue and reconcile counters.
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

class NodeIpamController : public client::ControllerHandle {
 public:
  NodeIpamController(client::Client& client, NodeIpamOptions options);
  NodeIpamController(client::SharedInformerFactory& factory, NodeIpamOptions options, Clock& clock = real_clock());
  // start(): kBadRequest when cluster_cidr / node_cidr_mask are malformed or
  // inconsistent.

 private:
  struct Impl;
};

struct EndpointsOptions {
  bool endpoint_slices = true;  // also maintain discovery.k8s.io/v1 EndpointSlices
};

class EndpointsController : public client::ControllerHandle {
 public:
  EndpointsController(client::Client& client, EndpointsOptions options = {});
  EndpointsController(client::SharedInformerFactory& factory, EndpointsOptions options = {},
                      Clock& clock = real_clock());

 private:
  struct Impl;
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

class NamespaceController : public client::ControllerHandle {
 public:
  explicit NamespaceController(client::Client& client, NamespaceOptions options = {});
  explicit NamespaceController(client::SharedInformerFactory& factory, NamespaceOptions options = {},
                               Clock& clock = real_clock());
  // start(): kBadRequest when deletion_grace is negative.

 private:
  struct Impl;
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
// Two workers; the ReplicaSet informer is asked for a 30 s resync (a shared
// informer takes the shortest period any consumer asks for, also after it
// started). `clock` (borrowed,
// outlives the controller) is what minReadySeconds, the expectations' expiry
// and the requeue when a pod becomes available are measured on.
struct ReplicaSetOptions {
  int burst = 500;  // most pod creates/deletes per sync
};

class ReplicaSetController : public client::ControllerHandle {
 public:
  ReplicaSetController(client::Client& client, ReplicaSetOptions options = {}, Clock& clock = real_clock());
  ReplicaSetController(client::SharedInformerFactory& factory, ReplicaSetOptions options = {},
                       Clock& clock = real_clock());
  // start(): kBadRequest when burst < 1; kInvalid when started twice.

 private:
  struct Impl;
};

// DeploymentController (apps/v1 Deployment): one ReplicaSet per pod template
// (label pod-template-hash, annotations deployment.kubernetes.io/revision,
// desired-replicas, max-replicas), RollingUpdate (maxSurge/maxUnavailable)
// and Recreate, paused, minReadySeconds, progressDeadlineSeconds with the
// Progressing / Available conditions, revisionHistoryLimit, rollback by
// template (kubectl rollout undo writes the old template; the matching
// ReplicaSet is re-used and gets the next revision). One worker; adds the
// index "controller-uid" (pods by their controller's uid) to the shared Pod
// informer. `clock` (borrowed) stamps the conditions and measures the
// progress deadline.
struct DeploymentOptions {};

class DeploymentController : public client::ControllerHandle {
 public:
  DeploymentController(client::Client& client, DeploymentOptions options = {});
  DeploymentController(client::SharedInformerFactory& factory, DeploymentOptions options = {},
                       Clock& clock = real_clock());

 private:
  struct Impl;
};

// GarbageCollector: deletes objects whose owners (metadata.ownerReferences,
// matched by uid) are all gone (background propagation); for an owner being
// deleted with the foregroundDeletion finalizer deletes its dependents and
// removes the finalizer when none with blockOwnerDeletion is left; for one
// with the orphan finalizer removes its ownerReferences from the dependents
// and then the finalizer. A client::Controller over object uids (two
// workers); its informers (one per watched kind) come from the factory, so
// its Pod and ReplicaSet caches are the other controllers'. It does not wait
// for every cache before deciding (an owner missing from the graph is checked
// with a live GET): at most 30 s on `clock`'s monotonic time, so one kind
// that cannot be listed does not stall it.
struct GarbageCollectorOptions {
  // Kinds watched as dependents/owners ("v1/Pod", "apps/v1/ReplicaSet" ...);
  // empty = every listable kind in the kind table except Events.
  std::vector<std::string> kinds;
};

class GarbageCollector : public client::ControllerHandle {
 public:
  GarbageCollector(client::Client& client, GarbageCollectorOptions options = {});
  GarbageCollector(client::SharedInformerFactory& factory, GarbageCollectorOptions options = {},
                   Clock& clock = real_clock());
  // start(): kBadRequest for an unknown kind in options.kinds.

 private:
  struct Impl;
};

// HpaController (autoscaling/v2 HorizontalPodAutoscaler): every sync_period
// reads the target's scale subresource, the pods' metrics from the metrics
// API (metrics.k8s.io/v1beta1 PodMetrics through the client), computes
// Kubernetes' proposal per metric (ceil(current * usage / target), tolerance,
// missing / not-ready pods), takes the largest, applies behavior (policies,
// selectPolicy, stabilization windows) and min/max, writes the scale
// subresource, status (currentReplicas, desiredReplicas, currentMetrics,
// conditions AbleToScale / ScalingActive / ScalingLimited, lastScaleTime)
// and an Event SuccessfulRescale per change. A client::Controller over HPA
// keys (one worker): an HPA is synced when it appears or its spec changes,
// then again requeue_after(sync_period) — also after a failed sync (logged;
// Kubernetes' fixed-interval retry, no backoff). `clock` (borrowed, outlives
// the controller) is what the sync period, the behavior windows and the
// timestamps it writes are measured on.
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

class HpaController : public client::ControllerHandle {
 public:
  HpaController(client::Client& client, HpaOptions options = {});
  HpaController(client::SharedInformerFactory& factory, HpaOptions options = {}, Clock& clock = real_clock());
  // start(): kBadRequest when sync_period is not positive.

 private:
  struct Impl;
};

// NodeLifecycleController: watches Nodes and their Leases
// (kube-node-lease). A node whose Lease (or Ready condition heartbeat) is
// older than grace_period gets every condition set to Unknown (reason
// NodeStatusUnknown), the taints node.kubernetes.io/unreachable NoSchedule +
// NoExecute (not-ready for Ready=False), and its pods Ready=False (so their
// endpoints go at once). NoExecute taints evict (delete) pods that do not
// tolerate them, after their tolerationSeconds. A node reporting Ready again
// loses the taints. A client::Controller with one worker over one queue: pod
// keys (taint eviction; a pod tolerating a taint for a while is requeued for
// when its toleration ends) and one monitor key, which looks at every node
// and is requeued after monitor_period (and queued at once when a node's
// Ready status changes). `clock` (borrowed, outlives the controller) is what
// the monitor period and the grace period (its monotonic time),
// tolerationSeconds and the timestamps it writes are measured on: with a
// test's FakeClock, passes and evictions happen as the test advances it.
struct NodeLifecycleOptions {
  std::chrono::milliseconds grace_period{20000};
  std::chrono::milliseconds monitor_period{1000};
};

class NodeLifecycleController : public client::ControllerHandle {
 public:
  NodeLifecycleController(client::Client& client, NodeLifecycleOptions options = {}, Clock& clock = real_clock());
  NodeLifecycleController(client::SharedInformerFactory& factory, NodeLifecycleOptions options = {},
                          Clock& clock = real_clock());
  // start(): kBadRequest when a period is not positive.

 private:
  struct Impl;
};

// ServiceAccountsController (docs/auth.md "Authentication"): every namespace
// that is not being deleted has the ServiceAccount "default" and, when
// root_ca_file is set, the ConfigMap kube-root-ca.crt whose data["ca.crt"]
// is that file's PEM (Kubernetes' serviceaccount-token and root-ca-cert
// publisher controllers; pods mount both through their kube-api-access
// volume). Created when missing, put back when deleted, the ConfigMap's
// ca.crt rewritten when it differs. Key: the namespace name; one worker.
// The CA file is read once by start() (kInvalid when unreadable).
struct ServiceAccountsOptions {
  std::string root_ca_file;  // PEM; empty: no kube-root-ca.crt published
};

class ServiceAccountsController : public client::ControllerHandle {
 public:
  explicit ServiceAccountsController(client::Client& client, ServiceAccountsOptions options = {});
  ServiceAccountsController(client::SharedInformerFactory& factory, ServiceAccountsOptions options = {},
                            Clock& clock = real_clock());

 private:
  struct Impl;
};

}  // namespace minik8s::controllers
