// ReplicaSetController: a client::Controller (Kubernetes
// pkg/controller/replicaset) on the factory's shared ReplicaSet and Pod
// informers, two workers over a queue of ReplicaSet keys. Handlers map a pod
// event to its controlling ReplicaSet (or, for an orphan, every ReplicaSet
// whose selector matches), lower expectations and enqueue; reconcile() claims
// pods (adopt / release), creates or deletes the difference when expectations
// are satisfied, writes status on change, and asks to look again when a ready
// pod becomes available (minReadySeconds). The decisions themselves live in
// replicaset_pods.{h,cc}.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "minik8s/api/selector.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/event_recorder.h"
#include "minik8s/client/informer.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/controllers/controllers.h"
#include "names.h"
#include "replicaset_pods.h"

namespace minik8s::controllers {

namespace {

constexpr int kWorkers = 2;
constexpr int kMaxParallelWrites = 16;
constexpr auto kResync = std::chrono::seconds(30);
const char* const kComponent = "replicaset-controller";

const Json& meta(const Json& o) { return field(o, "metadata"); }

// Runs fn(i) for i in [0, n) on up to kMaxParallelWrites threads.
void parallel_for(int n, const std::function<void(int)>& fn) {
  if (n <= 0) return;
  int threads = std::min(n, kMaxParallelWrites);
  if (threads == 1) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<int> next{0};
  std::vector<std::jthread> pool;
  pool.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = next++; i < n; i = next++) fn(i);
    });
  }
}

}  // namespace

