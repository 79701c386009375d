// core/v1 kinds: Namespace, Pod, Node, Service, Endpoints, Event, ConfigMap,
// Secret — names, hooks (defaults, validation, Table columns) as Kubernetes
// serves them.
#include <algorithm>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>

#include "kinds.h"
#include "minik8s/api/address_rules.h"
#include "minik8s/api/quantity.h"
#include "minik8s/api/selector.h"
#include "minik8s/util/base64.h"
#include "minik8s/util/time.h"
#include "validation.h"

namespace minik8s::api {
namespace {

using tbl::age;
using tbl::col;
using tbl::or_none;
using v::get;
using v::has;
using v::str;

Json& child_object(Json& obj, const char* key) {
  if (!obj.contains(key) || !obj[key].is_object()) obj[key] = Json::object();
  return obj[key];
}

std::string since(const std::string& rfc3339) {
  SysTime t;
  if (!parse_rfc3339(rfc3339, &t)) return "<unknown>";
  return human_duration(std::chrono::duration_cast<std::chrono::seconds>(real_clock().now() - t));
}

// ------------------------------------------------------------------ Namespace

void namespace_validate(const Json& obj, const Json*, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("v1", "Namespace"), true, errs);
}

void namespace_initial_status(Json& obj) { obj["status"] = {{"phase", "Active"}}; }

std::vector<TableColumn> namespace_columns() {
  return {col("STATUS", "string", "The status of the namespace"), tbl::age_column()};
}

Json namespace_cells(const Json& obj) {
  return Json::array({str(get(obj, "status"), "phase"), age(obj)});
}

// ------------------------------------------------------------------------ Pod

std::string qos_class(const Json& spec) {
  bool any = false, guaranteed = true;
  for (const char* list : {"initContainers", "containers"}) {
    const Json& cs = get(spec, list);
    if (!cs.is_array()) continue;
    for (const Json& c : cs) {
      const Json& res = get(c, "resources");
      const Json& lim = get(res, "limits");
      const Json& req = get(res, "requests");
      if ((lim.is_object() && !lim.empty()) || (req.is_object() && !req.empty())) any = true;
      for (const char* r : {"cpu", "memory"}) {
        const Json& l = get(lim, r);
        if (l.is_null()) {
          guaranteed = false;
          continue;
        }
        const Json& q = get(req, r);
        if (!q.is_null() && q != l) {
          auto a = Quantity::parse(q.is_string() ? q.get<std::string>() : q.dump());
          auto b = Quantity::parse(l.is_string() ? l.get<std::string>() : l.dump());
          if (!a.is_ok() || !b.is_ok() || a->milli_value() != b->milli_value()) guaranteed = false;
        }
      }
    }
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

void pod_defaults(Json& obj) {
  if (!obj.is_object() || !obj.contains("spec")) return;
  v::default_pod_spec(obj["spec"]);
}

void pod_initial_status(Json& obj) {
  obj["status"] = {{"phase", "Pending"}, {"qosClass", qos_class(get(obj, "spec"))}};
}

const char* kPodUpdateForbidden =
    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
    "set to 1 if it was previously negative)";

void pod_validate_update(const Json& spec, const Json& old_spec, FieldErrors& errs) {
  Json a = old_spec.is_object() ? old_spec : Json::object();
  Json b = spec.is_object() ? spec : Json::object();
  v::default_pod_spec(a);
  v::default_pod_spec(b);
  for (const char* list : {"initContainers", "containers"}) {
    if (!a.contains(list) || !b.contains(list) || !a[list].is_array() || !b[list].is_array() ||
        a[list].size() != b[list].size()) {
      continue;
    }
    for (size_t i = 0; i < a[list].size(); ++i) {
      if (a[list][i].is_object() && b[list][i].is_object()) {
        b[list][i]["image"] = get(a[list][i], "image");
      }
    }
  }
  // Tolerations may only be added to.
  const Json& old_t = get(a, "tolerations");
  const Json& new_t = get(b, "tolerations");
  bool tolerations_ok = true;
  if (old_t.is_array()) {
    for (const Json& t : old_t) {
      if (!new_t.is_array() || std::find(new_t.begin(), new_t.end(), t) == new_t.end()) {
        tolerations_ok = false;
      }
    }
  }
  if (tolerations_ok) {
    if (old_t.is_null()) {
      b.erase("tolerations");
    } else {
      b["tolerations"] = old_t;
    }
  }
  b["activeDeadlineSeconds"] = get(a, "activeDeadlineSeconds");
  if (b["activeDeadlineSeconds"].is_null()) b.erase("activeDeadlineSeconds");
  // Binding sets nodeName once; the scheduler's nomination is not part of spec.
  if (str(a, "nodeName").empty()) {
    b["nodeName"] = get(a, "nodeName");
    if (b["nodeName"].is_null()) b.erase("nodeName");
  }
  if (get(a, "terminationGracePeriodSeconds").is_number_integer() &&
      a["terminationGracePeriodSeconds"].get<long long>() < 0) {
    b["terminationGracePeriodSeconds"] = a["terminationGracePeriodSeconds"];
  }
  if (a != b) errs.push_back({"spec", kPodUpdateForbidden});
}

void pod_validate(const Json& obj, const Json* old, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("v1", "Pod"), false, errs);
  v::validate_pod_spec(get(obj, "spec"), "spec", errs);
  if (old && old->is_object()) pod_validate_update(get(obj, "spec"), get(*old, "spec"), errs);
}

std::vector<TableColumn> pod_columns() {
  return {
      col("READY", "string", "The aggregate readiness state of this pod for accepting traffic."),
      col("STATUS", "string", "The aggregate status of the containers in this pod."),
      col("RESTARTS", "string",
          "The number of times the containers in this pod have been restarted and when the "
          "last container in this pod has restarted."),
      tbl::age_column(),
      col("IP", "string", "IP address allocated to the pod.", 1),
      col("NODE", "string", "Name of the node where the pod is scheduled.", 1),
      col("NOMINATED NODE", "string", "Name of the node where the pod is nominated.", 1),
      col("READINESS GATES", "string", "Pod readiness gates.", 1),
  };
}

Json pod_cells(const Json& obj) {
  const Json& spec = get(obj, "spec");
  const Json& status = get(obj, "status");
  const Json& meta = get(obj, "metadata");
  const Json& containers = get(spec, "containers");
  size_t total = containers.is_array() ? containers.size() : 0;
  long long restarts = 0;
  int ready = 0;
  std::string last_restart;  // finishedAt of the newest lastState.terminated
  std::string reason = str(status, "phase");
  if (!str(status, "reason").empty()) reason = str(status, "reason");

  auto note_restart = [&](const Json& cs) {
    const Json& t = get(get(cs, "lastState"), "terminated");
    std::string f = str(t, "finishedAt");
    if (!f.empty() && f > last_restart) last_restart = f;
  };

  bool initializing = false;
  const Json& init_statuses = get(status, "initContainerStatuses");
  const Json& init_specs = get(spec, "initContainers");
  if (init_statuses.is_array()) {
    for (size_t i = 0; i < init_statuses.size(); ++i) {
      const Json& cs = init_statuses[i];
      restarts += tbl::num(cs, "restartCount");
      note_restart(cs);
      const Json& state = get(cs, "state");
      const Json& term = get(state, "terminated");
      const Json& wait = get(state, "waiting");
      if (term.is_object() && tbl::num(term, "exitCode") == 0) continue;
      // Sidecars (restartPolicy Always) that run and are started do not block.
      if (term.is_object()) {
        if (!str(term, "reason").empty()) {
          reason = "Init:" + str(term, "reason");
        } else if (tbl::num(term, "signal") != 0) {
          reason = "Init:Signal:" + std::to_string(tbl::num(term, "signal"));
        } else {
          reason = "Init:ExitCode:" + std::to_string(tbl::num(term, "exitCode"));
        }
      } else if (wait.is_object() && !str(wait, "reason").empty() &&
                 str(wait, "reason") != "PodInitializing") {
        reason = "Init:" + str(wait, "reason");
      } else {
        size_t n = init_specs.is_array() ? init_specs.size() : init_statuses.size();
        reason = "Init:" + std::to_string(i) + "/" + std::to_string(n);
      }
      initializing = true;
      break;
    }
  }
  if (!initializing) {
    restarts = 0;
    bool has_running = false;
    const Json& statuses = get(status, "containerStatuses");
    if (statuses.is_array()) {
      for (size_t k = statuses.size(); k-- > 0;) {
        const Json& cs = statuses[k];
        restarts += tbl::num(cs, "restartCount");
        note_restart(cs);
        const Json& state = get(cs, "state");
        const Json& term = get(state, "terminated");
        const Json& wait = get(state, "waiting");
        if (wait.is_object() && !str(wait, "reason").empty()) {
          reason = str(wait, "reason");
        } else if (term.is_object() && !str(term, "reason").empty()) {
          reason = str(term, "reason");
        } else if (term.is_object()) {
          reason = tbl::num(term, "signal") != 0
                       ? "Signal:" + std::to_string(tbl::num(term, "signal"))
                       : "ExitCode:" + std::to_string(tbl::num(term, "exitCode"));
        } else if (get(cs, "ready").is_boolean() && cs["ready"].get<bool>() &&
                   get(state, "running").is_object()) {
          has_running = true;
          ++ready;
        }
      }
    }
    if (reason == "Completed" && has_running) {
      bool pod_ready = false;
      const Json& conds = get(status, "conditions");
      if (conds.is_array()) {
        for (const Json& c : conds) {
          if (str(c, "type") == "Ready" && str(c, "status") == "True") pod_ready = true;
        }
      }
      reason = pod_ready ? "Running" : "NotReady";
    }
  }
  if (has(meta, "deletionTimestamp")) {
    reason = str(status, "reason") == "NodeLost" ? "Unknown" : "Terminating";
  }
  std::string restarts_text = std::to_string(restarts);
  if (restarts > 0 && !last_restart.empty()) {
    restarts_text += " (" + since(last_restart) + " ago)";
  }
  std::string gates = "<none>";
  const Json& rg = get(spec, "readinessGates");
  if (rg.is_array() && !rg.empty()) {
    int true_gates = 0;
    const Json& conds = get(status, "conditions");
    for (const Json& g : rg) {
      std::string ct = str(g, "conditionType");
      if (!conds.is_array()) continue;
      for (const Json& c : conds) {
        if (str(c, "type") == ct && str(c, "status") == "True") ++true_gates;
      }
    }
    gates = std::to_string(true_gates) + "/" + std::to_string(rg.size());
  }
  return Json::array({std::to_string(ready) + "/" + std::to_string(total), reason, restarts_text,
                      age(obj), or_none(str(status, "podIP")), or_none(str(spec, "nodeName")),
                      or_none(str(status, "nominatedNodeName")), gates});
}

// ----------------------------------------------------------------------- Node

// status.addresses and the kubelet port: the API server dials exactly these
// for pods/log and pods/exec (src/apiserver/pod_proxy.cc), and the network
// and metrics components read the InternalIP.
void node_status_validate(const Json& status, FieldErrors& errs) {
  if (!status.is_object()) return;
  if (v::want_array(status, "addresses", "status.addresses", errs)) {
    const Json& addrs = status["addresses"];
    std::set<std::pair<std::string, std::string>> seen;
    for (size_t i = 0; i < addrs.size(); ++i) {
      std::string p = v::idx("status.addresses", i);
      const Json& a = addrs[i];
      if (!a.is_object()) {
        errs.push_back({p, v::invalid(a, "must be an object")});
        continue;
      }
      std::string type = str(a, "type"), address = str(a, "address");
      if (type.empty()) {
        errs.push_back({p + ".type", v::required()});
      } else if (type != "Hostname" && type != "InternalIP" && type != "ExternalIP" &&
                 type != "InternalDNS" && type != "ExternalDNS") {
        errs.push_back({p + ".type", v::unsupported(a["type"], {"ExternalDNS", "ExternalIP", "Hostname",
                                                                "InternalDNS", "InternalIP"})});
      }
      if (address.empty()) {
        errs.push_back({p + ".address", v::required()});
      } else if ((type == "InternalIP" || type == "ExternalIP") && !parse_ip(address)) {
        errs.push_back({p + ".address", v::invalid(address, "must be a valid IP address")});
      } else if (!seen.insert({type, address}).second) {
        errs.push_back({p, v::duplicate(a)});
      }
    }
  }
  const Json& kubelet = get(get(status, "daemonEndpoints"), "kubeletEndpoint");
  if (v::want_int(kubelet, "Port", "status.daemonEndpoints.kubeletEndpoint.Port", errs)) {
    long long port = kubelet["Port"].get<long long>();
    if (port < 0 || port > 65535) {
      errs.push_back({"status.daemonEndpoints.kubeletEndpoint.Port",
                      v::invalid(kubelet["Port"], "must be between 0 and 65535, inclusive")});
    }
  }
}

void node_validate(const Json& obj, const Json*, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("v1", "Node"), false, errs);
  const Json& spec = get(obj, "spec");
  if (has(spec, "podCIDR") && !v::is_cidr(str(spec, "podCIDR"))) {
    errs.push_back({"spec.podCIDR", v::invalid(spec["podCIDR"],
                                               "must be a valid CIDR value, "
                                               "(e.g. 10.9.8.0/24 or 2001:db8::/64)")});
  }
  const Json& cidrs = get(spec, "podCIDRs");
  if (cidrs.is_array()) {
    for (size_t i = 0; i < cidrs.size(); ++i) {
      if (!cidrs[i].is_string() || !v::is_cidr(cidrs[i].get<std::string>())) {
        errs.push_back({v::idx("spec.podCIDRs", i),
                        v::invalid(cidrs[i],
                                   "must be a valid CIDR value, (e.g. 10.9.8.0/24 or "
                                   "2001:db8::/64)")});
      }
    }
  }
  v::want_bool(spec, "unschedulable", "spec.unschedulable", errs);
  node_status_validate(get(obj, "status"), errs);
  if (v::want_array(spec, "taints", "spec.taints", errs)) {
    const Json& taints = spec["taints"];
    for (size_t i = 0; i < taints.size(); ++i) {
      std::string p = v::idx("spec.taints", i);
      const Json& t = taints[i];
      std::string key = str(t, "key");
      if (key.empty()) {
        errs.push_back({p + ".key", v::required()});
      } else if (auto m = check_label_key(key); !m.empty()) {
        errs.push_back({p + ".key", v::invalid(key, m)});
      }
      std::string e = str(t, "effect");
      if (!has(t, "effect")) {
        errs.push_back({p + ".effect", v::required()});
      } else if (e != "NoSchedule" && e != "PreferNoSchedule" && e != "NoExecute") {
        errs.push_back(
            {p + ".effect",
             v::unsupported(t["effect"], {"NoSchedule", "PreferNoSchedule", "NoExecute"})});
      }
    }
  }
}

std::vector<TableColumn> node_columns() {
  return {
      col("STATUS", "string", "The status of the node"),
      col("ROLES", "string", "The roles of the node"),
      tbl::age_column(),
      col("VERSION", "string", "Kubelet Version reported by the node."),
      col("INTERNAL-IP", "string", "List of internal IPs.", 1),
      col("EXTERNAL-IP", "string", "List of external IPs.", 1),
      col("OS-IMAGE", "string", "OS Image reported by the node from /etc/os-release.", 1),
      col("KERNEL-VERSION", "string", "Kernel Version reported by the node.", 1),
      col("CONTAINER-RUNTIME", "string", "Container Runtime Version reported by the node.", 1),
  };
}

Json node_cells(const Json& obj) {
  const Json& status = get(obj, "status");
  const Json& spec = get(obj, "spec");
  std::string st;
  const Json& conds = get(status, "conditions");
  if (conds.is_array()) {
    for (const Json& c : conds) {
      if (str(c, "type") != "Ready") continue;
      // As Kubernetes' printer: any Ready status but True (False, Unknown) is
      // NotReady; no Ready condition at all is Unknown.
      st = str(c, "status") == "True" ? "Ready" : "NotReady";
    }
  }
  if (st.empty()) st = "Unknown";
  if (get(spec, "unschedulable").is_boolean() && spec["unschedulable"].get<bool>()) {
    st += ",SchedulingDisabled";
  }
  std::string role_text = node_roles(get(get(obj, "metadata"), "labels"));
  auto address = [&](const char* type) {
    std::string out;
    const Json& addrs = get(status, "addresses");
    if (addrs.is_array()) {
      for (const Json& a : addrs) {
        if (str(a, "type") == type) {
          out = str(a, "address");
          break;
        }
      }
    }
    return or_none(out);
  };
  const Json& info = get(status, "nodeInfo");
  return Json::array(
      {st, or_none(role_text), age(obj), str(info, "kubeletVersion"), address("InternalIP"),
       address("ExternalIP"), str(info, "osImage").empty() ? "<unknown>" : str(info, "osImage"),
       str(info, "kernelVersion").empty() ? "<unknown>" : str(info, "kernelVersion"),
       str(info, "containerRuntimeVersion").empty() ? "<unknown>"
                                                    : str(info, "containerRuntimeVersion")});
}

// -------------------------------------------------------------------- Service

void service_defaults(Json& obj) {
  if (!obj.is_object()) return;
  Json& spec = child_object(obj, "spec");
  if (!has(spec, "type")) spec["type"] = "ClusterIP";
  if (!has(spec, "sessionAffinity")) spec["sessionAffinity"] = "None";
  std::string type = str(spec, "type");
  if (type != "ExternalName" && !has(spec, "internalTrafficPolicy")) {
    spec["internalTrafficPolicy"] = "Cluster";
  }
  if ((type == "NodePort" || type == "LoadBalancer") && !has(spec, "externalTrafficPolicy")) {
    spec["externalTrafficPolicy"] = "Cluster";
  }
  if (spec.contains("ports") && spec["ports"].is_array()) {
    for (Json& p : spec["ports"]) {
      if (!p.is_object()) continue;
      if (!has(p, "protocol")) p["protocol"] = "TCP";
      const Json& tp = get(p, "targetPort");
      if (tp.is_null() || (tp.is_number_integer() && tp.get<long long>() == 0) ||
          (tp.is_string() && tp.get<std::string>().empty())) {
        if (has(p, "port")) p["targetPort"] = p["port"];
      }
    }
  }
}

void service_initial_status(Json& obj) { obj["status"] = {{"loadBalancer", Json::object()}}; }

void service_validate(const Json& obj, const Json* old, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("v1", "Service"), true, errs);
  std::string name = str(get(obj, "metadata"), "name");
  if (!name.empty() && check_dns1123_label(name).empty()) {
    if (auto m = v::check_dns1035_label(name); !m.empty()) {
      errs.push_back({"metadata.name", v::invalid(name, m)});
    }
  }
  const Json& spec = get(obj, "spec");
  if (!spec.is_object()) {
    errs.push_back({"spec", v::required()});
    return;
  }
  std::string type = str(spec, "type");
  if (has(spec, "type") && type != "ClusterIP" && type != "NodePort" && type != "LoadBalancer" &&
      type != "ExternalName") {
    errs.push_back({"spec.type", v::unsupported(spec["type"], {"ClusterIP", "ExternalName",
                                                               "LoadBalancer", "NodePort"})});
  }
  if (has(spec, "sessionAffinity") && str(spec, "sessionAffinity") != "None" &&
      str(spec, "sessionAffinity") != "ClientIP") {
    errs.push_back(
        {"spec.sessionAffinity", v::unsupported(spec["sessionAffinity"], {"ClientIP", "None"})});
  }
  if (type == "ExternalName") {
    std::string en = str(spec, "externalName");
    if (en.empty()) {
      errs.push_back({"spec.externalName", v::required()});
    } else if (auto m = check_dns1123_subdomain(en); !m.empty()) {
      errs.push_back({"spec.externalName", v::invalid(en, m)});
    }
  }
  std::string cip = str(spec, "clusterIP");
  v::want_string(spec, "clusterIP", "spec.clusterIP", errs);
  if (!cip.empty() && cip != "None" && !v::is_ipv4(cip)) {
    errs.push_back(
        {"spec.clusterIP", v::invalid(cip, "must be empty, 'None', or a valid IP address")});
  }
  if (old && old->is_object()) {
    std::string old_ip = str(get(*old, "spec"), "clusterIP");
    if (!old_ip.empty() && !cip.empty() && old_ip != cip && type != "ExternalName") {
      errs.push_back({"spec.clusterIP", v::invalid(cip, "field is immutable")});
    }
  }
  if (v::want_object(spec, "selector", "spec.selector", errs)) {
    v::validate_labels(spec["selector"], "spec.selector", errs);
  }
  const Json& ports = get(spec, "ports");
  if (!ports.is_null() && !ports.is_array()) {
    errs.push_back({"spec.ports", v::invalid(ports, "must be an array")});
    return;
  }
  size_t n = ports.is_array() ? ports.size() : 0;
  if (n == 0 && type != "ExternalName" && cip != "None") {
    errs.push_back({"spec.ports", v::required()});
  }
  std::set<std::string> names;
  std::set<std::string> port_proto;
  for (size_t i = 0; i < n; ++i) {
    std::string p = v::idx("spec.ports", i);
    const Json& port = ports[i];
    if (!port.is_object()) {
      errs.push_back({p, v::invalid(port, "must be an object")});
      continue;
    }
    std::string pn = str(port, "name");
    if (pn.empty()) {
      if (n > 1) errs.push_back({p + ".name", v::required()});
    } else if (auto m = check_dns1123_label(pn); !m.empty()) {
      errs.push_back({p + ".name", v::invalid(pn, m)});
    } else if (!names.insert(pn).second) {
      errs.push_back({p + ".name", v::duplicate(pn)});
    }
    v::validate_port(port, "port", p + ".port", true, errs);
    std::string proto = has(port, "protocol") ? str(port, "protocol") : "TCP";
    if (proto != "TCP" && proto != "UDP" && proto != "SCTP") {
      errs.push_back({p + ".protocol", v::unsupported(port["protocol"], {"SCTP", "TCP", "UDP"})});
    }
    if (!port_proto.insert(get(port, "port").dump() + "/" + proto).second) {
      errs.push_back({p, v::duplicate(Json{{"port", get(port, "port")}, {"protocol", proto}})});
    }
    const Json& tp = get(port, "targetPort");
    if (tp.is_number_integer()) {
      long long t = tp.get<long long>();
      if (t < 1 || t > 65535) {
        errs.push_back(
            {p + ".targetPort", v::invalid(tp, "must be between 1 and 65535, inclusive")});
      }
    } else if (tp.is_string()) {
      if (auto m = v::check_iana_svc_name(tp.get<std::string>()); !m.empty()) {
        errs.push_back({p + ".targetPort", v::invalid(tp, m)});
      }
    } else if (!tp.is_null()) {
      errs.push_back({p + ".targetPort", v::invalid(tp, "must be an integer or a string")});
    }
    const Json& np = get(port, "nodePort");
    if (!np.is_null() && !(np.is_number_integer() && np.get<long long>() == 0)) {
      if (type != "NodePort" && type != "LoadBalancer") {
        errs.push_back({p + ".nodePort",
                        v::forbidden("may not be used when `type` is '" +
                                     (type.empty() ? std::string("ClusterIP") : type) + "'")});
      } else if (!np.is_number_integer() || np.get<long long>() < 30000 ||
                 np.get<long long>() > 32767) {
        errs.push_back(
            {p + ".nodePort", v::invalid(np,
                                         "provided port is not in the valid range. The range of "
                                         "valid ports is 30000-32767")});
      }
    }
  }
}

