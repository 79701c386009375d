// cri::Runtime: the slice of the CRI `runtime.v1` RuntimeService and
// ImageService the kubelet uses, as plain value types (no protobuf in this
// header, so the kubelet and its tests do not pull in generated code).
//
// Implementations: GrpcRuntime (src/cri/, gRPC over containerd's unix socket,
// see grpc_runtime.h) and FakeRuntime (test/fakes/fake_runtime.h, in memory).
// Errors: the runtime's gRPC status maps onto Status codes — NOT_FOUND →
// kNotFound, ALREADY_EXISTS → kAlreadyExists, DEADLINE_EXCEEDED → kTimeout,
// UNAVAILABLE (socket gone) → kUnavailable, anything else → kInternal — with
// the runtime's own message kept verbatim (the kubelet shows it to users, e.g.
// in ErrImagePull).
// Thread safety: every method may be called from any thread concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::cri {

using Labels = std::map<std::string, std::string>;

struct PortMapping {
  std::string protocol = "TCP";  // TCP | UDP | SCTP
  int32_t container_port = 0;
  int32_t host_port = 0;
  std::string host_ip;
};

struct DnsConfig {
  std::vector<std::string> servers;
  std::vector<std::string> searches;
  std::vector<std::string> options;
};

// Linux resources of a container (CRI LinuxContainerResources). 0 = unset.
struct Resources {
  int64_t cpu_period = 0;           // µs
  int64_t cpu_quota = 0;            // µs per period
  int64_t cpu_shares = 0;
  int64_t memory_limit_bytes = 0;
  int64_t oom_score_adj = 0;        // never negative on these machines (RECIPES.md)
};

struct SandboxConfig {
  // metadata
  std::string name;        // pod name
  std::string uid;         // pod uid
  std::string namespace_;  // pod namespace
  uint32_t attempt = 0;
  std::string hostname;
  std::string log_directory;  // absolute; container log_path is relative to it
  DnsConfig dns;
  std::vector<PortMapping> port_mappings;
  Labels labels;
  Labels annotations;
  std::string cgroup_parent;  // e.g. "/minik8s/node1/pod<uid>" (cgroupfs path)
  bool host_network = false;
};

struct Mount {
  std::string container_path;
  std::string host_path;
  bool readonly = false;
};

// A host device node given to a container (CRI Device): the runtime creates
// the node at container_path and allows it in the container's device cgroup.
struct Device {
  std::string container_path;
  std::string host_path;
  std::string permissions = "rwm";  // cgroup device permissions: r, w, m
};

struct KeyValue {
  std::string key;
  std::string value;
};

struct ContainerConfig {
  std::string name;  // container name (metadata)
  uint32_t attempt = 0;
  std::string image;
  std::vector<std::string> command;  // entrypoint override (k8s command)
  std::vector<std::string> args;     // k8s args
  std::string working_dir;
  std::vector<KeyValue> envs;
  std::vector<Mount> mounts;
  std::vector<Device> devices;
  Labels labels;
  Labels annotations;
  std::string log_path;  // relative to the sandbox log_directory
  bool stdin_ = false;
  bool stdin_once = false;
  bool tty = false;
  Resources resources;
};

enum class SandboxState { kReady, kNotReady };
enum class ContainerState { kCreated, kRunning, kExited, kUnknown };
const char* to_string(ContainerState s);

struct Sandbox {
  std::string id;
  std::string name, uid, namespace_;
  uint32_t attempt = 0;
  SandboxState state = SandboxState::kNotReady;
  int64_t created_at = 0;  // ns since epoch
  Labels labels;
  Labels annotations;
};

struct SandboxStatus {
  Sandbox sandbox;
  std::string ip;                   // primary pod IP ("" with host network / none)
  std::vector<std::string> additional_ips;
};

struct Container {
  std::string id;
  std::string sandbox_id;
  std::string name;  // metadata name
  uint32_t attempt = 0;
  std::string image;      // as asked for
  std::string image_ref;  // resolved (image id / digest)
  ContainerState state = ContainerState::kUnknown;
  int64_t created_at = 0;
  Labels labels;
  Labels annotations;
};

