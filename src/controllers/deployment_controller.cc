// DeploymentController: a client::Controller on the factory's shared
// Deployment, ReplicaSet and Pod informers, one worker over a queue of
// Deployment keys. The reconcile follows Kubernetes'
// pkg/controller/deployment (sync.go, rolling.go, recreate.go, progress.go):
// find the ReplicaSet whose template equals the Deployment's (ignoring
// pod-template-hash), scale it and the old ones within the strategy's bounds,
// then write status and conditions. Every RS write's answer replaces the
// cached copy for the rest of the pass; the next pass starts from the
// informer cache (a stale cache costs a 409 and a retry, never a wrong write).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "deployment_util.h"
#include "minik8s/api/selector.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/event_recorder.h"
#include "minik8s/client/informer.h"
#include "minik8s/client/informer_factory.h"
#include "minik8s/controllers/controllers.h"
#include "minik8s/util/time.h"
#include "names.h"

namespace minik8s::controllers {

namespace du = deployment;

namespace {

constexpr const char* kOwnerIndex = "controller-uid";
constexpr const char* kComponent = "deployment-controller";

// Progressing reasons (Kubernetes' deploymentutil).
constexpr const char* kNewRSCreated = "NewReplicaSetCreated";
constexpr const char* kFoundNewRS = "FoundNewReplicaSet";
constexpr const char* kRSUpdated = "ReplicaSetUpdated";
constexpr const char* kNewRSAvailable = "NewReplicaSetAvailable";
constexpr const char* kTimedOut = "ProgressDeadlineExceeded";
constexpr const char* kPaused = "DeploymentPaused";
constexpr const char* kResumed = "DeploymentResumed";

const Json& meta(const Json& o) { return field(o, "metadata"); }
std::string name_of(const Json& o) { return sfield(meta(o), "name"); }
std::string uid_of(const Json& o) { return sfield(meta(o), "uid"); }
std::string created_of(const Json& o) { return sfield(meta(o), "creationTimestamp"); }
bool deleting(const Json& o) { return !field(meta(o), "deletionTimestamp").is_null(); }
int64_t generation(const Json& o) {
  const Json& g = field(meta(o), "generation");
  return g.is_number_integer() ? g.get<int64_t>() : 0;
}

// The controller ownerReference (null when none).
const Json* controller_ref(const Json& o) {
  const Json& refs = field(meta(o), "ownerReferences");
  if (!refs.is_array()) return nullptr;
  for (const auto& r : refs) {
    if (field(r, "controller").is_boolean() && r["controller"].get<bool>()) return &r;
  }
  return nullptr;
}

bool is_paused(const Json& d) {
  const Json& p = field(field(d, "spec"), "paused");
  return p.is_boolean() && p.get<bool>();
}
bool is_recreate(const Json& d) { return sfield(field(field(d, "spec"), "strategy"), "type") == "Recreate"; }
bool has_progress_deadline(const Json& d) {
  const Json& p = field(field(d, "spec"), "progressDeadlineSeconds");
  // Kubernetes treats MaxInt32 as "no deadline"; absent is defaulted to 600.
  return !p.is_number_integer() || p.get<int64_t>() != 2147483647;
}
int64_t progress_deadline(const Json& d) {
  const Json& p = field(field(d, "spec"), "progressDeadlineSeconds");
  return p.is_number_integer() ? p.get<int64_t>() : 600;
}
int64_t min_ready_seconds(const Json& o) {
  const Json& p = field(field(o, "spec"), "minReadySeconds");
  return p.is_number_integer() ? p.get<int64_t>() : 0;
}

// Oldest first; ties by name (Kubernetes' ReplicaSetsByCreationTimestamp).
bool older(const Json& a, const Json& b) {
  std::string ca = created_of(a), cb = created_of(b);
  if (ca != cb) return ca < cb;
  return name_of(a) < name_of(b);
}

// ---- conditions

const Json* get_condition(const Json& status, const char* type) {
  const Json& conds = field(status, "conditions");
  if (!conds.is_array()) return nullptr;
  for (const auto& c : conds) {
    if (sfield(c, "type") == type) return &c;
  }
  return nullptr;
}

Json make_condition(SysTime at, const char* type, const char* status, const char* reason, const std::string& message) {
  std::string now = format_rfc3339(at);
  return {{"type", type},
          {"status", status},
          {"lastUpdateTime", now},
          {"lastTransitionTime", now},
          {"reason", reason},
          {"message", message}};
}

void remove_condition(Json& status, const char* type) {
  if (!status.contains("conditions") || !status["conditions"].is_array()) return;
  Json& conds = status["conditions"];
  for (auto it = conds.begin(); it != conds.end();) {
    if (sfield(*it, "type") == type) {
      it = conds.erase(it);
    } else {
      ++it;
    }
  }
}

// Kubernetes' SetDeploymentCondition: same status and reason → unchanged;
// same status → keeps lastTransitionTime.
void set_condition(Json& status, Json cond) {
  std::string type = sfield(cond, "type");
  if (const Json* cur = get_condition(status, type.c_str())) {
    if (sfield(*cur, "status") == sfield(cond, "status") && sfield(*cur, "reason") == sfield(cond, "reason")) return;
    if (sfield(*cur, "status") == sfield(cond, "status")) {
      if (field(*cur, "lastTransitionTime").is_string()) cond["lastTransitionTime"] = field(*cur, "lastTransitionTime");
    }
  }
  remove_condition(status, type.c_str());
  if (!status.contains("conditions") || !status["conditions"].is_array()) status["conditions"] = Json::array();
  status["conditions"].push_back(std::move(cond));
}

// ---- the set of ReplicaSets a pass works on

struct RsSet {
  std::optional<Json> new_rs;
  std::vector<Json> old;  // oldest first

