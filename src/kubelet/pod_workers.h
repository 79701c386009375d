// Pod workers: one thread per pod UID that only ever acts on the latest
// desired spec (kubelet pod_workers.go). A worker is woken by the informer
// (spec, deletion), by the PLEG (its runtime objects changed) and by its
// own timers (back-off, probes, the status resync), and each time runs one
// sync:
//   sandbox (sandbox.h; pod cgroup, volumes) → images (image_manager.h) →
//   init containers in order → containers (restart policy, crash back-off,
//   probes) → status (status_manager.h, written only when it changed),
// or, for a pod deleted (deletionTimestamp, gone from the API, or an orphan
// found by the PLEG), the graceful termination: preStop hooks, stop within
// the grace period, remove sandboxes, cgroup and volumes, then the final
// delete of the API object.
//
// PodWorkers is the set of workers by UID with admission (max_pods →
// OutOfpods; nvidia.com/gpu beyond the free GPUs → OutOfnvidia.com/gpu). Threads: each PodWorker owns its thread; PodWorkers' methods
// are thread-safe (informer, relister and HTTP threads call them).
// Ownership: everything in PodWorkerEnv is borrowed from the Kubelet and
// outlives the workers (stop_all() joins them).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "image_manager.h"
#include "minik8s/api/resource.h"
#include "minik8s/client/client.h"
#include "minik8s/client/event_recorder.h"
#include "minik8s/client/informer.h"
#include "minik8s/cri/runtime.h"
#include "minik8s/kubelet/gpu.h"
#include "minik8s/kubelet/kubelet.h"
#include "minik8s/kubelet/parts.h"
#include "pod_util.h"
#include "status_manager.h"

namespace minik8s::kubelet {

// What a pod worker needs from the kubelet.
struct PodWorkerEnv {
  client::Client& client;
  cri::Runtime& runtime;
  const KubeletOptions& opts;
  const api::ResourceType* pod_type;
  VolumeManager& volumes;
  PodCgroups& cgroups;
  Prober& prober;
  ImageManager& images;
  client::EventRecorder& events;
  // The node's GPUs (gpu.h): given at admission, back when the pod finishes or leaves.
  GpuAllocator& gpus;
  // The pod informer while the kubelet runs (null otherwise).
  std::function<std::shared_ptr<client::Informer>()> informer;
  // The Service informer (every namespace) while the kubelet runs: the
  // source of the containers' Service environment variables (service_env).
  std::function<std::shared_ptr<client::Informer>()> services{};

  void event(const json& pod, const std::string& type, const std::string& reason, const std::string& message,
             const std::string& field_path = "") {
    events.record(pod, "v1", "Pod", type, reason, message, field_path);
  }
};

struct ProbeTrack {
  int successes = 0;
  int failures = 0;
  TimePoint next{};
};

// Worker-side state of one container of the pod (by name): what the status
// manager sees (ContainerView) plus timers and probe counters.
struct ContainerState : ContainerView {
  std::string pull_error;  // the runtime's last pull error
  TimePoint retry_at{};    // after a failure: no new attempt before this
  std::chrono::milliseconds fail_backoff{0};
  std::chrono::milliseconds crash_backoff{0};
  bool backoff_event_sent = false;
  // Probes, for the instance probe_cid.
  ProbeTrack live_probe, ready_probe, startup_probe;
};

class PodWorker {
 public:
  // desired: the pod as first seen; deleted: an orphan (gone from the API).
  PodWorker(PodWorkerEnv& env, std::string uid, client::ObjectPtr desired, bool deleted = false);

  // Admission (before start()): the pod is refused and never run.
  void reject(std::string reason, std::string message);
  bool rejected() const { return rejected_; }
  const std::string& reject_reason() const { return reject_reason_; }
  const std::string& reject_message() const { return reject_message_; }

  void start();
  void join();
  // The latest desired pod; wake_now runs a sync now.
  void update(client::ObjectPtr pod, bool wake_now);
  void mark_deleted(client::ObjectPtr last);
  void wake();
  void request_stop();
  bool is_finished();
  bool is_active();
  // Counts against max_pods: admitted, still in the API, not in a terminal phase.
  bool holds_pod_slot();

 private:
  // The pod's sandboxes and containers in the runtime.
  struct RuntimePod {
    std::vector<cri::Sandbox> sandboxes;
    std::vector<cri::Container> containers;
    ContainersByName by_name;
  };

  void loop();
  TimePoint sync(const json& pod);
  Status list_runtime(RuntimePod& rt, bool containers_only = false);
  Result<cri::ContainerStatus> status_of(const std::string& id);
  void event(const json& pod, const std::string& type, const std::string& reason, const std::string& message,
             const std::string& field_path = "") {
    env_.event(pod, type, reason, message, field_path);
  }

