// Scheduler: informers on nodes and pods, one scheduling thread over a work
// queue of pending pod keys, an assumed cache of pods bound but not yet seen
// bound by the informer, and an event-recorder thread so that Events never
// delay the next binding.
#include "minik8s/scheduler/scheduler.h"

#include <spdlog/spdlog.h>

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
#include "minik8s/client/informer.h"
#include "minik8s/client/work_queue.h"
#include "minik8s/util/time.h"

namespace minik8s::scheduler {

using api::Json;
using client::ObjectPtr;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

constexpr const char* kNodeNameIndex = "spec.nodeName";
constexpr auto kRetryBase = 100ms;
constexpr auto kRetryMax = 2000ms;
constexpr auto kPeriodicRetry = 30s;
constexpr auto kEventRepeat = 60s;
constexpr auto kAssumedExpiry = 30s;

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

struct Scheduler::Impl {
  Impl(client::Client& c, SchedulerOptions o) : client(c), opts(std::move(o)) {}

  client::Client& client;
  const SchedulerOptions opts;
  const api::ResourceType* pods_type = nullptr;
  const api::ResourceType* nodes_type = nullptr;
  const api::ResourceType* events_type = nullptr;
  std::unique_ptr<client::Informer> nodes;
  std::unique_ptr<client::Informer> pods;
  client::WorkQueue queue{{std::chrono::milliseconds(10), std::chrono::seconds(5)}};

  // Scheduling-thread state.
  std::vector<std::unique_ptr<FilterPlugin>> filters;
  std::unique_ptr<ScorePlugin> score;
  // PodInfo per cached pod object (the PodInfo holds the object, so the
  // address stays unique while cached); rebuilt on every snapshot.
  std::unordered_map<const Json*, PodInfoPtr> pod_infos;

  struct Assumed {
    std::string node;
    ObjectPtr pod;  // the pod with spec.nodeName set
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
  std::jthread worker;
  std::jthread event_thread;
  bool started = false;
  bool stopped = false;

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

  // ---- event handlers (informer threads): only enqueue keys.

  void on_pod_add(const ObjectPtr& pod) {
    if (needs_scheduling(*pod)) {
      queue.add(client::object_key(*pod));
    } else if (!node_name_of(*pod).empty()) {
      on_cluster_change();
    }
  }

  void on_pod_update(const ObjectPtr& old_pod, const ObjectPtr& pod) {
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
      queue.add(key);
    }
  }

  void on_pod_delete(const ObjectPtr& pod) {
    std::string key = client::object_key(*pod);
    bool was_bound = !node_name_of(*pod).empty();
    {
      std::lock_guard l(mu);
      if (assumed.erase(key) > 0) was_bound = true;
      unschedulable.erase(key);
    }
    queue.forget(key);
    if (was_bound) on_cluster_change();
  }