std::vector<TableColumn> service_columns() {
  return {
      col("TYPE", "string", "The type of the service."),
      col("CLUSTER-IP", "string", "The IP address of the service."),
      col("EXTERNAL-IP", "string", "The external IP address of the service."),
      col("PORT(S)", "string", "The ports exposed by the service."),
      tbl::age_column(),
      col("SELECTOR", "string", "The selector used to pick the pods backing the service.", 1),
  };
}

std::string join_strings(const Json& arr) {
  std::string out;
  if (!arr.is_array()) return out;
  for (const Json& s : arr) {
    if (!s.is_string()) continue;
    if (!out.empty()) out += ",";
    out += s.get<std::string>();
  }
  return out;
}

Json service_cells(const Json& obj) {
  const Json& spec = get(obj, "spec");
  std::string type = has(spec, "type") ? str(spec, "type") : "ClusterIP";
  std::string external = join_strings(get(spec, "externalIPs"));
  if (type == "LoadBalancer") {
    std::string lb;
    const Json& ing = get(get(get(obj, "status"), "loadBalancer"), "ingress");
    if (ing.is_array()) {
      for (const Json& i : ing) {
        std::string a = !str(i, "ip").empty() ? str(i, "ip") : str(i, "hostname");
        if (a.empty()) continue;
        lb += (lb.empty() ? "" : ",") + a;
      }
    }
    if (!external.empty()) lb += (lb.empty() ? "" : ",") + external;
    external = lb.empty() ? "<pending>" : lb;
  } else if (type == "ExternalName") {
    external = str(spec, "externalName");
  }
  std::string ports;
  const Json& ps = get(spec, "ports");
  if (ps.is_array()) {
    for (const Json& p : ps) {
      std::string proto = has(p, "protocol") ? str(p, "protocol") : "TCP";
      std::string one = std::to_string(tbl::num(p, "port"));
      if (tbl::num(p, "nodePort") > 0) one += ":" + std::to_string(tbl::num(p, "nodePort"));
      one += "/" + proto;
      ports += (ports.empty() ? "" : ",") + one;
    }
  }
  std::string selector;
  const Json& sel = get(spec, "selector");
  if (sel.is_object()) {
    std::map<std::string, std::string> sorted;
    for (auto it = sel.begin(); it != sel.end(); ++it) {
      sorted[it.key()] = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
    }
    for (const auto& [k, val] : sorted) selector += (selector.empty() ? "" : ",") + k + "=" + val;
  }
  // clusterIPs[0] is what Kubernetes prints; clusterIP for objects written without it.
  std::string cluster_ip = str(spec, "clusterIP");
  const Json& ips = get(spec, "clusterIPs");
  if (ips.is_array() && !ips.empty() && ips[0].is_string()) cluster_ip = ips[0].get<std::string>();
  return Json::array({type, or_none(cluster_ip), or_none(external), or_none(ports),
                      age(obj), or_none(selector)});
}

