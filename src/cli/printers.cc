#include "printers.h"

#include <algorithm>
#include <ctime>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <sstream>

#include "minik8s/api/quantity.h"
#include "minik8s/api/resource.h"

namespace minik8s::cli {

using api::Json;

namespace {

std::string cell_string(const Json& v) {
  if (v.is_null()) return "<none>";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) {
    std::ostringstream os;
    os << v.get<double>();
    return os.str();
  }
  return v.dump();
}

std::string str(const Json& obj, std::initializer_list<const char*> path, const std::string& dflt = "") {
  const Json& v = api::field_at(obj, path);
  if (v.is_null()) return dflt;
  return cell_string(v);
}

}  // namespace

std::string labels_string(const Json& labels) {
  if (!labels.is_object() || labels.empty()) return "<none>";
  std::string out;
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    if (!out.empty()) out += ",";
    out += it.key() + "=" + cell_string(it.value());
  }
  return out;
}

std::vector<std::vector<std::string>> table_rows(const Json& table, const TableOptions& opts) {
  std::vector<std::vector<std::string>> out;
  std::vector<size_t> shown;
  std::vector<std::string> header;
  if (opts.with_namespace) header.push_back("NAMESPACE");
  const Json& cols = api::field_at(table, {"columnDefinitions"});
  size_t name_col = std::string::npos;
  if (cols.is_array()) {
    for (size_t i = 0; i < cols.size(); ++i) {
      const Json& c = cols[i];
      long long prio = c.is_object() && c.contains("priority") && c["priority"].is_number_integer()
                           ? c["priority"].get<long long>()
                           : 0;
      if (prio > 0 && !opts.wide) continue;
      std::string name = str(c, {"name"});
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::toupper(ch); });
      if (name_col == std::string::npos && (str(c, {"format"}) == "name" || name == "NAME")) name_col = i;
      shown.push_back(i);
      header.push_back(name);
    }
  }
  if (opts.show_labels) header.push_back("LABELS");
  if (!opts.no_headers) out.push_back(header);
  const Json& rows = api::field_at(table, {"rows"});
  if (!rows.is_array()) return out;
  for (const Json& row : rows) {
    std::vector<std::string> line;
    const Json& obj = api::field_at(row, {"object"});
    if (opts.with_namespace) line.push_back(str(obj, {"metadata", "namespace"}));
    const Json& cells = api::field_at(row, {"cells"});
    for (size_t i : shown) {
      std::string v = cells.is_array() && i < cells.size() ? cell_string(cells[i]) : "";
      if (i == name_col) v = opts.name_prefix + v;
      line.push_back(v);
    }
    if (opts.show_labels) line.push_back(labels_string(api::field_at(obj, {"metadata", "labels"})));
    out.push_back(std::move(line));
  }
  return out;
}

size_t display_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;  // count lead bytes, not continuation bytes
  }
  return n;
}

std::string format_row(const std::vector<std::string>& row, std::vector<size_t>& widths) {
  if (widths.size() < row.size()) widths.resize(row.size(), 0);
  std::string line;
  for (size_t i = 0; i < row.size(); ++i) {
    size_t w = display_width(row[i]);
    widths[i] = std::max(widths[i], w);
    line += row[i];
    if (i + 1 < row.size()) line += std::string(widths[i] - w + 3, ' ');
  }
  return line;
}

std::string format_columns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& r : rows) {
    if (widths.size() < r.size()) widths.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) widths[i] = std::max(widths[i], display_width(r[i]));
  }
  std::string out;
  for (const auto& r : rows) out += format_row(r, widths) + "\n";
  return out;
}

namespace {
// True when every field of want is present with the same value in have
// (recursively; extra fields in have — server defaults — are ignored;
// lists must have the same length and match element by element).
bool semantically_contains(const Json& want, const Json& have) {
  if (want.is_object()) {
    if (!have.is_object()) return false;
    for (auto it = want.begin(); it != want.end(); ++it) {
      auto h = have.find(it.key());
      if (h == have.end()) {
        if (it.value().is_null()) continue;
        return false;
      }
      if (!semantically_contains(it.value(), *h)) return false;
    }
    return true;
  }
  if (want.is_array()) {
    if (!have.is_array() || have.size() != want.size()) return false;
    for (size_t i = 0; i < want.size(); ++i) {
      if (!semantically_contains(want[i], have[i])) return false;
    }
    return true;
  }
  if (want.is_number() && have.is_number()) return want.get<double>() == have.get<double>();
  return want == have;
}
}  // namespace

