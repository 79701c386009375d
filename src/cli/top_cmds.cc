// mkctl top nodes|pods: reads metrics.k8s.io/v1beta1 and prints what kubectl
// top prints (kubectl/pkg/cmd/top, pkg/metricsutil/metrics_printer.go):
// CPU in millicores rounded up ("12m"), memory in whole MiB ("64Mi"), node
// percentages of status.allocatable, columns padded like Go's tabwriter with
// minwidth 10 and padding 3 (every cell tab-terminated).
#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "minik8s/api/json.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/util/url.h"
#include "top_format.h"
#include "workload_cmds.h"

namespace minik8s::cli {

using api::Json;

namespace {

constexpr const char* kMetricsGv = "/apis/metrics.k8s.io/v1beta1";

// A Kubernetes quantity in base units times `scale` (1000 for milli), rounded
// up as Quantity.ScaledValue does. nullopt-like -1 on a malformed quantity.
double quantity(const std::string& q) {
  if (q.empty()) return -1;
  size_t i = 0;
  while (i < q.size() && (std::isdigit(static_cast<unsigned char>(q[i])) || q[i] == '.' || q[i] == '+' ||
                          (q[i] == '-' && i == 0))) {
    ++i;
  }
  double v = 0;
  try {
    v = std::stod(q.substr(0, i));
  } catch (const std::exception&) {
    return -1;
  }
  std::string suffix = q.substr(i);
  static const std::map<std::string, double> kSuffix = {
      {"", 1},       {"n", 1e-9},   {"u", 1e-6},          {"m", 1e-3},          {"k", 1e3},
      {"M", 1e6},    {"G", 1e9},    {"T", 1e12},          {"P", 1e15},          {"E", 1e18},
      {"Ki", 1024.}, {"Mi", 1048576.}, {"Gi", 1073741824.}, {"Ti", 1099511627776.}, {"Pi", 1125899906842624.},
      {"Ei", 1152921504606846976.}};
  auto it = kSuffix.find(suffix);
  if (it != kSuffix.end()) return v * it->second;
  if (!suffix.empty() && (suffix[0] == 'e' || suffix[0] == 'E')) {
    try {
      return v * std::pow(10.0, std::stod(suffix.substr(1)));
    } catch (const std::exception&) {
      return -1;
    }
  }
  return -1;
}

}  // namespace

int64_t cpu_millis(const std::string& q) {
  double v = quantity(q);
  if (v < 0) return 0;
  // Round up, tolerating the float error of the suffix scale.
  return static_cast<int64_t>(std::ceil(v * 1000 - 1e-6));
}

int64_t memory_bytes(const std::string& q) {
  double v = quantity(q);
  if (v < 0) return 0;
  return static_cast<int64_t>(std::ceil(v - 1e-6));
}

std::string tabwriter(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      size_t w = std::max<size_t>(width[i] + 3, 10);
      out += r[i] + std::string(w - r[i].size(), ' ');
    }
    out += "\n";
  }
  return out;
}

std::string format_top_nodes(const Json& metrics, const Json& nodes, const TopOptions& o) {
  struct Row {
    std::string name;
    int64_t cpu = 0, mem = 0;
    bool known = true;
  };
  std::map<std::string, const Json*> by_name;
  const Json& node_items = api::field(nodes, "items");
  if (node_items.is_array()) {
    for (const auto& n : node_items) by_name[api::sfield(api::field(n, "metadata"), "name")] = &n;
  }
  std::vector<Row> rows;
  std::map<std::string, bool> seen;
  const Json& items = api::field(metrics, "items");
  if (items.is_array()) {
    for (const auto& m : items) {
      Row r;
      r.name = api::sfield(api::field(m, "metadata"), "name");
      const Json& usage = api::field(m, "usage");
      r.cpu = cpu_millis(api::sfield(usage, "cpu"));
      r.mem = memory_bytes(api::sfield(usage, "memory"));
      seen[r.name] = true;
      rows.push_back(r);
    }
  }
  if (o.sort_by == "cpu") {
    std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.cpu > b.cpu; });
  } else if (o.sort_by == "memory") {
    std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.mem > b.mem; });
  }
  // Nodes without metrics are listed last as <unknown> (kubectl ≥ 1.21).
  for (const auto& [name, n] : by_name) {
    if (!seen.count(name) && o.name.empty()) rows.push_back({name, 0, 0, false});
  }
  std::vector<std::vector<std::string>> table;
  if (!o.no_headers) table.push_back({"NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"});
  for (const auto& r : rows) {
    if (!r.known) {
      table.push_back({r.name, "<unknown>", "<unknown>", "<unknown>", "<unknown>"});
      continue;
    }
    std::string cpu_pct = "<unknown>", mem_pct = "<unknown>";
    auto it = by_name.find(r.name);
    if (it != by_name.end()) {
      const Json& alloc = api::field(api::field(*it->second, "status"), "allocatable");
      int64_t cpu_alloc = cpu_millis(api::sfield(alloc, "cpu"));
      int64_t mem_alloc = memory_bytes(api::sfield(alloc, "memory"));
      if (cpu_alloc > 0) {
        cpu_pct = std::to_string(static_cast<int64_t>(static_cast<double>(r.cpu) / cpu_alloc * 100)) + "%";
      }
      if (mem_alloc > 0) {
        mem_pct = std::to_string(static_cast<int64_t>(static_cast<double>(r.mem) / mem_alloc * 100)) + "%";
      }
    }
    table.push_back({r.name, std::to_string(r.cpu) + "m", cpu_pct, std::to_string(r.mem / (1024 * 1024)) + "Mi",
                     mem_pct});
  }
  return tabwriter(table);
}