// ------------------------------------------------------------------ Endpoints

void endpoints_validate(const Json& obj, const Json*, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("v1", "Endpoints"), false, errs);
  const Json& subsets = get(obj, "subsets");
  if (!subsets.is_null() && !subsets.is_array()) {
    errs.push_back({"subsets", v::invalid(subsets, "must be an array")});
    return;
  }
  if (!subsets.is_array()) return;
  for (size_t i = 0; i < subsets.size(); ++i) {
    std::string sp = v::idx("subsets", i);
    for (const char* list : {"addresses", "notReadyAddresses"}) {
      const Json& addrs = get(subsets[i], list);
      if (!addrs.is_array()) continue;
      for (size_t j = 0; j < addrs.size(); ++j) {
        // Kubernetes' validateEndpointAddress → ValidateNonSpecialIP: no
        // loopback, link-local, unspecified or multicast endpoints (proxies
        // would send Service traffic to the node itself or its metadata service).
        std::string ip = str(addrs[j], "ip");
        if (auto m = non_special_ip_error(ip); !m.empty()) {
          errs.push_back({v::idx(sp + "." + list, j) + ".ip", v::invalid(get(addrs[j], "ip"), m)});
        }
      }
    }
    const Json& ports = get(subsets[i], "ports");
    if (!ports.is_array()) continue;
    for (size_t j = 0; j < ports.size(); ++j) {
      v::validate_port(ports[j], "port", v::idx(sp + ".ports", j) + ".port", true, errs);
    }
  }
}

