// NodeLifecycleController (Kubernetes' nodelifecycle controller + the taint
// eviction manager in one): a client::Controller with shared informers on
// Nodes, Leases in kube-node-lease and Pods (indexed by spec.nodeName), and
// one worker over one queue holding two kinds of key:
// - kMonitorKey, the monitor pass: it looks at every node's probe (Lease
//   renewTime, Ready lastHeartbeatTime) and, for a node whose probe has not
//   changed for grace_period on OUR clock (the injected Clock's monotonic
//   time), writes every condition Unknown, marks its pods Ready=False and
//   keeps the node's unreachable / not-ready taints matching its Ready
//   status. It is queued once the caches have synced, then requeued after
//   monitor_period, and queued at once when a node's Ready status changes
//   (a poke). A pass records when the next is due; the work queue keeps one
//   timer per key (the earliest), so a timer armed before a poke fires early
//   and is re-armed for when the next pass is due.
//   Only this key writes Nodes, and the queue never runs a key on two
//   workers at once, so `health` needs no lock.
// - pod keys (namespace/name), taint eviction: reconcile decides, from the
//   NoExecute taints of the pod's node and the pod's tolerations, whether the
//   pod goes now, at a deadline (requeue_after until then, on the injected
//   clock: a taint that goes away meanwhile simply makes the re-check a
//   no-op) or never.
// One worker, so a key queued after another is handled after it (the tests'
// barriers rely on it).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "minik8s/client/controller.h"
#include "minik8s/client/event_recorder.h"
#include "minik8s/client/informer.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/controllers/controllers.h"
#include "minik8s/util/time.h"
#include "names.h"
#include "node_lifecycle_taints.h"

namespace minik8s::controllers {

namespace {

constexpr const char* kNodeIndex = "spec.nodeName";  // on the shared Pod cache
// The monitor pass's key: never a pod key (those are namespace/name).
constexpr const char* kMonitorKey = "@monitor";
constexpr const char* kLeaseNamespace = "kube-node-lease";
constexpr const char* kComponent = "node-controller";
constexpr const char* kConditionTypes[] = {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"};

using Steady = std::chrono::steady_clock;

const Json* find_condition(const Json& node, const std::string& type) {
  const Json& conds = field(field(node, "status"), "conditions");
  if (!conds.is_array()) return nullptr;
  for (const auto& c : conds) {
    if (sfield(c, "type") == type) return &c;
  }
  return nullptr;
}

std::string heartbeat_of(const Json& node) {
  const Json* c = find_condition(node, "Ready");
  return c ? sfield(*c, "lastHeartbeatTime") : "";
}

std::vector<Json> no_execute_taints(const Json& node) {
  std::vector<Json> out;
  const Json& taints = field(field(node, "spec"), "taints");
  if (!taints.is_array()) return out;
  for (const auto& t : taints) {
    if (sfield(t, "effect") == "NoExecute") out.push_back(t);
  }
  return out;
}

// True when some watched condition is missing or not Unknown.
bool needs_unknown(const Json& node) {
  for (const char* type : kConditionTypes) {
    const Json* c = find_condition(node, type);
    if (!c || sfield(*c, "status") != "Unknown") return true;
  }
  return false;
}

// Kubernetes' tryUpdateNodeHealth for a node past its grace period.
void set_conditions_unknown(Json& node, const std::string& now) {
  Json& status = node["status"];
  if (!status.is_object()) status = Json::object();
  Json& conds = status["conditions"];
  if (!conds.is_array()) conds = Json::array();
  for (const char* type : kConditionTypes) {
    Json* found = nullptr;
    for (auto& c : conds) {
      if (c.is_object() && sfield(c, "type") == type) found = &c;
    }
    if (!found) {
      conds.push_back({{"type", type},
                       {"status", "Unknown"},
                       {"reason", "NodeStatusNeverUpdated"},
                       {"message", "Kubelet never posted node status."},
                       {"lastHeartbeatTime", sfield(field(node, "metadata"), "creationTimestamp")},
                       {"lastTransitionTime", now}});
      continue;
    }
    if (sfield(*found, "status") == "Unknown") continue;
    (*found)["status"] = "Unknown";
    (*found)["reason"] = "NodeStatusUnknown";
    (*found)["message"] = "Kubelet stopped posting node status.";
    (*found)["lastTransitionTime"] = now;
  }
}

std::string taint_id(const std::string& node, const Json& taint) {
  return node + "|" + sfield(taint, "key") + "|" + sfield(taint, "value") + "|" + sfield(taint, "effect");
}

}  // namespace

struct NodeLifecycleController::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, NodeLifecycleOptions o, Clock& k)
      : client::Controller(f, {"node-lifecycle", 1, std::chrono::milliseconds(50), std::chrono::seconds(5)}, k),
        client(f.client()),
        opts(std::move(o)) {}
  ~Impl() override { stop(); }