Json three_way_merge_patch(const Json& original, const Json& modified, const Json& current) {
  Json patch = Json::object();
  if (!modified.is_object()) return patch;
  for (auto it = modified.begin(); it != modified.end(); ++it) {
    const std::string& k = it.key();
    const Json& want = it.value();
    bool has_cur = current.is_object() && current.contains(k);
    if (want.is_object() && has_cur && current[k].is_object()) {
      const Json& orig = original.is_object() && original.contains(k) ? original[k] : Json();
      Json sub = three_way_merge_patch(orig, want, current[k]);
      if (!sub.empty()) patch[k] = std::move(sub);
    } else if (!has_cur || current[k] != want) {
      if (want.is_null() && !has_cur) continue;
      // A list the server only added defaults to, and that the file did not
      // change since the last apply, is not a change.
      bool orig_same = !(original.is_object() && original.contains(k)) || original[k] == want;
      if (has_cur && want.is_array() && orig_same && semantically_contains(want, current[k])) continue;
      patch[k] = want;
    }
  }
  if (original.is_object()) {
    for (auto it = original.begin(); it != original.end(); ++it) {
      if (!modified.contains(it.key()) && current.is_object() && current.contains(it.key())) {
        patch[it.key()] = nullptr;
      }
    }
  }
  return patch;
}

std::string human_age(const std::string& ts, long long now_unix) {
  std::tm tm{};
  std::istringstream in(ts);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return "<unknown>";
  long long then = static_cast<long long>(timegm(&tm));
  long long d = std::max(0LL, now_unix - then);
  if (d < 120) return std::to_string(d) + "s";
  long long m = d / 60;
  if (m < 10) {
    long long s = d % 60;
    return std::to_string(m) + "m" + (s ? std::to_string(s) + "s" : "");
  }
  if (m < 180) return std::to_string(m) + "m";
  long long h = d / 3600;
  if (h < 8) {
    long long mm = (d % 3600) / 60;
    return std::to_string(h) + "h" + (mm ? std::to_string(mm) + "m" : "");
  }
  if (h < 48) return std::to_string(h) + "h";
  long long days = h / 24;
  if (days < 8) {
    long long hh = h % 24;
    return std::to_string(days) + "d" + (hh ? std::to_string(hh) + "h" : "");
  }
  if (days < 365 * 2) return std::to_string(days) + "d";
  return std::to_string(days / 365) + "y";
}

namespace {

void field(std::ostringstream& os, int indent, const std::string& name, const std::string& value) {
  std::string label = std::string(indent, ' ') + name + ":";
  size_t pad = label.size() < 20 ? 20 - label.size() : 1;
  os << label << std::string(pad, ' ') << value << "\n";
}

void map_field(std::ostringstream& os, int indent, const std::string& name, const Json& m) {
  if (!m.is_object() || m.empty()) {
    field(os, indent, name, "<none>");
    return;
  }
  bool first = true;
  for (auto it = m.begin(); it != m.end(); ++it) {
    std::string kv = it.key() + "=" + cell_string(it.value());
    if (first) {
      field(os, indent, name, kv);
      first = false;
    } else {
      os << std::string(20, ' ') << kv << "\n";
    }
  }
}

// Generic YAML-ish dump for the parts we have no section for.
void generic(std::ostringstream& os, const Json& v, int indent) {
  std::string pad(indent, ' ');
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (it.value().is_object() || it.value().is_array()) {
        if (it.value().empty()) {
          os << pad << it.key() << ":  <none>\n";
        } else {
          os << pad << it.key() << ":\n";
          generic(os, it.value(), indent + 2);
        }
      } else {
        os << pad << it.key() << ":  " << cell_string(it.value()) << "\n";
      }
    }
  } else if (v.is_array()) {
    for (const auto& e : v) {
      if (e.is_object() || e.is_array()) {
        os << pad << "-\n";
        generic(os, e, indent + 2);
      } else {
        os << pad << "- " << cell_string(e) << "\n";
      }
    }
  } else {
    os << pad << cell_string(v) << "\n";
  }
}