std::vector<TableColumn> endpoints_columns() {
  return {col("ENDPOINTS", "string", "Endpoints of the service."), tbl::age_column()};
}

// "ip:port" as net.JoinHostPort writes it (IPv6 in brackets).
std::string host_port(const std::string& ip, long long port) {
  std::string host = ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
  return host + ":" + std::to_string(port);
}

// Kubernetes' formatEndpoints: per subset, per port, per ready address; the
// first three, then " + N more...". No subsets: <none>.
Json endpoints_cells(const Json& obj) {
  constexpr size_t kMax = 3;
  std::vector<std::string> list;
  size_t count = 0;
  const Json& subsets = get(obj, "subsets");
  if (!subsets.is_array() || subsets.empty()) return Json::array({"<none>", age(obj)});
  for (const Json& s : subsets) {
    const Json& addrs = get(s, "addresses");
    const Json& ports = get(s, "ports");
    size_t n = addrs.is_array() ? addrs.size() : 0;
    if (!ports.is_array() || ports.empty()) {
      count += n;
      for (size_t i = 0; i < n && list.size() < kMax; ++i) list.push_back(str(addrs[i], "ip"));
      continue;
    }
    for (const Json& p : ports) {
      count += n;
      for (size_t i = 0; i < n && list.size() < kMax; ++i) {
        list.push_back(host_port(str(addrs[i], "ip"), tbl::num(p, "port")));
      }
    }
  }
  std::string text;
  for (const auto& e : list) text += (text.empty() ? "" : ",") + e;
  if (count > list.size()) text += " + " + std::to_string(count - list.size()) + " more...";
  return Json::array({text, age(obj)});
}

