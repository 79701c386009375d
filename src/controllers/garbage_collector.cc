// GarbageCollector (Kubernetes pkg/controller/garbagecollector, simplified):
// a client::Controller (two workers) over object uids. One shared informer
// per watched kind (from the factory: the Pod and ReplicaSet caches are the
// other controllers') feeds a graph uid → object plus an index owner uid →
// dependent uids. reconcile(uid):
//  - an object being deleted with the `orphan` finalizer: strip its
//    ownerReferences from every dependent, then drop the finalizer;
//  - one being deleted with `foregroundDeletion`: delete the dependents whose
//    reference blocks the owner (blockOwnerDeletion), and drop the finalizer
//    once none is left (the API server then removes the object);
//  - any other object with ownerReferences: owners absent from the graph are
//    checked with a live GET (404 or another uid → dangling). No live owner
//    → delete it (Background, or Foreground when an owner waits on it in the
//    foreground and it has dependents itself); live owners besides dangling
//    or waiting ones → the references to those are removed.
// Events that can change a decision enqueue the affected uids: an object
// with owners (on add/update), the dependents of a deleted object, and
// deleting owners whenever one of their dependents changes.
// The workers do not wait for every cache (a kind that cannot be listed must
// not stall the collector): the handlers are registered with
// watch(..., wait_for_cache = false), and on_synced() waits for the caches at
// most kSyncWait on the injected clock, then the workers start deciding.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "minik8s/api/review_kinds.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/informer.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/controllers/controllers.h"
#include "names.h"