std::string resources(const Json& r) {
  if (!r.is_object() || r.empty()) return "";
  std::string out;
  for (auto it = r.begin(); it != r.end(); ++it) {
    if (!out.empty()) out += ", ";
    out += it.key() + ": " + cell_string(it.value());
  }
  return out;
}

void conditions(std::ostringstream& os, const Json& conds) {
  if (!conds.is_array() || conds.empty()) return;
  os << "Conditions:\n";
  std::vector<std::vector<std::string>> rows{{"  Type", "Status"}};
  for (const auto& c : conds) rows.push_back({"  " + str(c, {"type"}), str(c, {"status"})});
  os << format_columns(rows);
}

void containers(std::ostringstream& os, const Json& spec, const Json& status) {
  const Json& cs = api::field_at(spec, {"containers"});
  if (!cs.is_array()) return;
  os << "Containers:\n";
  for (const auto& c : cs) {
    os << "  " << str(c, {"name"}) << ":\n";
    field(os, 4, "Image", str(c, {"image"}));
    const Json& ports = api::field_at(c, {"ports"});
    std::string p;
    if (ports.is_array()) {
      for (const auto& port : ports) {
        if (!p.empty()) p += ", ";
        p += str(port, {"containerPort"}) + "/" + str(port, {"protocol"}, "TCP");
      }
    }
    field(os, 4, "Port", p.empty() ? "<none>" : p);
    if (const Json& cmd = api::field_at(c, {"command"}); cmd.is_array() && !cmd.empty()) {
      std::string s;
      for (const auto& a : cmd) s += (s.empty() ? "" : " ") + cell_string(a);
      field(os, 4, "Command", s);
    }
    // State from status.containerStatuses.
    const Json& statuses = api::field_at(status, {"containerStatuses"});
    if (statuses.is_array()) {
      for (const auto& st : statuses) {
        if (str(st, {"name"}) != str(c, {"name"})) continue;
        const Json& state = api::field_at(st, {"state"});
        if (state.is_object() && !state.empty()) {
          std::string s = state.begin().key();
          if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
          field(os, 4, "State", s);
          if (auto reason = str(state.begin().value(), {"reason"}); !reason.empty()) field(os, 6, "Reason", reason);
          if (auto code = str(state.begin().value(), {"exitCode"}); !code.empty()) field(os, 6, "Exit Code", code);
        }
        field(os, 4, "Ready", str(st, {"ready"}, "false"));
        field(os, 4, "Restart Count", str(st, {"restartCount"}, "0"));
      }
    }
    if (auto lim = resources(api::field_at(c, {"resources", "limits"})); !lim.empty()) field(os, 4, "Limits", lim);
    if (auto req = resources(api::field_at(c, {"resources", "requests"})); !req.empty()) field(os, 4, "Requests", req);
    const Json& env = api::field_at(c, {"env"});
    if (env.is_array() && !env.empty()) {
      os << "    Environment:\n";
      for (const auto& e : env) os << "      " << str(e, {"name"}) << ":  " << str(e, {"value"}) << "\n";
    }
  }
}


// ------------------------------------------------------------- Node describe

std::string node_roles(const Json& labels) {
  std::string out = api::node_roles(labels);
  return out.empty() ? "<none>" : out;
}

int64_t milli_of(const Json& q) {
  if (q.is_null()) return 0;
  auto parsed = api::Quantity::parse(q.is_string() ? q.get<std::string>() : q.dump());
  return parsed.is_ok() ? parsed->milli_value() : 0;
}

// A quantity sum as kubectl prints it: cpu in cores/millicores, memory with
// binary suffixes when exact ("128Mi"), else decimal.
std::string quantity_text(const std::string& resource, int64_t milli) {
  if (milli == 0) return "0";
  if (resource != "cpu" && milli % 1000 == 0 && (milli / 1000) % 1024 == 0) {
    return api::Quantity::parse(std::to_string(milli / 1000 / 1024) + "Ki")->to_string();
  }
  return api::Quantity::from_milli(milli).to_string();
}

std::string percent_of(int64_t milli, int64_t allocatable_milli) {
  if (allocatable_milli <= 0) return "0%";
  return std::to_string(static_cast<int64_t>(static_cast<double>(milli) /
                                             static_cast<double>(allocatable_milli) * 100)) +
         "%";
}