// ---------------------------------------------------------------------- Event

void event_validate(const Json& obj, const Json*, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("v1", "Event"), false, errs);
  const Json& io = get(obj, "involvedObject");
  if (!io.is_null() && !io.is_object()) {
    errs.push_back({"involvedObject", v::invalid(io, "must be an object")});
  }
  if (has(obj, "type") && str(obj, "type") != "Normal" && str(obj, "type") != "Warning") {
    errs.push_back({"type", v::unsupported(obj["type"], {"Normal", "Warning"})});
  }
  v::want_int(obj, "count", "count", errs);
}

std::vector<TableColumn> event_columns() {
  return {
      col("LAST SEEN", "string", "Time since the most recent occurrence of this event."),
      col("TYPE", "string", "Type of this event (Normal, Warning)."),
      col("REASON", "string", "Short, machine understandable reason for this event."),
      col("OBJECT", "string", "The object that this event is about."),
      col("SUBOBJECT", "string", "The field path of the object this event is about.", 1),
      col("SOURCE", "string", "The component reporting this event.", 1),
      col("MESSAGE", "string", "A human-readable description of the status of this operation."),
      col("FIRST SEEN", "string", "Time since the first occurrence of this event.", 1),
      col("COUNT", "integer", "The number of times this event has occurred.", 1),
  };
}