struct ContainerStatus {
  Container container;
  int64_t started_at = 0;   // ns since epoch, 0 if never
  int64_t finished_at = 0;  // ns since epoch, 0 if not exited
  int32_t exit_code = 0;
  std::string reason;   // runtime's reason, e.g. "OOMKilled", "Completed", "Error"
  std::string message;
  std::string log_path;  // absolute
};

struct ContainerStats {
  std::string id;
  std::string sandbox_id;  // from the container's labels/attributes where known
  std::string name;
  Labels labels;
  int64_t timestamp = 0;             // ns
  uint64_t cpu_usage_core_nanos = 0; // cumulative
  uint64_t memory_working_set_bytes = 0;
};

struct Image {
  std::string id;
  std::vector<std::string> repo_tags;
  std::vector<std::string> repo_digests;
  uint64_t size = 0;
};

struct VersionInfo {
  std::string runtime_name;         // "containerd"
  std::string runtime_version;      // "1.6.20~ds1"
  std::string runtime_api_version;  // "v1"
};

struct ExecSyncResult {
  std::string stdout_;
  std::string stderr_;
  int32_t exit_code = 0;
};

struct ExecRequest {
  std::string container_id;
  std::vector<std::string> cmd;
  bool tty = false;
  bool stdin_ = false;
  bool stdout_ = true;
  bool stderr_ = true;
};

struct ContainerFilter {
  std::optional<std::string> id;
  std::optional<std::string> sandbox_id;
  std::optional<ContainerState> state;
  Labels label_selector;  // all must match
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  virtual Result<VersionInfo> version() = 0;

  // --- sandboxes
  virtual Result<std::string> run_pod_sandbox(const SandboxConfig& config) = 0;
  virtual Status stop_pod_sandbox(const std::string& sandbox_id) = 0;
  virtual Status remove_pod_sandbox(const std::string& sandbox_id) = 0;
  virtual Result<SandboxStatus> pod_sandbox_status(const std::string& sandbox_id) = 0;
  // Sandboxes whose labels match all of label_selector (empty = all).
  virtual Result<std::vector<Sandbox>> list_pod_sandboxes(const Labels& label_selector = {}) = 0;

  // --- containers
  virtual Result<std::string> create_container(const std::string& sandbox_id, const ContainerConfig& config,
                                               const SandboxConfig& sandbox_config) = 0;
  virtual Status start_container(const std::string& container_id) = 0;
  // Sends the stop signal, waits up to timeout_seconds, then SIGKILL.
  virtual Status stop_container(const std::string& container_id, int64_t timeout_seconds) = 0;
  virtual Status remove_container(const std::string& container_id) = 0;
  virtual Result<std::vector<Container>> list_containers(const ContainerFilter& filter = {}) = 0;
  virtual Result<ContainerStatus> container_status(const std::string& container_id) = 0;
  virtual Status update_container_resources(const std::string& container_id, const Resources& resources) = 0;

  // --- exec / streaming
  virtual Result<ExecSyncResult> exec_sync(const std::string& container_id, const std::vector<std::string>& cmd,
                                           int64_t timeout_seconds) = 0;
  // The URL of the runtime's streaming server for this exec session
  // (containerd: http://127.0.0.1:PORT/exec/TOKEN; speaks SPDY and WebSocket
  // channel.k8s.io v1–v4).
  virtual Result<std::string> exec(const ExecRequest& request) = 0;

  // --- stats
  virtual Result<std::vector<ContainerStats>> list_container_stats() = 0;

  // --- images
  virtual Result<std::vector<Image>> list_images() = 0;
  // nullopt when the image is not present.
  virtual Result<std::optional<Image>> image_status(const std::string& image) = 0;
  // Returns the image ref (id). The error message is the runtime's (shown in ErrImagePull).
  virtual Result<std::string> pull_image(const std::string& image, const SandboxConfig* sandbox_config) = 0;
  virtual Status remove_image(const std::string& image) = 0;
};

}  // namespace minik8s::cri
