// Status manager: the pod status (phase, conditions, container statuses) as
// a pure function of
//   - the pod (spec; its status as last written, for lastTransitionTime),
//   - the runtime's view of the pod's containers (CRI list + status),
//   - what the pod worker knows beyond the runtime (a waiting reason after a
//     failed pull or create, a requested restart, probe results),
//   - the node/pod addresses and the clock,
// so that it is unit-testable without a runtime or an API server
// (status_manager_test.cc). Writing the status is the pod worker's job
// (pod_workers.cc: only when it changed).
//
// Shape follows the kubelet's getPhase / generateAPIPodStatus: containers
// waiting (ContainerCreating, PodInitializing, or the worker's reason) /
// running / terminated with lastState from the previous instance; phase
// Pending / Running / Succeeded / Failed; conditions Initialized, Ready,
// ContainersReady, PodScheduled. Thread-safe (no state).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "minik8s/cri/runtime.h"
#include "minik8s/util/time.h"
#include "pod_util.h"

namespace minik8s::kubelet {

// What the pod worker knows of one container that the runtime does not.
struct ContainerView {
  std::string waiting_reason;  // ErrImagePull, CrashLoopBackOff, ... ("" = none)
  std::string waiting_message;
  bool restart_requested = false;  // spec changed / probe kill: restarts whatever the policy
  // Probe results, valid for the instance probe_cid only.
  std::string probe_cid;
  bool started = false;
  bool ready = false;
};

// The runtime's view of one pod, plus the worker's per-container view.
struct PodRuntimeState {
  ContainersByName containers;  // by container name, newest first
  // CRI status by container id; at least of the ids status_ids_needed names
  // (an id missing here reads as a status the runtime could not give).
  std::map<std::string, cri::ContainerStatus> statuses;
  std::map<std::string, ContainerView> views;  // by container name; missing = nothing known
};

struct StatusContext {
  std::string node_ip;       // hostIP
  std::string pod_ip;        // the sandbox's IP ("" = none yet)
  bool host_network = false; // podIP = node_ip
  std::string start_time;    // status.startTime
  // The status last written (conditions keep their lastTransitionTime while
  // their status stays); null or {} = none.
  json previous;
  SysTime now;
};

// The ids compute_status reads a CRI status of: the newest two instances of
// each container of the spec (the latest, and the previous one for
// lastState).
std::vector<std::string> status_ids_needed(const json& pod, const ContainersByName& containers);

// status of the pod (what pods/status gets).
json compute_status(const json& pod, const PodRuntimeState& rt, const StatusContext& ctx);

// The parts of it that compute_status builds on, exposed for tests.
struct ContainerProgress {
  bool init_done = true;    // every init container succeeded
  bool init_failed = false; // an init container failed and will not run again
};
// One entry of containerStatuses / initContainerStatuses. blocked: init
// containers have not finished (a regular container waits PodInitializing).
json container_status(const json& c, bool init, bool blocked, const std::string& policy, const PodRuntimeState& rt,
                      SysTime now, ContainerProgress& progress);
// The kubelet's getPhase over the regular containers' statuses.
std::string pod_phase(const json& statuses, const ContainerProgress& progress, const std::string& policy);
// Initialized, Ready, ContainersReady, PodScheduled (kept True if it was).
json pod_conditions(const json& statuses, const json& init_statuses, const std::string& phase, const json& previous,
                    SysTime now);

// The status of a pod refused at admission (phase Failed; e.g. OutOfpods).
json rejected_status(const json& pod, const std::string& reason, const std::string& message);
// The parts of a pod status others act on: phase, podIP and each
// condition's status (the endpoints controller reads Ready).
json status_essence(const json& status);

}  // namespace minik8s::kubelet
