// discovery.k8s.io/v1 EndpointSlice: names, defaults, validation and Table
// columns as Kubernetes serves them (kubectl reads slices in `describe svc`
// and `get endpointslices`; the endpoints controller writes them).
#include <nlohmann/json.hpp>
#include <set>

#include "kinds.h"
#include "minik8s/api/address_rules.h"
#include "validation.h"

namespace minik8s::api {
namespace {

using tbl::age;
using tbl::col;
using v::get;
using v::has;
using v::str;

constexpr size_t kMaxEndpoints = 1000;
constexpr size_t kMaxAddresses = 100;
constexpr size_t kMaxPorts = 100;

void endpointslice_defaults(Json& obj) {
  if (!obj.is_object() || !obj.contains("ports") || !obj["ports"].is_array()) return;
  for (Json& p : obj["ports"]) {
    if (!p.is_object()) continue;
    if (!has(p, "protocol")) p["protocol"] = "TCP";
    if (!p.contains("name")) p["name"] = "";
  }
}

bool is_ipv6(const std::string& s) {
  if (s.find(':') == std::string::npos || s.size() > 45) return false;
  for (char c : s) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex && c != ':' && c != '.') return false;
  }
  return true;
}

void validate_address(const std::string& type, const Json& a, const std::string& path,
                      FieldErrors& errs) {
  if (!a.is_string()) {
    errs.push_back({path, v::invalid(a, "must be a string")});
    return;
  }
  const std::string& s = a.get_ref<const std::string&>();
  if (type == "IPv4" && !v::is_ipv4(s)) {
    errs.push_back({path, v::invalid(a, "must be a valid IPv4 address")});
  } else if (type == "IPv6" && !is_ipv6(s)) {
    errs.push_back({path, v::invalid(a, "must be a valid IPv6 address")});
  } else if (type == "IPv4" || type == "IPv6") {
    // Kubernetes' ValidateEndpointIP (ValidateNonSpecialIP): see Endpoints.
    if (auto m = non_special_ip_error(s); !m.empty()) errs.push_back({path, v::invalid(a, m)});
  } else if (type == "FQDN") {
    if (auto m = check_dns1123_subdomain(s); !m.empty()) errs.push_back({path, v::invalid(a, m)});
  }
}

void validate_endpoint(const std::string& type, const Json& e, const std::string& p,
                       FieldErrors& errs) {
  if (!e.is_object()) {
    errs.push_back({p, v::invalid(e, "must be an object")});
    return;
  }
  const Json& addrs = get(e, "addresses");
  if (!addrs.is_array() || addrs.empty()) {
    errs.push_back({p + ".addresses", addrs.is_null() || addrs.is_array()
                                          ? "Required value: must contain at least 1 address"
                                          : v::invalid(addrs, "must be an array")});
  } else if (addrs.size() > kMaxAddresses) {
    errs.push_back({p + ".addresses", "Too many: " + std::to_string(addrs.size()) +
                                          ": must have at most 100 items"});
  } else {
    for (size_t j = 0; j < addrs.size(); ++j) {
      validate_address(type, addrs[j], v::idx(p + ".addresses", j), errs);
    }
  }
  if (v::want_object(e, "conditions", p + ".conditions", errs)) {
    for (const char* c : {"ready", "serving", "terminating"}) {
      v::want_bool(e["conditions"], c, p + ".conditions." + c, errs);
    }
  }
  if (v::want_string(e, "hostname", p + ".hostname", errs) && !str(e, "hostname").empty()) {
    if (auto m = check_dns1123_label(str(e, "hostname")); !m.empty()) {
      errs.push_back({p + ".hostname", v::invalid(e["hostname"], m)});
    }
  }
  if (v::want_string(e, "nodeName", p + ".nodeName", errs) && !str(e, "nodeName").empty()) {
    if (auto m = check_dns1123_subdomain(str(e, "nodeName")); !m.empty()) {
      errs.push_back({p + ".nodeName", v::invalid(e["nodeName"], m)});
    }
  }
  v::want_string(e, "zone", p + ".zone", errs);
  v::want_object(e, "targetRef", p + ".targetRef", errs);
}

