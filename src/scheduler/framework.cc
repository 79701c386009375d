#include "framework.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "minik8s/api/quantity.h"
#include "minik8s/api/selector.h"

namespace minik8s::scheduler {

using api::afield;
using api::field;
using api::Json;
using api::sfield;

namespace {

// Quantity in milli units (cpu) or plain units (the rest); 0 when unparsable.
int64_t quantity(const Json& v, bool milli) {
  std::string text;
  if (v.is_string()) {
    text = v.get<std::string>();
  } else if (v.is_number_integer()) {
    text = std::to_string(v.get<int64_t>());
  } else if (v.is_number()) {
    text = std::to_string(v.get<double>());
  } else {
    return 0;
  }
  auto q = api::Quantity::parse(text);
  if (!q) return 0;
  return milli ? q->milli_value() : q->value();
}

constexpr int64_t kDefaultMilliCpu = 100;
constexpr int64_t kDefaultMemory = 200 * 1024 * 1024;

// One container's requests (limits stand in for missing requests).
Resources container_requests(const Json& c, bool non_zero) {
  const Json& res = field(c, "resources");
  const Json& req = field(res, "requests");
  const Json& lim = field(res, "limits");
  auto pick = [&](const char* name, bool milli, int64_t dflt) -> int64_t {
    if (field(req, name).is_null() && field(lim, name).is_null()) return non_zero ? dflt : 0;
    const Json& v = field(req, name).is_null() ? field(lim, name) : field(req, name);
    return quantity(v, milli);
  };
  Resources r;
  r.cpu_milli = pick("cpu", true, kDefaultMilliCpu);
  r.memory = pick("memory", false, kDefaultMemory);
  for (const Json* m : {&req, &lim}) {
    if (!m->is_object()) continue;
    for (auto it = m->begin(); it != m->end(); ++it) {
      if (!api::is_extended_resource_name(it.key()) || r.extended.count(it.key())) continue;
      int64_t n = pick(it.key().c_str(), false, 0);
      if (n > 0) r.extended[it.key()] = n;
    }
  }
  return r;
}

Resources requests(const Json& pod, bool non_zero) {
  const Json& spec = field(pod, "spec");
  Resources sum;
  for (const auto& c : afield(spec, "containers")) sum += container_requests(c, non_zero);
  for (const auto& c : afield(spec, "initContainers")) {
    Resources r = container_requests(c, non_zero);
    sum.cpu_milli = std::max(sum.cpu_milli, r.cpu_milli);
    sum.memory = std::max(sum.memory, r.memory);
    for (const auto& [name, n] : r.extended) sum.extended[name] = std::max(sum.ext(name), n);
  }
  const Json& overhead = field(spec, "overhead");
  sum.cpu_milli += quantity(field(overhead, "cpu"), true);
  sum.memory += quantity(field(overhead, "memory"), false);
  sum.pods = 1;
  return sum;
}

std::map<std::string, std::string> labels_of(const Json& obj) {
  std::map<std::string, std::string> out;
  const Json& l = field(field(obj, "metadata"), "labels");
  if (!l.is_object()) return out;
  for (auto it = l.begin(); it != l.end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

std::string ns_of(const Json& obj) {
  std::string ns = sfield(field(obj, "metadata"), "namespace");
  return ns.empty() ? "default" : ns;
}

std::vector<std::string> strings(const Json& a) {
  std::vector<std::string> out;
  if (!a.is_array()) return out;
  for (const auto& v : a) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

Resources pod_requests(const Json& pod) { return requests(pod, false); }
Resources pod_requests_non_zero(const Json& pod) { return requests(pod, true); }

Resources node_allocatable(const Json& node) {
  const Json& st = field(node, "status");
  const Json& alloc = field(st, "allocatable").is_object() ? field(st, "allocatable") : field(st, "capacity");
  Resources r;
  r.cpu_milli = quantity(field(alloc, "cpu"), true);
  r.memory = quantity(field(alloc, "memory"), false);
  if (alloc.is_object()) {
    for (auto it = alloc.begin(); it != alloc.end(); ++it) {
      if (!api::is_extended_resource_name(it.key())) continue;
      int64_t n = quantity(it.value(), false);
      if (n > 0) r.extended[it.key()] = n;
    }
  }
  r.pods = field(alloc, "pods").is_null() ? 110 : quantity(field(alloc, "pods"), false);
  return r;
}

std::vector<HostPort> pod_host_ports(const Json& pod) {
  std::vector<HostPort> out;
  const Json& spec = field(pod, "spec");
  for (const char* list : {"containers", "initContainers"}) {
    for (const auto& c : afield(spec, list)) {
      for (const auto& p : afield(c, "ports")) {
        const Json& hp = field(p, "hostPort");
        if (!hp.is_number_integer() || hp.get<int64_t>() <= 0) continue;
        HostPort h;
        h.port = static_cast<int>(hp.get<int64_t>());
        h.protocol = sfield(p, "protocol");
        if (h.protocol.empty()) h.protocol = "TCP";
        h.ip = sfield(p, "hostIP");
        if (h.ip.empty()) h.ip = "0.0.0.0";
        out.push_back(std::move(h));
      }
    }
  }
  return out;
}

bool pod_holds_resources(const Json& pod) {
  if (sfield(field(pod, "spec"), "nodeName").empty()) return false;
  std::string phase = sfield(field(pod, "status"), "phase");
  return phase != "Succeeded" && phase != "Failed";
}

NodeInfo::NodeInfo(ObjectPtr n) { set_node(std::move(n)); }

void NodeInfo::set_node(ObjectPtr n) {
  node = std::move(n);
  name = sfield(field(*node, "metadata"), "name");
  allocatable = node_allocatable(*node);
  ready.clear();
  for (const auto& c : afield(field(*node, "status"), "conditions")) {
    if (sfield(c, "type") == "Ready") {
      ready = sfield(c, "status");
      break;
    }
  }
  const Json& spec = field(*node, "spec");
  unschedulable = field(spec, "unschedulable").is_boolean() && field(spec, "unschedulable").get<bool>();
  has_taints = !afield(spec, "taints").empty();
}

PodInfoPtr PodInfo::make(ObjectPtr pod) {
  auto info = std::make_shared<PodInfo>();
  info->requests = pod_requests(*pod);
  info->requests_non_zero = pod_requests_non_zero(*pod);
  info->host_ports = pod_host_ports(*pod);
  const Json& anti = field(field(field(field(*pod, "spec"), "affinity"), "podAntiAffinity"),
                        "requiredDuringSchedulingIgnoredDuringExecution");
  info->has_required_anti_affinity = anti.is_array() && !anti.empty();
  info->pod = std::move(pod);
  return info;
}

void NodeInfo::add_pod(ObjectPtr pod) { add_pod(*PodInfo::make(std::move(pod))); }

void NodeInfo::add_pod(const PodInfo& info) {
  requested += info.requests;
  requested_non_zero += info.requests_non_zero;
  used_ports.insert(used_ports.end(), info.host_ports.begin(), info.host_ports.end());
  if (info.has_required_anti_affinity) pods_with_required_anti_affinity.push_back(info.pod);
  pods.push_back(info.pod);
}

namespace {

Resources& subtract(Resources& a, const Resources& b) {
  a.cpu_milli -= b.cpu_milli;
  a.memory -= b.memory;
  a.pods -= b.pods;
  for (const auto& [name, n] : b.extended) {
    auto it = a.extended.find(name);
    if (it == a.extended.end()) continue;
    it->second -= n;
    if (it->second == 0) a.extended.erase(it);
  }
  return a;
}

template <typename T>
bool erase_one(std::vector<T>& v, const T& x) {
  auto it = std::find(v.begin(), v.end(), x);
  if (it == v.end()) return false;
  v.erase(it);
  return true;
}

}  // namespace

bool NodeInfo::remove_pod(const PodInfo& info) {
  if (!erase_one(pods, info.pod)) return false;
  subtract(requested, info.requests);
  subtract(requested_non_zero, info.requests_non_zero);
  for (const auto& p : info.host_ports) erase_one(used_ports, p);
  if (info.has_required_anti_affinity) erase_one(pods_with_required_anti_affinity, info.pod);
  return true;
}

std::string NodeInfo::topology_value(const std::string& key) const {
  const Json& v = field(field(field(*node, "metadata"), "labels"), key.c_str());
  if (v.is_string()) return v.get<std::string>();
  return key == kHostnameLabel ? name : std::string();
}

const NodeInfo* Snapshot::find(const std::string& name) const {
  auto it = std::lower_bound(nodes.begin(), nodes.end(), name,
                             [](const NodeInfo& n, const std::string& v) { return n.name < v; });
  return it != nodes.end() && it->name == name ? &*it : nullptr;
}

NodeInfo* Snapshot::find(const std::string& name) {
  return const_cast<NodeInfo*>(static_cast<const Snapshot&>(*this).find(name));
}

CycleState CycleState::make(const Json& pod, const Snapshot& snapshot) {
  CycleState s;
  s.pod = &pod;
  s.requests = pod_requests(pod);
  s.requests_non_zero = pod_requests_non_zero(pod);
  s.host_ports = pod_host_ports(pod);
  const Json& spec = field(pod, "spec");
  s.node_name = sfield(spec, "nodeName");
  const Json& affinity = field(spec, "affinity");
  s.has_node_constraints =
      field(spec, "nodeSelector").is_object() ||
      field(field(affinity, "nodeAffinity"), "requiredDuringSchedulingIgnoredDuringExecution").is_object();
  for (const char* kind : {"podAffinity", "podAntiAffinity"}) {
    if (!afield(field(affinity, kind), "requiredDuringSchedulingIgnoredDuringExecution").empty()) {
      s.inter_pod_relevant = true;
    }
  }
  for (size_t i = 0; !s.inter_pod_relevant && i < snapshot.nodes.size(); ++i) {
    if (!snapshot.nodes[i].pods_with_required_anti_affinity.empty()) s.inter_pod_relevant = true;
  }
  return s;
}

bool tolerates(const Json& pod, const Json& taint) {
  std::string key = sfield(taint, "key"), value = sfield(taint, "value"), effect = sfield(taint, "effect");
  for (const auto& t : afield(field(pod, "spec"), "tolerations")) {
    std::string te = sfield(t, "effect");
    if (!te.empty() && te != effect) continue;
    std::string tk = sfield(t, "key"), op = sfield(t, "operator");
    if (op.empty()) op = "Equal";
    if (tk.empty()) {
      if (op == "Exists") return true;  // empty key + Exists tolerates everything
      continue;
    }
    if (tk != key) continue;
    if (op == "Exists") return true;
    if (op == "Equal" && sfield(t, "value") == value) return true;
  }
  return false;
}

namespace {

bool match_node_requirement(const Json& expr, const std::map<std::string, std::string>& labels) {
  std::string key = sfield(expr, "key"), op = sfield(expr, "operator");
  auto values = strings(field(expr, "values"));
  auto it = labels.find(key);
  bool has = it != labels.end();
  if (op == "In") return has && std::find(values.begin(), values.end(), it->second) != values.end();
  if (op == "NotIn") return !has || std::find(values.begin(), values.end(), it->second) == values.end();
  if (op == "Exists") return has;
  if (op == "DoesNotExist") return !has;
  if (op == "Gt" || op == "Lt") {
    if (!has || values.size() != 1) return false;
    try {
      long long have = std::stoll(it->second), want = std::stoll(values[0]);
      return op == "Gt" ? have > want : have < want;
    } catch (const std::exception&) {
      return false;
    }
  }
  return false;  // unknown operator
}

bool match_node_selector_term(const Json& term, const Json& node) {
  const Json& exprs = afield(term, "matchExpressions");
  const Json& fields = afield(term, "matchFields");
  if (exprs.empty() && fields.empty()) return false;  // an empty term matches nothing
  auto labels = labels_of(node);
  for (const auto& e : exprs) {
    if (!match_node_requirement(e, labels)) return false;
  }
  std::map<std::string, std::string> node_fields{{"metadata.name", sfield(field(node, "metadata"), "name")}};
  for (const auto& f : fields) {
    if (!match_node_requirement(f, node_fields)) return false;
  }
  return true;
}

}  // namespace

bool node_matches_selector_and_affinity(const Json& pod, const Json& node) {
  const Json& spec = field(pod, "spec");
  const Json& sel = field(spec, "nodeSelector");
  if (sel.is_object()) {
    const Json& labels = field(field(node, "metadata"), "labels");
    for (auto it = sel.begin(); it != sel.end(); ++it) {
      const Json& have = field(labels, it.key().c_str());
      if (!have.is_string() || !it.value().is_string() ||
          have.get_ref<const std::string&>() != it.value().get_ref<const std::string&>()) {
        return false;
      }
    }
  }
  const Json& required =
      field(field(field(spec, "affinity"), "nodeAffinity"), "requiredDuringSchedulingIgnoredDuringExecution");
  if (required.is_object()) {
    const Json& terms = afield(required, "nodeSelectorTerms");
    bool any = false;
    for (const auto& t : terms) {
      if (match_node_selector_term(t, node)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  return true;
}

namespace {

// A node whose Ready condition is not True counts as tainted NoSchedule the
// way the node lifecycle controller taints it (TaintNodesByCondition):
// Ready=Unknown (the kubelet stopped reporting) as node.kubernetes.io/unreachable,
// Ready=False or no Ready condition as node.kubernetes.io/not-ready.
class NodeReadyFilter : public FilterPlugin {
 public:
  const char* name() const override { return "NodeUnschedulable"; }
  FilterStatus filter(const CycleState& state, const NodeInfo& node, const Snapshot&) const override {
    const Json& pod = *state.pod;
    if (node.unschedulable) {
      Json taint = {{"key", "node.kubernetes.io/unschedulable"}, {"effect", "NoSchedule"}};
      if (!tolerates(pod, taint)) return FilterStatus::fail("node(s) were unschedulable");
    }
    if (node.ready != "True") {
      std::string key = node.ready == "Unknown" ? "node.kubernetes.io/unreachable" : "node.kubernetes.io/not-ready";
      Json taint = {{"key", key}, {"effect", "NoSchedule"}};
      if (!tolerates(pod, taint)) return FilterStatus::fail("node(s) had untolerated taint {" + key + ": }");
    }
    return FilterStatus::ok();
  }
};

class NodeNameFilter : public FilterPlugin {
 public:
  const char* name() const override { return "NodeName"; }
  FilterStatus filter(const CycleState& state, const NodeInfo& node, const Snapshot&) const override {
    if (!state.node_name.empty() && state.node_name != node.name) {
      return FilterStatus::fail("node(s) didn't match the requested node name");
    }
    return FilterStatus::ok();
  }
};

class NodePortsFilter : public FilterPlugin {
 public:
  const char* name() const override { return "NodePorts"; }
  FilterStatus filter(const CycleState& state, const NodeInfo& node, const Snapshot&) const override {
    for (const auto& want : state.host_ports) {
      for (const auto& used : node.used_ports) {
        if (used.port != want.port || used.protocol != want.protocol) continue;
        if (used.ip == want.ip || used.ip == "0.0.0.0" || want.ip == "0.0.0.0") {
          return FilterStatus::fail("node(s) didn't have free ports for the requested pod ports");
        }
      }
    }
    return FilterStatus::ok();
  }
};

class NodeAffinityFilter : public FilterPlugin {
 public:
  const char* name() const override { return "NodeAffinity"; }
  FilterStatus filter(const CycleState& state, const NodeInfo& node, const Snapshot&) const override {
    if (state.has_node_constraints && !node_matches_selector_and_affinity(*state.pod, *node.node)) {
      return FilterStatus::fail("node(s) didn't match Pod's node affinity/selector");
    }
    return FilterStatus::ok();
  }
};

class TaintTolerationFilter : public FilterPlugin {
 public:
  const char* name() const override { return "TaintToleration"; }
  FilterStatus filter(const CycleState& state, const NodeInfo& node, const Snapshot&) const override {
    if (!node.has_taints) return FilterStatus::ok();
    for (const auto& t : afield(field(*node.node, "spec"), "taints")) {
      std::string effect = sfield(t, "effect");
      if (effect != "NoSchedule" && effect != "NoExecute") continue;
      if (!tolerates(*state.pod, t)) {
        return FilterStatus::fail("node(s) had untolerated taint {" + sfield(t, "key") + ": " + sfield(t, "value") +
                                  "}");
      }
    }
    return FilterStatus::ok();
  }
};

class ResourcesFitFilter : public FilterPlugin {
 public:
  const char* name() const override { return "NodeResourcesFit"; }
  FilterStatus filter(const CycleState& state, const NodeInfo& node, const Snapshot&) const override {
    const Resources& want = state.requests;
    const Resources& alloc = node.allocatable;
    const Resources& used = node.requested;
    FilterStatus st;
    if (used.pods + 1 > alloc.pods) st.reasons.push_back("Too many pods");
    if (want.cpu_milli > 0 && want.cpu_milli > alloc.cpu_milli - used.cpu_milli) {
      st.reasons.push_back("Insufficient cpu");
    }
    if (want.memory > 0 && want.memory > alloc.memory - used.memory) st.reasons.push_back("Insufficient memory");
    // Extended resources (nvidia.com/gpu, …): a node that lists none has 0.
    for (const auto& [name, n] : want.extended) {
      if (n > 0 && n > alloc.ext(name) - used.ext(name)) st.reasons.push_back("Insufficient " + name);
    }
    return st;
  }
};

// One required (anti-)affinity term, parsed.
struct PodTerm {
  api::LabelSelector selector;
  std::set<std::string> namespaces;  // empty + all_namespaces=false: never matches
  bool all_namespaces = false;
  std::string topology_key;
  bool valid = false;

  bool matches(const Json& pod) const {
    if (!valid) return false;
    if (!all_namespaces && namespaces.count(ns_of(pod)) == 0) return false;
    return selector.matches(labels_of(pod));
  }
};

// owner: the pod carrying the term (its namespace is the default).
PodTerm parse_term(const Json& term, const Json& owner) {
  PodTerm t;
  t.topology_key = sfield(term, "topologyKey");
  if (t.topology_key.empty()) return t;
  auto sel = api::LabelSelector::from_json(field(term, "labelSelector"), /*nothing_if_null=*/true);
  if (!sel) return t;
  t.selector = std::move(*sel);
  for (auto& n : strings(field(term, "namespaces"))) t.namespaces.insert(n);
  const Json& nss = field(term, "namespaceSelector");
  if (nss.is_object() && nss.empty()) t.all_namespaces = true;  // {} selects every namespace
  if (t.namespaces.empty() && !t.all_namespaces) t.namespaces.insert(ns_of(owner));
  t.valid = true;
  return t;
}

std::vector<PodTerm> required_terms(const Json& pod, const char* kind) {
  std::vector<PodTerm> out;
  const Json& terms =
      afield(field(field(field(pod, "spec"), "affinity"), kind), "requiredDuringSchedulingIgnoredDuringExecution");
  for (const auto& t : terms) out.push_back(parse_term(t, pod));
  return out;
}

bool same_pod(const Json& a, const Json& b) {
  std::string ua = sfield(field(a, "metadata"), "uid"), ub = sfield(field(b, "metadata"), "uid");
  if (!ua.empty() && !ub.empty()) return ua == ub;
  return ns_of(a) == ns_of(b) && sfield(field(a, "metadata"), "name") == sfield(field(b, "metadata"), "name");
}

class InterPodAffinityFilter : public FilterPlugin {
 public:
  const char* name() const override { return "InterPodAffinity"; }
  FilterStatus filter(const CycleState& state, const NodeInfo& node, const Snapshot& snapshot) const override {
    if (!state.inter_pod_relevant) return FilterStatus::ok();
    const Json& pod = *state.pod;
    // Existing pods' anti-affinity repels the incoming pod.
    for (const auto& other : snapshot.nodes) {
      for (const auto& p : other.pods_with_required_anti_affinity) {
        if (same_pod(*p, pod)) continue;
        for (const auto& term : required_terms(*p, "podAntiAffinity")) {
          if (!term.valid) continue;
          std::string v = other.topology_value(term.topology_key);
          if (v.empty() || v != node.topology_value(term.topology_key)) continue;
          if (term.matches(pod)) return FilterStatus::fail("node(s) didn't satisfy existing pods anti-affinity rules");
        }
      }
    }
    // The incoming pod's anti-affinity.
    for (const auto& term : required_terms(pod, "podAntiAffinity")) {
      if (!term.valid) continue;
      std::string v = node.topology_value(term.topology_key);
      if (v.empty()) continue;
      for (const auto& other : snapshot.nodes) {
        if (other.topology_value(term.topology_key) != v) continue;
        for (const auto& p : other.pods) {
          if (!same_pod(*p, pod) && term.matches(*p)) {
            return FilterStatus::fail("node(s) didn't match pod anti-affinity rules");
          }
        }
      }
    }
    // The incoming pod's affinity: some matching pod in the node's domain; a
    // pod matching its own term may start the group when none exists yet.
    for (const auto& term : required_terms(pod, "podAffinity")) {
      if (!term.valid) return FilterStatus::fail("node(s) didn't match pod affinity rules");
      std::string v = node.topology_value(term.topology_key);
      bool in_domain = false, anywhere = false;
      for (const auto& other : snapshot.nodes) {
        bool same = !v.empty() && other.topology_value(term.topology_key) == v;
        for (const auto& p : other.pods) {
          if (same_pod(*p, pod) || !term.matches(*p)) continue;
          anywhere = true;
          if (same) in_domain = true;
        }
      }
      if (in_domain) continue;
      if (!anywhere && !v.empty() && term.matches(pod)) continue;
      return FilterStatus::fail("node(s) didn't match pod affinity rules");
    }
    return FilterStatus::ok();
  }
};

// ((alloc - requested) / alloc) averaged over cpu and memory, scaled to 0..1e6.
class LeastAllocatedScore : public ScorePlugin {
 public:
  const char* name() const override { return "NodeResourcesLeastAllocated"; }
  bool allows_partial_scoring() const override { return true; }
  int64_t score(const Json& pod, const NodeInfo& node) override { return score_for(pod_requests_non_zero(pod), node); }
  int64_t score_with(const CycleState& state, const NodeInfo& node) override {
    return score_for(state.requests_non_zero, node);
  }

 private:
  static int64_t score_for(const Resources& want, const NodeInfo& node) {
    auto part = [](int64_t alloc, int64_t req) -> int64_t {
      if (alloc <= 0 || req > alloc) return 0;
      return static_cast<int64_t>((static_cast<__int128>(alloc - req) * 1000000) / alloc);
    };
    int64_t cpu = part(node.allocatable.cpu_milli, node.requested_non_zero.cpu_milli + want.cpu_milli);
    int64_t mem = part(node.allocatable.memory, node.requested_non_zero.memory + want.memory);
    return (cpu + mem) / 2;
  }
};

// Picks the feasible nodes (sorted by name) in turn.
class RoundRobinScore : public ScorePlugin {
 public:
  const char* name() const override { return "RoundRobin"; }
  void pre_score(const Json&, const std::vector<const NodeInfo*>& feasible) override {
    if (feasible.empty()) return;
    chosen_ = feasible[next_ % feasible.size()]->name;
    ++next_;
  }
  int64_t score(const Json&, const NodeInfo& node) override { return node.name == chosen_ ? 1 : 0; }

 private:
  uint64_t next_ = 0;
  std::string chosen_;
};

class RandomScore : public ScorePlugin {
 public:
  explicit RandomScore(uint64_t seed) : rng_(seed) {}
  const char* name() const override { return "Random"; }
  void pre_score(const Json&, const std::vector<const NodeInfo*>& feasible) override {
    if (feasible.empty()) return;
    std::uniform_int_distribution<size_t> d(0, feasible.size() - 1);
    chosen_ = feasible[d(rng_)]->name;
  }
  int64_t score(const Json&, const NodeInfo& node) override { return node.name == chosen_ ? 1 : 0; }

 private:
  std::mt19937_64 rng_;
  std::string chosen_;
};

}  // namespace

std::unique_ptr<FilterPlugin> make_node_ready_filter() { return std::make_unique<NodeReadyFilter>(); }
std::unique_ptr<FilterPlugin> make_node_name_filter() { return std::make_unique<NodeNameFilter>(); }
std::unique_ptr<FilterPlugin> make_node_ports_filter() { return std::make_unique<NodePortsFilter>(); }
std::unique_ptr<FilterPlugin> make_node_affinity_filter() { return std::make_unique<NodeAffinityFilter>(); }
std::unique_ptr<FilterPlugin> make_taint_toleration_filter() { return std::make_unique<TaintTolerationFilter>(); }
std::unique_ptr<FilterPlugin> make_resources_fit_filter() { return std::make_unique<ResourcesFitFilter>(); }
std::unique_ptr<FilterPlugin> make_inter_pod_affinity_filter() { return std::make_unique<InterPodAffinityFilter>(); }

std::vector<std::unique_ptr<FilterPlugin>> default_filters() {
  std::vector<std::unique_ptr<FilterPlugin>> out;
  out.push_back(make_node_ready_filter());
  out.push_back(make_node_name_filter());
  out.push_back(make_node_ports_filter());
  out.push_back(make_node_affinity_filter());
  out.push_back(make_taint_toleration_filter());
  out.push_back(make_resources_fit_filter());
  out.push_back(make_inter_pod_affinity_filter());
  return out;
}

std::unique_ptr<ScorePlugin> make_score_plugin(Policy policy, uint64_t seed) {
  switch (policy) {
    case Policy::kRoundRobin:
      return std::make_unique<RoundRobinScore>();
    case Policy::kRandom:
      return std::make_unique<RandomScore>(seed);
    case Policy::kLeastAllocated:
      break;
  }
  return std::make_unique<LeastAllocatedScore>();
}

std::string ScheduleResult::fit_error() const {
  if (num_nodes == 0) return "no nodes available to schedule pods";
  std::vector<std::string> parts;
  for (const auto& [reason, count] : reasons) parts.push_back(std::to_string(count) + " " + reason);
  std::sort(parts.begin(), parts.end());
  std::string msg = "0/" + std::to_string(num_nodes) + " nodes are available:";
  for (size_t i = 0; i < parts.size(); ++i) msg += (i == 0 ? " " : ", ") + parts[i];
  return msg + ".";
}

size_t num_feasible_nodes_to_find(size_t num_nodes, int percentage) {
  constexpr size_t kMinFeasibleNodesToFind = 100;
  if (num_nodes < kMinFeasibleNodesToFind || percentage >= 100) return num_nodes;
  int64_t pct = percentage;
  if (pct <= 0) pct = std::max<int64_t>(5, 50 - static_cast<int64_t>(num_nodes) / 125);
  size_t n = num_nodes * static_cast<size_t>(pct) / 100;
  return std::max(n, kMinFeasibleNodesToFind);
}

ScheduleResult schedule_one(const Json& pod, const Snapshot& snapshot,
                            const std::vector<std::unique_ptr<FilterPlugin>>& filters, ScorePlugin& score) {
  return schedule_one(CycleState::make(pod, snapshot), snapshot, filters, score, ScheduleOptions{});
}

ScheduleResult schedule_one(const CycleState& state, const Snapshot& snapshot,
                            const std::vector<std::unique_ptr<FilterPlugin>>& filters, ScorePlugin& score,
                            const ScheduleOptions& options) {
  ScheduleResult res;
  const size_t n = snapshot.nodes.size();
  res.num_nodes = n;
  size_t want = n;
  if (options.feasible_to_find > 0 && score.allows_partial_scoring()) want = std::min(n, options.feasible_to_find);
  size_t start = options.next_start_index && n > 0 ? *options.next_start_index % n : 0;
  std::vector<const NodeInfo*> feasible;
  feasible.reserve(want);
  size_t processed = 0;
  size_t before_wrap = 0;  // feasible nodes found at indexes >= start
  for (; processed < n && feasible.size() < want; ++processed) {
    if (start + processed == n) before_wrap = feasible.size();
    const NodeInfo& node = snapshot.nodes[(start + processed) % n];
    bool fits = true;
    for (const auto& f : filters) {
      FilterStatus st = f->filter(state, node, snapshot);
      if (!st.fits()) {
        for (const auto& r : st.reasons) ++res.reasons[r];
        fits = false;
        break;
      }
    }
    if (fits) feasible.push_back(&node);
  }
  if (start + processed <= n) before_wrap = feasible.size();
  if (options.next_start_index && n > 0) *options.next_start_index = (start + processed) % n;
  if (feasible.empty()) return res;
  // Plugins see the feasible nodes sorted by name, whatever the start index:
  // the nodes are sorted, so the run after the wrap goes first.
  std::rotate(feasible.begin(), feasible.begin() + static_cast<std::ptrdiff_t>(before_wrap), feasible.end());
  score.pre_score(*state.pod, feasible);
  int64_t best = 0;
  const NodeInfo* chosen = nullptr;
  for (const NodeInfo* node : feasible) {
    int64_t s = score.score_with(state, *node);
    if (!chosen || s > best) {
      best = s;
      chosen = node;
    }
  }
  res.node = chosen->name;
  return res;
}

Result<Policy> parse_policy(const std::string& name) {
  if (name == "least-allocated" || name.empty()) return Policy::kLeastAllocated;
  if (name == "round-robin") return Policy::kRoundRobin;
  if (name == "random") return Policy::kRandom;
  return invalid("unknown scheduler policy \"" + name + "\" (want least-allocated, round-robin or random)");
}

}  // namespace minik8s::scheduler