Json event_cells(const Json& obj) {
  std::string first = str(obj, "firstTimestamp");
  std::string last = str(obj, "lastTimestamp");
  if (last.empty()) last = str(obj, "eventTime");
  if (last.empty()) last = first;
  if (first.empty()) first = last;
  if (last.empty()) last = first = str(get(obj, "metadata"), "creationTimestamp");
  long long count = tbl::num(obj, "count");
  std::string last_seen = last.empty() ? "<unknown>" : since(last);
  std::string first_seen = first.empty() ? "<unknown>" : since(first);
  if (count > 1) {
    last_seen += " (x" + std::to_string(count) + " over " + first_seen + ")";
  }
  const Json& io = get(obj, "involvedObject");
  std::string kind = str(io, "kind");
  std::transform(kind.begin(), kind.end(), kind.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const Json& src = get(obj, "source");
  std::string source = str(src, "component");
  if (source.empty()) source = str(obj, "reportingComponent");
  if (!str(src, "host").empty()) source += ", " + str(src, "host");
  return Json::array({last_seen, str(obj, "type"), str(obj, "reason"), kind + "/" + str(io, "name"),
                      str(io, "fieldPath"), source, str(obj, "message"), first_seen, count});
}

// ------------------------------------------------------- ConfigMap and Secret

void validate_data_keys(const Json& data, const std::string& path, std::set<std::string>& seen,
                        bool base64, FieldErrors& errs) {
  if (data.is_null()) return;
  if (!data.is_object()) {
    errs.push_back({path, v::invalid(data, "must be an object")});
    return;
  }
  for (auto it = data.begin(); it != data.end(); ++it) {
    if (auto m = v::check_config_key(it.key()); !m.empty()) {
      errs.push_back({path, v::invalid(it.key(), m)});
    } else if (!seen.insert(it.key()).second) {
      errs.push_back({path, "Invalid value: \"" + it.key() +
                                "\": duplicate of key present in another data field"});
    }
    if (!it.value().is_string()) {
      errs.push_back({path + "[" + it.key() + "]", v::invalid(it.value(), "must be a string")});
      continue;
    }
    if (base64) {
      if (!base64_decode(it.value().get_ref<const std::string&>())) {
        errs.push_back({path + "[" + it.key() + "]",
                        "Invalid value: \"<secret contents redacted>\": illegal base64 data"});
      }
    }
  }
}

// ConfigMap and Secret data are capped as in Kubernetes (MaxSecretSize), so
// that a few large objects cannot fill the store and the watch cache.
constexpr size_t kMaxDataBytes = 1024 * 1024;
std::string data_too_long() {
  return "Too long: must have at most " + std::to_string(kMaxDataBytes) + " bytes";
}

// Bytes a data map holds: keys plus values (base64 values counted decoded).
// Kubernetes counts values only; keys count here too so that many empty keys
// cannot grow an object past the cap.
size_t data_bytes(const Json& data, bool base64) {
  if (!data.is_object()) return 0;
  size_t total = 0;
  for (auto it = data.begin(); it != data.end(); ++it) {
    total += it.key().size();
    if (!it.value().is_string()) continue;
    const auto& s = it.value().get_ref<const std::string&>();
    if (!base64) {
      total += s.size();
      continue;
    }
    size_t pad = 0;
    if (!s.empty() && s.back() == '=') pad = s.size() >= 2 && s[s.size() - 2] == '=' ? 2 : 1;
    size_t decoded = s.size() / 4 * 3;
    total += decoded > pad ? decoded - pad : 0;
  }
  return total;
}

void configmap_validate(const Json& obj, const Json* old, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("v1", "ConfigMap"), false, errs);
  std::set<std::string> seen;
  validate_data_keys(get(obj, "data"), "data", seen, false, errs);
  validate_data_keys(get(obj, "binaryData"), "binaryData", seen, true, errs);
  // Kubernetes names no field ("[]": the whole object) for this error.
  if (data_bytes(get(obj, "data"), false) + data_bytes(get(obj, "binaryData"), true) >
      kMaxDataBytes) {
    errs.push_back({"[]", data_too_long()});
  }
  if (old && get(*old, "immutable").is_boolean() && (*old)["immutable"].get<bool>()) {
    if (get(obj, "data") != get(*old, "data") ||
        get(obj, "binaryData") != get(*old, "binaryData")) {
      errs.push_back({"data", v::forbidden("field is immutable when `immutable` is set")});
    }
  }
}