void endpointslice_validate(const Json& obj, const Json* old, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("discovery.k8s.io/v1", "EndpointSlice"), false, errs);
  std::string type = str(obj, "addressType");
  if (!has(obj, "addressType")) {
    errs.push_back({"addressType", v::required()});
  } else if (type != "IPv4" && type != "IPv6" && type != "FQDN") {
    errs.push_back({"addressType", v::unsupported(obj["addressType"], {"FQDN", "IPv4", "IPv6"})});
  }
  if (old && old->is_object() && has(*old, "addressType") &&
      get(*old, "addressType") != get(obj, "addressType")) {
    errs.push_back({"addressType", v::invalid(get(obj, "addressType"), "field is immutable")});
  }
  if (v::want_array(obj, "endpoints", "endpoints", errs)) {
    const Json& eps = obj["endpoints"];
    if (eps.size() > kMaxEndpoints) {
      errs.push_back({"endpoints", "Too many: " + std::to_string(eps.size()) +
                                       ": must have at most 1000 items"});
    } else {
      for (size_t i = 0; i < eps.size(); ++i) {
        validate_endpoint(type, eps[i], v::idx("endpoints", i), errs);
      }
    }
  }
  if (v::want_array(obj, "ports", "ports", errs)) {
    const Json& ports = obj["ports"];
    if (ports.size() > kMaxPorts) {
      errs.push_back(
          {"ports", "Too many: " + std::to_string(ports.size()) + ": must have at most 100 items"});
    }
    std::set<std::string> names;
    for (size_t i = 0; i < ports.size() && i < kMaxPorts; ++i) {
      std::string p = v::idx("ports", i);
      const Json& port = ports[i];
      if (!port.is_object()) {
        errs.push_back({p, v::invalid(port, "must be an object")});
        continue;
      }
      std::string name = str(port, "name");
      if (v::want_string(port, "name", p + ".name", errs) && !name.empty()) {
        if (auto m = check_dns1123_label(name); !m.empty()) {
          errs.push_back({p + ".name", v::invalid(name, m)});
        }
      }
      if (!names.insert(name).second) errs.push_back({p + ".name", v::duplicate(name)});
      if (has(port, "protocol")) {
        std::string proto = str(port, "protocol");
        if (proto != "TCP" && proto != "UDP" && proto != "SCTP") {
          errs.push_back(
              {p + ".protocol", v::unsupported(port["protocol"], {"SCTP", "TCP", "UDP"})});
        }
      }
      // port is optional (nil: all ports), but when set must be a port number.
      v::validate_port(port, "port", p + ".port", false, errs);
      v::want_string(port, "appProtocol", p + ".appProtocol", errs);
    }
  }
}

std::vector<TableColumn> endpointslice_columns() {
  return {
      col("ADDRESSTYPE", "string",
          "addressType specifies the type of address carried by this EndpointSlice."),
      col("PORTS", "string", "ports specifies the list of network ports exposed by each endpoint."),
      col("ENDPOINTS", "string", "endpoints is a list of unique endpoints in this slice."),
      tbl::age_column(),
  };
}

// kubectl's listWithMoreString: the first three, "+ N more...", "<unset>" when empty.
std::string list_with_more(const std::vector<std::string>& list, size_t count) {
  std::string out;
  for (const auto& s : list) out += (out.empty() ? "" : ",") + s;
  if (count > list.size()) return out + " + " + std::to_string(count - list.size()) + " more...";
  return out.empty() ? "<unset>" : out;
}

Json endpointslice_cells(const Json& obj) {
  constexpr size_t kMax = 3;
  std::vector<std::string> ports;
  size_t port_count = 0;
  const Json& ps = get(obj, "ports");
  if (ps.is_array()) {
    for (const Json& p : ps) {
      ++port_count;
      if (ports.size() >= kMax) continue;
      if (get(p, "port").is_number_integer()) {
        ports.push_back(std::to_string(p["port"].get<long long>()));
      } else if (has(p, "name")) {
        ports.push_back(str(p, "name"));
      } else {
        ports.push_back("*");
      }
    }
  }
  std::vector<std::string> addrs;
  size_t addr_count = 0;
  const Json& eps = get(obj, "endpoints");
  if (eps.is_array()) {
    for (const Json& e : eps) {
      const Json& as = get(e, "addresses");
      if (!as.is_array()) continue;
      for (const Json& a : as) {
        ++addr_count;
        if (addrs.size() < kMax) addrs.push_back(a.is_string() ? a.get<std::string>() : "");
      }
    }
  }
  return Json::array({str(obj, "addressType"), list_with_more(ports, port_count),
                      list_with_more(addrs, addr_count), age(obj)});
}

void endpointslice_unknown(const Json& obj, std::vector<std::string>& paths) {
  unknown_fields_for("discovery.k8s.io", "EndpointSlice", obj, paths);
}

}  // namespace

void add_discovery_kinds(std::vector<const ResourceType*>& out) {
  static const ResourceType slice = [] {
    ResourceType t;
    t.group = "discovery.k8s.io";
    t.version = "v1";
    t.kind = "EndpointSlice";
    t.plural = "endpointslices";
    t.singular = "endpointslice";
    t.field_selectors = {"addressType"};
    t.set_defaults = endpointslice_defaults;
    t.validate = endpointslice_validate;
    t.table_columns = endpointslice_columns;
    t.table_cells = endpointslice_cells;
    t.unknown_fields = endpointslice_unknown;
    return t;
  }();
  out.push_back(&slice);
}

}  // namespace minik8s::api