namespace minik8s::controllers {

namespace {

constexpr int kWorkers = 2;
constexpr auto kSyncWait = std::chrono::seconds(30);
constexpr const char* kOrphan = "orphan";
constexpr const char* kForeground = "foregroundDeletion";

const Json& meta(const Json& o) { return field(o, "metadata"); }
std::string uid_of(const Json& o) { return sfield(meta(o), "uid"); }
bool terminating(const Json& o) { return !field(meta(o), "deletionTimestamp").is_null(); }

bool has_finalizer(const Json& o, const char* name) {
  const Json& f = field(meta(o), "finalizers");
  if (!f.is_array()) return false;
  for (const Json& x : f) {
    if (x.is_string() && x.get<std::string>() == name) return true;
  }
  return false;
}

std::vector<std::string> owner_uids(const Json& o) {
  std::vector<std::string> out;
  const Json& refs = field(meta(o), "ownerReferences");
  if (!refs.is_array()) return out;
  for (const Json& r : refs) {
    std::string u = sfield(r, "uid");
    if (!u.empty()) out.push_back(u);
  }
  return out;
}

const Json* ref_to(const Json& o, const std::string& owner_uid) {
  const Json& refs = field(meta(o), "ownerReferences");
  if (!refs.is_array()) return nullptr;
  for (const Json& r : refs) {
    if (sfield(r, "uid") == owner_uid) return &r;
  }
  return nullptr;
}

bool blocks(const Json& ref) {
  const Json& b = field(ref, "blockOwnerDeletion");
  return b.is_boolean() && b.get<bool>();
}

}  // namespace

struct GarbageCollector::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, GarbageCollectorOptions o, Clock& clk)
      : client::Controller(f,
                           {"garbage-collector", kWorkers, std::chrono::milliseconds(10),
                            std::chrono::seconds(30)},
                           clk),
        client(f.client()),
        opts(std::move(o)) {}
  ~Impl() override { stop(); }

  struct Node {
    const api::ResourceType* type = nullptr;
    ObjectPtr obj;
  };

  client::Client& client;
  const GarbageCollectorOptions opts;
  // Shared informers (owned by the factory); set up by setup(), read-only
  // after.
  std::vector<const client::Informer*> informers;
  std::vector<const api::ResourceType*> watched;

  std::mutex mu;
  // Guarded by mu:
  std::map<std::string, Node> graph;                        // uid → object
  std::map<std::string, std::set<std::string>> dependents;  // owner uid → dependent uids

  Status setup() override;

  // ---- graph maintenance (informer threads).

  void link(const std::string& uid, const Json& obj, bool add) {
    for (const auto& o : owner_uids(obj)) {
      if (add) {
        dependents[o].insert(uid);
      } else if (auto it = dependents.find(o); it != dependents.end()) {
        it->second.erase(uid);
        if (it->second.empty()) dependents.erase(it);
      }
    }
  }

  // Deleting owners among obj's owners: a dependent of theirs changed.
  void enqueue_waiting_owners_locked(const Json& obj, std::vector<std::string>& out) {
    for (const auto& o : owner_uids(obj)) {
      auto it = graph.find(o);
      if (it != graph.end() && terminating(*it->second.obj)) out.push_back(o);
    }
  }

  void on_upsert(const api::ResourceType* type, const ObjectPtr& old_obj, const ObjectPtr& obj) {
    std::string uid = uid_of(*obj);
    if (uid.empty()) return;
    std::vector<std::string> work;
    {
      std::lock_guard lock(mu);
      auto it = graph.find(uid);
      if (it != graph.end()) link(uid, *it->second.obj, false);
      graph[uid] = Node{type, obj};
      link(uid, *obj, true);
      enqueue_waiting_owners_locked(*obj, work);
      if (old_obj) enqueue_waiting_owners_locked(*old_obj, work);
    }
    if (!owner_uids(*obj).empty()) work.push_back(uid);
    if (terminating(*obj) && (has_finalizer(*obj, kOrphan) || has_finalizer(*obj, kForeground)))
      work.push_back(uid);
    for (const auto& w : work) enqueue(w);
  }

  void on_delete(const ObjectPtr& obj) {
    std::string uid = uid_of(*obj);
    if (uid.empty()) return;
    std::vector<std::string> work;
    {
      std::lock_guard lock(mu);
      auto it = graph.find(uid);
      if (it != graph.end()) {
        link(uid, *it->second.obj, false);
        graph.erase(it);
      }
      if (auto d = dependents.find(uid); d != dependents.end())
        work.assign(d->second.begin(), d->second.end());
      enqueue_waiting_owners_locked(*obj, work);
    }
    for (const auto& w : work) enqueue(w);
  }

  // ---- workers.

  bool synced() const {
    for (const client::Informer* inf : informers) {
      if (!inf->has_synced()) return false;
    }
    return true;
  }

  // Deciding before every cache has synced is safe (an owner missing from
  // the graph is checked with a live GET), only slower: one kind that
  // cannot be listed must not stall the collector.
  void on_synced() override {
    auto give_up = clock().monotonic() + kSyncWait;
    while (!stopping() && !synced() && clock().monotonic() < give_up)
      std::this_thread::sleep_for(10ms);
    if (!stopping() && !synced())
      spdlog::warn("garbage-collector: not every informer synced within 30 s; starting anyway");
  }

  // An error is logged and retried with the uid's backoff by the base.
  client::ReconcileResult reconcile(const std::string& uid) override { return process(uid); }

  std::optional<Node> node(const std::string& uid) {
    std::lock_guard lock(mu);
    auto it = graph.find(uid);
    if (it == graph.end()) return std::nullopt;
    return it->second;
  }

  std::vector<Node> dependents_of(const std::string& uid) {
    std::lock_guard lock(mu);
    std::vector<Node> out;
    auto it = dependents.find(uid);
    if (it == dependents.end()) return out;
    for (const auto& d : it->second) {
      auto g = graph.find(d);
      if (g != graph.end()) out.push_back(g->second);
    }
    return out;
  }

  bool has_dependents(const std::string& uid) {
    std::lock_guard lock(mu);
    auto it = dependents.find(uid);
    return it != dependents.end() && !it->second.empty();
  }

  // Whether `n` has dependents, asking the API server when the graph knows
  // none: a dependent created just before may not have reached its informer
  // yet, and deleting its owner in the background instead of the foreground
  // would let a foreground chain finish before that dependent is gone.
  bool has_dependents_now(const Node& n) {
    return has_dependents(uid_of(*n.obj)) || !dependents_live(n).empty();
  }

  Status process(const std::string& uid) {
    auto n = node(uid);
    if (!n) return Status::ok();
    const Json& obj = *n->obj;
    if (terminating(obj)) {
      if (has_finalizer(obj, kOrphan)) return orphan_dependents(*n);
      if (has_finalizer(obj, kForeground)) return delete_dependents(*n);
      return Status::ok();
    }
    return check_owners(*n);
  }

  enum class OwnerState { kSolid, kDangling, kWaiting };

  Result<OwnerState> owner_state(const Json& dependent, const Json& ref) {
    std::string ouid = sfield(ref, "uid");
    if (auto o = node(ouid)) {
      return terminating(*o->obj) && has_finalizer(*o->obj, kForeground) ? OwnerState::kWaiting
                                                                         : OwnerState::kSolid;
    }
    // Absent from the cache: the cache may lag; ask the API server.
    const api::ResourceType* t = api::find_kind(sfield(ref, "apiVersion"), sfield(ref, "kind"));
    if (!t) {
      spdlog::debug("garbage-collector: owner kind {} {} unknown; keeping {}",
                    sfield(ref, "apiVersion"), sfield(ref, "kind"), uid_of(dependent));
      return OwnerState::kSolid;
    }
    std::string ns = t->namespaced ? sfield(meta(dependent), "namespace") : "";
    if (t->namespaced && ns.empty())
      return OwnerState::kSolid;  // invalid reference: leave it alone
    auto live = client.get(*t, ns, sfield(ref, "name"));
    if (!live) {
      if (live.status().code() == Code::kNotFound) return OwnerState::kDangling;
      return live.status();
    }
    if (uid_of(*live) != ouid) return OwnerState::kDangling;
    return terminating(*live) && has_finalizer(*live, kForeground) ? OwnerState::kWaiting
                                                                   : OwnerState::kSolid;
  }

  Status check_owners(const Node& n, bool fresh_read = false) {
    const Json& obj = *n.obj;
    const Json& refs = field(meta(obj), "ownerReferences");
    if (!refs.is_array() || refs.empty()) return Status::ok();
    std::set<std::string> solid, gone;  // gone: dangling or waiting
    bool waiting = false;
    for (const Json& r : refs) {
      auto st = owner_state(obj, r);
      if (!st) return st.status();
      std::string u = sfield(r, "uid");
      if (*st == OwnerState::kSolid) {
        solid.insert(u);
      } else {
        gone.insert(u);
        waiting = waiting || *st == OwnerState::kWaiting;
      }
    }
    if (!solid.empty()) {
      if (gone.empty()) return Status::ok();
      return remove_refs(n, gone);
    }
    if (!fresh_read) {
      // About to delete: decide again on the live object (the cache may hold
      // references an orphaning owner has already stripped).
      const Json& m = meta(obj);
      auto live = client.get(*n.type, sfield(m, "namespace"), sfield(m, "name"));
      if (!live) return live.status().code() == Code::kNotFound ? Status::ok() : live.status();
      if (uid_of(*live) != uid_of(obj)) return Status::ok();
      return check_owners(Node{n.type, std::make_shared<const Json>(std::move(*live))}, true);
    }
    std::string policy = "Background";
    if (has_finalizer(obj, kOrphan)) {
      policy = "Orphan";
    } else if (has_finalizer(obj, kForeground) || (waiting && has_dependents_now(n))) {
      policy = "Foreground";
    }
    return delete_object(n, policy);
  }

  Status delete_object(const Node& n, const std::string& policy) {
    const Json& m = meta(*n.obj);
    Json opts_body = {
        {"apiVersion", "v1"},
        {"kind", "DeleteOptions"},
        {"propagationPolicy", policy},
        {"preconditions",
         {{"uid", sfield(m, "uid")}, {"resourceVersion", sfield(m, "resourceVersion")}}}};
    auto r = client.remove(*n.type, sfield(m, "namespace"), sfield(m, "name"), &opts_body);
    if (!r && r.status().code() != Code::kNotFound && r.status().code() != Code::kConflict)
      return r.status();
    if (r) {
      spdlog::info("garbage-collector: deleted {} {}/{} ({}; owners gone)", n.type->kind,
                   sfield(m, "namespace"), sfield(m, "name"), policy);
    }
    return Status::ok();
  }

  // Merge patch of the ownerReferences without `drop`, guarded by the
  // resourceVersion of a fresh read.
  Status remove_refs(const Node& n, const std::set<std::string>& drop) {
    const Json& m = meta(*n.obj);
    auto fresh = client.get(*n.type, sfield(m, "namespace"), sfield(m, "name"));
    if (!fresh) return fresh.status().code() == Code::kNotFound ? Status::ok() : fresh.status();
    if (uid_of(*fresh) != sfield(m, "uid")) return Status::ok();
    Json refs = Json::array();
    bool changed = false;
    const Json& cur = field(meta(*fresh), "ownerReferences");
    if (cur.is_array()) {
      for (const Json& r : cur) {
        if (drop.count(sfield(r, "uid"))) {
          changed = true;
        } else {
          refs.push_back(r);
        }
      }
    }
    if (!changed) return Status::ok();
    Json patch = {{"metadata",
                   {{"resourceVersion", sfield(meta(*fresh), "resourceVersion")},
                    {"ownerReferences", refs.empty() ? Json(nullptr) : refs}}}};
    auto r = client.patch(*n.type, sfield(m, "namespace"), sfield(m, "name"),
                          client::PatchType::kMerge, patch);
    if (!r && r.status().code() != Code::kNotFound) return r.status();
    return Status::ok();
  }

  Status remove_finalizer(const Node& n, const char* finalizer) {
    const Json& m = meta(*n.obj);
    auto fresh = client.get(*n.type, sfield(m, "namespace"), sfield(m, "name"));
    if (!fresh) return fresh.status().code() == Code::kNotFound ? Status::ok() : fresh.status();
    if (uid_of(*fresh) != sfield(m, "uid") || !has_finalizer(*fresh, finalizer))
      return Status::ok();
    Json keep = Json::array();
    for (const Json& f : field(meta(*fresh), "finalizers")) {
      if (!(f.is_string() && f.get<std::string>() == finalizer)) keep.push_back(f);
    }
    Json patch = {
        {"metadata",
         {{"resourceVersion", sfield(meta(*fresh), "resourceVersion")}, {"finalizers", keep}}}};
    auto r = client.patch(*n.type, sfield(m, "namespace"), sfield(m, "name"),
                          client::PatchType::kMerge, patch);
    if (!r && r.status().code() != Code::kNotFound) return r.status();
    spdlog::info("garbage-collector: {} {}/{}: removed finalizer {}", n.type->kind,
                 sfield(m, "namespace"), sfield(m, "name"), finalizer);
    return Status::ok();
  }

  // The dependents from a live list of every watched kind, besides the
  // graph's: a dependent created just before the owner's deletion may not
  // have reached its informer yet, and orphaning must not miss it (it would
  // keep a reference to a gone owner and be collected). `referenced`, when
  // given, receives the uid of every owner any listed object refers to.
  std::vector<Node> dependents_live(const Node& owner,
                                    std::set<std::string>* referenced = nullptr) {
    std::string ouid = uid_of(*owner.obj);
    std::vector<Node> out = dependents_of(ouid);
    std::set<std::string> seen;
    for (const Node& d : out) seen.insert(uid_of(*d.obj));
    std::string ons = sfield(meta(*owner.obj), "namespace");
    for (const api::ResourceType* t : watched) {
      if (t->namespaced == false && !ons.empty())
        continue;  // a namespaced owner has no cluster-scoped dependents
      auto list = client.list(*t, t->namespaced ? ons : "");
      if (!list) continue;
      const Json& items = field(*list, "items");
      if (!items.is_array()) continue;
      for (const Json& item : items) {
        if (referenced) {
          const Json& refs = field(meta(item), "ownerReferences");
          if (refs.is_array()) {
            for (const Json& r : refs) referenced->insert(sfield(r, "uid"));
          }
        }
        if (!ref_to(item, ouid) || seen.count(uid_of(item))) continue;
        seen.insert(uid_of(item));
        out.push_back(Node{t, std::make_shared<const Json>(item)});
      }
    }
    return out;
  }

  Status orphan_dependents(const Node& owner) {
    std::string ouid = uid_of(*owner.obj);
    for (const Node& d : dependents_live(owner)) {
      Status st = remove_refs(d, {ouid});
      if (!st.is_ok()) return st;
    }
    return remove_finalizer(owner, kOrphan);
  }

  Status delete_dependents(const Node& owner) {
    std::string ouid = uid_of(*owner.obj);
    int blocking = 0;
    std::set<std::string> referenced;  // one live listing answers has-dependents for every d
    for (const Node& d : dependents_live(owner, &referenced)) {
      const Json* ref = ref_to(*d.obj, ouid);
      if (!ref || !blocks(*ref)) continue;  // non-blocking: collected once the owner is gone
      ++blocking;
      if (terminating(*d.obj)) continue;
      bool has_deps = has_dependents(uid_of(*d.obj)) || referenced.count(uid_of(*d.obj)) > 0;
      Status st = delete_object(d, has_deps ? "Foreground" : "Background");
      if (!st.is_ok()) return st;
    }
    if (blocking > 0) return Status::ok();  // the dependents' deletions re-enqueue us
    return remove_finalizer(owner, kForeground);
  }
};

