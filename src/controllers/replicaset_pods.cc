#include "replicaset_pods.h"

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <tuple>

namespace minik8s::controllers::rs {

using api::field;
using api::sfield;

namespace {

const Json& meta(const Json& o) { return field(o, "metadata"); }

const Json* ready_condition(const Json& pod) {
  const Json& conds = field(field(pod, "status"), "conditions");
  if (!conds.is_array()) return nullptr;
  for (const Json& c : conds) {
    if (sfield(c, "type") == "Ready") return &c;
  }
  return nullptr;
}

// Pending 0 < Unknown 1 < Running 2 (anything else counts as Pending).
int phase_rank(const Json& pod) {
  std::string p = sfield(field(pod, "status"), "phase");
  if (p == "Running") return 2;
  if (p == "Unknown") return 1;
  return 0;
}

int max_restarts(const Json& pod) {
  int64_t m = 0;
  const Json& cs = field(field(pod, "status"), "containerStatuses");
  if (cs.is_array()) {
    for (const Json& c : cs) m = std::max(m, api::ifield(c, "restartCount"));
  }
  return static_cast<int>(m);
}

int64_t deletion_cost(const Json& pod) {
  std::string v = sfield(field(meta(pod), "annotations"), "controller.kubernetes.io/pod-deletion-cost");
  if (v.empty()) return 0;
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  return end && *end == '\0' ? n : 0;
}

// Seconds since epoch of an RFC 3339 field; -1 when absent or malformed.
int64_t time_of(const Json& obj, const char* key) {
  SysTime t;
  if (!parse_rfc3339(sfield(obj, key), &t)) return -1;
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

}  // namespace

bool is_terminating(const Json& obj) {
  const Json& d = field(meta(obj), "deletionTimestamp");
  return !d.is_null();
}

bool is_active_pod(const Json& pod) {
  std::string p = sfield(field(pod, "status"), "phase");
  return p != "Succeeded" && p != "Failed" && !is_terminating(pod);
}

bool is_pod_ready(const Json& pod) {
  const Json* c = ready_condition(pod);
  return c && sfield(*c, "status") == "True";
}

bool is_pod_available(const Json& pod, std::chrono::seconds min_ready, SysTime now,
                      std::chrono::milliseconds* remaining) {
  if (remaining) *remaining = std::chrono::milliseconds(0);
  const Json* c = ready_condition(pod);
  if (!c || sfield(*c, "status") != "True") return false;
  if (min_ready.count() <= 0) return true;
  SysTime since;
  if (!parse_rfc3339(sfield(*c, "lastTransitionTime"), &since)) return false;
  auto ready_for = now - since;
  if (ready_for >= min_ready) return true;
  if (remaining) {
    *remaining = std::chrono::duration_cast<std::chrono::milliseconds>(min_ready - ready_for) +
                 std::chrono::milliseconds(1);
  }
  return false;
}

const Json* controller_ref(const Json& obj) {
  const Json& refs = field(meta(obj), "ownerReferences");
  if (!refs.is_array()) return nullptr;
  for (const Json& r : refs) {
    const Json& c = field(r, "controller");
    if (c.is_boolean() && c.get<bool>()) return &r;
  }
  return nullptr;
}

Json owner_ref_for(const Json& rs) {
  return {{"apiVersion", "apps/v1"},
          {"kind", "ReplicaSet"},
          {"name", sfield(meta(rs), "name")},
          {"uid", sfield(meta(rs), "uid")},
          {"controller", true},
          {"blockOwnerDeletion", true}};
}

Json pod_from_template(const Json& rs) {
  const Json& tmpl = field(field(rs, "spec"), "template");
  const Json& tmeta = meta(tmpl);
  Json m = {{"generateName", sfield(meta(rs), "name") + "-"},
            {"namespace", sfield(meta(rs), "namespace")},
            {"ownerReferences", Json::array({owner_ref_for(rs)})}};
  for (const char* k : {"labels", "annotations", "finalizers"}) {
    const Json& v = field(tmeta, k);
    if (!v.is_null()) m[k] = v;
  }
  Json spec = field(tmpl, "spec");
  if (!spec.is_object()) spec = Json::object();
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", std::move(m)}, {"spec", std::move(spec)}};
}

std::vector<const Json*> pods_to_delete(const std::vector<const Json*>& pods, size_t count) {
  count = std::min(count, pods.size());
  std::map<std::string, int> on_node;
  for (const Json* p : pods) on_node[sfield(field(*p, "spec"), "nodeName")]++;
  struct Ranked {
    const Json* pod;
    bool assigned;
    int phase;
    bool ready;
    int64_t cost;
    int rank;
    int64_t ready_since;
    int restarts;
    int64_t created;
  };
  std::vector<Ranked> r;
  r.reserve(pods.size());
  for (const Json* p : pods) {
    std::string node = sfield(field(*p, "spec"), "nodeName");
    const Json* rc = ready_condition(*p);
    r.push_back({p, !node.empty(), phase_rank(*p), is_pod_ready(*p), deletion_cost(*p), on_node[node],
                 rc ? time_of(*rc, "lastTransitionTime") : -1, max_restarts(*p), time_of(meta(*p), "creationTimestamp")});
  }
  // "a goes before b" = a is less useful.
  auto less = [](const Ranked& a, const Ranked& b) {
    if (a.assigned != b.assigned) return !a.assigned;
    if (a.phase != b.phase) return a.phase < b.phase;
    if (a.ready != b.ready) return !a.ready;
    if (a.cost != b.cost) return a.cost < b.cost;
    if (a.rank != b.rank) return a.rank > b.rank;
    if (a.ready && b.ready && a.ready_since != b.ready_since) {
      if (a.ready_since < 0 || b.ready_since < 0) return a.ready_since < 0;
      return a.ready_since > b.ready_since;  // ready for less time first
    }
    if (a.restarts != b.restarts) return a.restarts > b.restarts;
    if (a.created != b.created) {
      if (a.created < 0 || b.created < 0) return a.created < 0;
      return a.created > b.created;  // newer first
    }
    return sfield(meta(*a.pod), "name") < sfield(meta(*b.pod), "name");
  };
  std::stable_sort(r.begin(), r.end(), less);
  std::vector<const Json*> out;
  for (size_t i = 0; i < count; ++i) out.push_back(r[i].pod);
  return out;
}

Json compute_status(const Json& rs, const std::vector<const Json*>& pods, const std::string& manage_error,
                    bool scaling_up, SysTime now) {
  const Json& spec = field(rs, "spec");
  std::chrono::seconds min_ready(api::ifield(spec, "minReadySeconds"));
  const Json& tlabels = field(meta(field(spec, "template")), "labels");
  int64_t fully = 0, ready = 0, available = 0;
  for (const Json* p : pods) {
    const Json& labels = field(meta(*p), "labels");
    bool all = true;
    if (tlabels.is_object()) {
      for (auto it = tlabels.begin(); it != tlabels.end(); ++it) {
        const Json& v = field(labels, it.key().c_str());
        if (v != it.value()) {
          all = false;
          break;
        }
      }
    }
    if (all) ++fully;
    if (is_pod_ready(*p)) ++ready;
    if (is_pod_available(*p, min_ready, now)) ++available;
  }
  Json st = {{"replicas", static_cast<int64_t>(pods.size())},
             {"fullyLabeledReplicas", fully},
             {"readyReplicas", ready},
             {"availableReplicas", available},
             {"observedGeneration", api::ifield(meta(rs), "generation")}};
  // Conditions other than ReplicaFailure pass through.
  Json conds = Json::array();
  const Json* failure = nullptr;
  const Json& cur = field(field(rs, "status"), "conditions");
  if (cur.is_array()) {
    for (const Json& c : cur) {
      if (sfield(c, "type") == "ReplicaFailure") {
        failure = &c;
      } else {
        conds.push_back(c);
      }
    }
  }
  if (!manage_error.empty()) {
    if (failure) {
      conds.push_back(*failure);
    } else {
      conds.push_back({{"type", "ReplicaFailure"},
                       {"status", "True"},
                       {"lastTransitionTime", format_rfc3339(now)},
                       {"reason", scaling_up ? "FailedCreate" : "FailedDelete"},
                       {"message", manage_error}});
    }
  }
  if (!conds.empty()) st["conditions"] = std::move(conds);
  return st;
}

bool status_differs(const Json& current, const Json& wanted) {
  for (const char* k : {"replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration"}) {
    if (api::ifield(current, k) != api::ifield(wanted, k)) return true;
    if (field(current, k).is_null()) return true;  // write the zeros once
  }
  const Json& a = field(current, "conditions");
  const Json& b = field(wanted, "conditions");
  auto norm = [](const Json& c) { return c.is_array() ? c : Json::array(); };
  return norm(a) != norm(b);
}

bool Expectations::satisfied(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return true;
  const Entry& e = it->second;
  if (e.adds <= 0 && e.dels.empty()) return true;
  return clock_.monotonic() - e.at > ttl_;
}

void Expectations::expect_creations(const std::string& key, int adds) {
  std::lock_guard lock(mu_);
  Entry& e = entries_[key];
  e.adds = adds;
  e.dels.clear();
  e.at = clock_.monotonic();
}

void Expectations::expect_deletions(const std::string& key, const std::vector<std::string>& pod_keys) {
  std::lock_guard lock(mu_);
  Entry& e = entries_[key];
  e.adds = 0;
  e.dels = std::set<std::string>(pod_keys.begin(), pod_keys.end());
  e.at = clock_.monotonic();
}

void Expectations::creation_observed(const std::string& key, int n) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) it->second.adds -= n;
}

void Expectations::deletion_observed(const std::string& key, const std::string& pod_key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) it->second.dels.erase(pod_key);
}

void Expectations::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  entries_.erase(key);
}

std::pair<int, int> Expectations::pending(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return {0, 0};
  return {it->second.adds, static_cast<int>(it->second.dels.size())};
}

}  // namespace minik8s::controllers::rs
