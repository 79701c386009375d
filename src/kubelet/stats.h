// Stats: CPU and memory usage of the containers of this node, sampled from
// CRI ListContainerStats after each relist (pleg.cc) and read by the
// kubelet's HTTP server (/stats/summary, metrics). CPU in nano-cores is the
// rate between the last two samples of a container. Only containers of this
// node (the relist's list) are kept; a container gone from the list is
// forgotten. Thread-safe: sample() from the relister, pod_usage() from any
// thread. The runtime is borrowed.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "minik8s/cri/runtime.h"
#include "minik8s/kubelet/kubelet.h"

namespace minik8s::kubelet {

class StatsCollector {
 public:
  explicit StatsCollector(cri::Runtime& runtime) : runtime_(runtime) {}

  // One sample of the runtime's stats for containers (this node's); a
  // runtime error keeps the previous samples.
  void sample(const std::vector<cri::Container>& containers);
  // Usage by pod, from the latest samples.
  std::vector<PodUsage> pod_usage() const;

 private:
  struct Sample {
    std::string uid, pod, ns, name;
    uint64_t cpu = 0, mem = 0;
    int64_t ts = 0;
    uint64_t nano_cores = 0;
  };

  cri::Runtime& runtime_;
  mutable std::mutex mu_;
  std::map<std::string, Sample> samples_;  // container id → sample; guarded by mu_
};

}  // namespace minik8s::kubelet
