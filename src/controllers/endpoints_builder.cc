#include "endpoints_builder.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "minik8s/api/address_rules.h"

namespace minik8s::controllers {

namespace {

using api::field;
using api::sfield;

std::string pod_ip(const Json& pod) {
  const Json& status = field(pod, "status");
  std::string ip = sfield(status, "podIP");
  if (ip.empty() && field(status, "podIPs").is_array() && !field(status, "podIPs").empty()) {
    ip = sfield(field(status, "podIPs")[0], "ip");
  }
  return ip;
}

bool terminating(const Json& pod) { return !field(field(pod, "metadata"), "deletionTimestamp").is_null(); }

std::string protocol_of(const Json& port) {
  std::string p = sfield(port, "protocol");
  return p.empty() ? "TCP" : p;
}

// The Endpoints/EndpointSlice ports a pod serves for the Service, in the
// Service's port order; empty when it serves none of them.
Json resolved_ports(const Json& service, const Json& pod) {
  Json out = Json::array();
  const Json& ports = field(field(service, "spec"), "ports");
  if (!ports.is_array()) return out;
  for (const Json& sp : ports) {
    auto tp = find_target_port(pod, sp);
    if (!tp) continue;
    Json p = {{"name", sfield(sp, "name")}, {"port", *tp}, {"protocol", protocol_of(sp)}};
    if (!sfield(sp, "appProtocol").empty()) p["appProtocol"] = sfield(sp, "appProtocol");
    out.push_back(std::move(p));
  }
  return out;
}

bool service_has_ports(const Json& service) {
  const Json& ports = field(field(service, "spec"), "ports");
  return ports.is_array() && !ports.empty();
}

bool port_less(const Json& a, const Json& b) {
  auto key = [](const Json& p) {
    const Json& n = field(p, "port");
    return std::make_tuple(sfield(p, "name"), n.is_number_integer() ? n.get<long long>() : 0LL, sfield(p, "protocol"));
  };
  return key(a) < key(b);
}

// Sorted copy of a ports array (not an array → []).
Json sorted_ports(const Json& ports) {
  Json out = ports.is_array() ? ports : Json::array();
  std::sort(out.begin(), out.end(), port_less);
  return out;
}

std::tuple<std::string, std::string, std::string> address_key(const Json& a) {
  const Json& ref = field(a, "targetRef");
  std::string ip = sfield(a, "ip");
  if (ip.empty() && field(a, "addresses").is_array() && !field(a, "addresses").empty() &&
      field(a, "addresses")[0].is_string()) {
    ip = field(a, "addresses")[0].get<std::string>();  // an EndpointSlice endpoint
  }
  return {ip, sfield(ref, "uid"), sfield(ref, "name")};
}

void sort_addresses(Json& list) {
  if (!list.is_array()) return;
  std::sort(list.begin(), list.end(), [](const Json& a, const Json& b) { return address_key(a) < address_key(b); });
}

Json pod_ref(const Json& pod) {
  const Json& meta = field(pod, "metadata");
  Json ref = {{"kind", "Pod"}, {"namespace", sfield(meta, "namespace")}, {"name", sfield(meta, "name")}};
  if (!sfield(meta, "uid").empty()) ref["uid"] = sfield(meta, "uid");
  return ref;
}

}  // namespace

bool pod_is_ready(const Json& pod) {
  const Json& conds = field(field(pod, "status"), "conditions");
  if (!conds.is_array()) return false;
  for (const Json& c : conds) {
    if (sfield(c, "type") == "Ready") return sfield(c, "status") == "True";
  }
  return false;
}

bool pod_in_endpoints(const Json& pod, bool include_terminating) {
  std::string phase = sfield(field(pod, "status"), "phase");
  if (phase == "Succeeded" || phase == "Failed") return false;
  // An IP the API refuses as an endpoint (a hostNetwork pod on a node whose
  // InternalIP is 127.0.0.1, as `make run` registers it) is left out, so it
  // cannot make the whole Endpoints/EndpointSlice write fail.
  if (!api::non_special_ip_error(pod_ip(pod)).empty()) return false;
  if (!include_terminating && terminating(pod)) return false;
  return true;
}

std::optional<int> find_target_port(const Json& pod, const Json& service_port) {
  const Json& tp = field(service_port, "targetPort");
  const Json& port = field(service_port, "port");
  auto valid = [](long long v) { return v >= 1 && v <= 65535; };
  if (tp.is_number_integer() && tp.get<long long>() != 0) {
    long long v = tp.get<long long>();
    if (!valid(v)) return std::nullopt;
    return static_cast<int>(v);
  }
  if (!tp.is_string() || tp.get<std::string>().empty()) {
    if (port.is_number_integer() && valid(port.get<long long>())) return static_cast<int>(port.get<long long>());
    return std::nullopt;
  }
  std::string name = tp.get<std::string>();
  std::string proto = protocol_of(service_port);
  const Json& containers = field(field(pod, "spec"), "containers");
  if (!containers.is_array()) return std::nullopt;
  for (const Json& c : containers) {
    const Json& ports = field(c, "ports");
    if (!ports.is_array()) continue;
    for (const Json& p : ports) {
      if (sfield(p, "name") != name || protocol_of(p) != proto) continue;
      const Json& cp = field(p, "containerPort");
      if (cp.is_number_integer() && valid(cp.get<long long>())) return static_cast<int>(cp.get<long long>());
    }
  }
  return std::nullopt;
}

bool service_has_selector(const Json& service) {
  const Json& spec = field(service, "spec");
  if (sfield(spec, "type") == "ExternalName") return false;
  const Json& sel = field(spec, "selector");
  return sel.is_object() && !sel.empty();
}

Json build_subsets(const Json& service, const std::vector<const Json*>& pods) {
  const Json& spec = field(service, "spec");
  bool tolerate = field(spec, "publishNotReadyAddresses").is_boolean() && field(spec, "publishNotReadyAddresses").get<bool>();
  std::string svc_name = sfield(field(service, "metadata"), "name");
  bool has_ports = service_has_ports(service);
  struct Group {
    Json ports;
    Json ready = Json::array();
    Json not_ready = Json::array();
  };
  std::map<std::string, Group> groups;  // sorted ports (dumped) → group
  for (const Json* pod : pods) {
    if (!pod || !pod_in_endpoints(*pod, tolerate)) continue;
    Json ports = sorted_ports(resolved_ports(service, *pod));
    if (has_ports && ports.empty()) continue;
    Json addr = {{"ip", pod_ip(*pod)}, {"targetRef", pod_ref(*pod)}};
    std::string node = sfield(field(*pod, "spec"), "nodeName");
    if (!node.empty()) addr["nodeName"] = node;
    const Json& pspec = field(*pod, "spec");
    if (!sfield(pspec, "hostname").empty() && sfield(pspec, "subdomain") == svc_name) {
      addr["hostname"] = sfield(pspec, "hostname");
    }
    std::string key = ports.dump();
    Group& g = groups[key];
    g.ports = ports;
    ((tolerate || pod_is_ready(*pod)) ? g.ready : g.not_ready).push_back(std::move(addr));
  }
  Json out = Json::array();
  for (auto& [key, g] : groups) {
    Json s = Json::object();
    sort_addresses(g.ready);
    sort_addresses(g.not_ready);
    if (!g.ready.empty()) s["addresses"] = std::move(g.ready);
    if (!g.not_ready.empty()) s["notReadyAddresses"] = std::move(g.not_ready);
    if (!g.ports.empty()) s["ports"] = std::move(g.ports);
    out.push_back(std::move(s));
  }
  return out;  // already ordered by the ports key, as canonical_subsets orders
}

Json canonical_subsets(const Json& subsets) {
  std::vector<std::pair<std::string, Json>> keyed;
  if (subsets.is_array()) {
    for (const Json& s : subsets) {
      if (!s.is_object()) continue;
      Json c = Json::object();
      for (const char* list : {"addresses", "notReadyAddresses"}) {
        Json a = field(s, list);
        if (!a.is_array() || a.empty()) continue;
        sort_addresses(a);
        c[list] = std::move(a);
      }
      Json ports = sorted_ports(field(s, "ports"));
      std::string key = ports.dump();
      if (!ports.empty()) c["ports"] = std::move(ports);
      keyed.emplace_back(std::move(key), std::move(c));
    }
  }
  std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  Json out = Json::array();
  for (auto& [k, c] : keyed) out.push_back(std::move(c));
  return out;
}

std::vector<Json> build_slices(const Json& service, const std::vector<const Json*>& pods) {
  const Json& spec = field(service, "spec");
  bool tolerate = field(spec, "publishNotReadyAddresses").is_boolean() && field(spec, "publishNotReadyAddresses").get<bool>();
  bool has_ports = service_has_ports(service);
  std::map<std::string, Json> groups;  // sorted ports (dumped) → slice content
  for (const Json* pod : pods) {
    if (!pod || !pod_in_endpoints(*pod, true)) continue;
    std::string ip = pod_ip(*pod);
    if (ip.find(':') != std::string::npos) continue;  // addressType IPv4
    Json ports = sorted_ports(resolved_ports(service, *pod));
    if (has_ports && ports.empty()) continue;
    bool serving = pod_is_ready(*pod);
    bool term = terminating(*pod);
    Json ep = {{"addresses", Json::array({ip})},
               {"conditions", {{"ready", tolerate || (serving && !term)}, {"serving", serving}, {"terminating", term}}},
               {"targetRef", pod_ref(*pod)}};
    std::string node = sfield(field(*pod, "spec"), "nodeName");
    if (!node.empty()) ep["nodeName"] = node;
    std::string key = ports.dump();
    auto it = groups.find(key);
    if (it == groups.end()) {
      it = groups.emplace(key, Json{{"ports", ports}, {"endpoints", Json::array()}}).first;
    }
    it->second["endpoints"].push_back(std::move(ep));
  }
  std::vector<Json> out;
  for (auto& [k, g] : groups) {
    sort_addresses(g["endpoints"]);
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace minik8s::controllers