  client::Client& client;
  const NodeLifecycleOptions opts;
  const api::ResourceType* nodes_type = nullptr;
  const api::ResourceType* leases_type = nullptr;
  const api::ResourceType* pods_type = nullptr;
  const api::ResourceType* events_type = nullptr;
  // Shared informers, owned by the factory.
  client::Informer* nodes = nullptr;
  client::Informer* leases = nullptr;
  client::Informer* pods = nullptr;

  // Monitor-key state (no lock: one key runs on one worker at a time).
  struct Health {
    std::string renew_time, heartbeat;
    Steady::time_point last_change;
  };
  std::map<std::string, Health> health;
  std::optional<Steady::time_point> monitor_due;  // when the next pass is due

  std::mutex mu;
  // Guarded by mu:
  bool monitor_poked = false;
  std::map<std::string, SysTime> taint_seen;  // taint_id → when our informer first showed it

  Status setup() override;

  // ---- events

  void record_event(const Json& obj, const std::string& kind, const std::string& type, const std::string& reason,
                    const std::string& message) {
    Json ev = client::make_event(obj, "v1", kind, type, reason, message, kComponent, clock().now());
    auto r = client.create(*events_type, ev);
    if (!r) spdlog::debug("node-lifecycle: recording event {}: {}", reason, r.status().to_string());
  }

  // ---- monitor

