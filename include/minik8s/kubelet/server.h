// KubeletServer: the kubelet's HTTP endpoint (plain HTTP, Boost.Beast),
// reached by the API server at node InternalIP : daemonEndpoints.kubeletEndpoint.Port.
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
#include "minik8s/util/conn_server.h"
#include "minik8s/util/status.h"

namespace minik8s::kubelet {

class KubeletServer {
 public:
  // listen: "HOST:PORT" (port 0 picks one). kubelet and runtime are borrowed.
  // node_name: reported by /stats/summary ("" = the host name).
  KubeletServer(Kubelet& kubelet, cri::Runtime& runtime, std::string listen, std::string node_name = "",
                const ConnLimits& limits = {});
  ~KubeletServer();
  Status start();
  int port() const;
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::kubelet