std::vector<TableColumn> configmap_columns() {
  return {col("DATA", "integer", "Number of data items."), tbl::age_column()};
}

Json configmap_cells(const Json& obj) {
  size_t n = 0;
  for (const char* k : {"data", "binaryData"}) {
    if (get(obj, k).is_object()) n += obj[k].size();
  }
  return Json::array({n, age(obj)});
}

void secret_defaults(Json& obj) {
  if (!obj.is_object()) return;
  if (!has(obj, "type")) obj["type"] = "Opaque";
  // stringData is write-only: merged into data, as the Kubernetes API does.
  if (obj.contains("stringData") && obj["stringData"].is_object()) {
    Json& data = child_object(obj, "data");
    for (auto it = obj["stringData"].begin(); it != obj["stringData"].end(); ++it) {
      if (it.value().is_string()) data[it.key()] = base64_encode(it.value().get<std::string>());
    }
    obj.erase("stringData");
  }
}

// A bootstrap token Secret (docs/auth.md "Bootstrap tokens and the join"):
// named bootstrap-token-<token-id>; token-id [a-z0-9]{6}, token-secret
// [a-z0-9]{16}, expiration RFC 3339, usage-bootstrap-* "true" or "false",
// auth-extra-groups a comma list of system:bootstrappers:* groups.
void validate_bootstrap_token(const Json& obj, FieldErrors& errs) {
  auto value = [&](const char* key) -> std::optional<std::string> {
    const Json& v = get(get(obj, "data"), key);
    if (!v.is_string()) return std::nullopt;
    return base64_decode(v.get<std::string>());
  };
  auto lower_alnum = [](const std::string& x, size_t n) {
    if (x.size() != n) return false;
    for (char c : x) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
    }
    return true;
  };
  auto id = value("token-id");
  if (!id) {
    errs.push_back({"data[token-id]", v::required()});
  } else if (!lower_alnum(*id, 6)) {
    errs.push_back({"data[token-id]", v::invalid(*id, "must match [a-z0-9]{6}")});
  } else if (str(get(obj, "metadata"), "name") != "bootstrap-token-" + *id) {
    errs.push_back({"metadata.name",
                    v::invalid(str(get(obj, "metadata"), "name"),
                               "must be bootstrap-token-<token-id> (bootstrap-token-" + *id + ")")});
  }
  auto secret = value("token-secret");
  if (!secret) {
    errs.push_back({"data[token-secret]", v::required()});
  } else if (!lower_alnum(*secret, 16)) {
    errs.push_back({"data[token-secret]",
                    "Invalid value: \"<secret contents redacted>\": must match [a-z0-9]{16}"});
  }
  if (auto exp = value("expiration")) {
    SysTime t;
    if (!parse_rfc3339(*exp, &t)) {
      errs.push_back({"data[expiration]", v::invalid(*exp, "must be an RFC 3339 time")});
    }
  }
  if (get(obj, "data").is_object()) {
    for (auto it = obj["data"].begin(); it != obj["data"].end(); ++it) {
      if (it.key().rfind("usage-bootstrap-", 0) != 0) continue;
      auto u = value(it.key().c_str());
      if (u && *u != "true" && *u != "false") {
        errs.push_back({"data[" + it.key() + "]", v::invalid(*u, "must be \"true\" or \"false\"")});
      }
    }
  }
  if (auto groups = value("auth-extra-groups")) {
    size_t start = 0;
    while (start <= groups->size()) {
      size_t comma = groups->find(',', start);
      std::string g = groups->substr(start, comma == std::string::npos ? std::string::npos
                                                                      : comma - start);
      if (g.rfind("system:bootstrappers:", 0) != 0 || g.size() == 21) {
        errs.push_back({"data[auth-extra-groups]",
                        v::invalid(g, "must start with system:bootstrappers: and name a group")});
        break;
      }
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
}

void secret_validate(const Json& obj, const Json* old, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("v1", "Secret"), false, errs);
  std::set<std::string> seen;
  validate_data_keys(get(obj, "data"), "data", seen, true, errs);
  std::set<std::string> seen2;
  validate_data_keys(get(obj, "stringData"), "stringData", seen2, false, errs);
  v::want_string(obj, "type", "type", errs);
  if (data_bytes(get(obj, "data"), true) > kMaxDataBytes) errs.push_back({"data", data_too_long()});
  if (str(obj, "type") == "bootstrap.kubernetes.io/token") validate_bootstrap_token(obj, errs);
  if (old && old->is_object()) {
    if (has(*old, "type") && get(obj, "type") != get(*old, "type")) {
      errs.push_back({"type", v::invalid(get(obj, "type"), "field is immutable")});
    }
    if (get(*old, "immutable").is_boolean() && (*old)["immutable"].get<bool>() &&
        get(obj, "data") != get(*old, "data")) {
      errs.push_back({"data", v::forbidden("field is immutable when `immutable` is set")});
    }
  }
}

std::vector<TableColumn> secret_columns() {
  return {col("TYPE", "string", "The type of the secret"),
          col("DATA", "integer", "Number of data items."), tbl::age_column()};
}

