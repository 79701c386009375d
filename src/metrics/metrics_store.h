// Internal to the metrics server: the kubelet summary parser, the sample
// store and the metrics.k8s.io/v1beta1 renderer. Pure data, no threads;
// MetricsStore is not synchronised (the server guards it with its mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/util/status.h"
#include "minik8s/util/time.h"

namespace minik8s::metrics {

struct Usage {
  uint64_t cpu_nano_cores = 0;
  uint64_t memory_bytes = 0;
};

struct ContainerSample {
  std::string name;
  Usage usage;
};

struct PodSample {
  std::string ns, name, uid, node;
  SysTime timestamp;
  std::vector<ContainerSample> containers;
  std::chrono::steady_clock::time_point scraped;  // when it was last refreshed
};

struct NodeSample {
  std::string name;
  SysTime timestamp;
  Usage usage;
  std::chrono::steady_clock::time_point scraped;
};

// One node's /stats/summary, parsed. Containers without cpu or memory
// figures are left out (as metrics-server does); pods left with no
// container are dropped.
struct Summary {
  NodeSample node;
  std::vector<PodSample> pods;
};
// node: the Node object's name (the summary's nodeName is not trusted);
// now: the scrape time, used where the summary carries no time.
// kBadRequest when the body is not a summary.
Result<Summary> parse_summary(const std::string& body, const std::string& node, SysTime now);

// "123456n" (nanocores; "0" for zero).
std::string format_cpu(uint64_t nano_cores);
// "12345Ki" when a whole number of KiB, else the bytes ("1000").
std::string format_memory(uint64_t bytes);
// A metav1.Duration: "1s", "1.5s", "500ms".
std::string format_window(std::chrono::milliseconds window);

class MetricsStore {
 public:
  // A successful scrape replaces the node's sample and all of its pods.
  void update(const Summary& summary, std::chrono::steady_clock::time_point now);
  // Drops samples not refreshed since before `oldest`.
  void expire(std::chrono::steady_clock::time_point oldest);

  const std::map<std::string, NodeSample>& nodes() const { return nodes_; }
  // Key "namespace/name".
  const std::map<std::string, PodSample>& pods() const { return pods_; }

 private:
  std::map<std::string, NodeSample> nodes_;
  std::map<std::string, PodSample> pods_;
};

// metrics.k8s.io/v1beta1 objects. labels: the Node's / Pod's metadata.labels (or null).
api::Json node_metrics_json(const NodeSample& s, const api::Json& labels, std::chrono::milliseconds window);
api::Json pod_metrics_json(const PodSample& s, const api::Json& labels, std::chrono::milliseconds window);

}  // namespace minik8s::metrics