// Pod requests/limits as kubectl sums them: the containers' total, or the
// largest init container when that is more.
std::map<std::string, int64_t> pod_resources(const Json& spec, const char* which) {
  std::map<std::string, int64_t> sum;
  const Json& cs = api::field_at(spec, {"containers"});
  if (cs.is_array()) {
    for (const auto& c : cs) {
      const Json& r = api::field_at(c, {"resources", which});
      if (!r.is_object()) continue;
      for (auto it = r.begin(); it != r.end(); ++it) sum[it.key()] += milli_of(it.value());
    }
  }
  const Json& init = api::field_at(spec, {"initContainers"});
  if (init.is_array()) {
    for (const auto& c : init) {
      const Json& r = api::field_at(c, {"resources", which});
      if (!r.is_object()) continue;
      for (auto it = r.begin(); it != r.end(); ++it) {
        sum[it.key()] = std::max(sum[it.key()], milli_of(it.value()));
      }
    }
  }
  return sum;
}

void node_conditions(std::ostringstream& os, const Json& conds) {
  os << "Conditions:\n";
  std::vector<std::vector<std::string>> rows{
      {"  Type", "Status", "LastHeartbeatTime", "LastTransitionTime", "Reason", "Message"},
      {"  ----", "------", "-----------------", "------------------", "------", "-------"}};
  if (conds.is_array()) {
    for (const auto& c : conds) {
      rows.push_back({"  " + str(c, {"type"}), str(c, {"status"}),
                      str(c, {"lastHeartbeatTime"}, "<unset>"),
                      str(c, {"lastTransitionTime"}, "<unset>"), str(c, {"reason"}),
                      str(c, {"message"})});
    }
  }
  os << format_columns(rows);
}