struct ReplicaSetController::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, ReplicaSetOptions o, Clock& k)
      : client::Controller(f, {"replicaset", kWorkers, std::chrono::milliseconds(5), std::chrono::seconds(60)}, k),
        client(f.client()),
        opts(o) {}
  ~Impl() override { stop(); }

  client::Client& client;
  const ReplicaSetOptions opts;
  const api::ResourceType* rs_type = nullptr;
  const api::ResourceType* pod_type = nullptr;
  const api::ResourceType* event_type = nullptr;
  // Shared informers, owned by the factory.
  client::Informer* sets = nullptr;
  client::Informer* pods = nullptr;
  rs::Expectations expectations{std::chrono::minutes(5), clock()};

  Status setup() override;

  // ---- handlers (informer threads): expectations + enqueue only.

  // The cached ReplicaSet a controller ref names (same uid), as its key.
  std::string resolve(const std::string& ns, const Json& ref) {
    if (sfield(ref, "kind") != "ReplicaSet") return "";
    std::string api_version = sfield(ref, "apiVersion");
    if (api_version.rfind("apps/", 0) != 0) return "";
    std::string key = ns + "/" + sfield(ref, "name");
    ObjectPtr set = sets->indexer().get(key);
    if (!set || sfield(meta(*set), "uid") != sfield(ref, "uid")) return "";
    return key;
  }

  // Orphans: every ReplicaSet in the namespace whose selector matches.
  void enqueue_matching(const Json& pod) {
    std::string ns = sfield(meta(pod), "namespace");
    for (const auto& set : sets->indexer().by_index(client::kNamespaceIndex, ns)) {
      auto sel = api::LabelSelector::from_json(field(field(*set, "spec"), "selector"), true);
      if (sel && sel->matches_json(field(meta(pod), "labels"))) enqueue(client::object_key(*set));
    }
  }

  void on_pod_add(const ObjectPtr& pod) {
    if (rs::is_terminating(*pod)) {  // e.g. seen first after a restart
      on_pod_delete(pod);
      return;
    }
    std::string ns = sfield(meta(*pod), "namespace");
    if (const Json* ref = rs::controller_ref(*pod)) {
      std::string key = resolve(ns, *ref);
      if (key.empty()) return;
      expectations.creation_observed(key);
      enqueue(key);
      return;
    }
    enqueue_matching(*pod);
  }

  void on_pod_update(const ObjectPtr& old_pod, const ObjectPtr& pod) {
    if (sfield(meta(*old_pod), "resourceVersion") == sfield(meta(*pod), "resourceVersion")) {
      // Resync: nothing changed; the ReplicaSet resync covers it.
      return;
    }
    std::string ns = sfield(meta(*pod), "namespace");
    bool labels_changed = field(meta(*old_pod), "labels") != field(meta(*pod), "labels");
    if (rs::is_terminating(*pod) && !rs::is_terminating(*old_pod)) {
      // A graceful delete: the pod no longer counts; observe the deletion now
      // so that its replacement is created at once.
      on_pod_delete(pod);
      if (labels_changed) on_pod_delete(old_pod);
      return;
    }
    const Json* old_ref = rs::controller_ref(*old_pod);
    const Json* ref = rs::controller_ref(*pod);
    bool ref_changed = (old_ref == nullptr) != (ref == nullptr) ||
                       (old_ref && ref && sfield(*old_ref, "uid") != sfield(*ref, "uid"));
    if (ref_changed && old_ref) {
      std::string key = resolve(ns, *old_ref);
      if (!key.empty()) enqueue(key);
    }
    if (ref) {
      std::string key = resolve(ns, *ref);
      if (key.empty()) return;
      enqueue(key);
      // Becoming ready starts the minReadySeconds clock: check again then.
      if (!rs::is_pod_ready(*old_pod) && rs::is_pod_ready(*pod)) {
        if (ObjectPtr set = sets->indexer().get(key)) {
          const Json& mrs = field(field(*set, "spec"), "minReadySeconds");
          if (mrs.is_number_integer() && mrs.get<int64_t>() > 0) {
            enqueue_after(key, std::chrono::seconds(mrs.get<int64_t>()) + 10ms);
          }
        }
      }
      return;
    }
    if (labels_changed || ref_changed) enqueue_matching(*pod);
  }

  void on_pod_delete(const ObjectPtr& pod) {
    const Json* ref = rs::controller_ref(*pod);
    if (!ref) return;
    std::string key = resolve(sfield(meta(*pod), "namespace"), *ref);
    if (key.empty()) return;
    expectations.deletion_observed(key, client::object_key(*pod));
    enqueue(key);
  }

  // ---- reconcile (the workers; never two for one key at once).

  void record_event(const Json& set, const std::string& type, const std::string& reason, const std::string& message) {
    Json ev = client::make_event(set, "apps/v1", "ReplicaSet", type, reason, message, kComponent);
    auto r = client.create(*event_type, ev);
    if (!r) spdlog::debug("replicaset: recording event: {}", r.status().to_string());
  }

  // Adoption / release (ControllerRefManager.ClaimPods). Returns the active
  // pods this ReplicaSet controls after claiming.
  std::vector<ObjectPtr> claim(const Json& set, const api::LabelSelector& sel, const std::vector<ObjectPtr>& all,
                               Status& err) {
    const std::string uid = sfield(meta(set), "uid");
    const bool set_deleting = rs::is_terminating(set);
    std::vector<ObjectPtr> out;
    bool adoption_checked = false, can_adopt = false;
    for (const ObjectPtr& pod : all) {
      const Json* ref = rs::controller_ref(*pod);
      bool matches = sel.matches_json(field(meta(*pod), "labels"));
      if (ref) {
        if (sfield(*ref, "uid") != uid) continue;  // someone else's
        if (matches) {
          out.push_back(pod);
          continue;
        }
        if (set_deleting) continue;
        Status st = patch_owner_refs(*pod, uid, false, set);
        if (!st.is_ok() && st.code() != Code::kNotFound) err = st;
        continue;
      }
      if (!matches || set_deleting || rs::is_terminating(*pod)) continue;
      if (!adoption_checked) {
        // Recheck with a live read that we still exist and are not being
        // deleted (a stale cache must not adopt for a dead owner).
        adoption_checked = true;
        auto fresh = client.get(*rs_type, sfield(meta(set), "namespace"), sfield(meta(set), "name"));
        can_adopt = fresh && sfield(meta(*fresh), "uid") == uid && !rs::is_terminating(*fresh);
      }
      if (!can_adopt) continue;
      Status st = patch_owner_refs(*pod, uid, true, set);
      if (st.is_ok()) {
        out.push_back(pod);
      } else if (st.code() != Code::kNotFound && st.code() != Code::kInvalid) {
        err = st;  // kInvalid: the uid test failed — a different pod now
      }
    }
    return out;
  }

  // JSON patch guarded by a uid test: adds our controller ref (adopt) or
  // drops every ref to uid (release).
  Status patch_owner_refs(const Json& pod, const std::string& uid, bool adopt, const Json& set) {
    Json refs = Json::array();
    const Json& cur = field(meta(pod), "ownerReferences");
    if (cur.is_array()) {
      for (const Json& r : cur) {
        if (sfield(r, "uid") != uid) refs.push_back(r);
      }
    }
    if (adopt) refs.push_back(rs::owner_ref_for(set));
    Json ops = Json::array({{{"op", "test"}, {"path", "/metadata/uid"}, {"value", sfield(meta(pod), "uid")}},
                            {{"op", "test"}, {"path", "/metadata/resourceVersion"},
                             {"value", sfield(meta(pod), "resourceVersion")}}});
    if (refs.empty()) {
      ops.push_back({{"op", "remove"}, {"path", "/metadata/ownerReferences"}});
    } else {
      ops.push_back({{"op", "add"}, {"path", "/metadata/ownerReferences"}, {"value", refs}});
    }
    auto r = client.patch(*pod_type, sfield(meta(pod), "namespace"), sfield(meta(pod), "name"),
                          client::PatchType::kJson, ops);
    if (!r) {
      // A failed test (stale cache) is retried on the next event / requeue.
      return r.status().code() == Code::kInvalid ? Status(Code::kConflict, r.status().message()) : r.status();
    }
    spdlog::info("replicaset: {} pod {}/{} {}", adopt ? "adopted" : "released", sfield(meta(pod), "namespace"),
                 sfield(meta(pod), "name"), adopt ? "" : "(labels no longer match)");
    return Status::ok();
  }

  // Creates or deletes the difference; "" or the first error message.
  std::string manage(const std::string& key, const Json& set, const std::vector<ObjectPtr>& active, int want,
                     bool& scaling_up) {
    int diff = static_cast<int>(active.size()) - want;
    scaling_up = diff < 0;
    if (diff == 0) return "";
    const std::string ns = sfield(meta(set), "namespace");
    if (diff < 0) {
      int n = std::min(-diff, opts.burst);
      expectations.expect_creations(key, n);
      Json pod = rs::pod_from_template(set);
      std::string first_error;
      std::mutex mu;
      // Slow start: batches of 1, 2, 4, ...; stop at the first failing batch.
      int done = 0;
      for (int batch = 1; done < n; batch *= 2) {
        int size = std::min(batch, n - done);
        std::atomic<int> failed{0};
        parallel_for(size, [&](int) {
          auto r = client.create(*pod_type, pod, ns);
          if (r) {
            record_event(set, "Normal", "SuccessfulCreate", "Created pod: " + sfield(meta(*r), "name"));
            return;
          }
          failed++;
          // The informer will never see this pod.
          expectations.creation_observed(key);
          std::string msg = r.status().message();
          record_event(set, "Warning", "FailedCreate", "Error creating: " + msg);
          std::lock_guard lock(mu);
          if (first_error.empty()) first_error = msg.empty() ? r.status().to_string() : msg;
        });
        done += size;
        if (failed > 0) {
          if (done < n) expectations.creation_observed(key, n - done);  // skipped
          break;
        }
      }
      return first_error;
    }
    int n = std::min(diff, opts.burst);
    std::vector<const Json*> ptrs;
    ptrs.reserve(active.size());
    for (const auto& p : active) ptrs.push_back(p.get());
    std::vector<const Json*> victims = rs::pods_to_delete(ptrs, n);
    std::vector<std::string> keys;
    for (const Json* p : victims) keys.push_back(client::object_key(*p));
    expectations.expect_deletions(key, keys);
    std::string first_error;
    std::mutex mu;
    parallel_for(static_cast<int>(victims.size()), [&](int i) {
      const Json& p = *victims[i];
      std::string name = sfield(meta(p), "name");
      Json opts_body = {{"apiVersion", "v1"},
                        {"kind", "DeleteOptions"},
                        {"preconditions", {{"uid", sfield(meta(p), "uid")}}}};
      auto r = client.remove(*pod_type, ns, name, &opts_body);
      if (r) {
        record_event(set, "Normal", "SuccessfulDelete", "Deleted pod: " + name);
        return;
      }
      expectations.deletion_observed(key, keys[i]);
      if (r.status().code() == Code::kNotFound) return;
      record_event(set, "Warning", "FailedDelete", "Error deleting: " + r.status().message());
      std::lock_guard lock(mu);
      if (first_error.empty()) first_error = r.status().message();
    });
    return first_error;
  }

  client::ReconcileResult reconcile(const std::string& key) override {
    ObjectPtr cached = sets->indexer().get(key);
    if (!cached) {
      expectations.forget(key);
      return Status::ok();
    }
    const Json& set = *cached;
    auto [ns, name] = client::split_key(key);
    auto sel = api::LabelSelector::from_json(field(field(set, "spec"), "selector"), true);
    if (!sel) {
      spdlog::warn("replicaset: {}: bad selector: {}", key, sel.status().to_string());
      return Status::ok();  // validation should have refused it; nothing to do until it changes
    }
    const bool satisfied = expectations.satisfied(key);
    std::vector<ObjectPtr> active;
    for (const auto& p : pods->indexer().by_index(client::kNamespaceIndex, ns)) {
      if (rs::is_active_pod(*p)) active.push_back(p);
    }
    Status claim_err = Status::ok();
    std::vector<ObjectPtr> mine = claim(set, *sel, active, claim_err);

    int want = 1;
    const Json& r = field(field(set, "spec"), "replicas");
    if (r.is_number_integer()) want = static_cast<int>(std::max<int64_t>(0, r.get<int64_t>()));
    std::string manage_error;
    bool scaling_up = false;
    if (satisfied && !rs::is_terminating(set)) manage_error = manage(key, set, mine, want, scaling_up);

    std::vector<const Json*> ptrs;
    for (const auto& p : mine) ptrs.push_back(p.get());
    auto now = clock().now();
    Json wanted = rs::compute_status(set, ptrs, manage_error, scaling_up, now);
    Status st = write_status(set, wanted);

    // Ready pods not yet available: check again when the first one becomes so.
    std::chrono::milliseconds soonest(0);
    std::chrono::seconds min_ready(0);
    const Json& mrs = field(field(set, "spec"), "minReadySeconds");
    if (mrs.is_number_integer()) min_ready = std::chrono::seconds(mrs.get<int64_t>());
    if (min_ready.count() > 0) {
      for (const Json* p : ptrs) {
        std::chrono::milliseconds rem(0);
        if (!rs::is_pod_available(*p, min_ready, now, &rem) && rem.count() > 0 &&
            (soonest.count() == 0 || rem < soonest)) {
          soonest = rem;
        }
      }
    }
    if (!manage_error.empty()) {
      st = Status(Code::kUnavailable, manage_error);
    } else if (!claim_err.is_ok()) {
      st = claim_err;
    }
    if (soonest.count() > 0) {
      if (st.is_ok()) return client::ReconcileResult::requeue_after(soonest);
      enqueue_after(key, soonest);  // and the error's retry, whichever comes first
    }
    return st;
  }

  Status write_status(const Json& set, const Json& wanted) {
    if (!rs::status_differs(field(set, "status"), wanted)) return Status::ok();
    Json obj = set;
    obj["status"] = wanted;
    auto r = client.update_status(*rs_type, obj);
    if (r) return Status::ok();
    if (r.status().code() == Code::kNotFound) return Status::ok();
    if (r.status().code() != Code::kConflict) return r.status();
    // Stale cache: once more against a fresh read (Kubernetes does the same).
    auto fresh = client.get(*rs_type, sfield(meta(set), "namespace"), sfield(meta(set), "name"));
    if (!fresh) return fresh.status().code() == Code::kNotFound ? Status::ok() : fresh.status();
    if (sfield(meta(*fresh), "uid") != sfield(meta(set), "uid")) return Status::ok();
    Json next = *fresh;
    Json w = wanted;
    w["observedGeneration"] = field(meta(set), "generation");
    next["status"] = w;
    auto r2 = client.update_status(*rs_type, next);
    return r2 ? Status::ok() : r2.status();
  }
};

