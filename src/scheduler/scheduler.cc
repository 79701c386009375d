// Scheduler: a client::Controller (docs/controllers.md "How to write a
// controller") over the shared Pod and Node informers with one worker,
// binder threads and an event-recorder thread, so that neither bindings nor
// Events delay the next scheduling cycle.
//
// Handlers enqueue the keys of pods to schedule; reconcile(key) schedules one
// pod on one Snapshot (nodes sorted by name, each with its pods' summed
// requests) and a cache key → pod entry, updated incrementally: the informer
// handlers also record the latest change per node or pod under delta_mu
// (coalesced, so an idle scheduler holds at most one entry per object), and
// each cycle applies the pending changes first. A scheduled pod is assumed on
// its node in that cache at once (so the next cycle counts it) and handed to
// one of bind_parallelism binder threads, which POSTs pods/binding while the
// worker goes on with the next pod (binding inside the reconcile, on several
// workers, measured ~10 % slower: docs/scheduler.md). A failed binding
// forgets the assumption (a delta) and re-enqueues the key after its
// backoff; the informer's view of the bound pod replaces the assumed entry.
#include "minik8s/scheduler/scheduler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <unordered_map>

#include "framework.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/informer.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/client/work_queue.h"
#include "minik8s/util/time.h"

namespace minik8s::scheduler {

using api::Json;
using client::ObjectPtr;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr auto kBindRetryBase = 10ms;  // failed bindings: the key's backoff
constexpr auto kBindRetryMax = 5s;
constexpr auto kRetryBase = 100ms;     // unschedulable pods after a cluster change
constexpr auto kRetryMax = 2000ms;
constexpr auto kPeriodicRetry = 30s;
constexpr auto kEventRepeat = 60s;
constexpr auto kAssumedExpiry = 30s;
constexpr auto kExpiryCheck = 1s;

using api::field;
using api::sfield;
std::string node_name_of(const Json& pod) { return sfield(field(pod, "spec"), "nodeName"); }

bool node_ready_status(const Json& node) {
  const Json& conds = field(field(node, "status"), "conditions");
  if (!conds.is_array()) return false;
  for (const auto& c : conds) {
    if (sfield(c, "type") == "Ready") return sfield(c, "status") == "True";
  }
  return false;
}

// A node change that can make an unschedulable pod fit (heartbeats can't).
bool node_changed_for_scheduling(const Json& a, const Json& b) {
  return field(a, "spec") != field(b, "spec") ||
         field(field(a, "metadata"), "labels") != field(field(b, "metadata"), "labels") ||
         field(field(a, "status"), "allocatable") != field(field(b, "status"), "allocatable") ||
         field(field(a, "status"), "capacity") != field(field(b, "status"), "capacity") ||
         node_ready_status(a) != node_ready_status(b);
}

}  // namespace

