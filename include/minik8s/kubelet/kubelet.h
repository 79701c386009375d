// Kubelet: runs the pods bound to one node on a cri::Runtime.
//
// Shape (STYLE.md §3): an informer on pods with fieldSelector
// spec.nodeName=<node>; one PodWorker per pod UID that only ever acts on the
// latest desired spec (sandbox → images → init containers in order →
// containers; graceful kill on deletion); a PLEG relister that lists the
// runtime every `relist_period` and turns state changes into worker wake-ups
// (a container killed from outside is noticed within ~1 s); a status manager
// that writes pods/status only when it changed; probes (liveness, readiness,
// startup); events through the API (client::EventRecorder).
// The parts live beside the coordinator in src/kubelet/: pod_workers,
// pleg, status_manager (pure, unit-tested), image_manager, sandbox, stats
// (docs/architecture.md, "The kubelet along its seams").
// Everything it creates in the runtime carries the labels in labels.h
// (io.kubernetes.pod.uid / .name / .namespace, io.kubernetes.container.name,
// minik8s.io/node = node_name), so a restarted kubelet adopts what is running
// (zero restarts) and several nodes can share one runtime in tests.
//
// Threads: start() spawns the informer, relister, event and worker threads;
// stop() joins them and leaves containers running (like kubelet restarts).
// The query methods are thread-safe. Ownership: client and runtime are
// borrowed and must outlive the Kubelet.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/client/client.h"
#include "minik8s/cri/runtime.h"
#include "minik8s/kubelet/gpu.h"
#include "minik8s/util/status.h"

namespace minik8s::kubelet {

struct KubeletOptions {
  std::string node_name;
  std::string node_ip;          // hostIP of pods
  std::string root_dir;         // <data-dir>/kubelet: pods/<uid>/volumes/..., etc.
  std::string pod_log_dir;      // CRI log dirs: <pod_log_dir>/<ns>_<name>_<uid>/<container>/<attempt>.log
  // cgroupfs path under which pod cgroups are made: <cgroup_root>/pod<uid>
  // in every v1 hierarchy (cpu, cpuacct, memory, pids, ...). Removed with the pod.
  std::string cgroup_root = "/minik8s";
  std::string cgroup_fs = "/sys/fs/cgroup";  // tests point this elsewhere
  std::chrono::milliseconds relist_period{1000};
  std::chrono::milliseconds backoff_initial{10000};  // restart back-off 10 s doubling
  std::chrono::milliseconds backoff_max{300000};     // to 5 min
  std::chrono::milliseconds status_resync{10000};
  // Pod DNS (sandbox resolv.conf); empty servers = copy the host's resolv.conf.
  std::vector<std::string> cluster_dns;
  std::string cluster_domain = "cluster.local";
  int32_t max_pods = 110;
  // Called when a container's image is absent, before any pull: blocks while
  // the node is importing that image from its offline archives (the agent's
  // background import of the function runtime) and returns true when the
  // image is present afterwards. Null: no such imports.
  std::function<bool(const std::string& image)> await_local_image;
  // The node's NVIDIA GPUs and driver files (gpu.h; the agent probes them).
  // Containers asking for nvidia.com/gpu get their devices, the files and
  // NVIDIA_VISIBLE_DEVICES; none: such pods are refused (OutOfnvidia.com/gpu).
  std::vector<GpuDevice> gpus;
  GpuHostFiles gpu_files;
};

// For the kubelet HTTP server (logs, exec, stats).
struct ContainerRef {
  std::string pod_uid;
  std::string container_id;  // runtime id
  std::string log_path;      // absolute CRI log file
};

struct ContainerUsage {
  std::string name;
  uint64_t cpu_usage_core_nanos = 0;      // cumulative
  uint64_t cpu_usage_nano_cores = 0;      // rate over the last two samples
  uint64_t memory_working_set_bytes = 0;
  int64_t timestamp = 0;                  // ns
};

struct PodUsage {
  std::string namespace_, name, uid;
  std::vector<ContainerUsage> containers;
  uint64_t cpu_usage_nano_cores = 0;  // sum
  uint64_t memory_working_set_bytes = 0;
};

class Kubelet {
 public:
  Kubelet(client::Client& client, cri::Runtime& runtime, KubeletOptions options);
  ~Kubelet();
  Kubelet(const Kubelet&) = delete;
  Kubelet& operator=(const Kubelet&) = delete;

  // Before start(): the nameservers (and domain) pods with dnsPolicy
  // ClusterFirst get — known only once the node's pod network is set up.
  void set_cluster_dns(std::vector<std::string> servers, std::string domain);
  Status start();
  void stop();

  // The running (or, with previous, the last exited) instance of a container
  // of a pod on this node. container "" = the pod's only/first container.
  Result<ContainerRef> find_container(const std::string& ns, const std::string& pod, const std::string& container,
                                      bool previous = false);
  // CPU/memory usage of the pods on this node (from CRI stats, sampled by the relister).
  std::vector<PodUsage> pod_usage();
  // Number of pods this kubelet runs (for node status).
  size_t running_pods();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::kubelet