  std::vector<Json> all() const {
    std::vector<Json> out = old;
    if (new_rs) out.push_back(*new_rs);
    return out;
  }
  // Replaces the copy of rs (by uid) with the server's answer.
  void replace(const Json& rs) {
    if (new_rs && uid_of(*new_rs) == uid_of(rs)) {
      new_rs = rs;
      return;
    }
    for (auto& o : old) {
      if (uid_of(o) == uid_of(rs)) o = rs;
    }
  }
};

int64_t sum_spec(const std::vector<Json>& rss) {
  int64_t n = 0;
  for (const auto& rs : rss) n += du::spec_replicas(rs);
  return n;
}
int64_t sum_status(const std::vector<Json>& rss, const char* key) {
  int64_t n = 0;
  for (const auto& rs : rss) n += du::status_int(rs, key);
  return n;
}
std::vector<Json> active(const std::vector<Json>& rss) {
  std::vector<Json> out;
  for (const auto& rs : rss) {
    if (du::spec_replicas(rs) > 0) out.push_back(rs);
  }
  return out;
}

// DeploymentComplete: everything updated, available, nothing old left.
bool deployment_complete(const Json& d, const Json& status) {
  int64_t replicas = du::spec_replicas(d);
  auto gi = [&](const char* k) {
    const Json& v = field(status, k);
    return v.is_number_integer() ? v.get<int64_t>() : 0;
  };
  return gi("updatedReplicas") == replicas && gi("replicas") == replicas && gi("availableReplicas") == replicas &&
         gi("observedGeneration") >= generation(d);
}

bool deployment_progressing(const Json& d, const Json& status) {
  const Json& old = field(d, "status");
  auto gi = [](const Json& s, const char* k) {
    const Json& v = field(s, k);
    return v.is_number_integer() ? v.get<int64_t>() : 0;
  };
  int64_t old_old = gi(old, "replicas") - gi(old, "updatedReplicas");
  int64_t new_old = gi(status, "replicas") - gi(status, "updatedReplicas");
  return gi(status, "updatedReplicas") > gi(old, "updatedReplicas") || new_old < old_old ||
         gi(status, "readyReplicas") > gi(old, "readyReplicas") ||
         gi(status, "availableReplicas") > gi(old, "availableReplicas");
}

bool deployment_timed_out(const Json& d, const Json& status, SysTime now) {
  if (!has_progress_deadline(d)) return false;
  const Json* c = get_condition(status, "Progressing");
  if (!c) return false;
  std::string reason = sfield(*c, "reason");
  if (reason == kNewRSAvailable) return false;
  if (reason == kTimedOut) return true;
  SysTime from;
  if (!parse_rfc3339(sfield(*c, "lastUpdateTime"), &from)) return false;
  return now > from + std::chrono::seconds(progress_deadline(d));
}

}  // namespace

struct DeploymentController::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, DeploymentOptions o, Clock& k)
      : client::Controller(f, {"deployment", 1, std::chrono::milliseconds(20), std::chrono::seconds(10)}, k),
        client(f.client()),
        options(std::move(o)) {}
  ~Impl() override { stop(); }

  client::Client& client;
  const DeploymentOptions options;
  const api::ResourceType* deploy_t = nullptr;
  const api::ResourceType* rs_t = nullptr;
  const api::ResourceType* pod_t = nullptr;
  const api::ResourceType* event_t = nullptr;
  // Shared informers, owned by the factory.
  client::Informer* deploys = nullptr;
  client::Informer* rses = nullptr;
  client::Informer* pods = nullptr;

  Status setup() override;

  // A condition stamped with the injected clock's time.
  Json new_condition(const char* type, const char* status, const char* reason, const std::string& message) {
    return make_condition(clock().now(), type, status, reason, message);
  }

  // ---- handlers (informer threads): only enqueue Deployment keys.

  void enqueue_owner_of_rs(const Json& rs) {
    const Json* ref = controller_ref(rs);
    std::string ns = sfield(meta(rs), "namespace");
    if (ref) {
      if (sfield(*ref, "kind") != "Deployment") return;
      ObjectPtr d = deploys->indexer().get(ns, sfield(*ref, "name"));
      if (d && uid_of(*d) == sfield(*ref, "uid")) enqueue(client::object_key(*d));
      return;
    }
    // An orphan: every Deployment whose selector matches may adopt it.
    for (const auto& d : deploys->indexer().by_index(client::kNamespaceIndex, ns)) {
      auto sel = api::LabelSelector::from_json(field(field(*d, "spec"), "selector"), true);
      if (sel && sel->matches_json(field(meta(rs), "labels"))) enqueue(client::object_key(*d));
    }
  }

  void on_pod_delete(const Json& pod) {
    const Json* ref = controller_ref(pod);
    if (!ref || sfield(*ref, "kind") != "ReplicaSet") return;
    ObjectPtr rs = rses->indexer().get(sfield(meta(pod), "namespace"), sfield(*ref, "name"));
    if (rs) enqueue_owner_of_rs(*rs);
  }

  // ---- reconcile (the worker)

  client::ReconcileResult reconcile(const std::string& key) override {
    Status st;
    try {
      st = sync_deployment(key);
    } catch (const std::exception& e) {  // malformed objects must not kill the worker
      st = internal_error(e.what());
    }
    if (st.code() == Code::kConflict) {
      // A stale cache: expected, retried with backoff, not worth a warning.
      spdlog::debug("deployment {}: {}", key, st.to_string());
      return client::ReconcileResult::requeue();
    }
    return st;
  }

  void record_event(const Json& d, const std::string& type, const std::string& reason, const std::string& message) {
    std::string ns = sfield(meta(d), "namespace");
    Json ev = client::make_event(d, "apps/v1", "Deployment", type, reason, message, kComponent);
    auto r = client.create(*event_t, ev, ns);
    if (!r) spdlog::debug("deployment: event {}: {}", reason, r.status().to_string());
  }

  Status sync_deployment(const std::string& key) {
    ObjectPtr cached = deploys->indexer().get(key);
    if (!cached) return Status::ok();  // its ReplicaSets go with the garbage collector
    Json d = *cached;
    auto sel = api::LabelSelector::from_json(field(field(d, "spec"), "selector"), true);
    if (!sel || sel->empty()) {
      record_event(d, "Warning", "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.");
      return Status::ok();
    }
    auto owned = claim_replica_sets(d, *sel);
    if (!owned) return owned.status();
    std::vector<Json> rs_list = std::move(owned.value());

    if (deleting(d)) return sync_status_only(d, rs_list);
    if (Status st = check_paused_conditions(d); !st.is_ok()) return st;
    if (is_paused(d)) return sync(d, rs_list);
    auto scaling = is_scaling_event(d, rs_list);
    if (scaling) return sync(d, rs_list);
    return is_recreate(d) ? rollout_recreate(d, rs_list) : rollout_rolling(d, rs_list);
  }

  // The ReplicaSets this Deployment controls, adopting matching orphans.
  Result<std::vector<Json>> claim_replica_sets(const Json& d, const api::LabelSelector& sel) {
    std::vector<Json> out;
    std::string ns = sfield(meta(d), "namespace");
    std::string uid = uid_of(d);
    for (const auto& rs : rses->indexer().by_index(client::kNamespaceIndex, ns)) {
      const Json* ref = controller_ref(*rs);
      if (ref) {
        if (sfield(*ref, "uid") == uid) out.push_back(*rs);
        continue;
      }
      if (deleting(*rs) || deleting(d) || !sel.matches_json(field(meta(*rs), "labels"))) continue;
      Json refs = field(meta(*rs), "ownerReferences").is_array() ? meta(*rs)["ownerReferences"] : Json::array();
      refs.push_back(owner_ref(d));
      Json patch = {{"metadata", {{"ownerReferences", refs}, {"resourceVersion", sfield(meta(*rs), "resourceVersion")}}}};
      auto r = client.patch(*rs_t, ns, name_of(*rs), client::PatchType::kMerge, patch);
      if (!r) {
        if (r.status().code() == Code::kNotFound) continue;
        return r.status();
      }
      spdlog::info("deployment {}/{}: adopted replica set {}", ns, name_of(d), name_of(*rs));
      out.push_back(*r);
    }
    return out;
  }

  static Json owner_ref(const Json& d) {
    return {{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"name", name_of(d)},
            {"uid", uid_of(d)},
            {"controller", true},
            {"blockOwnerDeletion", true}};
  }

  // Splits into the new ReplicaSet (template equal to the Deployment's;
  // the oldest if several) and the old ones.
  static RsSet split(const Json& d, std::vector<Json> rs_list) {
    std::sort(rs_list.begin(), rs_list.end(), older);
    RsSet set;
    const Json& tmpl = field(field(d, "spec"), "template");
    for (auto& rs : rs_list) {
      if (!set.new_rs && du::equal_ignore_hash(field(field(rs, "spec"), "template"), tmpl)) {
        set.new_rs = std::move(rs);
      } else {
        set.old.push_back(std::move(rs));
      }
    }
    return set;
  }

  // ---- status

  Status write_status(Json& d, Json status) {
    if (field(d, "status") == status) return Status::ok();
    Json obj = d;
    obj["status"] = std::move(status);
    auto r = client.update_status(*deploy_t, obj);
    if (!r) return r.status();
    d = std::move(r.value());
    return Status::ok();
  }

  Json calculate_status(const Json& d, const RsSet& set) {
    std::vector<Json> all = set.all();
    int64_t available = sum_status(all, "availableReplicas");
    int64_t total = sum_spec(all);
    int64_t unavailable = std::max<int64_t>(0, total - available);
    Json status = field(d, "status").is_object() ? d["status"] : Json::object();
    status["observedGeneration"] = generation(d);
    status["replicas"] = sum_status(all, "replicas");
    status["updatedReplicas"] = set.new_rs ? du::status_int(*set.new_rs, "replicas") : 0;
    status["readyReplicas"] = sum_status(all, "readyReplicas");
    status["availableReplicas"] = available;
    status["unavailableReplicas"] = unavailable;
    for (const char* k : {"replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"}) {
      if (status[k].get<int64_t>() == 0) status.erase(k);  // Go's omitempty, as kubectl shows it
    }
    if (available >= du::spec_replicas(d) - du::max_unavailable(d)) {
      set_condition(status, new_condition("Available", "True", "MinimumReplicasAvailable",
                                          "Deployment has minimum availability."));
    } else {
      set_condition(status, new_condition("Available", "False", "MinimumReplicasUnavailable",
                                          "Deployment does not have minimum availability."));
    }
    return status;
  }

  Status sync_status_only(Json& d, const std::vector<Json>& rs_list) {
    RsSet set = split(d, rs_list);
    return write_status(d, calculate_status(d, set));
  }

  Status sync_rollout_status(Json& d, const RsSet& set) {
    Json status = calculate_status(d, set);
    if (!has_progress_deadline(d)) remove_condition(status, "Progressing");
    const Json* cur = get_condition(status, "Progressing");
    bool complete =
        field(status, "replicas") == field(status, "updatedReplicas") && cur && sfield(*cur, "reason") == kNewRSAvailable;
    std::string rs_name = set.new_rs ? name_of(*set.new_rs) : "";
    if (has_progress_deadline(d) && !complete) {
      if (deployment_complete(d, status)) {
        set_condition(status, new_condition("Progressing", "True", kNewRSAvailable,
                                            "ReplicaSet \"" + rs_name + "\" has successfully progressed."));
      } else if (deployment_progressing(d, status)) {
        std::string msg = set.new_rs ? "ReplicaSet \"" + rs_name + "\" is progressing." : "Deployment is progressing.";
        Json cond = new_condition("Progressing", "True", kRSUpdated, msg);
        if (cur && sfield(*cur, "status") == "True") {
      if (field(*cur, "lastTransitionTime").is_string()) cond["lastTransitionTime"] = field(*cur, "lastTransitionTime");
    }
        remove_condition(status, "Progressing");
        set_condition(status, std::move(cond));
      } else if (deployment_timed_out(d, status, clock().now())) {
        std::string msg = set.new_rs ? "ReplicaSet \"" + rs_name + "\" has timed out progressing."
                                     : "Deployment \"" + name_of(d) + "\" has timed out progressing.";
        set_condition(status, new_condition("Progressing", "False", kTimedOut, msg));
      }
    }
    if (field(d, "status") == status) {
      requeue_stuck(d, status);
      return Status::ok();
    }
    Status st = write_status(d, std::move(status));
    if (st.is_ok()) requeue_stuck(d, field(d, "status"));
    return st;
  }

  // A rollout that makes no progress produces no events; look again when
  // its deadline passes.
  void requeue_stuck(const Json& d, const Json& status) {
    const Json* c = get_condition(status, "Progressing");
    if (!c || !has_progress_deadline(d)) return;
    std::string reason = sfield(*c, "reason");
    if (reason == kNewRSAvailable || reason == kTimedOut || deployment_complete(d, status)) return;
    SysTime from;
    if (!parse_rfc3339(sfield(*c, "lastUpdateTime"), &from)) return;
    auto after = from + std::chrono::seconds(progress_deadline(d)) - clock().now();
    std::string key = client::object_key(d);
    if (after < 1s) {
      enqueue_after(key, 1s);
    } else {
      enqueue_after(key, std::chrono::duration_cast<std::chrono::nanoseconds>(after) + 100ms);
    }
  }

  Status check_paused_conditions(Json& d) {
    if (!has_progress_deadline(d)) return Status::ok();
    Json status = field(d, "status").is_object() ? d["status"] : Json::object();
    const Json* c = get_condition(status, "Progressing");
    if (c && sfield(*c, "reason") == kTimedOut) return Status::ok();
    bool paused_cond = c && sfield(*c, "reason") == kPaused;
    if (is_paused(d) && !paused_cond) {
      set_condition(status, new_condition("Progressing", "Unknown", kPaused, "Deployment is paused"));
    } else if (!is_paused(d) && paused_cond) {
      set_condition(status, new_condition("Progressing", "Unknown", kResumed, "Deployment is resumed"));
    } else {
      return Status::ok();
    }
    return write_status(d, std::move(status));
  }

  // ---- ReplicaSets

  // Annotations of the new RS: the Deployment's (minus the controller's
  // own), revision, desired/max replicas. True when rs changed.
  static bool set_new_rs_annotations(const Json& d, Json& rs, int64_t revision) {
    Json before = field(meta(rs), "annotations");
    Json ann = before.is_object() ? before : Json::object();
    const Json& dann = field(meta(d), "annotations");
    if (dann.is_object()) {
      for (auto it = dann.begin(); it != dann.end(); ++it) {
        std::string k = it.key();
        if (k == du::kLastAppliedAnnotation || k == du::kRevisionAnnotation || k == du::kRevisionHistoryAnnotation ||
            k == du::kDesiredReplicasAnnotation || k == du::kMaxReplicasAnnotation || k == du::kRollbackToAnnotation) {
          continue;
        }
        ann[k] = it.value();
      }
    }
    int64_t old_rev = 0;
    bool has_rev = du::int_annotation(rs, du::kRevisionAnnotation, &old_rev);
    if (!has_rev || old_rev < revision) ann[du::kRevisionAnnotation] = std::to_string(revision);
    ann[du::kDesiredReplicasAnnotation] = std::to_string(du::spec_replicas(d));
    ann[du::kMaxReplicasAnnotation] = std::to_string(du::spec_replicas(d) + du::max_surge(d));
    if (ann == before) return false;
    rs["metadata"]["annotations"] = std::move(ann);
    return true;
  }

  // Finds or (create=true) creates the new RS and syncs its revision.
  Status sync_new_rs(Json& d, RsSet& set, bool create) {
    int64_t max_old = 0;
    for (const auto& rs : set.old) max_old = std::max(max_old, du::revision_of(rs));
    int64_t revision = max_old + 1;
    std::string ns = sfield(meta(d), "namespace");
    if (set.new_rs) {
      Json rs = *set.new_rs;
      bool changed = set_new_rs_annotations(d, rs, revision);
      if (min_ready_seconds(rs) != min_ready_seconds(d)) {
        rs["spec"]["minReadySeconds"] = min_ready_seconds(d);
        changed = true;
      }
      if (changed) {
        auto r = client.update(*rs_t, rs);
        if (!r) return r.status();
        set.new_rs = std::move(r.value());
      }
      Json status = field(d, "status").is_object() ? d["status"] : Json::object();
      if (has_progress_deadline(d) && !get_condition(status, "Progressing")) {
        set_condition(status, new_condition("Progressing", "True", kFoundNewRS,
                                            "Found new replica set \"" + name_of(*set.new_rs) + "\""));
        return write_status(d, std::move(status));
      }
      return Status::ok();
    }
    if (!create) return Status::ok();

    const Json& dstatus = field(d, "status");
    int64_t collisions = field(dstatus, "collisionCount").is_number_integer() ? dstatus["collisionCount"].get<int64_t>() : 0;
    Json tmpl = field(field(d, "spec"), "template");
    std::string hash = du::template_hash(tmpl, collisions);
    if (!tmpl.contains("metadata") || !tmpl["metadata"].is_object()) tmpl["metadata"] = Json::object();
    tmpl["metadata"]["labels"][du::kHashLabel] = hash;
    Json selector = field(field(d, "spec"), "selector");
    selector["matchLabels"][du::kHashLabel] = hash;
    Json rs = {{"apiVersion", "apps/v1"},
               {"kind", "ReplicaSet"},
               {"metadata",
                {{"name", name_of(d) + "-" + hash},
                 {"namespace", ns},
                 {"labels", tmpl["metadata"]["labels"]},
                 {"ownerReferences", Json::array({owner_ref(d)})}}},
               {"spec",
                {{"replicas", 0},
                 {"minReadySeconds", min_ready_seconds(d)},
                 {"selector", selector},
                 {"template", tmpl}}}};
    set_new_rs_annotations(d, rs, revision);
    int64_t replicas = new_rs_replicas(d, set.all(), 0);
    rs["spec"]["replicas"] = replicas;
    auto r = client.create(*rs_t, rs, ns);
    if (!r) {
      if (r.status().code() != Code::kAlreadyExists) return r.status();
      auto got = client.get(*rs_t, ns, name_of(rs));
      if (!got) return got.status();
      const Json* ref = controller_ref(*got);
      if (ref && sfield(*ref, "uid") == uid_of(d) &&
          du::equal_ignore_hash(field(field(*got, "spec"), "template"), field(field(d, "spec"), "template"))) {
        set.new_rs = std::move(got.value());  // our own create, not yet in the cache
        return Status::ok();
      }
      // A hash collision: bump collisionCount and try again with a new name.
      Json status = dstatus.is_object() ? dstatus : Json::object();
      status["collisionCount"] = collisions + 1;
      Status st = write_status(d, std::move(status));
      if (!st.is_ok()) return st;
      return Status(Code::kConflict, "hash collision for replica set " + name_of(rs) + "; retrying");
    }
    set.new_rs = std::move(r.value());
    spdlog::info("deployment {}/{}: created replica set {} ({} replicas)", ns, name_of(d), name_of(*set.new_rs),
                 replicas);
    if (replicas > 0) {
      record_event(d, "Normal", "ScalingReplicaSet",
                   "Scaled up replica set " + name_of(*set.new_rs) + " to " + std::to_string(replicas));
    }
    if (has_progress_deadline(d)) {
      Json status = field(d, "status").is_object() ? d["status"] : Json::object();
      set_condition(status, new_condition("Progressing", "True", kNewRSCreated,
                                          "Created new replica set \"" + name_of(*set.new_rs) + "\""));
      return write_status(d, std::move(status));
    }
    return Status::ok();
  }

  // NewRSNewReplicas: how far the new RS may grow now.
  static int64_t new_rs_replicas(const Json& d, const std::vector<Json>& all, int64_t new_rs_current) {
    int64_t replicas = du::spec_replicas(d);
    if (is_recreate(d)) return replicas;
    int64_t max_total = replicas + du::max_surge(d);
    int64_t current = sum_spec(all);
    if (current >= max_total) return new_rs_current;
    int64_t up = std::min(max_total - current, replicas - new_rs_current);
    return new_rs_current + std::max<int64_t>(0, up);
  }

  // Sets rs to new_scale (and the replica annotations). Returns whether the
  // size changed; the server's answer replaces rs.
  Result<bool> scale_rs(const Json& d, Json& rs, int64_t new_scale) {
    int64_t old_scale = du::spec_replicas(rs);
    bool size_changed = old_scale != new_scale;
    Json obj = rs;
    bool ann_changed = false;
    {
      Json before = field(meta(obj), "annotations");
      Json ann = before.is_object() ? before : Json::object();
      ann[du::kDesiredReplicasAnnotation] = std::to_string(du::spec_replicas(d));
      ann[du::kMaxReplicasAnnotation] = std::to_string(du::spec_replicas(d) + du::max_surge(d));
      ann_changed = ann != before;
      obj["metadata"]["annotations"] = std::move(ann);
    }
    if (!size_changed && !ann_changed) return false;
    obj["spec"]["replicas"] = new_scale;
    auto r = client.update(*rs_t, obj);
    if (!r) return r.status();
    rs = std::move(r.value());
    if (size_changed) {
      std::string dir = new_scale > old_scale ? "up" : "down";
      record_event(d, "Normal", "ScalingReplicaSet",
                   "Scaled " + dir + " replica set " + name_of(rs) + " to " + std::to_string(new_scale) + " from " +
                       std::to_string(old_scale));
      spdlog::info("deployment {}/{}: scaled {} replica set {} to {} from {}", sfield(meta(d), "namespace"),
                   name_of(d), dir, name_of(rs), new_scale, old_scale);
    }
    return size_changed;
  }

  Result<bool> scale_in_set(const Json& d, RsSet& set, const Json& rs, int64_t new_scale) {
    Json copy = rs;
    auto r = scale_rs(d, copy, new_scale);
    if (!r) return r.status();
    set.replace(copy);
    return *r;
  }

  bool is_scaling_event(const Json& d, const std::vector<Json>& rs_list) {
    RsSet set = split(d, rs_list);
    for (const auto& rs : active(set.all())) {
      int64_t desired = 0;
      if (!du::int_annotation(rs, du::kDesiredReplicasAnnotation, &desired)) continue;
      if (desired != du::spec_replicas(d)) return true;
    }
    return false;
  }

  // ---- sync: scaling and paused Deployments (sync.go)

  Status sync(Json& d, const std::vector<Json>& rs_list) {
    RsSet set = split(d, rs_list);
    if (Status st = sync_new_rs(d, set, false); !st.is_ok()) return st;
    if (Status st = scale(d, set); !st.is_ok()) return st;
    if (is_paused(d)) {
      if (Status st = cleanup(d, set); !st.is_ok()) return st;
    }
    return write_status(d, calculate_status(d, set));
  }

  Status scale(const Json& d, RsSet& set) {
    int64_t replicas = du::spec_replicas(d);
    // FindActiveOrLatest.
    std::vector<Json> all = set.all();
    std::vector<Json> act = active(all);
    std::optional<Json> target;
    if (act.empty()) {
      if (set.new_rs) {
        target = set.new_rs;
      } else if (!set.old.empty()) {
        target = set.old.back();
      }
    } else if (act.size() == 1) {
      target = act.front();
    }
    if (target) {
      if (du::spec_replicas(*target) == replicas) return Status::ok();
      auto r = scale_in_set(d, set, *target, replicas);
      return r ? Status::ok() : r.status();
    }
    // IsSaturated: the new RS carries everything; old ones go to 0.
    if (set.new_rs && du::spec_replicas(*set.new_rs) == replicas &&
        du::status_int(*set.new_rs, "availableReplicas") == replicas) {
      int64_t desired = -1;
      if (du::int_annotation(*set.new_rs, du::kDesiredReplicasAnnotation, &desired) && desired == replicas) {
        for (const auto& rs : active(set.old)) {
          auto r = scale_in_set(d, set, rs, 0);
          if (!r) return r.status();
        }
        return Status::ok();
      }
    }
    if (is_recreate(d)) return Status::ok();
    // Proportional scaling of a rollout in progress (sync.go scale()).
    int64_t all_replicas = sum_spec(act);
    int64_t allowed = replicas > 0 ? replicas + du::max_surge(d) : 0;
    int64_t to_add = allowed - all_replicas;
    if (to_add == 0) return Status::ok();
    // Bigger first when adding, smaller first when removing; newer breaks ties.
    std::sort(act.begin(), act.end(), [&](const Json& a, const Json& b) {
      int64_t ra = du::spec_replicas(a), rb = du::spec_replicas(b);
      if (ra != rb) return to_add > 0 ? ra > rb : ra < rb;
      return older(b, a);
    });
    int64_t added = 0;
    std::vector<int64_t> sizes;
    for (const auto& rs : act) {
      int64_t proportion = 0;
      if (to_add != 0) {
        int64_t rs_size = du::spec_replicas(rs);
        int64_t fraction;
        if (replicas == 0) {
          fraction = -rs_size;
        } else {
          int64_t annotated = 0;
          if (!du::int_annotation(rs, du::kMaxReplicasAnnotation, &annotated) || annotated == 0) {
            annotated = du::status_int(d, "replicas");
          }
          if (annotated == 0) annotated = 1;
          double deploy_size = static_cast<double>(replicas + du::max_surge(d));
          int64_t new_size =
              static_cast<int64_t>(std::llround(static_cast<double>(rs_size) * deploy_size / static_cast<double>(annotated)));
          fraction = new_size - rs_size;
        }
        int64_t allowed_left = to_add - added;
        proportion = to_add > 0 ? std::min(fraction, allowed_left) : std::max(fraction, allowed_left);
      }
      added += proportion;
      sizes.push_back(du::spec_replicas(rs) + proportion);
    }
    if (!act.empty() && added != to_add) sizes[0] += to_add - added;  // leftover to the largest
    for (size_t i = 0; i < act.size(); ++i) {
      int64_t n = std::max<int64_t>(0, sizes[i]);
      auto r = scale_in_set(d, set, act[i], n);
      if (!r) return r.status();
    }
    return Status::ok();
  }

  // revisionHistoryLimit: delete the oldest old RSes beyond it that run nothing.
  Status cleanup(const Json& d, const RsSet& set) {
    const Json& lim = field(field(d, "spec"), "revisionHistoryLimit");
    if (!lim.is_number_integer()) return Status::ok();
    std::vector<Json> alive;
    for (const auto& rs : set.old) {
      if (!deleting(rs)) alive.push_back(rs);
    }
    int64_t diff = static_cast<int64_t>(alive.size()) - lim.get<int64_t>();
    if (diff <= 0) return Status::ok();
    std::sort(alive.begin(), alive.end(), [](const Json& a, const Json& b) {
      int64_t ra = du::revision_of(a), rb = du::revision_of(b);
      if (ra != rb) return ra < rb;
      return older(a, b);
    });
    for (int64_t i = 0; i < diff; ++i) {
      const Json& rs = alive[static_cast<size_t>(i)];
      int64_t observed = du::status_int(rs, "observedGeneration");
      if (du::status_int(rs, "replicas") != 0 || du::spec_replicas(rs) != 0 || generation(rs) > observed) continue;
      auto r = client.remove(*rs_t, sfield(meta(rs), "namespace"), name_of(rs));
      if (!r && r.status().code() != Code::kNotFound) return r.status();
      spdlog::info("deployment {}/{}: deleted old replica set {} (revision {})", sfield(meta(d), "namespace"),
                   name_of(d), name_of(rs), du::revision_of(rs));
    }
    return Status::ok();
  }

  // ---- RollingUpdate (rolling.go)

  Status rollout_rolling(Json& d, const std::vector<Json>& rs_list) {
    RsSet set = split(d, rs_list);
    if (Status st = sync_new_rs(d, set, true); !st.is_ok()) return st;

    // Scale up the new RS.
    if (set.new_rs) {
      int64_t replicas = du::spec_replicas(d);
      int64_t cur = du::spec_replicas(*set.new_rs);
      if (cur != replicas) {
        int64_t want = cur > replicas ? replicas : new_rs_replicas(d, set.all(), cur);
        auto r = scale_in_set(d, set, *set.new_rs, want);
        if (!r) return r.status();
        if (*r) return sync_rollout_status(d, set);
      }
    }
    // Scale down old ones.
    auto down = reconcile_old(d, set);
    if (!down) return down.status();
    if (*down) return sync_rollout_status(d, set);

    Json status = calculate_status(d, set);
    if (deployment_complete(d, status)) {
      if (Status st = cleanup(d, set); !st.is_ok()) return st;
    }
    return sync_rollout_status(d, set);
  }

  Result<bool> reconcile_old(const Json& d, RsSet& set) {
    int64_t old_count = sum_spec(set.old);
    if (old_count == 0) return false;
    int64_t all_count = sum_spec(set.all());
    int64_t min_available = du::spec_replicas(d) - du::max_unavailable(d);
    int64_t new_unavailable =
        set.new_rs ? du::spec_replicas(*set.new_rs) - du::status_int(*set.new_rs, "availableReplicas") : 0;
    int64_t max_scaled_down = all_count - min_available - new_unavailable;
    if (max_scaled_down <= 0) return false;

    // Unhealthy replicas of old RSes go first: they do not count as available.
    int64_t cleaned = 0;
    for (const auto& rs : std::vector<Json>(set.old)) {
      if (cleaned >= max_scaled_down) break;
      int64_t spec = du::spec_replicas(rs);
      int64_t avail = du::status_int(rs, "availableReplicas");
      if (spec == 0 || spec <= avail) continue;
      int64_t n = std::min(max_scaled_down - cleaned, spec - avail);
      auto r = scale_in_set(d, set, rs, spec - n);
      if (!r) return r.status();
      cleaned += n;
    }

    // Then as many available ones as the availability bound allows.
    int64_t available = sum_status(set.all(), "availableReplicas");
    int64_t scaled = 0;
    if (available > min_available) {
      int64_t total = available - min_available;
      for (const auto& rs : std::vector<Json>(set.old)) {
        if (scaled >= total) break;
        int64_t spec = du::spec_replicas(rs);
        if (spec == 0) continue;
        int64_t n = std::min(spec, total - scaled);
        auto r = scale_in_set(d, set, rs, spec - n);
        if (!r) return r.status();
        scaled += n;
      }
    }
    return cleaned + scaled > 0;
  }

  // ---- Recreate (recreate.go)

  Status rollout_recreate(Json& d, const std::vector<Json>& rs_list) {
    RsSet set = split(d, rs_list);
    if (Status st = sync_new_rs(d, set, false); !st.is_ok()) return st;
    bool scaled_down = false;
    for (const auto& rs : active(set.old)) {
      auto r = scale_in_set(d, set, rs, 0);
      if (!r) return r.status();
      scaled_down = scaled_down || *r;
    }
    if (scaled_down) return sync_rollout_status(d, set);
    if (old_pods_running(set)) return sync_rollout_status(d, set);
    if (!set.new_rs) {
      if (Status st = sync_new_rs(d, set, true); !st.is_ok()) return st;
    }
    if (set.new_rs && du::spec_replicas(*set.new_rs) != du::spec_replicas(d)) {
      auto r = scale_in_set(d, set, *set.new_rs, du::spec_replicas(d));
      if (!r) return r.status();
    }
    Json status = calculate_status(d, set);
    if (deployment_complete(d, status)) {
      if (Status st = cleanup(d, set); !st.is_ok()) return st;
    }
    return sync_rollout_status(d, set);
  }

  // Any pod of an old RS that has not finished (terminating ones included).
  bool old_pods_running(const RsSet& set) {
    if (sum_status(set.old, "replicas") > 0) return true;
    for (const auto& rs : set.old) {
      for (const auto& pod : pods->indexer().by_index(kOwnerIndex, uid_of(rs))) {
        std::string phase = sfield(field(*pod, "status"), "phase");
        if (phase == "Failed" || phase == "Succeeded") continue;
        return true;
      }
    }
    return false;
  }
};