  // Writes the Unknown conditions (CAS; re-reads on conflict, and gives up
  // when the node posted a fresh heartbeat meanwhile). The written node, or
  // nullopt when nothing was written.
  std::optional<Json> mark_unknown(Json node, const std::string& seen_heartbeat) {
    const std::string name = sfield(field(node, "metadata"), "name");
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (heartbeat_of(node) != seen_heartbeat) return std::nullopt;  // it is back
      if (!needs_unknown(node)) return std::nullopt;
      set_conditions_unknown(node, format_rfc3339(clock().now()));
      auto r = client.update_status(*nodes_type, node);
      if (r) return std::move(*r);
      if (r.status().code() != Code::kConflict) {
        spdlog::warn("node-lifecycle: node {}: writing Unknown conditions: {}", name, r.status().to_string());
        return std::nullopt;
      }
      auto fresh = client.get(*nodes_type, "", name);
      if (!fresh) return std::nullopt;
      node = std::move(*fresh);
    }
    return std::nullopt;
  }

  // Keeps the unreachable / not-ready taints matching the Ready status.
  void ensure_taints(Json node) {
    const std::string name = sfield(field(node, "metadata"), "name");
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto desired = desired_condition_taints(ready_status(node));
      auto next = reconcile_taints(field(field(node, "spec"), "taints"), desired, clock().now());
      if (!next) return;
      if (!node["spec"].is_object()) node["spec"] = Json::object();
      if (next->empty()) {
        node["spec"].erase("taints");
      } else {
        node["spec"]["taints"] = *next;
      }
      auto r = client.update(*nodes_type, node);
      if (r) {
        std::string what = desired.empty() ? "none" : sfield(desired[0], "key");
        spdlog::info("node-lifecycle: node {} (Ready={}): condition taints now {}", name, ready_status(node), what);
        return;
      }
      if (r.status().code() != Code::kConflict) {
        spdlog::warn("node-lifecycle: node {}: updating taints: {}", name, r.status().to_string());
        return;
      }
      auto fresh = client.get(*nodes_type, "", name);
      if (!fresh) return;
      node = std::move(*fresh);
    }
  }

  // Kubernetes' MarkPodsNotReady: the Ready condition of every pod on the
  // node goes False (its endpoints move to notReadyAddresses at once).
  void mark_pods_not_ready(const Json& node) {
    const std::string name = sfield(field(node, "metadata"), "name");
    for (const auto& p : pods->indexer().by_index(kNodeIndex, name)) {
      std::string phase = sfield(field(*p, "status"), "phase");
      if (phase == "Succeeded" || phase == "Failed") continue;
      const Json& conds = field(field(*p, "status"), "conditions");
      if (!conds.is_array()) continue;
      Json pod = *p;
      bool changed = false;
      for (auto& c : pod["status"]["conditions"]) {
        if (sfield(c, "type") == "Ready" && sfield(c, "status") != "False") {
          c["status"] = "False";
          c["lastTransitionTime"] = format_rfc3339(clock().now());
          changed = true;
        }
      }
      if (!changed) continue;
      auto r = client.update_status(*pods_type, pod);
      if (!r) {
        // A conflict or a pod gone: the next pass looks again.
        spdlog::debug("node-lifecycle: pod {}: marking not ready: {}", client::object_key(pod), r.status().to_string());
        continue;
      }
      spdlog::info("node-lifecycle: pod {} on node {} marked not ready", client::object_key(pod), name);
      record_event(pod, "Pod", "Warning", "NodeNotReady", "Node is not ready");
    }
  }

  void monitor_once() {
    const auto now = clock().monotonic();
    std::set<std::string> seen;
    for (const auto& n : nodes->indexer().list()) {
      const std::string name = sfield(field(*n, "metadata"), "name");
      if (name.empty()) continue;
      seen.insert(name);
      std::string renew;
      if (auto lease = leases->indexer().get(kLeaseNamespace, name)) renew = sfield(field(*lease, "spec"), "renewTime");
      const std::string hb = heartbeat_of(*n);
      auto it = health.find(name);
      if (it == health.end() || it->second.renew_time != renew || it->second.heartbeat != hb) {
        // First sight (a fresh grace period after a controller restart) or a probe.
        health[name] = Health{renew, hb, now};
        it = health.find(name);
      }
      Json node = *n;
      if (now - it->second.last_change > opts.grace_period && needs_unknown(node)) {
        const std::string before = ready_status(node);
        if (auto written = mark_unknown(node, hb)) {
          node = std::move(*written);
          spdlog::warn("node-lifecycle: node {} stopped posting status for {} ms: conditions Unknown", name,
                       std::chrono::duration_cast<std::chrono::milliseconds>(now - it->second.last_change).count());
          if (before != "Unknown") {
            record_event(node, "Node", "Normal", "NodeNotReady", "Node " + name + " status is now: NodeNotReady");
          }
          // Our own write changed the heartbeat string? It keeps it; resync anyway.
          it->second.heartbeat = heartbeat_of(node);
        }
      }
      ensure_taints(node);
      if (ready_status(node) == "Unknown") mark_pods_not_ready(node);
    }
    for (auto h = health.begin(); h != health.end();) {
      h = seen.count(h->first) ? std::next(h) : health.erase(h);
    }
  }

  void poke_monitor() {
    {
      std::lock_guard l(mu);
      monitor_poked = true;
    }
    enqueue(kMonitorKey);
  }

  // The monitor key: a pass now, the next one monitor_period after this one
  // began (measured from the start, so a clock that moved on during the pass
  // — a test's FakeClock — is not missed: the next pass is then due at once).
  client::ReconcileResult monitor() {
    bool poked;
    {
      std::lock_guard l(mu);
      poked = monitor_poked;
      monitor_poked = false;
    }
    const auto now = clock().monotonic();
    if (!poked && monitor_due && now < *monitor_due) {
      // A timer armed before a poke (the queue keeps only a key's earliest
      // deadline, so the poke pass's later one was not kept): wait until due.
      return client::ReconcileResult::requeue_after(*monitor_due - now);
    }
    monitor_once();
    monitor_due = now + opts.monitor_period;
    auto left = *monitor_due - clock().monotonic();
    return client::ReconcileResult::requeue_after(std::max<std::chrono::nanoseconds>(left, std::chrono::nanoseconds(0)));
  }

  void on_synced() override { enqueue(kMonitorKey); }

  client::ReconcileResult reconcile(const std::string& key) override {
    if (key == kMonitorKey) return monitor();
    return reconcile_pod(key);
  }

  // ---- taint eviction

  SysTime taint_start(const std::string& node, const Json& taint) {
    SysTime added{};
    bool parsed = parse_rfc3339(sfield(taint, "timeAdded"), &added);
    std::optional<SysTime> seen;
    {
      std::lock_guard l(mu);
      auto it = taint_seen.find(taint_id(node, taint));
      if (it != taint_seen.end()) seen = it->second;
    }
    if (!parsed) return seen ? *seen : clock().now();
    // timeAdded has whole seconds: when we saw the taint appear within that
    // second, our own sighting is the sharper start; after a restart the
    // sighting is late and timeAdded (rounded up) wins.
    if (!seen) return added + 1s;
    return std::max(added, std::min(*seen, added + 1s));
  }

  void note_taints(const Json& node, bool deleted) {
    const std::string name = sfield(field(node, "metadata"), "name");
    std::set<std::string> now_ids;
    if (!deleted) {
      for (const auto& t : no_execute_taints(node)) now_ids.insert(taint_id(name, t));
    }
    std::lock_guard l(mu);
    const std::string prefix = name + "|";
    for (auto it = taint_seen.lower_bound(prefix); it != taint_seen.end() && it->first.rfind(prefix, 0) == 0;) {
      it = now_ids.count(it->first) ? std::next(it) : taint_seen.erase(it);
    }
    auto now = clock().now();
    for (const auto& id : now_ids) taint_seen.emplace(id, now);
  }

  void enqueue_pods_of(const std::string& node) {
    for (const auto& p : pods->indexer().by_index(kNodeIndex, node)) enqueue(client::object_key(*p));
  }

  Status evict(const Json& pod) {
    const Json& meta = field(pod, "metadata");
    const std::string key = client::object_key(pod);
    spdlog::info("node-lifecycle: evicting pod {} from node {}", key, sfield(field(pod, "spec"), "nodeName"));
    record_event(pod, "Pod", "Normal", "TaintManagerEviction", "Marking for deletion Pod " + key);
    Json opts = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}, {"preconditions", {{"uid", sfield(meta, "uid")}}}};
    auto r = client.remove(*pods_type, sfield(meta, "namespace"), sfield(meta, "name"), &opts);
    if (!r && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict) return r.status();
    return Status::ok();
  }

  client::ReconcileResult reconcile_pod(const std::string& key) {
    ObjectPtr pod = pods->indexer().get(key);
    if (!pod || field(*pod, "metadata").contains("deletionTimestamp")) return Status::ok();
    const std::string node_name = sfield(field(*pod, "spec"), "nodeName");
    if (node_name.empty()) return Status::ok();
    ObjectPtr node = nodes->indexer().get(node_name);
    if (!node) return Status::ok();
    auto taints = no_execute_taints(*node);
    auto d = decide_eviction(*pod, taints, [&](const Json& t) { return taint_start(node_name, t); });
    switch (d.kind) {
      case EvictionDecision::Kind::kNone:
        return Status::ok();
      case EvictionDecision::Kind::kNow:
        return evict(*pod);
      case EvictionDecision::Kind::kAt: {
        auto now = clock().now();
        if (now >= d.at) return evict(*pod);
        // Re-checked then, on the same clock (a re-check a little early
        // queues it again); if the taint is gone by then, nothing happens.
        return client::ReconcileResult::requeue_after(std::chrono::duration_cast<std::chrono::nanoseconds>(d.at - now));
      }
    }
    return Status::ok();
  }

  // ---- wiring

  void add_handlers() {
    watch(*nodes, {
        [this](const ObjectPtr& n) {
          note_taints(*n, false);
          enqueue_pods_of(sfield(field(*n, "metadata"), "name"));
        },
        [this](const ObjectPtr& a, const ObjectPtr& b) {
          if (ready_status(*a) != ready_status(*b)) poke_monitor();
          if (no_execute_taints(*a) != no_execute_taints(*b)) {
            note_taints(*b, false);
            enqueue_pods_of(sfield(field(*b, "metadata"), "name"));
          }
        },
        [this](const ObjectPtr& n) { note_taints(*n, true); },
    });
    auto pod_changed = [this](const ObjectPtr& p) {
      const std::string node_name = sfield(field(*p, "spec"), "nodeName");
      if (node_name.empty()) return;
      ObjectPtr node = nodes->indexer().get(node_name);
      if (node && !no_execute_taints(*node).empty()) enqueue(client::object_key(*p));
    };
    watch(*pods, {
        [pod_changed](const ObjectPtr& p) { pod_changed(p); },
        [pod_changed](const ObjectPtr&, const ObjectPtr& p) { pod_changed(p); },
        nullptr,
    });
  }
};

