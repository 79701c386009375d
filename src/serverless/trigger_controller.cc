// TriggerController (include/minik8s/serverless/triggers.h): schedule and
// objectChange triggers, in `minik8s server`. fileChange triggers are the
// agents' (src/agent/file_triggers.cc).
//
// State, in process (rebuilt from the cache after a restart; a restart does
// not catch up missed times):
//   schedules: trigger key → {uid, schedule text, parsed, next time};
//     the key's timer is the work queue's delayed re-add (requeue_after) on
//     the injected Clock: reconcile at the time fires and computes the next;
//   running: trigger key → schedule firings in flight (Forbid);
//   kinds: "apiVersion/Kind" → the shared informer, our one handler on it and
//     the objectChange triggers subscribed to it (key → filter).
// Lock order: registration_mu → mu. No lock is held while calling an
// informer (add/remove handlers) or the API.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "minik8s/api/resource.h"
#include "minik8s/api/selector.h"
#include "minik8s/client/event_recorder.h"
#include "minik8s/client/informer.h"
#include "minik8s/serverless/controllers.h"
#include "minik8s/serverless/triggers.h"
#include "minik8s/workflow/cron.h"

namespace minik8s::serverless {

using api::field;
using api::Json;
using api::sfield;
using client::ObjectPtr;

namespace {

constexpr const char* kComponent = "trigger-controller";

// True on the thread that is inside add_event_handlers(): the informer's
// replay of its cache to a late handler runs there, and must not fire.
thread_local bool t_registering = false;

const char* const kObjectEvents[] = {"added", "modified", "deleted"};
const Json kNull;

}  // namespace

struct TriggerController::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, TriggerControllerOptions o, Clock& clk)
      : client::Controller(f, {kComponent, o.workers, std::chrono::milliseconds(5), std::chrono::seconds(30)}, clk),
        opts(o),
        pool(o.fire_threads, o.max_queued),
        events(f.client(), {kComponent, ""}) {}
  ~Impl() override { stop(); }

  const TriggerControllerOptions opts;
  FiringPool pool;
  client::EventRecorder events;
  const api::ResourceType* trigger_type = nullptr;
  client::Informer* triggers = nullptr;

  struct Sched {
    std::string uid;
    std::string text;
    workflow::Schedule schedule;
    SysTime next;
  };
  struct Filter {
    std::string uid;
    bool cluster = false;
    std::string ns;
    api::LabelSelector selector;
    std::set<std::string> on;
  };
  struct KindWatch {
    client::Informer* informer = nullptr;
    client::HandlerId handler = 0;
    std::map<std::string, Filter> subs;  // trigger key → filter
  };

  std::mutex registration_mu;  // serialises handler registration (held without mu)
  std::mutex mu;
  // Guarded by mu:
  std::map<std::string, Sched> schedules;
  std::map<std::string, int> running;
  std::map<std::string, KindWatch> kinds;
  std::map<std::string, std::string> warned;  // trigger key → the last problem logged

  FireOptions fire_options() {
    FireOptions fo;
    fo.events = &events;
    fo.component = kComponent;
    fo.clock = &clock();
    fo.cancel = pool.cancelled();
    return fo;
  }

  Status setup() override {
    trigger_type = api::find_kind(kApiVersion, "Trigger");
    if (!trigger_type) return internal_error("the kind table lacks Trigger");
    triggers = &factory().informer(*trigger_type);
    auto on = [this](const ObjectPtr& o) { enqueue(client::object_key(*o)); };
    watch(*triggers, {on, [on](const ObjectPtr&, const ObjectPtr& o) { on(o); }, on});
    events.start();
    return Status::ok();
  }

  void on_stopped() override {
    std::vector<std::pair<client::Informer*, client::HandlerId>> handlers;
    {
      std::lock_guard l(mu);
      for (auto& [k, kw] : kinds) {
        if (kw.informer) handlers.emplace_back(kw.informer, kw.handler);
        kw.informer = nullptr;
      }
    }
    for (auto& [inf, id] : handlers) inf->remove_event_handlers(id);
    pool.stop();
    events.stop();
  }

  // A problem with a trigger's spec, logged once per distinct message.
  void warn(const std::string& key, const std::string& msg) {
    {
      std::lock_guard l(mu);
      auto& w = warned[key];
      if (w == msg) return;
      w = msg;
    }
    spdlog::warn("trigger {}: {}", key, msg);
  }

  client::ReconcileResult reconcile(const std::string& key) override {
    ObjectPtr obj = triggers->indexer().get(key);
    if (!obj) {
      std::lock_guard l(mu);
      warned.erase(key);
    }
    sync_object_change(key, obj);
    return sync_schedule(key, obj);
  }

  // ---- objectChange

  void sync_object_change(const std::string& key, const ObjectPtr& obj) {
    const Json& spec = obj ? field(*obj, "spec") : kNull;
    const Json& oc = field(spec, "objectChange");
    std::string kind_key;
    Filter filter;
    const api::ResourceType* type = nullptr;
    if (obj && oc.is_object() && !api::bfield(spec, "suspend")) {
      std::string av = sfield(oc, "apiVersion"), kind = sfield(oc, "kind");
      type = api::find_kind(av, kind);
      if (!type) {
        warn(key, "spec.objectChange: the server knows no kind " + kind + " in " + av);
      } else if (type->kind == "Trigger" || type->kind == "Event" ||
                 (type->kind == "WorkflowRun" && field(field(spec, "target"), "workflow").is_string())) {
        // As the API server's validation: a firing writes these, it would fire forever.
        warn(key, "spec.objectChange: " + type->kind + " objects cannot trigger (a firing writes them)");
        type = nullptr;
      }
      if (type) {
        filter.uid = api::meta_string(*obj, "uid");
        filter.cluster = !type->namespaced;
        filter.ns = sfield(oc, "namespace");
        if (filter.ns.empty()) filter.ns = api::meta_string(*obj, "namespace");
        auto sel = api::LabelSelector::parse(sfield(oc, "labelSelector"));
        if (!sel) {
          warn(key, "spec.objectChange.labelSelector: " + sel.status().message());
          type = nullptr;
        } else {
          filter.selector = std::move(sel.value());
        }
        for (const Json& e : api::afield(oc, "on")) {
          if (e.is_string()) filter.on.insert(e.get<std::string>());
        }
        if (filter.on.empty()) filter.on = {std::begin(kObjectEvents), std::end(kObjectEvents)};
      }
      if (type) kind_key = type->api_version() + "/" + type->kind;
    }
    bool need_handler = false;
    {
      std::lock_guard l(mu);
      for (auto& [k, kw] : kinds) {
        if (k != kind_key) kw.subs.erase(key);
      }
      if (!kind_key.empty()) {
        KindWatch& kw = kinds[kind_key];
        kw.subs[key] = std::move(filter);
        need_handler = kw.informer == nullptr;
      }
    }
    if (need_handler) register_kind(kind_key, *type);
  }

  void register_kind(const std::string& kind_key, const api::ResourceType& type) {
    std::lock_guard reg(registration_mu);
    {
      std::lock_guard l(mu);
      if (kinds[kind_key].informer) return;
    }
    if (stopping()) return;
    client::Informer& inf = factory().informer(type);
    client::Informer* infp = &inf;
    client::EventHandlers h;
    h.on_add = [this, kind_key, infp](const ObjectPtr& o) {
      if (t_registering || !infp->has_synced()) return;  // the replay, the initial list
      dispatch(kind_key, "added", o);
    };
    h.on_update = [this, kind_key, infp](const ObjectPtr& old_obj, const ObjectPtr& o) {
      if (!infp->has_synced()) return;
      if (api::meta_string(*old_obj, "resourceVersion") == api::meta_string(*o, "resourceVersion")) return;
      dispatch(kind_key, "modified", o);
    };
    h.on_delete = [this, kind_key, infp](const ObjectPtr& o) {
      if (!infp->has_synced()) return;
      dispatch(kind_key, "deleted", o);
    };
    t_registering = true;
    client::HandlerId id = inf.add_event_handlers(std::move(h));
    t_registering = false;
    {
      std::lock_guard l(mu);
      KindWatch& kw = kinds[kind_key];
      kw.informer = infp;
      kw.handler = id;
    }
    factory().start();  // this kind's informer, when it is new
    spdlog::info("trigger controller: watching {} for objectChange triggers", kind_key);
  }

  // On the informer's thread: never blocks on the API (the pool queues).
  void dispatch(const std::string& kind_key, const char* ev, const ObjectPtr& o) {
    const std::string ns = api::meta_string(*o, "namespace");
    const Json& labels = field(field(*o, "metadata"), "labels");
    std::vector<std::pair<std::string, std::string>> hits;
    {
      std::lock_guard l(mu);
      auto it = kinds.find(kind_key);
      if (it == kinds.end()) return;
      for (const auto& [key, f] : it->second.subs) {
        if (!f.on.count(ev)) continue;
        if (!f.cluster && f.ns != ns) continue;
        if (!f.selector.matches_json(labels)) continue;
        hits.emplace_back(key, f.uid);
      }
    }
    for (const auto& [key, uid] : hits) {
      ObjectPtr t = triggers->indexer().get(key);
      if (!t || api::meta_string(*t, "uid") != uid || api::bfield(field(*t, "spec"), "suspend")) continue;
      Json event = {{"type", "objectChange"}, {"event", ev}, {"object", *o}};
      if (!submit(key, t, std::move(event), false))
        spdlog::warn("trigger {}: firing queue full ({}), {} event dropped", key, opts.max_queued, ev);
    }
  }

  bool submit(const std::string& key, const ObjectPtr& trigger, Json event, bool scheduled) {
    bool ok = pool.submit([this, key, trigger, event = std::move(event), scheduled] {
      fire_trigger(api_client(), *trigger, event, fire_options());
      if (scheduled) done_running(key);
    });
    if (!ok && scheduled) done_running(key);
    return ok;
  }

  void done_running(const std::string& key) {
    std::lock_guard l(mu);
    auto it = running.find(key);
    if (it != running.end() && --it->second <= 0) running.erase(it);
  }

  // ---- schedules

  client::ReconcileResult sync_schedule(const std::string& key, const ObjectPtr& obj) {
    const Json& spec = obj ? field(*obj, "spec") : kNull;
    const std::string text = sfield(spec, "schedule");
    const Json& status = obj ? field(*obj, "status") : kNull;
    if (!obj || text.empty() || api::bfield(spec, "suspend")) {
      {
        std::lock_guard l(mu);
        schedules.erase(key);
      }
      if (obj && !field(status, "nextFire").is_null()) return write_next_fire(*obj, Json());
      return client::ReconcileResult::done();
    }
    const std::string uid = api::meta_string(*obj, "uid");
    const SysTime now = clock().now();
    bool fire = false, skip = false;
    SysTime scheduled{}, next{};
    {
      std::unique_lock l(mu);
      auto it = schedules.find(key);
      if (it == schedules.end() || it->second.uid != uid || it->second.text != text) {
        l.unlock();
        auto parsed = workflow::Schedule::parse(text);
        if (!parsed) {
          warn(key, "spec.schedule: " + parsed.status().message());
          std::lock_guard l2(mu);
          schedules.erase(key);
          return client::ReconcileResult::done();
        }
        l.lock();
        Sched s{uid, text, std::move(parsed.value()), {}};
        s.next = s.schedule.next(now);  // from now: no catch-up
        it = schedules.insert_or_assign(key, std::move(s)).first;
      }
      Sched& s = it->second;
      if (now >= s.next) {
        scheduled = s.next;
        // The next time after the one just due, unless that is past too (a
        // late wake-up, a suspend): then from now.
        SysTime n = s.schedule.next(scheduled);
        if (n <= now) n = s.schedule.next(now);
        s.next = n;
        const bool forbid = sfield(spec, "concurrencyPolicy") == "Forbid";
        if (forbid && running.count(key)) {
          skip = true;
        } else {
          fire = true;
          ++running[key];
        }
      }
      next = s.next;
    }
    if (fire) {
      Json event = {{"type", "schedule"}, {"scheduledTime", format_rfc3339(scheduled)}, {"time", format_rfc3339(now)}};
      if (!submit(key, obj, std::move(event), true)) {
        Status st = record_trigger_skipped(api_client(), *obj,
                                           "skipped the firing due at " + format_rfc3339(scheduled) +
                                               ": the firing queue is full",
                                           fire_options());
        if (!st) spdlog::warn("trigger {}: {}", key, st.to_string());
      }
    }
    if (skip) {
      Status st = record_trigger_skipped(api_client(), *obj,
                                         "skipped the firing due at " + format_rfc3339(scheduled) +
                                             ": the previous firing is still running (concurrencyPolicy Forbid)",
                                         fire_options());
      if (!st) spdlog::warn("trigger {}: {}", key, st.to_string());
    }
    const std::string want = format_rfc3339(next);
    if (sfield(status, "nextFire") != want) {
      auto r = write_next_fire(*obj, want);
      if (r.action() == client::ReconcileResult::Action::kError) return r;
    }
    auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(next - clock().now());
    if (wait < std::chrono::milliseconds(1)) wait = std::chrono::milliseconds(1);
    return client::ReconcileResult::requeue_after(wait);
  }

  bool watching(const std::string& key) {
    std::lock_guard l(mu);
    if (schedules.count(key)) return true;
    for (const auto& [k, kw] : kinds) {
      if (kw.informer && kw.informer->has_synced() && kw.subs.count(key)) return true;
    }
    return false;
  }

  client::ReconcileResult write_next_fire(const Json& obj, const Json& value) {
    Json patch = {{"status", {{"nextFire", value}}}};
    auto r = api_client().patch(*trigger_type, api::meta_string(obj, "namespace"), api::meta_string(obj, "name"),
                                client::PatchType::kMerge, patch, "status");
    if (!r && r.status().code() != Code::kNotFound) return client::ReconcileResult::error(r.status());
    return client::ReconcileResult::done();
  }
};

TriggerController::TriggerController(client::SharedInformerFactory& factory, TriggerControllerOptions opts,
                                     Clock& clock) {
  auto impl = std::make_unique<Impl>(factory, opts, clock);
  impl_ = impl.get();
  set_impl(std::move(impl));
}

TriggerController::TriggerController(client::Client& client, TriggerControllerOptions opts, Clock& clock) {
  auto impl = std::make_unique<Impl>(own_factory(client), opts, clock);
  impl_ = impl.get();
  set_impl(std::move(impl));
}

bool TriggerController::watching(const std::string& trigger_key) const { return impl_->watching(trigger_key); }

}  // namespace minik8s::serverless