struct Scheduler::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, SchedulerOptions o, Clock& clk)
      : client::Controller(f, {"scheduler", 1, kBindRetryBase, kBindRetryMax}, clk),
        client(f.client()),
        opts(std::move(o)) {}
  ~Impl() override { stop(); }

  // After the worker (no handler runs after it): the binders (a binding in
  // flight finishes, queued ones are dropped), then the event thread, which
  // drops the Events still queued.
  void on_stopped() override {
    stop_binders();
    stop_events();
  }

  client::Client& client;
  const SchedulerOptions opts;
  const api::ResourceType* pods_type = nullptr;
  const api::ResourceType* nodes_type = nullptr;
  const api::ResourceType* events_type = nullptr;
  // Shared informers, owned by the factory.
  client::Informer* nodes = nullptr;
  client::Informer* pods = nullptr;
  Status setup() override;

  // Held by the worker for one scheduling cycle (uncontended: one worker; it
  // makes the ownership of the state below explicit).
  std::mutex sched_mu;
  // Guarded by sched_mu:
  std::vector<std::unique_ptr<FilterPlugin>> filters;
  std::unique_ptr<ScorePlugin> score;
  Snapshot snap;
  struct CachedPod {
    std::string node;
    PodInfoPtr info;
    bool assumed = false;
  };
  std::unordered_map<std::string, CachedPod> cached_pods;  // key → the pod counted on its node
  size_t next_start_index = 0;
  std::chrono::steady_clock::time_point last_expiry;  // clock().monotonic()

  // Changes recorded by the informer handlers and failed bindings, applied at
  // the start of each cycle. Latest state per object.
  struct PodDelta {
    enum Op { kNone, kBound, kUnbound, kDeleted };
    bool forget = false;  // a binding failed: drop the entry if still assumed
    Op op = kNone;
    ObjectPtr pod;        // kBound: the pod as the informer has it
  };
  std::mutex delta_mu;
  // Guarded by delta_mu:
  std::unordered_map<std::string, ObjectPtr> node_deltas;  // name → node (null: deleted)
  std::unordered_map<std::string, PodDelta> pod_deltas;

  struct BindTask {
    std::string key;
    ObjectPtr pod;
    std::string node;
    SteadyClock::time_point t0;
  };
  std::mutex bind_mu;
  std::condition_variable_any bind_cv;
  std::deque<BindTask> bind_tasks;  // guarded by bind_mu
  std::vector<std::jthread> binders;
  // Failed bindings' retry delays per key (thread-safe).
  client::ExponentialBackoff bind_backoff{kBindRetryBase, kBindRetryMax};

  // Times on clock().monotonic().
  struct Assumed {
    SteadyClock::time_point at;
  };
  struct Unschedulable {
    int attempts = 0;
    SteadyClock::time_point last_attempt;
    std::optional<SteadyClock::time_point> retry_at;
    std::string message;
    std::optional<SteadyClock::time_point> last_event;
  };
  std::mutex mu;
  // Guarded by mu:
  std::map<std::string, Assumed> assumed;
  std::map<std::string, Unschedulable> unschedulable;

  std::mutex events_mu;
  std::condition_variable_any events_cv;
  // Guarded by events_mu:
  std::deque<Json> events;

  std::atomic<uint64_t> event_seq{0};
  // Counters (stats()).
  std::atomic<uint64_t> n_cycles{0}, n_unschedulable{0}, n_bound{0}, n_bind_failures{0}, n_events_dropped{0};
  std::atomic<int64_t> cycle_ns{0}, bind_ns{0};
  std::jthread event_thread;  // last: stopped before the state it reads goes

  bool responsible_for(const Json& pod) const {
    std::string sn = sfield(field(pod, "spec"), "schedulerName");
    return sn.empty() || sn == opts.scheduler_name;
  }
  bool needs_scheduling(const Json& pod) const {
    if (!node_name_of(pod).empty()) return false;
    if (!responsible_for(pod)) return false;
    if (!field(field(pod, "metadata"), "deletionTimestamp").is_null()) return false;
    std::string phase = sfield(field(pod, "status"), "phase");
    return phase != "Succeeded" && phase != "Failed";
  }

  // ---- event handlers (informer threads): enqueue keys and record the
  // change for the snapshot (applied by the next cycle).

  void record_node(const std::string& name, ObjectPtr node) {
    std::lock_guard l(delta_mu);
    node_deltas[name] = std::move(node);
  }
  // The pod as the cache should count it: bound and holding resources, or not.
  void record_pod(const ObjectPtr& pod, bool deleted) {
    std::string key = client::object_key(*pod);
    std::lock_guard l(delta_mu);
    PodDelta& d = pod_deltas[key];
    if (deleted) {
      d.op = PodDelta::kDeleted;
      d.pod = nullptr;
    } else if (pod_holds_resources(*pod)) {
      d.op = PodDelta::kBound;
      d.pod = pod;
    } else {
      d.op = PodDelta::kUnbound;
      d.pod = nullptr;
    }
  }
  void record_forget(const std::string& key) {
    std::lock_guard l(delta_mu);
    pod_deltas[key].forget = true;
  }

  void on_pod_add(const ObjectPtr& pod) {
    record_pod(pod, false);
    if (needs_scheduling(*pod)) {
      enqueue(client::object_key(*pod));
    } else if (!node_name_of(*pod).empty()) {
      on_cluster_change();
    }
  }

  void on_pod_update(const ObjectPtr& old_pod, const ObjectPtr& pod) {
    record_pod(pod, false);
    std::string key = client::object_key(*pod);
    if (!node_name_of(*pod).empty()) {
      {
        std::lock_guard l(mu);
        assumed.erase(key);
        unschedulable.erase(key);
      }
      // A newly bound pod, a finished one or a relabelled one changes what fits.
      if (node_name_of(*old_pod).empty() ||
          sfield(field(*old_pod, "status"), "phase") != sfield(field(*pod, "status"), "phase") ||
          field(field(*old_pod, "metadata"), "labels") != field(field(*pod, "metadata"), "labels") ||
          (field(field(*old_pod, "metadata"), "deletionTimestamp").is_null() !=
           field(field(*pod, "metadata"), "deletionTimestamp").is_null())) {
        on_cluster_change();
      }
      return;
    }
    if (!needs_scheduling(*pod)) return;
    bool known_unschedulable;
    {
      std::lock_guard l(mu);
      known_unschedulable = unschedulable.count(key) > 0;
    }
    // Our own status write (PodScheduled=False) must not loop back.
    if (!known_unschedulable || field(*old_pod, "spec") != field(*pod, "spec") ||
        field(field(*old_pod, "metadata"), "labels") != field(field(*pod, "metadata"), "labels")) {
      enqueue(key);
    }
  }

  void on_pod_delete(const ObjectPtr& pod) {
    record_pod(pod, true);
    std::string key = client::object_key(*pod);
    bool was_bound = !node_name_of(*pod).empty();
    {
      std::lock_guard l(mu);
      if (assumed.erase(key) > 0) was_bound = true;
      unschedulable.erase(key);
    }
    bind_backoff.forget(key);
    if (was_bound) on_cluster_change();
  }

  // Retries every unschedulable pod, each no sooner than its backoff allows.
  void on_cluster_change() {
    auto now = clock().monotonic();
    std::vector<std::pair<std::string, SteadyClock::duration>> todo;
    {
      std::lock_guard l(mu);
      for (auto& [key, u] : unschedulable) {
        auto backoff = kRetryBase * (1LL << std::min(u.attempts > 0 ? u.attempts - 1 : 0, 10));
        if (backoff > kRetryMax) backoff = kRetryMax;
        auto want = u.last_attempt + backoff;
        if (want < now) want = now;
        if (u.retry_at && *u.retry_at <= want) continue;  // already coming sooner
        u.retry_at = want;
        todo.emplace_back(key, want - now);
      }
    }
    for (auto& [key, delay] : todo) {
      if (delay <= SteadyClock::duration::zero()) {
        enqueue(key);
      } else {
        enqueue_after(key, std::chrono::duration_cast<std::chrono::nanoseconds>(delay));
      }
    }
  }

  // ---- reconcile (the worker): one pod, scheduled under sched_mu, then
  // handed to a binder (or marked unschedulable).

  struct Decision {
    enum Kind { kNothing, kBind, kUnschedulable } kind = kNothing;
    ObjectPtr pod;
    std::string node;     // kBind
    std::string message;  // kUnschedulable
  };

  client::ReconcileResult reconcile(const std::string& key) override {
    auto t0 = SteadyClock::now();
    Decision d;
    {
      std::lock_guard l(sched_mu);
      apply_deltas();
      auto now = clock().monotonic();
      if (now - last_expiry > kExpiryCheck) {
        expire_assumed();
        last_expiry = now;
      }
      auto c0 = SteadyClock::now();
      d = schedule_key(key);
      cycle_ns.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - c0).count());
    }
    switch (d.kind) {
      case Decision::kNothing:
        return client::ReconcileResult::done();
      case Decision::kUnschedulable:
        handle_unschedulable(key, d.pod, d.message);
        return client::ReconcileResult::requeue_after(kPeriodicRetry);
      case Decision::kBind:
        break;
    }
    {
      std::lock_guard l(bind_mu);
      bind_tasks.push_back(BindTask{key, d.pod, d.node, t0});
    }
    bind_cv.notify_one();
    return client::ReconcileResult::done();
  }

  void run_binder(std::stop_token stop) {
    while (true) {
      BindTask task;
      {
        std::unique_lock l(bind_mu);
        bind_cv.wait(l, stop, [&] { return !bind_tasks.empty(); });
        if (stop.stop_requested()) return;  // tasks still queued are dropped
        task = std::move(bind_tasks.front());
        bind_tasks.pop_front();
      }
      bind(task.key, task.pod, task.node, task.t0);
    }
  }

  void stop_binders() {
    for (auto& b : binders) b.request_stop();
    for (auto& b : binders) {
      if (b.joinable()) b.join();
    }
    binders.clear();
  }

  // ---- the scheduler's cache (under sched_mu).

  void cache_remove(const std::string& key) {
    auto it = cached_pods.find(key);
    if (it == cached_pods.end()) return;
    if (NodeInfo* ni = snap.find(it->second.node)) ni->remove_pod(*it->second.info);
    cached_pods.erase(it);
  }
  void cache_add(const std::string& key, std::string node, PodInfoPtr info, bool is_assumed) {
    cache_remove(key);
    if (NodeInfo* ni = snap.find(node)) ni->add_pod(*info);
    cached_pods[key] = CachedPod{std::move(node), std::move(info), is_assumed};
  }

  void apply_deltas() {
    std::unordered_map<std::string, ObjectPtr> nds;
    std::unordered_map<std::string, PodDelta> pds;
    {
      std::lock_guard l(delta_mu);
      nds.swap(node_deltas);
      pds.swap(pod_deltas);
    }
    for (auto& [name, node] : nds) {
      auto it = std::lower_bound(snap.nodes.begin(), snap.nodes.end(), name,
                                 [](const NodeInfo& n, const std::string& v) { return n.name < v; });
      bool exists = it != snap.nodes.end() && it->name == name;
      if (!node) {
        if (exists) snap.nodes.erase(it);
        continue;
      }
      if (exists) {
        it->set_node(std::move(node));
        continue;
      }
      NodeInfo& ni = *snap.nodes.emplace(it, std::move(node));
      for (const auto& [key, cp] : cached_pods) {
        if (cp.node == name) ni.add_pod(*cp.info);
      }
    }
    for (auto& [key, d] : pds) {
      if (d.forget) {
        auto it = cached_pods.find(key);
        if (it != cached_pods.end() && it->second.assumed) cache_remove(key);
      }
      switch (d.op) {
        case PodDelta::kNone:
          break;
        case PodDelta::kBound: {
          auto it = cached_pods.find(key);
          if (it != cached_pods.end() && !it->second.assumed && it->second.info->pod == d.pod) break;
          cache_add(key, node_name_of(*d.pod), PodInfo::make(d.pod), false);
          break;
        }
        case PodDelta::kUnbound: {
          // A pending pod's update must not drop its assumption (binding in flight).
          auto it = cached_pods.find(key);
          if (it != cached_pods.end() && !it->second.assumed) cache_remove(key);
          break;
        }
        case PodDelta::kDeleted:
          cache_remove(key);
          break;
      }
    }
  }

  // Assumptions whose binding outcome never showed up (should not happen:
  // a failed binding always forgets its own; a safety net as in kube-scheduler).
  void expire_assumed() {
    auto now = clock().monotonic();
    std::vector<std::string> expired;
    {
      std::lock_guard l(mu);
      for (auto it = assumed.begin(); it != assumed.end();) {
        if (now - it->second.at > kAssumedExpiry) {
          expired.push_back(it->first);
          it = assumed.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (const auto& key : expired) {
      auto it = cached_pods.find(key);
      if (it != cached_pods.end() && it->second.assumed) cache_remove(key);
    }
  }

  // Filter, score, assume (under sched_mu).
  Decision schedule_key(const std::string& key) {
    Decision d;
    ObjectPtr pod = pods->indexer().get(key);
    {
      std::lock_guard l(mu);
      auto u = unschedulable.find(key);
      if (u != unschedulable.end()) u->second.retry_at.reset();
      if (!pod || !needs_scheduling(*pod)) {
        unschedulable.erase(key);
        return d;
      }
      if (assumed.count(key)) return d;  // bound already; the informer has not caught up
    }
    CycleState state = CycleState::make(*pod, snap);
    ScheduleOptions so;
    so.feasible_to_find = num_feasible_nodes_to_find(snap.nodes.size(), opts.percentage_of_nodes_to_score);
    so.next_start_index = &next_start_index;
    ScheduleResult res = schedule_one(state, snap, filters, *score, so);
    n_cycles.fetch_add(1);
    d.pod = pod;
    if (res.node.empty()) {
      n_unschedulable.fetch_add(1);
      d.kind = Decision::kUnschedulable;
      d.message = res.fit_error();
      return d;
    }
    // Assume: count the pod on its node from the next cycle on.
    auto info = std::make_shared<PodInfo>();
    info->pod = pod;
    info->requests = state.requests;
    info->requests_non_zero = state.requests_non_zero;
    info->host_ports = std::move(state.host_ports);
    const Json& anti = field(field(field(field(*pod, "spec"), "affinity"), "podAntiAffinity"),
                             "requiredDuringSchedulingIgnoredDuringExecution");
    info->has_required_anti_affinity = anti.is_array() && !anti.empty();
    cache_add(key, res.node, std::move(info), true);
    {
      std::lock_guard l(mu);
      assumed[key] = Assumed{clock().monotonic()};
    }
    d.kind = Decision::kBind;
    d.node = res.node;
    return d;
  }

  // Binder threads: POST pods/binding; on failure forget the assumption. A
  // conflict or not-found drops the key; other errors re-enqueue it after the
  // key's backoff.
  void bind(const std::string& key, const ObjectPtr& pod, const std::string& node, SteadyClock::time_point t0) {
    const Json& meta = field(*pod, "metadata");
    std::string ns = sfield(meta, "namespace"), name = sfield(meta, "name");
    Json binding = {{"apiVersion", "v1"},
                    {"kind", "Binding"},
                    {"metadata", {{"name", name}, {"namespace", ns}}},
                    {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}};
    if (!sfield(meta, "uid").empty()) binding["metadata"]["uid"] = sfield(meta, "uid");
    Status st;
    auto bind_start = SteadyClock::now();
    auto resp = client.rest().request("POST", client::Client::path(*pods_type, ns, name, "binding"), binding.dump());
    st = resp ? client::check_response(*resp) : resp.status();
    bind_ns.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - bind_start).count());
    if (!st.is_ok()) {
      n_bind_failures.fetch_add(1);
      // Forget before the key may be scheduled again: a cycle that sees the
      // key no longer in flight has applied the forget first.
      record_forget(key);
      {
        std::lock_guard l(mu);
        assumed.erase(key);
      }
      on_cluster_change();  // what it held on the node is free again
      if (st.code() == Code::kConflict || st.code() == Code::kNotFound) {
        spdlog::debug("scheduler: dropping {}: {}", key, st.message());
        bind_backoff.forget(key);
      } else {
        spdlog::warn("scheduler: binding {} to {}: {}", key, node, st.to_string());
        enqueue_after(key, bind_backoff.when(key));
      }
      return;
    }
    n_bound.fetch_add(1);
    bind_backoff.forget(key);
    {
      std::lock_guard l(mu);
      unschedulable.erase(key);
    }
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - t0).count();
    spdlog::debug("scheduler: bound {} to {} in {} us", key, node, us);
    record_event(*pod, "Normal", "Scheduled", "Successfully assigned " + ns + "/" + name + " to " + node);
  }

  // Bookkeeping for the retries (the caller requeues after kPeriodicRetry),
  // PodScheduled=False and the FailedScheduling event.
  void handle_unschedulable(const std::string& key, const ObjectPtr& pod, const std::string& message) {
    auto now = clock().monotonic();
    bool event_due = false;
    {
      std::lock_guard l(mu);
      auto& u = unschedulable[key];
      ++u.attempts;
      u.last_attempt = now;
      event_due = u.message != message || !u.last_event || now - *u.last_event >= kEventRepeat;
      u.message = message;
      if (event_due) u.last_event = now;
      if (!u.retry_at || *u.retry_at > now + kPeriodicRetry) u.retry_at = now + kPeriodicRetry;
    }
    spdlog::debug("scheduler: {} unschedulable: {}", key, message);

    // PodScheduled=False, unless it already says exactly this.
    const Json& status = field(*pod, "status");
    Json conditions = Json::array();
    bool same = false;
    std::string transition = format_rfc3339(clock().now());
    if (field(status, "conditions").is_array()) {
      for (const auto& c : field(status, "conditions")) {
        if (sfield(c, "type") == "PodScheduled") {
          if (sfield(c, "status") == "False" && sfield(c, "reason") == "Unschedulable") {
            same = sfield(c, "message") == message;
            if (!sfield(c, "lastTransitionTime").empty()) transition = sfield(c, "lastTransitionTime");
          }
          continue;
        }
        conditions.push_back(c);
      }
    }
    if (!same) {
      conditions.push_back({{"type", "PodScheduled"},
                            {"status", "False"},
                            {"reason", "Unschedulable"},
                            {"message", message},
                            {"lastProbeTime", nullptr},
                            {"lastTransitionTime", transition}});
      const Json& meta = field(*pod, "metadata");
      Json patch = {{"status", {{"conditions", conditions}}}};
      auto r = client.patch(*pods_type, sfield(meta, "namespace"), sfield(meta, "name"), client::PatchType::kMerge,
                            patch, "status");
      if (!r && r.status().code() != Code::kNotFound) {
        spdlog::warn("scheduler: updating status of {}: {}", key, r.status().to_string());
      }
    }
    if (event_due) record_event(*pod, "Warning", "FailedScheduling", message);
  }

  // ---- events (own thread).

  void record_event(const Json& pod, const std::string& type, const std::string& reason, const std::string& message) {
    const Json& meta = field(pod, "metadata");
    std::string ns = sfield(meta, "namespace");
    if (ns.empty()) ns = "default";
    auto now = clock().now();
    uint64_t nanos = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
    char suffix[40];
    std::snprintf(suffix, sizeof suffix, ".%llx", static_cast<unsigned long long>(nanos + event_seq.fetch_add(1)));
    std::string ts = format_rfc3339(now);
    Json ev = {{"apiVersion", "v1"},
               {"kind", "Event"},
               {"metadata", {{"name", sfield(meta, "name") + suffix}, {"namespace", ns}}},
               {"involvedObject",
                {{"apiVersion", "v1"},
                 {"kind", "Pod"},
                 {"namespace", ns},
                 {"name", sfield(meta, "name")},
                 {"uid", sfield(meta, "uid")},
                 {"resourceVersion", sfield(meta, "resourceVersion")}}},
               {"reason", reason},
               {"message", message},
               {"type", type},
               {"source", {{"component", opts.scheduler_name}}},
               {"reportingComponent", opts.scheduler_name},
               {"firstTimestamp", ts},
               {"lastTimestamp", ts},
               {"count", 1}};
    {
      std::lock_guard l(events_mu);
      // The API server is not keeping up: drop, as client-go's event
      // broadcaster does past its 1,000-event queue.
      if (events.size() >= 1000) {
        n_events_dropped.fetch_add(1);
        return;
      }
      events.push_back(std::move(ev));
    }
    events_cv.notify_one();
  }

  void run_events(std::stop_token stop) {
    while (true) {
      Json ev;
      {
        std::unique_lock l(events_mu);
        events_cv.wait(l, stop, [&] { return !events.empty(); });
        if (stop.stop_requested() || events.empty()) return;  // pending events are dropped on stop
        ev = std::move(events.front());
        events.pop_front();
      }
      auto r = client.create(*events_type, ev);
      if (!r) spdlog::debug("scheduler: recording event: {}", r.status().to_string());
    }
  }

  void stop_events() {
    event_thread.request_stop();
    if (event_thread.joinable()) event_thread.join();
  }
};