std::string format_top_pods(const Json& metrics, const TopOptions& o) {
  struct Row {
    std::string ns, pod, container;
    int64_t cpu = 0, mem = 0;
  };
  std::vector<Row> rows;
  const Json& items = api::field(metrics, "items");
  if (items.is_array()) {
    for (const auto& m : items) {
      const Json& md = api::field(m, "metadata");
      Row pod{api::sfield(md, "namespace"), api::sfield(md, "name"), "", 0, 0};
      const Json& cs = api::field(m, "containers");
      std::vector<Row> per;
      if (cs.is_array()) {
        for (const auto& c : cs) {
          const Json& usage = api::field(c, "usage");
          Row r = pod;
          r.container = api::sfield(c, "name");
          r.cpu = cpu_millis(api::sfield(usage, "cpu"));
          r.mem = memory_bytes(api::sfield(usage, "memory"));
          pod.cpu += r.cpu;
          pod.mem += r.mem;
          per.push_back(r);
        }
      }
      if (o.containers) {
        rows.insert(rows.end(), per.begin(), per.end());
      } else {
        rows.push_back(pod);
      }
    }
  }
  if (o.sort_by == "cpu") {
    std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.cpu > b.cpu; });
  } else if (o.sort_by == "memory") {
    std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.mem > b.mem; });
  }
  std::vector<std::vector<std::string>> table;
  if (!o.no_headers) {
    std::vector<std::string> h;
    if (o.all_namespaces) h.push_back("NAMESPACE");
    if (o.containers) {
      h.insert(h.end(), {"POD", "NAME"});
    } else {
      h.push_back("NAME");
    }
    h.insert(h.end(), {"CPU(cores)", "MEMORY(bytes)"});
    table.push_back(h);
  }
  for (const auto& r : rows) {
    std::vector<std::string> line;
    if (o.all_namespaces) line.push_back(r.ns);
    line.push_back(r.pod);
    if (o.containers) line.push_back(r.container);
    line.push_back(std::to_string(r.cpu) + "m");
    line.push_back(std::to_string(r.mem / (1024 * 1024)) + "Mi");
    table.push_back(line);
  }
  return tabwriter(table);
}

namespace {

// "Error from server (NotFound): ..." from an error answer.
std::string server_error(const client::HttpResponse& r) {
  Status st = client::status_from_response(r.status, r.body);
  return std::string("Error from server (") + st.reason() + "): " + st.message();
}

// Errors carry the whole line to print.
Result<Json> get_json(client::RestClient& rest, const std::string& path) {
  auto r = rest.request("GET", path);
  if (!r.is_ok()) return Status(r.status().code(), "error: " + r.status().message());
  if (r->status != 200) return Status(Code::kInternal, server_error(*r));
  auto doc_parsed = api::parse_json_response(r->body);
  Json doc = doc_parsed ? std::move(doc_parsed.value()) : Json(Json::value_t::discarded);
  if (doc.is_discarded()) return Status(Code::kInternal, "error: the server sent malformed JSON for " + path);
  return doc;
}

std::string query(const TopOptions& o) {
  std::string q;
  if (!o.selector.empty()) q += "?labelSelector=" + url_encode(o.selector);
  return q;
}

int report(const Status& st, std::ostream& err) {
  err << st.message() << "\n";
  return 1;
}

}  // namespace

