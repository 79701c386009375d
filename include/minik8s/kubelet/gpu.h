// NVIDIA GPUs on a node (docs/gpu.md "GPU nodes"): discovery, the node's
// allocation table, and what a container that asks for `nvidia.com/gpu` is
// given through CRI.
//
// GpuProbe finds the GPUs (`nvidia-smi -L`, else the /dev/nvidia<N> device
// nodes) and the driver's user-space files (control device nodes, the
// libcuda / libnvidia-* libraries, nvidia-smi). Everything is looked up
// under a root directory ("/" on a host, a temp tree in tests) and reported
// as the host sees it ("/dev/nvidia0"), and the one command goes through an
// injected CommandRunner, so tests fake both.
//
// GpuAllocator is the node's table GPU index → pod UID. A pod gets its GPUs
// at admission (all it will ever use: max(largest init container, sum of the
// regular containers)), keeps them across container restarts and gives them
// back when it finishes or leaves the node. Containers take fixed slices of
// their pod's set (gpu_slice): init containers the first ones (they run one
// at a time), regular containers consecutive, disjoint ones in spec order. A
// restarted kubelet rebuilds the table from the kGpuAnnotation of the
// running containers (restore); nothing else is persisted.
// Thread safety: GpuAllocator is thread-safe; GpuProbe is not (the agent
// probes once at start); the free functions are pure.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/cri/runtime.h"
#include "minik8s/util/status.h"

namespace minik8s::kubelet {

inline constexpr const char* kGpuResource = "nvidia.com/gpu";
// On every container of a pod that holds GPUs: the pod's GPU indices
// ("0,2"), so that a restarted kubelet knows who holds what.
inline constexpr const char* kGpuAnnotation = "minik8s.io/gpus";

// Runs argv (no shell); the command's stdout, or an error when it cannot be
// started, exits non-zero or outlives its timeout.
class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  virtual Result<std::string> run(const std::vector<std::string>& argv) = 0;
};
// fork/exec with PATH lookup; the child is killed after timeout.
std::unique_ptr<CommandRunner> make_command_runner(std::chrono::milliseconds timeout);

struct GpuDevice {
  int index = 0;     // nvidia-smi's "GPU <index>" (NVIDIA_VISIBLE_DEVICES)
  int minor = 0;     // the device node /dev/nvidia<minor>
  std::string name;  // "NVIDIA H100 80GB HBM3" ("" when found from /dev)
  std::string uuid;  // "GPU-…" ("" when found from /dev)
  bool operator==(const GpuDevice&) const = default;
};

// What every GPU container gets besides its own /dev/nvidia<minor>.
struct GpuHostFiles {
  // Present ones of /dev/nvidiactl, /dev/nvidia-uvm, /dev/nvidia-uvm-tools,
  // /dev/nvidia-modeset, in that order.
  std::vector<std::string> control_devices;
  // libcuda.so*, libnvidia-*.so* (libnvidia-ml.so* among them) that resolve
  // to a regular file, from /usr/lib/x86_64-linux-gnu, /usr/lib64,
  // /usr/local/nvidia/lib64 (in that order; the first file of a name wins),
  // sorted by path within a directory.
  std::vector<std::string> libraries;
  std::string nvidia_smi;  // "/usr/bin/nvidia-smi" when present, else ""
};

// "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-5f1c…)" lines; other lines
// (MIG devices, "No devices were found") are skipped. minor = index.
std::vector<GpuDevice> parse_nvidia_smi_list(const std::string& text);

class GpuProbe {
 public:
  // root: "/" on a host. runner is borrowed and must outlive the probe.
  GpuProbe(std::string root, CommandRunner& runner);
  // `nvidia-smi -L`; when that fails or lists none, /dev/nvidia<N> (index =
  // minor = N, ascending). With nvidia-smi, minors come from
  // /proc/driver/nvidia/gpus/*/information (GPU UUID → Device Minor) when
  // readable, else minor = index.
  std::vector<GpuDevice> devices();
  GpuHostFiles host_files();

 private:
  std::string path(const std::string& host_path) const;  // host path → path under root
  std::string root_;
  CommandRunner& runner_;
};

// The GPUs a pod needs for nvidia.com/gpu (limits, else requests — they are
// equal for extended resources): max(largest init container, sum of the
// regular containers). Unparsable or fractional values count as 0 (the API
// refuses them).
int64_t pod_gpu_count(const api::Json& pod);
// A container's own count (0 when it asks for none).
int64_t container_gpu_count(const api::Json& container);
// The slice of the pod's GPUs (pod_gpus, in allocation order) that container
// `name` gets: see the header comment. Empty when it asks for none or the
// pod's set is too small (never overlapping another container's slice).
std::vector<int> gpu_slice(const api::Json& pod, const std::string& name,
                           const std::vector<int>& pod_gpus);

// The CRI additions for a container given GPUs: a Device (rwm) per
// /dev/nvidia<minor> of its GPUs then the control devices; read-only mounts
// of the libraries into /usr/lib/x86_64-linux-gnu/<file name> (the x86_64
// multiarch directory, a default search directory of Debian and Ubuntu
// glibc) and of nvidia-smi at /usr/bin/nvidia-smi; env
// NVIDIA_VISIBLE_DEVICES=<nvidia-smi indices, comma-separated>.
struct GpuContainerConfig {
  std::vector<cri::Device> devices;
  std::vector<cri::Mount> mounts;
  std::vector<cri::KeyValue> envs;
};
GpuContainerConfig gpu_container_config(const std::vector<GpuDevice>& gpus,
                                        const GpuHostFiles& files);

std::string format_gpu_indices(const std::vector<int>& indices);  // "0,2"
// "0,2" → {0, 2}; an error for anything else.
Result<std::vector<int>> parse_gpu_indices(const std::string& text);

class GpuAllocator {
 public:
  explicit GpuAllocator(std::vector<GpuDevice> devices = {});
  const std::vector<GpuDevice>& devices() const { return devices_; }  // immutable
  // The device with this index (null when unknown).
  const GpuDevice* device(int index) const;
  // The pod's GPUs: what it holds already, else `count` free ones (lowest
  // indices first). kUnavailable when fewer are free, with Kubernetes'
  // admission wording ("Node didn't have enough resource: nvidia.com/gpu,
  // requested: 2, used: 1, capacity: 2"). count 0 → empty.
  Result<std::vector<int>> allocate(const std::string& pod_uid, int64_t count);
  // What the pod holds (empty when nothing).
  std::vector<int> held(const std::string& pod_uid) const;
  void release(const std::string& pod_uid);
  // After a kubelet restart: the pod holds these (unknown indices and ones
  // another pod holds are dropped).
  void restore(const std::string& pod_uid, const std::vector<int>& indices);
  size_t used() const;
  std::map<int, std::string> table() const;  // index → pod uid

 private:
  const std::vector<GpuDevice> devices_;
  mutable std::mutex mu_;
  std::map<int, std::string> owner_;  // guarded by mu_: GPU index → pod uid
};

}  // namespace minik8s::kubelet
