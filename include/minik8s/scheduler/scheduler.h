// Scheduler: binds unscheduled pods to nodes (STYLE.md §4).
//
// Informers on nodes and pods; a queue of pending pods (spec.nodeName empty,
// schedulerName empty or "default-scheduler", not terminating). For each pod:
// snapshot → Filter plugins (NodeReady/Unschedulable, NodeResourcesFit,
// NodeSelector, NodeName, TaintToleration, NodePorts, PodAntiAffinity on
// kubernetes.io/hostname) → Score plugin of the policy → bind through
// pods/binding. An unschedulable pod gets PodScheduled=False, reason
// Unschedulable, message "0/3 nodes are available: 2 Insufficient cpu, 1
// node(s) didn't match Pod's node affinity/selector." and a FailedScheduling
// Event; it is retried when nodes or pods change.
// Threads: start() spawns the informers, one scheduling thread,
// bind_parallelism binder threads and an event thread; stop() joins them.
#pragma once

#include <memory>
#include <string>

#include "minik8s/client/client.h"
#include "minik8s/util/status.h"

namespace minik8s::scheduler {

enum class Policy { kLeastAllocated, kRoundRobin, kRandom };
Result<Policy> parse_policy(const std::string& name);  // "least-allocated" | "round-robin" | "random"

struct SchedulerOptions {
  Policy policy = Policy::kLeastAllocated;
  std::string scheduler_name = "default-scheduler";
  uint64_t random_seed = 0;  // 0 = from the clock
  // Bindings in flight at once: the scheduling thread assumes a pod on its
  // node and goes on with the next pod while a binder thread POSTs
  // pods/binding (kube-scheduler binds in a goroutine per pod).
  int bind_parallelism = 6;
  // kube-scheduler's percentageOfNodesToScore: stop filtering once this many
  // percent of the nodes were found feasible (at least 100 nodes; all nodes in
  // clusters of up to 100). 0 = adaptive: max(5, 50 - nodes/125) percent.
  // 100 = always filter and score every node.
  int percentage_of_nodes_to_score = 0;
};

// Counters since construction (benchmarks, logs). Read with stats(), any thread.
struct SchedulerStats {
  uint64_t cycles = 0;          // scheduling cycles run (a pod taken from the queue and placed or not)
  uint64_t unschedulable = 0;   // cycles that found no node
  uint64_t bound = 0;           // bindings the API server accepted
  uint64_t bind_failures = 0;
  uint64_t events_dropped = 0;  // Events not sent because 1,000 were queued
  double cycle_seconds = 0;     // scheduling-thread time in cycles (snapshot update, filter, score, assume)
  double bind_seconds = 0;      // summed binding round-trips (concurrent ones overlap)
};

class Scheduler {
 public:
  Scheduler(client::Client& client, SchedulerOptions options);
  ~Scheduler();
  Status start();
  void stop();
  SchedulerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace minik8s::scheduler
