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
//
// Cost model (1,000 nodes, thousands of pods per second): what a plugin needs
// of the pod is computed once per cycle into a CycleState (kube-scheduler's
// PreFilter), what it needs of a node once per node change into its NodeInfo,
// so the per-node Filter/Score calls are arithmetic and flag checks; the
// scheduler keeps one Snapshot and updates it incrementally.
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

// Requests of one pod (or the sum over pods). cpu in millicores, memory in
// bytes, extended resources (api::is_extended_resource_name, e.g.
// nvidia.com/gpu) in whole units by name — empty for most pods, so the
// common case costs no allocation.
struct Resources {
  int64_t cpu_milli = 0;
  int64_t memory = 0;
  int64_t pods = 0;
  std::map<std::string, int64_t> extended;
  Resources& operator+=(const Resources& o) {
    cpu_milli += o.cpu_milli;
    memory += o.memory;
    pods += o.pods;
    for (const auto& [name, n] : o.extended) extended[name] += n;
    return *this;
  }
  int64_t ext(const std::string& name) const {
    auto it = extended.find(name);
    return it == extended.end() ? 0 : it->second;
  }
};

// sum(containers) then max with each init container, plus spec.overhead;
// requests default to limits when only limits are given (for extended
// resources the API makes them equal). pods = 1.
Resources pod_requests(const api::Json& pod);
// Like pod_requests, but a container without a cpu/memory request counts as
// 100m / 200Mi (kube-scheduler's non-zero defaults), so that least-allocated
// spreads pods that request nothing.
Resources pod_requests_non_zero(const api::Json& pod);
// status.allocatable (falling back to status.capacity); pods default 110;
// every extended resource the node lists (a node without one has 0).
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
  // Derived from node (set_node): the Ready condition's status ("True",
  // "False", "Unknown"; "" when absent), spec.unschedulable, spec.taints
  // non-empty.
  std::string ready;
  bool unschedulable = false;
  bool has_taints = false;
  std::vector<ObjectPtr> pods;  // bound, holding resources (assumed pods included)
  std::vector<ObjectPtr> pods_with_required_anti_affinity;  // subset of pods
  Resources allocatable;
  Resources requested;          // sum of pod_requests over pods
  Resources requested_non_zero; // sum of pod_requests_non_zero over pods
  std::vector<HostPort> used_ports;

  explicit NodeInfo(ObjectPtr n);
  // A new version of the same node (status heartbeat, labels, taints): keeps
  // the pods, recomputes what is derived from the node object.
  void set_node(ObjectPtr n);
  void add_pod(ObjectPtr pod);
  void add_pod(const PodInfo& info);
  // Undoes add_pod(info) (the same info.pod pointer); false if not there.
  bool remove_pod(const PodInfo& info);
  // The node's value for a topology key ("" when unlabeled; the node name for
  // kubernetes.io/hostname on an unlabeled node).
  std::string topology_value(const std::string& key) const;
};

// Nodes sorted by name, each with its pods.
struct Snapshot {
  std::vector<NodeInfo> nodes;
  const NodeInfo* find(const std::string& name) const;
  NodeInfo* find(const std::string& name);
};

// What the filters and scores need of the pod being scheduled, computed once
// per scheduling cycle (kube-scheduler's CycleState / PreFilter).
struct CycleState {
  const api::Json* pod = nullptr;  // borrowed for the cycle
  Resources requests;
  Resources requests_non_zero;
  std::vector<HostPort> host_ports;
  std::string node_name;          // spec.nodeName asked for ("" = any)
  bool has_node_constraints = false;  // nodeSelector or required node affinity
  // The InterPodAffinity filter has work: the pod has required (anti-)affinity
  // terms, or some pod in the snapshot has required anti-affinity.
  bool inter_pod_relevant = false;
  static CycleState make(const api::Json& pod, const Snapshot& snapshot);
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
  virtual FilterStatus filter(const CycleState& state, const NodeInfo& node, const Snapshot& snapshot) const = 0;
  // Convenience for one-off calls (tests): builds the CycleState first.
  FilterStatus filter(const api::Json& pod, const NodeInfo& node, const Snapshot& snapshot) const {
    return filter(CycleState::make(pod, snapshot), node, snapshot);
  }
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
  // The scheduling cycle's entry point; plugins that need the pod's requests
  // read them from the state instead of parsing the pod per node.
  virtual int64_t score_with(const CycleState& state, const NodeInfo& node) { return score(*state.pod, node); }
  // Whether scoring a subset of the feasible nodes keeps the policy's meaning
  // (least-allocated: yes; round-robin and random pick over all of them).
  virtual bool allows_partial_scoring() const { return false; }
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

// kube-scheduler's numFeasibleNodesToFind: all nodes below 100 or at
// percentage >= 100; else percentage (0 = adaptive: max(5, 50 - nodes/125))
// of them, at least 100.
size_t num_feasible_nodes_to_find(size_t num_nodes, int percentage);

struct ScheduleOptions {
  // Stop filtering once this many feasible nodes were found (0 = all). Only
  // applied when the score plugin allows_partial_scoring().
  size_t feasible_to_find = 0;
  // Where the search starts (kube-scheduler's nextStartNodeIndex): successive
  // cycles look at different nodes first. Updated by schedule_one.
  size_t* next_start_index = nullptr;
};

// Runs the filters over the nodes of the snapshot (first failing plugin
// decides a node's reasons, as kube-scheduler does), then the score plugin
// over the feasible ones. When nothing fits, every node was filtered, so the
// reasons are complete.
ScheduleResult schedule_one(const api::Json& pod, const Snapshot& snapshot,
                            const std::vector<std::unique_ptr<FilterPlugin>>& filters, ScorePlugin& score);
ScheduleResult schedule_one(const CycleState& state, const Snapshot& snapshot,
                            const std::vector<std::unique_ptr<FilterPlugin>>& filters, ScorePlugin& score,
                            const ScheduleOptions& options);

}  // namespace minik8s::scheduler