ReplicaSetController::ReplicaSetController(client::Client& client, ReplicaSetOptions options, Clock& clock) {
  set_impl(std::make_unique<Impl>(own_factory(client), options, clock));
}

ReplicaSetController::ReplicaSetController(client::SharedInformerFactory& factory, ReplicaSetOptions options,
                                           Clock& clock) {
  set_impl(std::make_unique<Impl>(factory, options, clock));
}

Status ReplicaSetController::Impl::setup() {
  Impl& s = *this;
  if (s.opts.burst < 1) return Status(Code::kBadRequest, "replicaset burst must be at least 1");
  s.rs_type = api::find_kind("apps/v1", "ReplicaSet");
  s.pod_type = api::find_kind("v1", "Pod");
  s.event_type = api::find_kind("v1", "Event");
  if (!s.rs_type || !s.pod_type || !s.event_type) return internal_error("the kind table lacks ReplicaSet, Pod or Event");

  client::InformerOptions rs_opts;
  rs_opts.resync = kResync;
  s.sets = &factory().informer(*s.rs_type, rs_opts);
  s.pods = &factory().informer(*s.pod_type);
  auto on_set = [&s](const ObjectPtr& o) { s.enqueue(client::object_key(*o)); };
  watch(*s.sets, {on_set, [on_set](const ObjectPtr&, const ObjectPtr& o) { on_set(o); },
                  [&s](const ObjectPtr& o) {
                    s.expectations.forget(client::object_key(*o));
                    s.enqueue(client::object_key(*o));
                  }});
  watch(*s.pods, {[&s](const ObjectPtr& p) { s.on_pod_add(p); },
                  [&s](const ObjectPtr& a, const ObjectPtr& b) { s.on_pod_update(a, b); },
                  [&s](const ObjectPtr& p) { s.on_pod_delete(p); }});
  return Status::ok();
}

}  // namespace minik8s::controllers