  // Sandbox and volumes (nullopt: go on; a time: stop this sync, retry then).
  bool pod_finished(const json& pod, const ContainersByName& by_name);
  std::optional<TimePoint> sync_sandbox(const json& pod, RuntimePod& rt, bool finished, TimePoint& next);
  std::optional<TimePoint> create_sandbox(const json& pod, RuntimePod& rt);
  std::optional<TimePoint> sync_volumes(const json& pod, TimePoint& next);

  // Containers: init containers in order, then (all done) the others.
  void sync_containers(const json& pod, const ContainersByName& by_name, TimePoint& next);
  bool sync_container(const json& pod, const json& c, bool init, const std::string& field_path,
                      const ContainersByName& by_name, TimePoint& next);
  bool sync_running(const json& pod, const json& c, bool init, const cri::Container& latest, ContainerState& cs,
                    const std::string& field_path, TimePoint& next);
  bool crash_backing_off(const json& pod, const std::string& name, const cri::ContainerStatus* st,
                         ContainerState& cs, const std::string& field_path, TimePoint& next);
  void start_container(const json& pod, const json& c, bool init, uint32_t attempt, ContainerState& cs,
                       const std::string& field_path, TimePoint& next);
  bool pull_backing_off(const json& pod, const json& c, ContainerState& cs, const std::string& field_path);
  Result<cri::ContainerConfig> container_config(const json& pod, const json& c, bool init, uint32_t attempt);
  void prune_old_instances(const std::string& name);
  void fail(ContainerState& cs, const std::string& reason, const std::string& message);
  void run_probes(const json& pod, const json& c, const cri::ContainerStatus& st, ContainerState& cs,
                  const std::string& field_path, TimePoint& next, bool& killed);

  // Status.
  void update_status(const json& pod, const ContainersByName& by_name, TimePoint& next);
  void write_status(const json& pod, const json& status, TimePoint& next);

  // Termination; true when the pod is fully gone from the node (and the API).
  bool terminate(const client::ObjectPtr& pod, bool deleted);
  void stop_container_gracefully(const json& pod, const json& cspec, const std::string& id, const std::string& name,
                                 int64_t grace);
  bool remove_runtime_objects(const std::vector<cri::Sandbox>& sbs, const std::vector<cri::Container>& cts);
  bool delete_from_api(const json& pod);

  PodWorkerEnv& env_;
  const std::string uid_;

  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_:
  client::ObjectPtr desired_;
  bool deleted_ = false;  // gone from the API (or an orphan)
  bool dirty_ = true;
  bool stopping_ = false;
  bool finished_ = false;  // cleaned up; the thread has exited

  // Set before start() (admission), then read-only.
  bool rejected_ = false;
  std::string reject_reason_, reject_message_;

  std::thread thread_;

  // Worker thread only:
  std::map<std::string, ContainerState> cstates_;
  std::string sandbox_id_;
  std::string pod_ip_;
  cri::SandboxConfig sb_cfg_;
  bool volumes_ready_ = false;
  std::map<std::string, HostVolume> volume_paths_;
  TimePoint volumes_refresh_at_{};  // configMap/secret contents are rewritten from then on
  std::string volumes_refresh_error_;
  TimePoint sandbox_retry_at_{};
  std::chrono::milliseconds sandbox_backoff_{0};
  std::optional<json> last_written_;
  int64_t last_written_rv_ = 0;  // resourceVersion our last status write produced (0: none yet)
  std::string start_time_;
  std::map<std::string, cri::ContainerStatus> status_cache_;  // per sync
};

// The workers of this kubelet, by pod UID.
class PodWorkers {
 public:
  explicit PodWorkers(PodWorkerEnv& env) : env_(env) {}

  // An informer add/update: the pod's worker gets the latest spec (created,
  // admitted and started on first sight); wake runs a sync now.
  void dispatch(const client::ObjectPtr& pod, bool wake);
  void on_deleted(const client::ObjectPtr& pod);
  // Wakes the workers of these pod uids (PLEG changes).
  void wake(const std::set<std::string>& uids);
  // Starts a terminating worker for each pod in the runtime (uid → (ns,
  // name)) that has no worker and is not in the (synced) informer.
  void adopt_orphans(const std::map<std::string, std::pair<std::string, std::string>>& pods,
                     client::Informer& informer);
  // Joins and forgets the workers that finished and whose pod left the informer.
  void reap(const std::shared_ptr<client::Informer>& informer);
  // Stops and joins every worker (containers keep running).
  void stop_all();
  size_t active();

 private:
  void admit(const json& pod, PodWorker& w);
  void admit_gpus(const json& pod, PodWorker& w);

  PodWorkerEnv& env_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<PodWorker>> workers_;  // guarded by mu_
};

// The informer index of pods by uid (PodWorkers::reap / adopt_orphans use it).
inline constexpr const char* kUidIndex = "uid";

}  // namespace minik8s::kubelet