DeploymentController::DeploymentController(client::Client& client, DeploymentOptions options) {
  set_impl(std::make_unique<Impl>(own_factory(client), std::move(options), real_clock()));
}

DeploymentController::DeploymentController(client::SharedInformerFactory& factory, DeploymentOptions options,
                                           Clock& clock) {
  set_impl(std::make_unique<Impl>(factory, std::move(options), clock));
}

Status DeploymentController::Impl::setup() {
  Impl& s = *this;
  s.deploy_t = api::find_kind("apps/v1", "Deployment");
  s.rs_t = api::find_kind("apps/v1", "ReplicaSet");
  s.pod_t = api::find_kind("v1", "Pod");
  s.event_t = api::find_kind("v1", "Event");
  if (!s.deploy_t || !s.rs_t || !s.pod_t || !s.event_t) {
    return internal_error("the kind table lacks Deployment, ReplicaSet, Pod or Event");
  }
  s.deploys = &factory().informer(*s.deploy_t);
  s.rses = &factory().informer(*s.rs_t);
  s.pods = &factory().informer(*s.pod_t);
  s.pods->add_index(kOwnerIndex, [](const Json& pod) -> std::vector<std::string> {
    const Json* ref = controller_ref(pod);
    if (!ref) return {};
    return {sfield(*ref, "uid")};
  });

  auto on_deploy = [&s](const ObjectPtr& o) { s.enqueue(client::object_key(*o)); };
  watch(*s.deploys, {on_deploy, [on_deploy](const ObjectPtr&, const ObjectPtr& o) { on_deploy(o); }, on_deploy});
  watch(*s.rses, {
                     [&s](const ObjectPtr& rs) { s.enqueue_owner_of_rs(*rs); },
                     [&s](const ObjectPtr& old_rs, const ObjectPtr& rs) {
                       // A resync (the ReplicaSet controller asks the shared
                       // informer for one): nothing changed.
                       if (sfield(meta(*old_rs), "resourceVersion") == sfield(meta(*rs), "resourceVersion")) return;
                       s.enqueue_owner_of_rs(*rs);
                       const Json* a = controller_ref(*old_rs);
                       const Json* b = controller_ref(*rs);
                       if (a && (!b || sfield(*a, "uid") != sfield(*b, "uid"))) s.enqueue_owner_of_rs(*old_rs);
                     },
                     [&s](const ObjectPtr& rs) { s.enqueue_owner_of_rs(*rs); },
                 });
  watch(*s.pods, {nullptr, nullptr, [&s](const ObjectPtr& p) { s.on_pod_delete(*p); }});
  return Status::ok();
}

}  // namespace minik8s::controllers