GarbageCollector::GarbageCollector(client::Client& client, GarbageCollectorOptions options) {
  set_impl(std::make_unique<Impl>(own_factory(client), std::move(options), real_clock()));
}

GarbageCollector::GarbageCollector(client::SharedInformerFactory& factory,
                                   GarbageCollectorOptions options, Clock& clock) {
  set_impl(std::make_unique<Impl>(factory, std::move(options), clock));
}

Status GarbageCollector::Impl::setup() {
  Impl& s = *this;
  std::vector<const api::ResourceType*> kinds;
  if (s.opts.kinds.empty()) {
    for (const api::ResourceType* t : api::all_resources()) {
      if (t->kind == "Event" || api::answered_not_stored(*t)) continue;
      kinds.push_back(t);
    }
  } else {
    for (const std::string& k : s.opts.kinds) {
      auto slash = k.rfind('/');
      const api::ResourceType* t = slash == std::string::npos
                                       ? nullptr
                                       : api::find_kind(k.substr(0, slash), k.substr(slash + 1));
      if (!t)
        return Status(Code::kBadRequest,
                      "garbage collector: unknown kind \"" + k + "\" (want apiVersion/Kind)");
      kinds.push_back(t);
    }
  }
  for (const api::ResourceType* t : kinds) {
    client::Informer& inf = factory().informer(*t);
    watch(inf,
          {[&s, t](const ObjectPtr& o) { s.on_upsert(t, nullptr, o); },
           [&s, t](const ObjectPtr& a, const ObjectPtr& b) { s.on_upsert(t, a, b); },
           [&s](const ObjectPtr& o) { s.on_delete(o); }},
          /*wait_for_cache=*/false);
    s.informers.push_back(&inf);
    s.watched.push_back(t);
  }
  return Status::ok();
}

}  // namespace minik8s::controllers