void describe_node(std::ostringstream& os, const Json& obj, const DescribeRelated& related) {
  const Json& spec = api::field_at(obj, {"spec"});
  const Json& status = api::field_at(obj, {"status"});
  std::string taints;
  if (const Json& ts = api::field_at(spec, {"taints"}); ts.is_array()) {
    for (const auto& t : ts) {
      std::string one = str(t, {"key"});
      if (!str(t, {"value"}).empty()) one += "=" + str(t, {"value"});
      one += ":" + str(t, {"effect"});
      if (taints.empty()) {
        taints = one;
      } else {
        taints += "\n" + std::string(20, ' ') + one;
      }
    }
  }
  field(os, 0, "Taints", taints.empty() ? "<none>" : taints);
  field(os, 0, "Unschedulable", str(spec, {"unschedulable"}, "false"));
  if (related.lease && related.lease->is_object()) {
    os << "Lease:\n";
    const Json& ls = api::field_at(*related.lease, {"spec"});
    field(os, 2, "HolderIdentity", str(ls, {"holderIdentity"}, "<unset>"));
    field(os, 2, "AcquireTime", str(ls, {"acquireTime"}, "<unset>"));
    field(os, 2, "RenewTime", str(ls, {"renewTime"}, "<unset>"));
  }
  node_conditions(os, api::field_at(status, {"conditions"}));
  os << "Addresses:\n";
  if (const Json& addrs = api::field_at(status, {"addresses"}); addrs.is_array()) {
    for (const auto& a : addrs) os << "  " << str(a, {"type"}) << ":  " << str(a, {"address"}) << "\n";
  }
  for (auto [title, key] : {std::pair{"Capacity", "capacity"}, std::pair{"Allocatable", "allocatable"}}) {
    os << title << ":\n";
    const Json& m = api::field_at(status, {key});
    if (m.is_object()) {
      for (auto it = m.begin(); it != m.end(); ++it) field(os, 2, it.key(), cell_string(it.value()));
    }
  }
  const Json& info = api::field_at(status, {"nodeInfo"});
  os << "System Info:\n";
  for (auto [title, key] : {std::pair{"Machine ID", "machineID"}, std::pair{"System UUID", "systemUUID"},
                            std::pair{"Boot ID", "bootID"}, std::pair{"Kernel Version", "kernelVersion"},
                            std::pair{"OS Image", "osImage"}, std::pair{"Operating System", "operatingSystem"},
                            std::pair{"Architecture", "architecture"},
                            std::pair{"Container Runtime Version", "containerRuntimeVersion"},
                            std::pair{"Kubelet Version", "kubeletVersion"}}) {
    os << "  " << title << ":  " << str(info, {key}) << "\n";
  }
  if (!str(spec, {"podCIDR"}).empty()) field(os, 0, "PodCIDR", str(spec, {"podCIDR"}));
  if (const Json& cidrs = api::field_at(spec, {"podCIDRs"}); cidrs.is_array() && !cidrs.empty()) {
    std::string all;
    for (const auto& c : cidrs) all += (all.empty() ? "" : ",") + cell_string(c);
    field(os, 0, "PodCIDRs", all);
  }
  // Non-terminated pods and what they request of the allocatable resources.
  const Json& alloc = api::field_at(status, {"allocatable"});
  auto alloc_of = [&](const std::string& r) { return milli_of(api::field_at(alloc, {r.c_str()})); };
  static const Json kNoPods;
  const Json& items = related.pods ? api::field_at(*related.pods, {"items"}) : kNoPods;
  size_t n = items.is_array() ? items.size() : 0;
  os << "Non-terminated Pods:  (" << n << " in total)\n";
  std::map<std::string, int64_t> req_total, lim_total;
  if (n > 0) {
    std::vector<std::vector<std::string>> rows{
        {"  Namespace", "Name", "CPU Requests", "CPU Limits", "Memory Requests", "Memory Limits", "Age"},
        {"  ---------", "----", "------------", "----------", "---------------", "-------------", "---"}};
    for (const auto& p : items) {
      auto req = pod_resources(api::field_at(p, {"spec"}), "requests");
      auto lim = pod_resources(api::field_at(p, {"spec"}), "limits");
      for (auto& [k, v] : req) req_total[k] += v;
      for (auto& [k, v] : lim) lim_total[k] += v;
      auto cell = [&](std::map<std::string, int64_t>& m, const std::string& r) {
        return quantity_text(r, m[r]) + " (" + percent_of(m[r], alloc_of(r)) + ")";
      };
      rows.push_back({"  " + str(p, {"metadata", "namespace"}), str(p, {"metadata", "name"}),
                      cell(req, "cpu"), cell(lim, "cpu"), cell(req, "memory"), cell(lim, "memory"),
                      human_age(str(p, {"metadata", "creationTimestamp"}), related.now_unix)});
    }
    os << format_columns(rows);
  }
  os << "Allocated resources:\n";
  os << "  (Total limits may be over 100 percent, i.e., overcommitted.)\n";
  std::vector<std::vector<std::string>> rows{{"  Resource", "Requests", "Limits"},
                                             {"  --------", "--------", "------"}};
  for (const char* r : {"cpu", "memory"}) {
    rows.push_back({std::string("  ") + r,
                    quantity_text(r, req_total[r]) + " (" + percent_of(req_total[r], alloc_of(r)) + ")",
                    quantity_text(r, lim_total[r]) + " (" + percent_of(lim_total[r], alloc_of(r)) + ")"});
  }
  os << format_columns(rows);
}

// ---------------------------------------------------------- Service describe

