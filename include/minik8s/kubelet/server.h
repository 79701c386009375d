// KubeletServer: the kubelet's HTTP endpoint (Boost.Beast; HTTPS through
// the TLS ConnectionLayer of minik8s/auth/tls.h when given a serving
// certificate), reached by the API server at node InternalIP :
// daemonEndpoints.kubeletEndpoint.Port. With an AuthReviewer every request
// is authenticated and authorized first (minik8s/kubelet/server_auth.h;
// docs/auth.md "The kubelet's server"): 401 / 403 Status bodies.
//
//   GET /healthz                                   → "ok"
//   GET /containerLogs/{ns}/{pod}/{container}?follow=&tailLines=&previous=&timestamps=&sinceSeconds=&limitBytes=
//        → text/plain, the log lines (CRI log file format decoded); follow streams (chunked) until the client goes
//   GET|POST /exec/{ns}/{pod}/{container}?command=..&command=..&stdin=&stdout=&stderr=&tty=
//        → WebSocket upgrade (subprotocols v5/v4/v3/v2/channel.k8s.io); relays frames to the runtime's
//          streaming server (cri::Runtime::exec URL), translating v5 ↔ v4 where needed
//   GET /stats/summary                             → kubelet Summary API JSON (node + pods: cpu usageNanoCores,
//                                                    usageCoreNanoSeconds, memory workingSetBytes, per container)
//   GET /metrics                                   → Prometheus text (container_cpu_usage_seconds_total,
//                                                    container_memory_working_set_bytes, kubelet_running_pods ...)
//   GET /pods                                      → PodList of the pods bound here
// Threads: a ConnectionServer (minik8s/util/conn_server.h): an acceptor + a thread per connection, within
// ConnLimits (header/body/idle timeouts, a cap on connections; docs/logs-exec.md). stop() closes everything.
#pragma once

#include <memory>
#include <string>

#include "minik8s/cri/runtime.h"
#include "minik8s/kubelet/kubelet.h"
#include "minik8s/kubelet/server_auth.h"
#include "minik8s/util/conn_server.h"
#include "minik8s/util/status.h"

namespace minik8s::kubelet {

struct KubeletServerOptions {
  std::string listen;     // "HOST:PORT" (port 0 picks one)
  std::string node_name;  // reported by /stats/summary, authorized as nodes/<name> ("" = the host name)
  ConnLimits limits{};
  // HTTPS with this serving certificate (chain) and key, PEM files; both
  // empty: plain HTTP.
  std::string tls_cert_file{}, tls_key_file{};
  // Client certificates are verified against this CA bundle (PEM file; the
  // cluster CA); empty: none asked for.
  std::string client_ca_file{};
  // Authentication and authorization; null: none (everyone may do anything —
  // agents of a plain-HTTP API server only). Borrowed.
  AuthReviewer* reviewer = nullptr;
};

class KubeletServer {
 public:
  // kubelet and runtime are borrowed.
  KubeletServer(Kubelet& kubelet, cri::Runtime& runtime, KubeletServerOptions options);
  ~KubeletServer();
  // kInvalid naming the file when the certificate, key or CA cannot be
  // loaded; kUnavailable when the address cannot be bound.
  Status start();
  int port() const;
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::kubelet
