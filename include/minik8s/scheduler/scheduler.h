// Scheduler: binds unscheduled pods to nodes (STYLE.md §4).
//
// A client::Controller (include/minik8s/client/controller.h) on the shared
// Pod and Node informers of a SharedInformerFactory. Its handlers enqueue
// the keys of pending pods (spec.nodeName empty, schedulerName empty or
// "default-scheduler", not terminating); reconcile(key) schedules one pod:
// snapshot → Filter plugins (NodeReady/Unschedulable, NodeResourcesFit,
// NodeSelector, NodeName, TaintToleration, NodePorts, PodAntiAffinity on
// kubernetes.io/hostname) → Score plugin of the policy → assume the pod on
// the node → hand it to a binder thread, which binds through pods/binding
// while the worker goes on. A failed binding is retried with backoff. An
// unschedulable pod gets PodScheduled=False, reason Unschedulable, message
// "0/3 nodes are available: 2 Insufficient cpu, 1 node(s) didn't match Pod's
// node affinity/selector." and a FailedScheduling Event; it is retried when
// nodes or pods change (per-pod backoff) and every 30 s. docs/scheduler.md
// has the details.
//
// Built on a SharedInformerFactory (borrowed, outlives the scheduler) it
// shares the factory's informers with the controllers: start() starts them,
// and the factory's owner stops them after stopping the scheduler. Built on a
// Client it uses a private factory, stopped with it. `clock` (borrowed) is
// what the PodScheduled and Event timestamps, the unschedulable back-off and
// the assumed-pod expiry run on.
//
// Threads: start() spawns the controller's one worker (the scheduling
// cycles), bind_parallelism binder threads and an event thread; stop() joins
// them (idempotent; also in the destructor). A stopped scheduler does not
// start again.
#pragma once

#include <memory>
#include <string>

#include "minik8s/client/client.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/util/status.h"
#include "minik8s/util/time.h"

namespace minik8s::scheduler {

enum class Policy { kLeastAllocated, kRoundRobin, kRandom };
Result<Policy> parse_policy(const std::string& name);  // "least-allocated" | "round-robin" | "random"

struct SchedulerOptions {
  Policy policy = Policy::kLeastAllocated;
  std::string scheduler_name = "default-scheduler";
  uint64_t random_seed = 0;  // 0 = from the clock
  // Bindings in flight at once: the worker assumes a pod on its node and
  // goes on with the next pod while a binder thread POSTs pods/binding
  // (kube-scheduler binds in a goroutine per pod).
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
  double cycle_seconds = 0;     // the worker's time in cycles (filter, score, assume)
  double bind_seconds = 0;      // summed binding round-trips (concurrent ones overlap)
};

// start(), stop() and metrics() (controller="scheduler") come from the
// client::ControllerHandle; stop() also stops the binders and the event
// thread.
class Scheduler : public client::ControllerHandle {
 public:
  Scheduler(client::Client& client, SchedulerOptions options);
  Scheduler(client::SharedInformerFactory& factory, SchedulerOptions options, Clock& clock = real_clock());
  SchedulerStats stats() const;

 private:
  struct Impl;
};

}  // namespace minik8s::scheduler
