// ApiserverEndpointsReconciler: keeps the Endpoints default/kubernetes (the
// backends of the Service kubernetes, what in-cluster clients reach as
// kubernetes.default.svc) listing every live API server, not only the last
// one started — Kubernetes' "lease" endpoint reconciler
// (pkg/controlplane/reconcilers/lease.go; docs/ha.md "In-cluster clients").
//
// Each API server runs one. It keeps a coordination.k8s.io/v1 Lease of its
// own in kube-system, named apiserver-<16 hex digits of FNV-1a 64 of
// "IP:PORT">, labelled apiserver.kubernetes.io/identity=kube-apiserver (the
// label of Kubernetes' apiserver identity Leases), with the advertised
// endpoint in the annotation minik8s.io/apiserver-endpoint ("IP:PORT") and
// spec holderIdentity "<lease name>_<random>", leaseDurationSeconds,
// renewTime. It renews the Lease every renew_interval (Kubernetes'
// EndpointInterval, 10 s; the record lives lease_duration, Kubernetes' 15 s
// endpoint TTL).
//
// The reconcile (a client::Controller: an informer on those Leases and one on
// the Endpoints in "default" trigger it; a work queue, reconcile(key)) lists
// the Leases afresh (as Kubernetes' reconciler reads its leases from storage:
// a server whose cache lags must not drop an endpoint it has not seen yet)
// and sets the Endpoints' subsets to the endpoints of the live ones: one subset per
// port (ascending), its addresses sorted as strings (as Kubernetes sorts
// them), port named "https", TCP. This server's own endpoint is always in
// while it runs, from its first successful Lease write on. It writes only when the subsets differ.
// A Lease is live until it has not changed for its leaseDurationSeconds as measured by this
// server's own monotonic clock since it last saw it change (as the leader
// elector judges its Lease: clock skew between machines does not matter); an
// expired Lease is deleted (precondition: the resourceVersion seen) and its
// endpoint leaves the Endpoints. A Lease whose annotation is not a
// non-special IPv4 address and a port is ignored.
//
// stop_and_remove() is the clean shutdown: it stops the loop, deletes this
// server's Lease and rewrites the Endpoints without its endpoint at once
// (Kubernetes' RemoveEndpoints), leaving `subsets: []` when it was the last.
// A server that dies without it leaves the Endpoints after lease_duration.
//
// No EndpointSlice is written: the API server never wrote one for the Service
// kubernetes and nothing in minik8s (the proxy, DNS) reads one for it.
//
// Threads: the controller's (one worker); stop_and_remove() from any thread
// but the worker. The Client and Clock are borrowed and must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "minik8s/client/client.h"
#include "minik8s/client/controller.h"
#include "minik8s/util/status.h"
#include "minik8s/util/time.h"

namespace minik8s::controllers {

inline constexpr const char* kApiserverIdentityLabel = "apiserver.kubernetes.io/identity";
inline constexpr const char* kApiserverIdentityValue = "kube-apiserver";
inline constexpr const char* kApiserverEndpointAnnotation = "minik8s.io/apiserver-endpoint";

struct ApiserverEndpointsOptions {
  std::string address{};  // this server's advertised IPv4 address (required)
  uint16_t port = 0;      // the port it serves at there (required)
  std::string lease_namespace = "kube-system";
  // Whole seconds (leaseDurationSeconds), at least 1 s and above renew_interval.
  std::chrono::milliseconds lease_duration{std::chrono::seconds(15)};
  std::chrono::milliseconds renew_interval{std::chrono::seconds(10)};
};

// ok, or kInvalid naming the bad field.
Status validate_apiserver_endpoints_options(const ApiserverEndpointsOptions& opts);

// "apiserver-<16 hex digits>" for "address:port".
std::string apiserver_lease_name(const std::string& address, uint16_t port);

class ApiserverEndpointsReconciler : public client::ControllerHandle {
 public:
  ApiserverEndpointsReconciler(client::Client& client, ApiserverEndpointsOptions options,
                               Clock& clock = real_clock());

  // After start(): true once a pass wrote (or found) the Endpoints with this
  // server's endpoint, false at the timeout. `minik8s server` waits for it
  // before it reports ready, as the start-time write did.
  bool wait_until_listed(std::chrono::milliseconds timeout);

  // Stops the loop (as stop()), then deletes this server's Lease and writes
  // the Endpoints without its endpoint. The first error, if any (the loop is
  // stopped either way).
  Status stop_and_remove();

 private:
  struct Impl;
  Impl* impl_ = nullptr;  // owned by the handle
};

}  // namespace minik8s::controllers