Json secret_cells(const Json& obj) {
  size_t n = get(obj, "data").is_object() ? obj["data"].size() : 0;
  return Json::array({str(obj, "type"), n, age(obj)});
}

template <const char* G, const char* K>
void unknown(const Json& obj, std::vector<std::string>& paths) {
  unknown_fields_for(G, K, obj, paths);
}

constexpr char kCore[] = "";
constexpr char kNamespace[] = "Namespace";
constexpr char kPod[] = "Pod";
constexpr char kNode[] = "Node";
constexpr char kService[] = "Service";
constexpr char kEndpoints[] = "Endpoints";
constexpr char kEvent[] = "Event";
constexpr char kConfigMap[] = "ConfigMap";
constexpr char kSecret[] = "Secret";

ResourceType make(const char* kind, const char* plural, const char* singular, bool namespaced,
                  std::vector<std::string> short_names) {
  ResourceType t;
  t.group = "";
  t.version = "v1";
  t.kind = kind;
  t.plural = plural;
  t.singular = singular;
  t.namespaced = namespaced;
  t.short_names = std::move(short_names);
  return t;
}

}  // namespace

void add_core_kinds(std::vector<const ResourceType*>& out) {
  static const ResourceType ns = [] {
    ResourceType t = make(kNamespace, "namespaces", "namespace", false, {"ns"});
    t.has_status = true;
    t.clear_status_on_create = true;
    t.field_selectors = {"status.phase"};
    t.validate = namespace_validate;
    t.initial_status = namespace_initial_status;
    t.table_columns = namespace_columns;
    t.table_cells = namespace_cells;
    t.unknown_fields = unknown<kCore, kNamespace>;
    return t;
  }();
  static const ResourceType pod = [] {
    ResourceType t = make(kPod, "pods", "pod", true, {"po"});
    t.categories = {"all"};
    t.has_status = true;
    t.clear_status_on_create = true;
    t.field_selectors = {"spec.nodeName",           "status.phase",    "spec.restartPolicy",
                         "spec.schedulerName",      "status.podIP",    "status.nominatedNodeName",
                         "spec.serviceAccountName", "spec.hostNetwork"};
    t.set_defaults = pod_defaults;
    t.validate = pod_validate;
    t.initial_status = pod_initial_status;
    t.table_columns = pod_columns;
    t.table_cells = pod_cells;
    t.unknown_fields = unknown<kCore, kPod>;
    return t;
  }();
  static const ResourceType node = [] {
    ResourceType t = make(kNode, "nodes", "node", false, {"no"});
    t.has_status = true;
    t.field_selectors = {"spec.unschedulable"};
    t.validate = node_validate;
    t.table_columns = node_columns;
    t.table_cells = node_cells;
    t.unknown_fields = unknown<kCore, kNode>;
    return t;
  }();
  static const ResourceType svc = [] {
    ResourceType t = make(kService, "services", "service", true, {"svc"});
    t.categories = {"all"};
    t.has_status = true;
    t.clear_status_on_create = true;
    t.field_selectors = {"spec.clusterIP", "spec.type"};
    t.set_defaults = service_defaults;
    t.validate = service_validate;
    t.initial_status = service_initial_status;
    t.table_columns = service_columns;
    t.table_cells = service_cells;
    t.unknown_fields = unknown<kCore, kService>;
    return t;
  }();
  static const ResourceType ep = [] {
    ResourceType t = make(kEndpoints, "endpoints", "endpoints", true, {"ep"});
    t.validate = endpoints_validate;
    t.table_columns = endpoints_columns;
    t.table_cells = endpoints_cells;
    t.unknown_fields = unknown<kCore, kEndpoints>;
    return t;
  }();
  static const ResourceType ev = [] {
    ResourceType t = make(kEvent, "events", "event", true, {"ev"});
    t.field_selectors = {"involvedObject.kind",
                         "involvedObject.namespace",
                         "involvedObject.name",
                         "involvedObject.uid",
                         "involvedObject.apiVersion",
                         "involvedObject.resourceVersion",
                         "involvedObject.fieldPath",
                         "reason",
                         "reportingComponent",
                         "source",
                         "type"};
    t.validate = event_validate;
    t.table_columns = event_columns;
    t.table_cells = event_cells;
    t.unknown_fields = unknown<kCore, kEvent>;
    return t;
  }();
  static const ResourceType cm = [] {
    ResourceType t = make(kConfigMap, "configmaps", "configmap", true, {"cm"});
    t.validate = configmap_validate;
    t.table_columns = configmap_columns;
    t.table_cells = configmap_cells;
    t.unknown_fields = unknown<kCore, kConfigMap>;
    return t;
  }();
  static const ResourceType secret = [] {
    ResourceType t = make(kSecret, "secrets", "secret", true, {});
    t.field_selectors = {"type"};
    t.set_defaults = secret_defaults;
    t.validate = secret_validate;
    t.table_columns = secret_columns;
    t.table_cells = secret_cells;
    t.unknown_fields = unknown<kCore, kSecret>;
    return t;
  }();
  for (const ResourceType* t : {&ns, &pod, &node, &svc, &ep, &ev, &cm, &secret}) out.push_back(t);
}

std::string node_roles(const Json& labels) {
  std::set<std::string> roles;
  if (labels.is_object()) {
    const std::string prefix = "node-role.kubernetes.io/";
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      if (it.key().rfind(prefix, 0) == 0 && it.key().size() > prefix.size()) {
        roles.insert(it.key().substr(prefix.size()));
      } else if (it.key() == "kubernetes.io/role" && it.value().is_string() &&
                 !it.value().get<std::string>().empty()) {
        roles.insert(it.value().get<std::string>());
      }
    }
  }
  std::string out;
  for (const auto& r : roles) out += (out.empty() ? "" : ",") + r;
  return out;
}

}  // namespace minik8s::api