int run_top(const client::HttpRestClientOptions& server, const std::string& ns, const TopOptions& o, std::ostream& out,
            std::ostream& err) {
  if (o.what != "nodes" && o.what != "pods") {
    err << "error: unknown resource \"" << o.what << "\" (nodes or pods)\n";
    return 1;
  }
  if (!o.sort_by.empty() && o.sort_by != "cpu" && o.sort_by != "memory") {
    err << "error: --sort-by accepts only cpu or memory\n";
    return 1;
  }
  if (!o.name.empty() && !o.selector.empty()) {
    err << "error: only one of NAME or --selector can be provided\n";
    return 1;
  }
  client::HttpRestClientOptions ro = server;
  auto rest = client::make_http_rest_client(ro);
  if (!rest.is_ok()) {
    err << "error: " << rest.status().message() << "\n";
    return 1;
  }
  client::RestClient& rc = **rest;

  // The Metrics API must be in discovery (kubectl: "Metrics API not available").
  auto groups = get_json(rc, "/apis");
  if (!groups.is_ok()) return report(groups.status(), err);
  bool available = false;
  const Json& gl = api::field(*groups, "groups");
  if (gl.is_array()) {
    for (const auto& g : gl) {
      if (api::sfield(g, "name") != "metrics.k8s.io") continue;
      const Json& vs = api::field(g, "versions");
      if (!vs.is_array()) continue;
      for (const auto& v : vs) available = available || api::sfield(v, "version") == "v1beta1";
    }
  }
  if (!available) {
    err << "error: Metrics API not available\n";
    return 1;
  }

  if (o.what == "nodes") {
    Json metrics;
    if (!o.name.empty()) {
      auto m = get_json(rc, std::string(kMetricsGv) + "/nodes/" + url_encode(o.name));
      if (!m.is_ok()) return report(m.status(), err);
      metrics = {{"items", Json::array({*m})}};
    } else {
      auto m = get_json(rc, std::string(kMetricsGv) + "/nodes" + query(o));
      if (!m.is_ok()) return report(m.status(), err);
      metrics = std::move(*m);
    }
    if (api::field(metrics, "items").empty()) {
      err << "error: metrics not available yet\n";
      return 1;
    }
    Json nodes;
    if (!o.name.empty()) {
      auto n = get_json(rc, "/api/v1/nodes/" + url_encode(o.name));
      if (!n.is_ok()) return report(n.status(), err);
      nodes = {{"items", Json::array({*n})}};
    } else {
      auto n = get_json(rc, "/api/v1/nodes" + query(o));
      if (!n.is_ok()) return report(n.status(), err);
      nodes = std::move(*n);
    }
    out << format_top_nodes(metrics, nodes, o);
    return 0;
  }

  std::string base = o.all_namespaces ? std::string(kMetricsGv) + "/pods"
                                      : std::string(kMetricsGv) + "/namespaces/" + url_encode(ns) + "/pods";
  Json metrics;
  if (!o.name.empty()) {
    if (o.all_namespaces) base = std::string(kMetricsGv) + "/namespaces/" + url_encode(ns) + "/pods";
    auto m = get_json(rc, base + "/" + url_encode(o.name));
    if (!m.is_ok()) return report(m.status(), err);
    metrics = {{"items", Json::array({*m})}};
  } else {
    auto m = get_json(rc, base + query(o));
    if (!m.is_ok()) return report(m.status(), err);
    metrics = std::move(*m);
  }
  if (api::field(metrics, "items").empty()) {
    // Pods that exist but have no metrics yet are an error; no pods is not.
    std::string pods_path = o.all_namespaces ? "/api/v1/pods" : "/api/v1/namespaces/" + url_encode(ns) + "/pods";
    auto pods = get_json(rc, pods_path + query(o));
    if (!pods.is_ok()) return report(pods.status(), err);
    if (!api::field(*pods, "items").empty()) {
      err << "error: metrics not available yet\n";
      return 1;
    }
    if (o.all_namespaces) {
      err << "No resources found\n";
    } else {
      err << "No resources found in " << ns << " namespace.\n";
    }
    return 0;
  }
  out << format_top_pods(metrics, o);
  return 0;
}

}  // namespace minik8s::cli