Scheduler::Scheduler(client::Client& client, SchedulerOptions options) {
  set_impl(std::make_unique<Impl>(own_factory(client), std::move(options), real_clock()));
}

Scheduler::Scheduler(client::SharedInformerFactory& factory, SchedulerOptions options, Clock& clock) {
  set_impl(std::make_unique<Impl>(factory, std::move(options), clock));
}

Status Scheduler::Impl::setup() {
  Impl& s = *this;
  s.pods_type = api::find_resource("", "v1", "pods");
  s.nodes_type = api::find_resource("", "v1", "nodes");
  s.events_type = api::find_resource("", "v1", "events");
  if (!s.pods_type || !s.nodes_type || !s.events_type) {
    return internal_error("the kind table lacks pods, nodes or events");
  }
  {
    std::lock_guard l(s.sched_mu);
    s.filters = default_filters();
    uint64_t seed = s.opts.random_seed;
    if (seed == 0) seed = static_cast<uint64_t>(SteadyClock::now().time_since_epoch().count());
    s.score = make_score_plugin(s.opts.policy, seed);
    s.last_expiry = clock().monotonic();
  }

  s.nodes = &factory().informer(*s.nodes_type);
  s.pods = &factory().informer(*s.pods_type);
  auto node_key = [](const ObjectPtr& n) { return sfield(field(*n, "metadata"), "name"); };
  watch(*s.nodes, {
                      [&s, node_key](const ObjectPtr& n) {
                        s.record_node(node_key(n), n);
                        s.on_cluster_change();
                      },
                      [&s, node_key](const ObjectPtr& a, const ObjectPtr& b) {
                        s.record_node(node_key(b), b);
                        if (node_changed_for_scheduling(*a, *b)) s.on_cluster_change();
                      },
                      [&s, node_key](const ObjectPtr& n) {
                        s.record_node(node_key(n), nullptr);
                        s.on_cluster_change();
                      },
                  });
  watch(*s.pods, {
                     [&s](const ObjectPtr& p) { s.on_pod_add(p); },
                     [&s](const ObjectPtr& a, const ObjectPtr& b) { s.on_pod_update(a, b); },
                     [&s](const ObjectPtr& p) { s.on_pod_delete(p); },
                 });
  s.event_thread = std::jthread([&s](std::stop_token st) { s.run_events(st); });
  for (int i = 0; i < std::max(1, s.opts.bind_parallelism); ++i) {
    s.binders.emplace_back([&s](std::stop_token st) { s.run_binder(st); });
  }
  return Status::ok();
}

SchedulerStats Scheduler::stats() const {
  const Impl& s = static_cast<const Impl&>(impl());
  SchedulerStats out;
  out.cycles = s.n_cycles.load();
  out.unschedulable = s.n_unschedulable.load();
  out.bound = s.n_bound.load();
  out.bind_failures = s.n_bind_failures.load();
  out.events_dropped = s.n_events_dropped.load();
  out.cycle_seconds = static_cast<double>(s.cycle_ns.load()) / 1e9;
  out.bind_seconds = static_cast<double>(s.bind_ns.load()) / 1e9;
  return out;
}

}  // namespace minik8s::scheduler
