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
// Threads: start() spawns informers and one worker thread per controller;
// stop() joins (idempotent; also in the destructor). The Client is borrowed
// and must outlive the controller.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "minik8s/client/client.h"
#include "minik8s/util/status.h"

namespace minik8s::controllers {

struct NodeIpamOptions {
  std::string cluster_cidr = "10.244.0.0/16";
  int node_cidr_mask = 24;  // prefix length of each node's pod CIDR
};

class NodeIpamController {
 public:
  NodeIpamController(client::Client& client, NodeIpamOptions options);
  ~NodeIpamController();
  // kBadRequest when cluster_cidr / node_cidr_mask are malformed or inconsistent.
  Status start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct EndpointsOptions {
  bool endpoint_slices = true;  // also maintain discovery.k8s.io/v1 EndpointSlices
};

class EndpointsController {
 public:
  EndpointsController(client::Client& client, EndpointsOptions options = {});
  ~EndpointsController();
  Status start();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::controllers
