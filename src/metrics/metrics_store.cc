#include "metrics_store.h"

#include <nlohmann/json.hpp>

namespace minik8s::metrics {

using api::Json;

namespace {

// A non-negative integer field, or nullopt-like false when absent/negative.
bool read_uint(const Json& obj, const char* key, uint64_t* out) {
  const Json& v = api::field(obj, key);
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if (i < 0) return false;
    *out = static_cast<uint64_t>(i);
    return true;
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!(d >= 0) || d > 1.8e19) return false;
    *out = static_cast<uint64_t>(d);
    return true;
  }
  return false;
}

SysTime read_time(const Json& stat, SysTime fallback) {
  SysTime t;
  std::string text = api::sfield(stat, "time");
  if (!text.empty() && parse_rfc3339(text, &t)) return t;
  return fallback;
}

}  // namespace

Result<Summary> parse_summary(const std::string& body, const std::string& node, SysTime now) {
  auto doc_parsed = api::parse_json_response(body);
  Json doc = doc_parsed ? std::move(doc_parsed.value()) : Json(Json::value_t::discarded);
  if (doc.is_discarded() || !doc.is_object() || !api::field(doc, "node").is_object()) {
    return Status(Code::kBadRequest, "the kubelet of node " + node + " sent no stats summary");
  }
  Summary out;
  const Json& n = doc["node"];
  out.node.name = node;
  const Json& ncpu = api::field(n, "cpu");
  const Json& nmem = api::field(n, "memory");
  if (!read_uint(ncpu, "usageNanoCores", &out.node.usage.cpu_nano_cores) ||
      !read_uint(nmem, "workingSetBytes", &out.node.usage.memory_bytes)) {
    return Status(Code::kBadRequest, "the stats summary of node " + node + " has no cpu/memory usage");
  }
  out.node.timestamp = read_time(ncpu, now);
  const Json& pods = api::field(doc, "pods");
  if (!pods.is_array()) return out;
  for (const Json& p : pods) {
    const Json& ref = api::field(p, "podRef");
    PodSample ps;
    ps.name = api::sfield(ref, "name");
    ps.ns = api::sfield(ref, "namespace");
    ps.uid = api::sfield(ref, "uid");
    ps.node = node;
    if (ps.name.empty() || ps.ns.empty()) continue;
    SysTime latest{};
    const Json& cs = api::field(p, "containers");
    if (!cs.is_array()) continue;
    for (const Json& c : cs) {
      ContainerSample smp;
      smp.name = api::sfield(c, "name");
      const Json& cpu = api::field(c, "cpu");
      if (smp.name.empty() || !read_uint(cpu, "usageNanoCores", &smp.usage.cpu_nano_cores) ||
          !read_uint(api::field(c, "memory"), "workingSetBytes", &smp.usage.memory_bytes)) {
        continue;
      }
      latest = std::max(latest, read_time(cpu, now));
      ps.containers.push_back(std::move(smp));
    }
    if (ps.containers.empty()) continue;
    ps.timestamp = latest;
    out.pods.push_back(std::move(ps));
  }
  return out;
}

std::string format_cpu(uint64_t nano_cores) {
  return nano_cores == 0 ? "0" : std::to_string(nano_cores) + "n";
}

std::string format_memory(uint64_t bytes) {
  if (bytes == 0) return "0";
  if (bytes % 1024 == 0) return std::to_string(bytes / 1024) + "Ki";
  return std::to_string(bytes);
}

std::string format_window(std::chrono::milliseconds window) {
  int64_t ms = window.count();
  if (ms < 1000 || ms % 1000 != 0) {
    if (ms < 1000) return std::to_string(ms) + "ms";
    std::string frac = std::to_string(ms % 1000);
    frac = std::string(3 - frac.size(), '0') + frac;
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    return std::to_string(ms / 1000) + "." + frac + "s";
  }
  return std::to_string(ms / 1000) + "s";
}

void MetricsStore::update(const Summary& summary, std::chrono::steady_clock::time_point now) {
  const std::string& node = summary.node.name;
  NodeSample ns = summary.node;
  ns.scraped = now;
  nodes_[node] = ns;
  // Pods that left this node's summary are gone from it.
  for (auto it = pods_.begin(); it != pods_.end();) {
    it = it->second.node == node ? pods_.erase(it) : std::next(it);
  }
  for (const PodSample& p : summary.pods) {
    PodSample copy = p;
    copy.scraped = now;
    pods_[p.ns + "/" + p.name] = std::move(copy);
  }
}

void MetricsStore::expire(std::chrono::steady_clock::time_point oldest) {
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    it = it->second.scraped < oldest ? nodes_.erase(it) : std::next(it);
  }
  for (auto it = pods_.begin(); it != pods_.end();) {
    it = it->second.scraped < oldest ? pods_.erase(it) : std::next(it);
  }
}

namespace {
Json metadata(const std::string& name, const std::string& ns, const Json& labels) {
  Json md = {{"name", name}, {"creationTimestamp", format_rfc3339(real_clock().now())}};
  if (!ns.empty()) md["namespace"] = ns;
  if (labels.is_object() && !labels.empty()) md["labels"] = labels;
  return md;
}
}  // namespace

Json node_metrics_json(const NodeSample& s, const Json& labels, std::chrono::milliseconds window) {
  return {{"kind", "NodeMetrics"},
          {"apiVersion", "metrics.k8s.io/v1beta1"},
          {"metadata", metadata(s.name, "", labels)},
          {"timestamp", format_rfc3339(s.timestamp)},
          {"window", format_window(window)},
          {"usage", {{"cpu", format_cpu(s.usage.cpu_nano_cores)}, {"memory", format_memory(s.usage.memory_bytes)}}}};
}

Json pod_metrics_json(const PodSample& s, const Json& labels, std::chrono::milliseconds window) {
  Json containers = Json::array();
  for (const auto& c : s.containers) {
    containers.push_back(
        {{"name", c.name},
         {"usage", {{"cpu", format_cpu(c.usage.cpu_nano_cores)}, {"memory", format_memory(c.usage.memory_bytes)}}}});
  }
  return {{"kind", "PodMetrics"},
          {"apiVersion", "metrics.k8s.io/v1beta1"},
          {"metadata", metadata(s.name, s.ns, labels)},
          {"timestamp", format_rfc3339(s.timestamp)},
          {"window", format_window(window)},
          {"containers", containers}};
}

}  // namespace minik8s::metrics
