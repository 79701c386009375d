// Scheduler framework (internal to mk_scheduler): a snapshot of nodes and the
// pods bound to each, Filter plugins (pod, node, snapshot) → FilterStatus and
// Score plugins (pod, node) → int64 chosen by policy (STYLE.md §4,
// kube-scheduler framework/interface.go).
//
// Everything here is pure over its inputs (JSON objects in the wire shape) and
// never throws on malformed objects: a missing or mistyped field reads as
// absent. Plugins are stateless except the round-robin and random score
// plugins, which keep a counter / generator (not thread-safe; the scheduler
// calls them from its one scheduling thread).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/scheduler/scheduler.h"

namespace minik8s::scheduler {

using ObjectPtr = std::shared_ptr<const api::Json>;

inline constexpr const char* kGpuResource = "nvidia.com/gpu";
inline constexpr const char* kHostnameLabel = "kubernetes.io/hostname";

// Requests of one pod (or the sum over pods). cpu in millicores, memory in bytes.
struct Resources {
  int64_t cpu_milli = 0;
  int64_t memory = 0;
  int64_t gpu = 0;
  int64_t pods = 0;
  Resources& operator+=(const Resources& o) {
    cpu_milli += o.cpu_milli;
    memory += o.memory;
    gpu += o.gpu;
    pods += o.pods;
    return *this;
  }
};

// sum(containers) then max with each init container, plus spec.overhead;
// requests default to limits when only limits are given. pods = 1.
Resources pod_requests(const api::Json& pod);
// Like pod_requests, but a container without a cpu/memory request counts as
// 100m / 200Mi (kube-scheduler's non-zero defaults), so that least-allocated
// spreads pods that request nothing.
Resources pod_requests_non_zero(const api::Json& pod);
// status.allocatable (falling back to status.capacity); pods default 110.
Resources node_allocatable(const api::Json& node);

struct HostPort {
  std::string protocol;  // "TCP" when unset
  std::string ip;        // "0.0.0.0" when unset
  int port = 0;
  auto operator<=>(const HostPort&) const = default;
};
std::vector<HostPort> pod_host_ports(const api::Json& pod);

// True when the pod is bound and not finished (phase not Succeeded/Failed):
// it holds its node's resources.
bool pod_holds_resources(const api::Json& pod);

// What the filters need of a bound pod, computed once per pod object.
struct PodInfo {
  ObjectPtr pod;
  Resources requests;
  Resources requests_non_zero;
  std::vector<HostPort> host_ports;
  bool has_required_anti_affinity = false;
  static std::shared_ptr<const PodInfo> make(ObjectPtr pod);
};
using PodInfoPtr = std::shared_ptr<const PodInfo>;

struct NodeInfo {
  std::string name;
  ObjectPtr node;
  std::vector<ObjectPtr> pods;  // bound, holding resources (assumed pods included)
  std::vector<ObjectPtr> pods_with_required_anti_affinity;  // subset of pods
  Resources allocatable;
  Resources requested;          // sum of pod_requests over pods
  Resources requested_non_zero; // sum of pod_requests_non_zero over pods
  std::vector<HostPort> used_ports;

  explicit NodeInfo(ObjectPtr n);
  void add_pod(ObjectPtr pod);
  void add_pod(const PodInfo& info);
  // The node's value for a topology key ("" when unlabeled; the node name for
  // kubernetes.io/hostname on an unlabeled node).
  std::string topology_value(const std::string& key) const;
};

// Nodes sorted by name, each with its pods.
struct Snapshot {
  std::vector<NodeInfo> nodes;
  const NodeInfo* find(const std::string& name) const;
};

// Empty reasons = the node fits. Several reasons may be reported by one
// plugin (NodeResourcesFit: "Insufficient cpu", "Insufficient memory").
struct FilterStatus {
  std::vector<std::string> reasons;
  bool fits() const { return reasons.empty(); }
  static FilterStatus ok() { return {}; }
  static FilterStatus fail(std::string reason) { return FilterStatus{{std::move(reason)}}; }
};

class FilterPlugin {
 public:
  virtual ~FilterPlugin() = default;
  virtual const char* name() const = 0;
  virtual FilterStatus filter(const api::Json& pod, const NodeInfo& node, const Snapshot& snapshot) const = 0;
};

class ScorePlugin {
 public:
  virtual ~ScorePlugin() = default;
  virtual const char* name() const = 0;
  // Called once per scheduling cycle with the feasible nodes (sorted by name)
  // before score() is asked about each of them.
  virtual void pre_score(const api::Json& pod, const std::vector<const NodeInfo*>& feasible) {
    (void)pod;
    (void)feasible;
  }
  // Higher is better; ties go to the node whose name sorts first.
  virtual int64_t score(const api::Json& pod, const NodeInfo& node) = 0;
};

// The filters in kube-scheduler order: NodeUnschedulable (Ready + cordon),
// NodeName, NodePorts, NodeAffinity (nodeSelector + required node affinity),
// TaintToleration, NodeResourcesFit, InterPodAffinity.
std::vector<std::unique_ptr<FilterPlugin>> default_filters();
std::unique_ptr<ScorePlugin> make_score_plugin(Policy policy, uint64_t seed);

// Individual plugins (for tests).
std::unique_ptr<FilterPlugin> make_node_ready_filter();
std::unique_ptr<FilterPlugin> make_node_name_filter();
std::unique_ptr<FilterPlugin> make_node_ports_filter();
std::unique_ptr<FilterPlugin> make_node_affinity_filter();
std::unique_ptr<FilterPlugin> make_taint_toleration_filter();
std::unique_ptr<FilterPlugin> make_resources_fit_filter();
std::unique_ptr<FilterPlugin> make_inter_pod_affinity_filter();

// Helpers shared by plugins and tests.
bool tolerates(const api::Json& pod, const api::Json& taint);
bool node_matches_selector_and_affinity(const api::Json& pod, const api::Json& node);

// The outcome of one scheduling cycle.
struct ScheduleResult {
  std::string node;                      // "" when nothing fits
  std::map<std::string, int> reasons;    // reason → number of nodes it failed
  size_t num_nodes = 0;
  // "0/3 nodes are available: 1 Insufficient memory, 2 Insufficient cpu."
  std::string fit_error() const;
};

// Runs the filters over every node of the snapshot (first failing plugin
// decides a node's reasons, as kube-scheduler does), then the score plugin
// over the feasible ones.
ScheduleResult schedule_one(const api::Json& pod, const Snapshot& snapshot,
                            const std::vector<std::unique_ptr<FilterPlugin>>& filters, ScorePlugin& score);

}  // namespace minik8s::scheduler
