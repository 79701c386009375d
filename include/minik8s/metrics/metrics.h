// The resource metrics pipeline (what metrics-server is in Kubernetes), run
// inside `minik8s server`.
//
// MetricsServer scrapes every Ready node's kubelet (`GET
// http(s)://<InternalIP>:<kubeletEndpoint>/stats/summary`) every resolution,
// keeps the latest sample per node, pod and container, and serves them as
// metrics.k8s.io/v1beta1 through an ApiGroupProvider added to the API server:
//   /apis/metrics.k8s.io/v1beta1/nodes[/NAME]               NodeMetrics(List)
//   /apis/metrics.k8s.io/v1beta1/pods                       PodMetrics(List), all namespaces
//   /apis/metrics.k8s.io/v1beta1/namespaces/NS/pods[/NAME]  PodMetrics(List)
// with labelSelector / fieldSelector=metadata.name= on lists. CPU is the
// kubelet's usageNanoCores (a rate over its sampling window), memory the
// working set; `timestamp` is the sample time and `window` the interval the
// rate covers. A node or pod not scraped successfully for 3 resolutions
// disappears from the API (as in metrics-server), so HPA treats it as missing.
//
// Threads: start() spawns one scraper thread (nodes scraped concurrently, one
// short-lived HTTP request each, timeout = resolution); stop() joins.
#pragma once

#include <chrono>
#include <memory>

#include "minik8s/apiserver/api_group_provider.h"
#include "minik8s/auth/tls.h"
#include "minik8s/client/client.h"
#include "minik8s/util/status.h"

namespace minik8s::metrics {

struct MetricsOptions {
  std::chrono::milliseconds resolution{5000};  // 1 s .. 60 s
  // Kubelets over HTTPS (docs/auth.md "The kubelet's server"): their
  // certificates verified against kubelet_tls's CA, its client certificate
  // presented (`minik8s server`: the cluster CA, apiserver-kubelet-client).
  // false: plain HTTP (`--insecure-http` servers, tests).
  bool kubelet_https = false;
  auth::TlsClientConfig kubelet_tls{};
};

class MetricsServer {
 public:
  // client: to list Nodes (informer); borrowed, must outlive this object.
  MetricsServer(client::Client& client, MetricsOptions options = {});
  ~MetricsServer();
  // kBadRequest when the resolution is out of range.
  Status start();
  void stop();
  // The provider to pass to ApiServer::add_api_group.
  std::shared_ptr<apiserver::ApiGroupProvider> api_group();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::metrics
