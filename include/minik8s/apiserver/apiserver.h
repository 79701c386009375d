// ApiServer: the Kubernetes-compatible HTTP API over a storage::Storage.
//
// One generic REST handler serves every kind in the api kind table
// (minik8s/api/resource.h): create/get/list/update/patch/delete/watch, the
// status/scale/binding subresources, Tables, discovery, OpenAPI, /metrics and
// the health endpoints. Lists, gets and watches are answered from an in-memory
// watch cache fed by one storage watch on "/registry/". Storage keys are
// documented in docs/api.md.
//
// Thread safety: every method may be called from any thread. The server owns
// its listener and connection threads; stop() (or destruction) closes the
// listener, ends every watch stream and joins all threads.
// Ownership: the Storage is borrowed and must outlive the ApiServer.
// Errors: start() fails with kUnavailable when the address cannot be bound and
// kInternal when the store cannot be read; request errors travel to clients as
// Kubernetes Status objects, never as exceptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "minik8s/apiserver/api_group_provider.h"
#include "minik8s/storage/storage.h"
#include "minik8s/util/conn_server.h"
#include "minik8s/util/status.h"

namespace minik8s::apiserver {

// Serving over TLS (docs/security.md "TLS"). Empty cert_file: plain HTTP.
struct ApiTlsOptions {
  std::string cert_file, key_file;  // PEM serving certificate (chain) and key
  // PEM CA bundle client certificates are verified against; a verified
  // certificate becomes HttpRequest::client_cert. Empty: none asked for.
  std::string client_ca_file;
};

// How the API server dials kubelets: the pods/log and pods/exec proxy
// (docs/auth.md "The kubelet's server"; Kubernetes' --kubelet-certificate-authority,
// --kubelet-client-certificate, --kubelet-client-key). https false: plain
// HTTP (`minik8s server --insecure-http`, tests); true: HTTPS, the
// kubelet's certificate verified against ca_file (it must name the Node's
// InternalIP), the client certificate presented.
struct ApiKubeletClientOptions {
  bool https = false;
  std::string ca_file{};
  std::string cert_file{}, key_file{};  // PEM; CN kube-apiserver-kubelet-client
};

// Authentication and authorization (docs/security.md). Off by default (unit
// and integration tests, `minik8s server --insecure-http`): every request
// then acts as system:admin in system:masters and nothing is refused.
// `minik8s server` turns it on.
struct ApiAuthOptions {
  bool enabled = false;
  // Static bearer tokens: Kubernetes' CSV `token,user,uid,"group1,group2"`.
  std::string token_file;
  // PEM private key that signs ServiceAccount tokens (its public key verifies
  // them); `minik8s server` keeps it in <data-dir>/pki/sa.key.
  std::string sa_key_file;
  std::string sa_issuer = "https://kubernetes.default.svc.cluster.local";
  // In order; the first that allows or denies decides. "Node", "RBAC",
  // "AlwaysAllow".
  std::vector<std::string> authorization_modes = {"Node", "RBAC"};
  // The in-process clients' bearer token (controllers, scheduler): user
  // system:apiserver in system:masters. Empty: none.
  std::string loopback_token;
};

struct ApiServerOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 6443;  // 0 = pick a free port
  // The address pods reach the API server at (Kubernetes' --advertise-address):
  // the endpoint of the Service default/kubernetes. Empty: bind_address when
  // pods can use it (not loopback, link-local or the wildcard; else no
  // endpoint). When bind_address is a single address other than this one,
  // the server listens here too, on the same port, so that a server bound to
  // loopback (`minik8s up`) still serves the pods.
  std::string advertise_address{};
  // true: at start the server writes the Endpoints default/kubernetes with
  // its own advertise address (one server). false: it leaves them to an
  // endpoint reconciler (`minik8s server` runs
  // controllers::ApiserverEndpointsReconciler, which lists every live server;
  // docs/ha.md "In-cluster clients").
  bool write_kubernetes_endpoints = true;
  std::string service_cidr = "10.96.0.0/12";
  int node_port_min = 30000, node_port_max = 32767;
  size_t watch_cache_capacity = 10000;  // events kept in the ring
  size_t max_body_bytes = 3 * 1024 * 1024;
  // Connection limits: header/body/idle timeouts and the cap on concurrent
  // connections (minik8s/util/conn_server.h; docs/api.md "Connection limits").
  ConnLimits conn_limits;
  // ... and at most this many bytes of them (docs/api.md "Limits").
  size_t watch_cache_bytes = size_t{64} << 20;
  // Namespaces created at start-up when missing.
  bool create_default_namespaces = true;
  // DefaultTolerationSeconds admission: pods created without them get
  // NoExecute tolerations for node.kubernetes.io/not-ready and /unreachable
  // with these tolerationSeconds (Kubernetes' default is 300; ours 30). < 0
  // turns the admission off.
  int64_t default_not_ready_toleration_seconds = 30;
  int64_t default_unreachable_toleration_seconds = 30;
  // The cluster DNS zone (the agents' clusterDomain): DNS objects may not
  // claim it or names inside it (src/apiserver/kinds/dns_strategy.cc).
  std::string cluster_domain = "cluster.local";
  // pods/log and pods/exec dial a Node's registered InternalIP and kubelet
  // port; a loopback or link-local address is refused unless the Node is
  // local: the one named here (`minik8s up` names its own node), or any Node
  // when the server listens on a loopback address only (every client, and so
  // every kubelet, is then on this host). See docs/logs-exec.md.
  std::string local_node;
  // The code store's directory (minik8s/apiserver/code_store.h; `minik8s
  // server` passes <data-dir>/code). Empty: no code store, the code
  // endpoints answer 404 and spec.code.hash is not checked against it.
  // Code uploads have their own body limit (kMaxCodeBytes, 8 MiB), above
  // max_body_bytes.
  std::string code_dir;
  // The blob store's directory (the same store, 64 MiB uploads, served at
  // /apis/minik8s.io/v1/blobs; `minik8s server` passes <data-dir>/blobs;
  // docs/gpu.md "Blob store"). Empty: no blob store, its endpoints answer
  // 404 and GPUJob blob hashes are not checked against it.
  std::string blob_dir;
  ApiTlsOptions tls;
  ApiAuthOptions auth;
  ApiKubeletClientOptions kubelet_client;
};

class ApiServer {  // serves until stop() or destruction; thread-safe
 public:
  static Result<std::unique_ptr<ApiServer>> start(storage::Storage& store,
                                                  const ApiServerOptions& opts);
  virtual ~ApiServer() = default;

  virtual uint16_t port() const = 0;
  virtual std::string url() const = 0;  // "http://127.0.0.1:PORT", "https://…" with tls
  virtual void stop() = 0;

  // Serves an extra API group from now on (see ApiGroupProvider).
  virtual void add_api_group(std::shared_ptr<ApiGroupProvider> group) = 0;
  // /metrics appends source()'s text (the Prometheus text format, whole
  // families) from now on; called on the request's thread.
  virtual void add_metrics_source(std::function<std::string()> source) = 0;
  // Runs one non-watch request through the same handler as HTTP, without a
  // socket (in-process callers and tests use it). target is the path with
  // query ("/api/v1/namespaces/x/pods?labelSelector=a%3Db"); headers are
  // optional ("Content-Type", "Accept").
  virtual LocalResponse local_request(const std::string& method, const std::string& target,
                                      const std::string& body = {},
                                      const std::map<std::string, std::string>& headers = {}) = 0;
};

}  // namespace minik8s::apiserver