std::string join_host_port(const std::string& ip, const std::string& port) {
  return (ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" + port;
}

std::string more_list(const std::vector<std::string>& list, size_t count) {
  std::string out;
  for (const auto& e : list) out += (out.empty() ? "" : ",") + e;
  if (count > list.size()) out += " + " + std::to_string(count - list.size()) + " more...";
  return out;
}

// kubectl's formatEndpointSlices for one service port name (nullptr: all).
std::string endpoints_from_slices(const Json& slices, const std::string* port_name) {
  const Json& items = api::field_at(slices, {"items"});
  if (!items.is_array() || items.empty()) return "<none>";
  constexpr size_t kMax = 3;
  std::vector<std::string> list;
  size_t count = 0;
  for (const auto& s : items) {
    const Json& eps = api::field_at(s, {"endpoints"});
    const Json& ports = api::field_at(s, {"ports"});
    if (!eps.is_array()) continue;
    auto first_address = [](const Json& e) {
      const Json& a = api::field_at(e, {"addresses"});
      return a.is_array() && !a.empty() ? cell_string(a[0]) : std::string();
    };
    if (!ports.is_array() || ports.empty()) {
      for (const auto& e : eps) {
        if (list.size() < kMax) list.push_back(first_address(e));
        ++count;
      }
      continue;
    }
    for (const auto& p : ports) {
      if (port_name && str(p, {"name"}) != *port_name) continue;
      for (const auto& e : eps) {
        if (list.size() < kMax) list.push_back(join_host_port(first_address(e), str(p, {"port"})));
        ++count;
      }
    }
  }
  return more_list(list, count);
}

// kubectl's formatEndpoints (v1 Endpoints) for one service port name.
std::string endpoints_from_endpoints(const Json& ep, const std::string* port_name) {
  const Json& subsets = api::field_at(ep, {"subsets"});
  if (!subsets.is_array() || subsets.empty()) return "<none>";
  constexpr size_t kMax = 3;
  std::vector<std::string> list;
  size_t count = 0;
  for (const auto& ss : subsets) {
    const Json& addrs = api::field_at(ss, {"addresses"});
    const Json& ports = api::field_at(ss, {"ports"});
    size_t n = addrs.is_array() ? addrs.size() : 0;
    if (!ports.is_array() || ports.empty()) {
      count += n;
      for (size_t i = 0; i < n && list.size() < kMax; ++i) list.push_back(str(addrs[i], {"ip"}));
      continue;
    }
    for (const auto& p : ports) {
      if (port_name && str(p, {"name"}) != *port_name) continue;
      count += n;
      for (size_t i = 0; i < n && list.size() < kMax; ++i) {
        list.push_back(join_host_port(str(addrs[i], {"ip"}), str(p, {"port"})));
      }
    }
  }
  return more_list(list, count);
}

void describe_service(std::ostringstream& os, const Json& obj, const DescribeRelated& related) {
  const Json& spec = api::field_at(obj, {"spec"});
  field(os, 0, "Selector", labels_string(api::field_at(spec, {"selector"})));
  std::string type = str(spec, {"type"}, "ClusterIP");
  field(os, 0, "Type", type);
  if (!str(spec, {"ipFamilyPolicy"}).empty()) field(os, 0, "IP Family Policy", str(spec, {"ipFamilyPolicy"}));
  std::string ip = str(spec, {"clusterIP"}, "<none>");
  std::string ips;
  if (const Json& l = api::field_at(spec, {"clusterIPs"}); l.is_array() && !l.empty()) {
    for (const auto& a : l) ips += (ips.empty() ? "" : ",") + cell_string(a);
    ip = cell_string(l[0]);
  }
  field(os, 0, "IP", ip);
  field(os, 0, "IPs", ips.empty() ? ip : ips);
  if (type == "ExternalName") field(os, 0, "External Name", str(spec, {"externalName"}));
  if (const Json& ext = api::field_at(spec, {"externalIPs"}); ext.is_array() && !ext.empty()) {
    std::string all;
    for (const auto& a : ext) all += (all.empty() ? "" : ",") + cell_string(a);
    field(os, 0, "External IPs", all);
  }
  auto endpoints_for = [&](const std::string* port_name) {
    if (related.endpoint_slices) return endpoints_from_slices(*related.endpoint_slices, port_name);
    return related.endpoints ? endpoints_from_endpoints(*related.endpoints, port_name) : std::string("<none>");
  };
  const Json& ports = api::field_at(spec, {"ports"});
  if (!ports.is_array() || ports.empty()) field(os, 0, "Endpoints", endpoints_for(nullptr));
  if (ports.is_array()) {
    for (const auto& p : ports) {
      std::string name = str(p, {"name"});
      std::string shown = name.empty() ? "<unset>" : name;
      std::string proto = str(p, {"protocol"}, "TCP");
      field(os, 0, "Port", shown + "  " + str(p, {"port"}) + "/" + proto);
      std::string target = str(p, {"targetPort"}, str(p, {"port"}));
      field(os, 0, "TargetPort", target + "/" + proto);
      if (!str(p, {"nodePort"}).empty() && str(p, {"nodePort"}) != "0") {
        field(os, 0, "NodePort", shown + "  " + str(p, {"nodePort"}) + "/" + proto);
      }
      field(os, 0, "Endpoints", endpoints_for(&name));
    }
  }
  field(os, 0, "Session Affinity", str(spec, {"sessionAffinity"}, "None"));
  if (!str(spec, {"externalTrafficPolicy"}).empty()) {
    field(os, 0, "External Traffic Policy", str(spec, {"externalTrafficPolicy"}));
  }
  if (!str(spec, {"internalTrafficPolicy"}).empty()) {
    field(os, 0, "Internal Traffic Policy", str(spec, {"internalTrafficPolicy"}));
  }
}

}  // namespace

