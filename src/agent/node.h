// Internal to mk_agent: flag parsing, host probing, and the pure functions
// that build the Node and Lease objects, plus NodeReporter (registration +
// status/lease heartbeats). Split out so tests can drive each piece alone.
//
// The build_* functions are pure (no I/O, no clock: `now` is an argument).
// probe_host reads /proc, /sys, /etc and statvfs; missing files give
// conservative defaults, never an error.
// NodeReporter: start() spawns one heartbeat thread; stop() joins it. Its
// client and runtime are borrowed and must outlive it. Status updates and
// lease renewals are independent of each other's failures.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "minik8s/agent/agent.h"
#include "minik8s/api/json.h"
#include "minik8s/client/client.h"
#include "minik8s/cri/runtime.h"
#include "minik8s/kubelet/gpu.h"
#include "minik8s/util/time.h"

namespace minik8s::agent {

inline constexpr const char* kKubeletVersion =
    "v1.32.0-minik8s";  // the API server's /version gitVersion
inline constexpr int32_t kLeaseDurationSeconds = 40;

// Flags of `minik8s agent` that are not part of NodeConfig.
struct AgentFlags {
  std::string image_cache;  // where offline images are built (default <data_dir>/../images or
                            // $MINIK8S_IMAGE_CACHE)
  std::string log_level = "info";
};

// Parses `agent` argv (argv[0] = "agent"): --config FILE first, then every
// flag given overrides the YAML. Does not fill host-derived defaults (see
// fill_defaults). --help / parse errors come back as kBadRequest with CLI11's
// text; `exit_code` (when non-null) receives CLI11's exit code for them.
Result<NodeConfig> parse_agent_flags(int argc, char** argv, AgentFlags* extra,
                                     int* exit_code = nullptr);
// Taint from "key[=value]:Effect".
Result<Taint> parse_taint(const std::string& text);
// node_name ← hostname (lower-cased), node_ip ← default route interface address or 127.0.0.1.
void fill_defaults(NodeConfig& config);
std::string default_node_ip();

struct HostInfo {
  std::string hostname;
  int64_t cpu_millis = 1000;
  int64_t memory_bytes = 0;
  int64_t ephemeral_storage_bytes = 0;
  int64_t gpus = 0;  // from node_gpus(), not probe_host
  std::string kernel_version;
  std::string os_image;
  std::string machine_id;
  std::string boot_id;
};
HostInfo probe_host(const std::string& data_dir);
// The GPUs this node offers, per config.gpus (NodeConfig): auto → all the
// probe finds, 0 → none (the probe is not asked), N → the first N found; N
// beyond what is found is an error naming the field.
Result<std::vector<kubelet::GpuDevice>> node_gpus(const NodeConfig& config, kubelet::GpuProbe& probe);

struct RuntimeState {
  bool ready = false;
  std::string message;          // why not ready
  std::string runtime_version;  // "containerd://1.6.20"
};
RuntimeState probe_runtime(cri::Runtime& runtime);

// Node with metadata (name, labels), spec (taints) and status.
api::Json build_node(const NodeConfig& config, const HostInfo& host, const RuntimeState& runtime,
                     int kubelet_port, SysTime now);
// status only; conditions keep lastTransitionTime from previous_status when
// their status did not change (previous_status may be null/empty).
api::Json build_node_status(const NodeConfig& config, const HostInfo& host,
                            const RuntimeState& runtime, int kubelet_port, SysTime now,
                            const api::Json& previous_status);
// Node labels: kubernetes.io/hostname, os, arch, node-role.kubernetes.io/<role>, then user labels.
api::Json node_labels(const NodeConfig& config);
api::Json node_taints(const NodeConfig& config);
api::Json build_lease(const std::string& node_name, const std::string& node_uid, SysTime now);

class NodeReporter {
 public:
  NodeReporter(client::Client& client, cri::Runtime& runtime, NodeConfig config, HostInfo host,
               int kubelet_port, Clock& clock = real_clock());
  ~NodeReporter();
  NodeReporter(const NodeReporter&) = delete;
  NodeReporter& operator=(const NodeReporter&) = delete;

  // Creates the Node, or on restart updates its labels/taints (keeping
  // others'), then writes status. Retries nothing; callers loop.
  Status register_node();
  Status update_status();  // one write of the whole status
  Status renew_lease();    // create or update the Lease
  // Heartbeat thread: lease every lease_renew_interval, status every
  // status_update_interval and at once when runtime readiness changes
  // (the runtime is probed every second).
  void start();
  void stop();
  // Forces a status write on the next tick (e.g. after pods changed).
  void poke();

 private:
  void loop();

  client::Client& client_;
  cri::Runtime& runtime_;
  const NodeConfig config_;
  const HostInfo host_;
  const int kubelet_port_;
  Clock& clock_;

  // Touched only by register_node/update_status/renew_lease, which the
  // heartbeat thread (or the caller before start()) runs one at a time.
  std::string node_uid_;
  std::unique_ptr<api::Json> last_status_;  // last status written (for lastTransitionTime)
  std::unique_ptr<api::Json> lease_;        // last lease written (resourceVersion for the next PUT)
  bool last_ready_ = false;
  bool have_ready_ = false;

  std::mutex mu_;  // guards stop_, poked_
  std::condition_variable cv_;
  bool stop_ = false;
  bool poked_ = false;
  std::thread thread_;
};

}  // namespace minik8s::agent
