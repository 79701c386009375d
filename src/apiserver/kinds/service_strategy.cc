// Service (core/v1): cluster IP and node port allocation (kinds.h). The
// allocators are in-memory bitmaps rebuilt from the stored Services at start
// (restore); the objects are the source of truth.
#include "kinds.h"

#include <map>
#include <set>
#include <utility>
#include <vector>

#include "../object_util.h"

namespace minik8s::apiserver {

using nlohmann::json;

namespace {

bool needs_node_ports(const json& svc) {
  std::string type =
      svc.contains("spec") && svc["spec"].is_object() ? str_at(svc["spec"], "type") : "";
  return type == "NodePort" || type == "LoadBalancer";
}

std::set<int> node_ports_of(const json& svc) {
  std::set<int> out;
  if (!svc.contains("spec") || !svc["spec"].is_object()) return out;
  const json& spec = svc["spec"];
  if (!spec.contains("ports") || !spec["ports"].is_array()) return out;
  for (const auto& p : spec["ports"]) {
    if (p.is_object() && p.contains("nodePort") && p["nodePort"].is_number_integer()) {
      out.insert(p["nodePort"].get<int>());
    }
  }
  return out;
}

std::string cluster_ip_of(const json& svc) {
  return svc.contains("spec") && svc["spec"].is_object() ? str_at(svc["spec"], "clusterIP") : "";
}

// What one write took; given back unless committed.
class ServiceAllocation final : public Allocation {
 public:
  ServiceAllocation(IpAllocator& ip_allocator, PortAllocator& port_allocator)
      : ips_(ip_allocator), ports_(port_allocator) {}
  ~ServiceAllocation() override {
    if (committed()) return;
    for (const auto& ip : taken_ips) ips_.release(ip);
    for (int p : taken_ports) ports_.release(p);
  }

  std::vector<std::string> taken_ips;
  std::vector<int> taken_ports;