std::string describe_object(const Json& obj, const DescribeRelated& related) {
  std::ostringstream os;
  std::string kind = str(obj, {"kind"});
  const Json& md = api::field_at(obj, {"metadata"});
  field(os, 0, "Name", str(md, {"name"}));
  if (!str(md, {"namespace"}).empty()) field(os, 0, "Namespace", str(md, {"namespace"}));
  if (kind == "Node") field(os, 0, "Roles", node_roles(api::field_at(md, {"labels"})));
  map_field(os, 0, "Labels", api::field_at(md, {"labels"}));
  Json annotations = api::field_at(md, {"annotations"});
  if (annotations.is_object()) annotations.erase("kubectl.kubernetes.io/last-applied-configuration");
  map_field(os, 0, "Annotations", annotations);
  field(os, 0, "CreationTimestamp", str(md, {"creationTimestamp"}, "<unset>"));
  const Json& spec = api::field_at(obj, {"spec"});
  const Json& status = api::field_at(obj, {"status"});
  if (kind == "Pod") {
    field(os, 0, "Node", str(spec, {"nodeName"}, "<none>"));
    field(os, 0, "Status", str(status, {"phase"}, "Pending"));
    field(os, 0, "IP", str(status, {"podIP"}, ""));
    if (const Json& owners = api::field_at(md, {"ownerReferences"}); owners.is_array() && !owners.empty()) {
      field(os, 0, "Controlled By", str(owners[0], {"kind"}) + "/" + str(owners[0], {"name"}));
    }
    containers(os, spec, status);
    conditions(os, api::field_at(status, {"conditions"}));
  } else if (kind == "Service") {
    describe_service(os, obj, related);
  } else if (kind == "Deployment" || kind == "ReplicaSet") {
    const Json& sel = api::field_at(spec, {"selector", "matchLabels"});
    field(os, 0, "Selector", labels_string(sel));
    field(os, 0, "Replicas",
          str(spec, {"replicas"}, "1") + " desired | " + str(status, {"updatedReplicas"}, "0") + " updated | " +
              str(status, {"replicas"}, "0") + " total | " + str(status, {"availableReplicas"}, "0") +
              " available | " + str(status, {"unavailableReplicas"}, "0") + " unavailable");
    if (kind == "Deployment") field(os, 0, "StrategyType", str(spec, {"strategy", "type"}, "RollingUpdate"));
    os << "Pod Template:\n";
    map_field(os, 2, "Labels", api::field_at(spec, {"template", "metadata", "labels"}));
    std::ostringstream inner;
    containers(inner, api::field_at(spec, {"template", "spec"}), Json());
    std::istringstream lines(inner.str());
    for (std::string line; std::getline(lines, line);) os << "  " << line << "\n";
    conditions(os, api::field_at(status, {"conditions"}));
  } else if (kind == "Node") {
    describe_node(os, obj, related);
  } else {
    for (const char* section : {"spec", "data", "status"}) {
      const Json& v = api::field_at(obj, {section});
      if (v.is_null()) continue;
      std::string title = section;
      title[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(title[0])));
      os << title << ":\n";
      generic(os, v, 2);
    }
  }
  return os.str();
}

std::string describe_events(const Json& event_list, long long now_unix) {
  const Json& items = api::field_at(event_list, {"items"});
  if (!items.is_array() || items.empty()) return "Events:              <none>\n";
  std::vector<std::vector<std::string>> rows{{"  Type", "Reason", "Age", "From", "Message"},
                                             {"  ----", "------", "----", "----", "-------"}};
  for (const auto& e : items) {
    std::string ts = str(e, {"lastTimestamp"});
    if (ts.empty()) ts = str(e, {"eventTime"});
    if (ts.empty()) ts = str(e, {"metadata", "creationTimestamp"});
    std::string from = str(e, {"source", "component"});
    if (from.empty()) from = str(e, {"reportingComponent"});
    rows.push_back({"  " + str(e, {"type"}), str(e, {"reason"}), human_age(ts, now_unix), from, str(e, {"message"})});
  }
  return "Events:\n" + format_columns(rows);
}

}  // namespace minik8s::cli