  // Retries every unschedulable pod, each no sooner than its backoff allows.
  void on_cluster_change() {
    auto now = SteadyClock::now();
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
        queue.add(key);
      } else {
        queue.add_after(key, std::chrono::duration_cast<std::chrono::nanoseconds>(delay));
      }
    }
  }

  // ---- the scheduling thread.

  void run(std::stop_token stop) {
    while (!stop.stop_requested() &&
           !(nodes->has_synced() && pods->has_synced())) {
      std::this_thread::sleep_for(5ms);
    }
    std::string key;
    while (queue.get(key)) {
      schedule_key(key);
      queue.done(key);
    }
  }

  Snapshot build_snapshot() {
    Snapshot snap;
    for (const auto& n : nodes->indexer().list()) snap.nodes.emplace_back(n);
    std::sort(snap.nodes.begin(), snap.nodes.end(),
              [](const NodeInfo& a, const NodeInfo& b) { return a.name < b.name; });
    std::unordered_map<const Json*, PodInfoPtr> infos;
    for (auto& ni : snap.nodes) {
      for (const auto& p : pods->indexer().by_index(kNodeNameIndex, ni.name)) {
        if (!pod_holds_resources(*p)) continue;
        auto it = pod_infos.find(p.get());
        PodInfoPtr info = it != pod_infos.end() ? it->second : PodInfo::make(p);
        ni.add_pod(*info);
        infos.emplace(p.get(), std::move(info));
      }
    }
    pod_infos = std::move(infos);
    auto now = SteadyClock::now();
    std::lock_guard l(mu);
    for (auto it = assumed.begin(); it != assumed.end();) {
      ObjectPtr cur = pods->indexer().get(it->first);
      if (!cur || !node_name_of(*cur).empty() || now - it->second.at > kAssumedExpiry) {
        it = assumed.erase(it);  // gone, or the informer has it bound (counted above)
        continue;
      }
      for (auto& ni : snap.nodes) {
        if (ni.name == it->second.node) ni.add_pod(it->second.pod);
      }
      ++it;
    }
    return snap;
  }

  void schedule_key(const std::string& key) {
    ObjectPtr pod = pods->indexer().get(key);
    {
      std::lock_guard l(mu);
      auto u = unschedulable.find(key);
      if (u != unschedulable.end()) u->second.retry_at.reset();
      if (!pod || !needs_scheduling(*pod)) {
        unschedulable.erase(key);
        pod = nullptr;
      } else if (assumed.count(key)) {
        return;  // bound already; the informer has not caught up
      }
    }
    if (!pod) {
      queue.forget(key);
      return;
    }
    auto t0 = SteadyClock::now();
    Snapshot snap = build_snapshot();
    ScheduleResult res = schedule_one(*pod, snap, filters, *score);
    if (res.node.empty()) {
      handle_unschedulable(key, pod, res.fit_error());
      return;
    }
    bind(key, pod, res.node, t0);
  }

  void bind(const std::string& key, const ObjectPtr& pod, const std::string& node, SteadyClock::time_point t0) {
    const Json& meta = field(*pod, "metadata");
    std::string ns = sfield(meta, "namespace"), name = sfield(meta, "name");
    auto bound = std::make_shared<Json>(*pod);
    (*bound)["spec"]["nodeName"] = node;
    {
      std::lock_guard l(mu);
      assumed[key] = Assumed{node, bound, SteadyClock::now()};
    }
    Json binding = {{"apiVersion", "v1"},
                    {"kind", "Binding"},
                    {"metadata", {{"name", name}, {"namespace", ns}}},
                    {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}}}};
    if (!sfield(meta, "uid").empty()) binding["metadata"]["uid"] = sfield(meta, "uid");
    Status st;
    auto resp = client.rest().request("POST", client::Client::path(*pods_type, ns, name, "binding"), binding.dump());
    st = resp ? client::check_response(*resp) : resp.status();
    if (!st.is_ok()) {
      {
        std::lock_guard l(mu);
        assumed.erase(key);
      }
      if (st.code() == Code::kConflict || st.code() == Code::kNotFound) {
        spdlog::debug("scheduler: dropping {}: {}", key, st.message());
        queue.forget(key);
      } else {
        spdlog::warn("scheduler: binding {} to {}: {}", key, node, st.to_string());
        queue.add_rate_limited(key);
      }
      return;
    }
    queue.forget(key);
    {
      std::lock_guard l(mu);
      unschedulable.erase(key);
    }
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - t0).count();
    spdlog::debug("scheduler: bound {} to {} in {} us", key, node, us);
    record_event(*pod, "Normal", "Scheduled", "Successfully assigned " + ns + "/" + name + " to " + node);
  }

  void handle_unschedulable(const std::string& key, const ObjectPtr& pod, const std::string& message) {
    auto now = SteadyClock::now();
    bool event_due = false;
    {
      std::lock_guard l(mu);
      auto& u = unschedulable[key];
      ++u.attempts;
      u.last_attempt = now;
      event_due = u.message != message || !u.last_event || now - *u.last_event >= kEventRepeat;
      u.message = message;
      if (event_due) u.last_event = now;
      if (!u.retry_at || *u.retry_at > now + kPeriodicRetry) {
        u.retry_at = now + kPeriodicRetry;
        queue.add_after(key, kPeriodicRetry);
      }
    }
    spdlog::debug("scheduler: {} unschedulable: {}", key, message);

    // PodScheduled=False, unless it already says exactly this.
    const Json& status = field(*pod, "status");
    Json conditions = Json::array();
    bool same = false;
    std::string transition = format_rfc3339(real_clock().now());
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
    auto now = real_clock().now();
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
      if (events.size() >= 10000) return;  // the API server is not keeping up; drop
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
};

Scheduler::Scheduler(client::Client& client, SchedulerOptions options)
    : impl_(std::make_unique<Impl>(client, std::move(options))) {}

Scheduler::~Scheduler() { stop(); }

Status Scheduler::start() {
  Impl& s = *impl_;
  if (s.started) return Status(Code::kInvalid, "scheduler already started");
  s.pods_type = api::find_resource("", "v1", "pods");
  s.nodes_type = api::find_resource("", "v1", "nodes");
  s.events_type = api::find_resource("", "v1", "events");
  if (!s.pods_type || !s.nodes_type || !s.events_type) {
    return internal_error("the kind table lacks pods, nodes or events");
  }
  s.filters = default_filters();
  uint64_t seed = s.opts.random_seed;
  if (seed == 0) seed = static_cast<uint64_t>(SteadyClock::now().time_since_epoch().count());
  s.score = make_score_plugin(s.opts.policy, seed);

  s.nodes = std::make_unique<client::Informer>(s.client, *s.nodes_type);
  s.pods = std::make_unique<client::Informer>(s.client, *s.pods_type);
  s.pods->add_index(kNodeNameIndex, [](const Json& pod) -> std::vector<std::string> {
    std::string n = node_name_of(pod);
    if (n.empty()) return {};
    return {n};
  });
  s.nodes->add_event_handlers({
      [&s](const ObjectPtr&) { s.on_cluster_change(); },
      [&s](const ObjectPtr& a, const ObjectPtr& b) {
        if (node_changed_for_scheduling(*a, *b)) s.on_cluster_change();
      },
      [&s](const ObjectPtr&) { s.on_cluster_change(); },
  });
  s.pods->add_event_handlers({
      [&s](const ObjectPtr& p) { s.on_pod_add(p); },
      [&s](const ObjectPtr& a, const ObjectPtr& b) { s.on_pod_update(a, b); },
      [&s](const ObjectPtr& p) { s.on_pod_delete(p); },
  });
  s.started = true;
  s.event_thread = std::jthread([&s](std::stop_token st) { s.run_events(st); });
  s.worker = std::jthread([&s](std::stop_token st) { s.run(st); });
  s.nodes->start();
  s.pods->start();
  return Status::ok();
}

void Scheduler::stop() {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  s.queue.shutdown();
  s.worker.request_stop();
  if (s.worker.joinable()) s.worker.join();
  s.nodes->stop();
  s.pods->stop();
  s.event_thread.request_stop();
  if (s.event_thread.joinable()) s.event_thread.join();
}

}  // namespace minik8s::scheduler