 private:
  IpAllocator& ips_;
  PortAllocator& ports_;
};

}  // namespace

// Like Kubernetes' dropTypeDependentFields: when an update moves a Service to
// a type without node ports, node ports (and the external traffic policy and
// health check port) carried over unchanged from the old object are cleared
// rather than rejected, so `type: ClusterIP` alone is a valid change.
void ServiceStrategy::prepare_for_update(json& desired, const json& old) {
  if (!needs_node_ports(old) || needs_node_ports(desired)) return;
  if (!desired.contains("spec") || !desired["spec"].is_object()) return;
  json& spec = desired["spec"];
  const json& ospec = old["spec"];
  std::set<int64_t> old_ports;
  if (ospec.contains("ports") && ospec["ports"].is_array()) {
    for (const auto& p : ospec["ports"]) {
      if (p.is_object() && p.contains("nodePort") && p["nodePort"].is_number_integer()) {
        old_ports.insert(p["nodePort"].get<int64_t>());
      }
    }
  }
  if (spec.contains("ports") && spec["ports"].is_array()) {
    for (auto& p : spec["ports"]) {
      if (p.is_object() && p.contains("nodePort") && p["nodePort"].is_number_integer() &&
          old_ports.count(p["nodePort"].get<int64_t>())) {
        p.erase("nodePort");
      }
    }
  }
  for (const char* k : {"externalTrafficPolicy", "healthCheckNodePort"}) {
    if (spec.contains(k) && ospec.contains(k) && spec[k] == ospec[k]) spec.erase(k);
  }
}

std::unique_ptr<Allocation> ServiceStrategy::allocate(json& svc, const json* old,
                                                      api::FieldErrors& errs) {
  auto newly = std::make_unique<ServiceAllocation>(*ips_, ports_);
  if (!svc.contains("spec") || !svc["spec"].is_object()) svc["spec"] = json::object();
  json& spec = svc["spec"];
  std::string type = str_at(spec, "type");
  if (type.empty()) type = "ClusterIP";
  std::string old_ip = old ? cluster_ip_of(*old) : "";
  std::string ip = str_at(spec, "clusterIP");
  if (type == "ExternalName") {
    // No cluster IP for ExternalName Services; a previous one is released after the write.
    spec.erase("clusterIP");
    spec.erase("clusterIPs");
  } else if (ip.empty() && !old_ip.empty()) {
    spec["clusterIP"] = old_ip;
    spec["clusterIPs"] = json::array({old_ip});
  } else if (!old_ip.empty() && ip != old_ip) {
    errs.push_back({"spec.clusterIP", "Invalid value: \"" + ip + "\": field is immutable"});
    return newly;
  } else if (ip == old_ip && !ip.empty()) {
    // unchanged
  } else if (ip == "None") {
    spec["clusterIPs"] = json::array({"None"});
  } else if (ip.empty()) {
    auto a = ips_->allocate_next();
    if (!a) {
      errs.push_back({"spec.clusterIP", "Internal error: " + a.status().message()});
      return newly;
    }
    newly->taken_ips.push_back(*a);
    spec["clusterIP"] = *a;
    spec["clusterIPs"] = json::array({*a});
  } else {
    Status st = ips_->allocate(ip);
    if (!st.is_ok()) {
      errs.push_back({"spec.clusterIP", "Invalid value: \"" + ip + "\": " + st.message()});
      return newly;
    }
    newly->taken_ips.push_back(ip);
    spec["clusterIPs"] = json::array({ip});
  }
  if (!spec.contains("ports") || !spec["ports"].is_array()) return newly;
  json& ports = spec["ports"];
  bool need = type == "NodePort" || type == "LoadBalancer";
  std::set<int> owned = old && needs_node_ports(*old) ? node_ports_of(*old) : std::set<int>{};
  std::set<int> used_here;
  // Old assignments by service port, for re-use when a port omits nodePort.
  std::map<int, int> old_by_port;
  if (old && needs_node_ports(*old)) {
    for (const auto& p : (*old)["spec"]["ports"]) {
      if (p.is_object() && p.contains("nodePort") && p["nodePort"].is_number_integer() &&
          p.contains("port") && p["port"].is_number_integer()) {
        old_by_port[p["port"].get<int>()] = p["nodePort"].get<int>();
      }
    }
  }
  std::map<int, std::pair<int, std::set<std::string>>> shared_by_np;  // nodePort → port, protocols
  std::map<int, int> by_port;  // service port → nodePort given in this call
  for (size_t i = 0; i < ports.size(); ++i) {
    json& p = ports[i];
    if (!p.is_object()) continue;
    std::string field = "spec.ports[" + std::to_string(i) + "].nodePort";
    if (!need) {
      p.erase("nodePort");
      continue;
    }
    int np =
        p.contains("nodePort") && p["nodePort"].is_number_integer() ? p["nodePort"].get<int>() : 0;
    int port = p.contains("port") && p["port"].is_number_integer() ? p["port"].get<int>() : -1;
    std::string proto = p.contains("protocol") && p["protocol"].is_string()
                            ? p["protocol"].get<std::string>()
                            : "TCP";
    // One node port may serve the same port number over several protocols
    // (80/TCP and 80/UDP): that is one allocation owned by this Service.
    auto shared = shared_by_np.find(np != 0 ? np : (by_port.count(port) ? by_port[port] : 0));
    if (shared != shared_by_np.end() && shared->second.first == port &&
        !shared->second.second.count(proto)) {
      shared->second.second.insert(proto);
      p["nodePort"] = shared->first;
      continue;
    }
    auto note = [&](int n) {
      used_here.insert(n);
      shared_by_np[n] = {port, {proto}};
      by_port.emplace(port, n);
    };
    if (np != 0) {
      if (owned.count(np) && !used_here.count(np)) {
        note(np);
        continue;
      }
      Status st = ports_.allocate(np);
      if (!st.is_ok()) {
        errs.push_back({field, "Invalid value: " + std::to_string(np) + ": " + st.message()});
        return newly;
      }
      newly->taken_ports.push_back(np);
      note(np);
      continue;
    }
    auto it = old_by_port.find(port);
    if (it != old_by_port.end() && owned.count(it->second) && !used_here.count(it->second)) {
      p["nodePort"] = it->second;
      note(it->second);
      continue;
    }
    auto a = ports_.allocate_next();
    if (!a) {
      errs.push_back({field, "Internal error: " + a.status().message()});
      return newly;
    }
    newly->taken_ports.push_back(*a);
    note(*a);
    p["nodePort"] = *a;
  }
  return newly;
}

void ServiceStrategy::release(const json& old, const json* now) {
  std::string old_ip = cluster_ip_of(old);
  std::string new_ip = now ? cluster_ip_of(*now) : "";
  if (!old_ip.empty() && old_ip != "None" && old_ip != new_ip) ips_->release(old_ip);
  std::set<int> keep = now && needs_node_ports(*now) ? node_ports_of(*now) : std::set<int>{};
  if (needs_node_ports(old)) {
    for (int p : node_ports_of(old)) {
      if (!keep.count(p)) ports_.release(p);
    }
  }
}

void ServiceStrategy::restore(const json& stored) {
  const json& spec = stored.contains("spec") ? stored["spec"] : json::object();
  std::string ip = str_at(spec, "clusterIP");
  if (!ip.empty() && ip != "None" && ips_->contains(ip)) (void)ips_->allocate(ip);
  auto ports = spec.find("ports");
  if (ports != spec.end() && ports->is_array()) {
    for (const auto& p : *ports) {
      auto np = p.find("nodePort");
      if (np != p.end() && np->is_number_integer()) (void)ports_.allocate(np->get<int>());
    }
  }
}

}  // namespace minik8s::apiserver