NodeLifecycleController::NodeLifecycleController(client::Client& client, NodeLifecycleOptions options, Clock& clock) {
  set_impl(std::make_unique<Impl>(own_factory(client), std::move(options), clock));
}

NodeLifecycleController::NodeLifecycleController(client::SharedInformerFactory& factory, NodeLifecycleOptions options,
                                                 Clock& clock) {
  set_impl(std::make_unique<Impl>(factory, std::move(options), clock));
}

Status NodeLifecycleController::Impl::setup() {
  Impl& s = *this;
  if (s.opts.grace_period <= std::chrono::milliseconds(0) || s.opts.monitor_period <= std::chrono::milliseconds(0)) {
    return bad_request("node lifecycle: grace and monitor periods must be positive");
  }
  s.nodes_type = api::find_kind("v1", "Node");
  s.leases_type = api::find_kind("coordination.k8s.io/v1", "Lease");
  s.pods_type = api::find_kind("v1", "Pod");
  s.events_type = api::find_kind("v1", "Event");
  if (!s.nodes_type || !s.leases_type || !s.pods_type || !s.events_type) {
    return internal_error("the kind table lacks Node, Lease, Pod or Event");
  }
  s.nodes = &factory().informer(*s.nodes_type);
  client::InformerOptions lo;
  lo.namespace_ = kLeaseNamespace;
  s.leases = &factory().informer(*s.leases_type, lo);
  s.pods = &factory().informer(*s.pods_type);
  s.pods->add_index(kNodeIndex, [](const Json& p) {
    std::string n = sfield(field(p, "spec"), "nodeName");
    return n.empty() ? std::vector<std::string>{} : std::vector<std::string>{n};
  });
  s.add_handlers();
  wait_for(*s.leases);  // read by the monitor pass, no handlers
  return Status::ok();
}

}  // namespace minik8s::controllers
