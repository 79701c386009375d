// autoscaling/v2 HorizontalPodAutoscaler, coordination.k8s.io/v1 Lease and
// minik8s.io/v1 DNS.
#include <nlohmann/json.hpp>
#include <set>

#include "kinds.h"
#include "minik8s/api/address_rules.h"
#include "minik8s/api/quantity.h"
#include "validation.h"

namespace minik8s::api {
namespace {

using tbl::age;
using tbl::col;
using v::get;
using v::has;
using v::str;

// ------------------------------------------------------------------------ HPA

// autoscaling/v2 SetDefaults_HorizontalPodAutoscaler: minReplicas 1, cpu
// Utilization 80% when no metric is given, and for a behavior that is
// present every absent part of scaleUp (Max of 4 Pods / 100 Percent per 15 s,
// window 0) and scaleDown (100 Percent per 15 s; the window stays unset: the
// controller's --horizontal-pod-autoscaler-downscale-stabilization applies).
void hpa_scaling_rules_defaults(Json& rules, bool up) {
  if (rules.is_null()) rules = Json::object();
  if (!rules.is_object()) return;
  if (!has(rules, "selectPolicy")) rules["selectPolicy"] = "Max";
  if (up && !has(rules, "stabilizationWindowSeconds")) rules["stabilizationWindowSeconds"] = 0;
  if (!has(rules, "policies")) {
    rules["policies"] = up ? Json::array({{{"type", "Pods"}, {"value", 4}, {"periodSeconds", 15}},
                                          {{"type", "Percent"}, {"value", 100}, {"periodSeconds", 15}}})
                           : Json::array({{{"type", "Percent"}, {"value", 100}, {"periodSeconds", 15}}});
  }
}

void hpa_defaults(Json& obj) {
  if (!obj.is_object()) return;
  if (!obj.contains("spec") || !obj["spec"].is_object()) obj["spec"] = Json::object();
  Json& spec = obj["spec"];
  if (!has(spec, "minReplicas")) spec["minReplicas"] = 1;
  if (!spec.contains("metrics") || spec["metrics"].is_null() ||
      (spec["metrics"].is_array() && spec["metrics"].empty())) {
    spec["metrics"] = Json::array(
        {{{"type", "Resource"},
          {"resource", {{"name", "cpu"}, {"target", {{"type", "Utilization"}, {"averageUtilization", 80}}}}}}});
  }
  if (spec.contains("behavior") && spec["behavior"].is_object()) {
    hpa_scaling_rules_defaults(spec["behavior"]["scaleUp"], true);
    hpa_scaling_rules_defaults(spec["behavior"]["scaleDown"], false);
  }
}

void validate_quantity(const Json& x, const std::string& path, FieldErrors& errs) {
  std::string text = x.is_string() ? x.get<std::string>() : x.is_number() ? x.dump() : "";
  auto q = Quantity::parse(text);
  if (!q.is_ok()) {
    errs.push_back({path, v::invalid(x,
                                     "quantities must match the regular expression "
                                     "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")});
  } else if (q->milli_value() <= 0) {
    errs.push_back({path, v::invalid(x, "must be positive")});
  }
}

void validate_metric_target(const Json& t, const std::string& path, FieldErrors& errs) {
  if (!t.is_object()) {
    errs.push_back({path, v::required()});
    return;
  }
  std::string type = str(t, "type");
  if (!has(t, "type")) {
    errs.push_back({path + ".type", "Required value: must specify a metric target type"});
  } else if (type != "Utilization" && type != "Value" && type != "AverageValue") {
    errs.push_back(
        {path + ".type", v::unsupported(t["type"], {"AverageValue", "Utilization", "Value"})});
  }
  if (type == "Utilization") {
    const Json& u = get(t, "averageUtilization");
    if (u.is_null()) {
      errs.push_back({path + ".averageUtilization",
                      "Required value: must set averageUtilization when type is Utilization"});
    } else if (!u.is_number_integer() || u.get<long long>() < 1) {
      errs.push_back({path + ".averageUtilization", v::invalid(u, "must be greater than 0")});
    }
  } else if (type == "Value") {
    if (!has(t, "value")) {
      errs.push_back({path + ".value", "Required value: must set value when type is Value"});
    } else {
      validate_quantity(t["value"], path + ".value", errs);
    }
  } else if (type == "AverageValue") {
    if (!has(t, "averageValue")) {
      errs.push_back({path + ".averageValue",
                      "Required value: must set averageValue when type is AverageValue"});
    } else {
      validate_quantity(t["averageValue"], path + ".averageValue", errs);
    }
  }
}

void validate_scaling_rules(const Json& r, const std::string& path, FieldErrors& errs) {
  if (r.is_null()) return;
  if (!r.is_object()) {
    errs.push_back({path, v::invalid(r, "must be an object")});
    return;
  }
  const Json& w = get(r, "stabilizationWindowSeconds");
  if (!w.is_null() &&
      (!w.is_number_integer() || w.get<long long>() < 0 || w.get<long long>() > 3600)) {
    errs.push_back({path + ".stabilizationWindowSeconds",
                    v::invalid(w,
                               "must be less than or equal to 3600 and greater than or equal "
                               "to 0")});
  }
  if (has(r, "selectPolicy")) {
    std::string sp = str(r, "selectPolicy");
    if (sp != "Max" && sp != "Min" && sp != "Disabled") {
      errs.push_back(
          {path + ".selectPolicy", v::unsupported(r["selectPolicy"], {"Disabled", "Max", "Min"})});
    }
  }
  const Json& policies = get(r, "policies");
  if (!policies.is_array() || policies.empty()) {
    errs.push_back({path + ".policies", "Required value: must specify at least one Policy"});
    return;
  }
  for (size_t i = 0; i < policies.size(); ++i) {
    std::string p = v::idx(path + ".policies", i);
    const Json& pol = policies[i];
    std::string type = str(pol, "type");
    if (type != "Pods" && type != "Percent") {
      errs.push_back({p + ".type", v::unsupported(get(pol, "type"), {"Percent", "Pods"})});
    }
    const Json& val = get(pol, "value");
    if (!val.is_number_integer() || val.get<long long>() <= 0) {
      errs.push_back({p + ".value", v::invalid(val, "must be greater than zero")});
    }
    const Json& per = get(pol, "periodSeconds");
    if (!per.is_number_integer() || per.get<long long>() <= 0) {
      errs.push_back({p + ".periodSeconds", v::invalid(per, "must be greater than zero")});
    } else if (per.get<long long>() > 1800) {
      errs.push_back({p + ".periodSeconds", v::invalid(per, "must be less than or equal to 1800")});
    }
  }
}

void hpa_validate(const Json& obj, const Json*, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("autoscaling/v2", "HorizontalPodAutoscaler"), false, errs);
  const Json& spec = get(obj, "spec");
  if (!spec.is_object()) {
    errs.push_back({"spec", v::required()});
    return;
  }
  const Json& ref = get(spec, "scaleTargetRef");
  if (str(ref, "kind").empty()) errs.push_back({"spec.scaleTargetRef.kind", v::required()});
  if (str(ref, "name").empty()) errs.push_back({"spec.scaleTargetRef.name", v::required()});
  long long min_r = 1;
  const Json& mn = get(spec, "minReplicas");
  if (!mn.is_null()) {
    if (!mn.is_number_integer() || mn.get<long long>() < 1) {
      errs.push_back({"spec.minReplicas", v::invalid(mn, "must be greater than or equal to 1")});
    } else {
      min_r = mn.get<long long>();
    }
  }
  const Json& mx = get(spec, "maxReplicas");
  if (!mx.is_number_integer() || mx.get<long long>() < 1) {
    errs.push_back({"spec.maxReplicas", mx.is_null() ? std::string(v::required())
                                                     : v::invalid(mx,
                                                                  "must be greater than or "
                                                                  "equal to 1")});
  } else if (mx.get<long long>() < min_r) {
    errs.push_back(
        {"spec.maxReplicas", v::invalid(mx, "must be greater than or equal to `minReplicas`")});
  }
  const Json& metrics = get(spec, "metrics");
  if (!metrics.is_null() && !metrics.is_array()) {
    errs.push_back({"spec.metrics", v::invalid(metrics, "must be an array")});
  } else if (metrics.is_array()) {
    for (size_t i = 0; i < metrics.size(); ++i) {
      std::string p = v::idx("spec.metrics", i);
      const Json& m = metrics[i];
      std::string type = str(m, "type");
      if (type == "Resource" || type == "ContainerResource") {
        const char* field = type == "Resource" ? "resource" : "containerResource";
        const Json& r = get(m, field);
        std::string rp = p + "." + field;
        if (!r.is_object()) {
          errs.push_back({rp,
                          "Required value: must populate information for the given metric "
                          "source"});
          continue;
        }
        std::string name = str(r, "name");
        if (name.empty()) {
          errs.push_back({rp + ".name", "Required value: must specify a resource name"});
        } else if (name != "cpu" && name != "memory") {
          errs.push_back({rp + ".name", v::unsupported(r["name"], {"cpu", "memory"})});
        }
        if (type == "ContainerResource" && str(r, "container").empty()) {
          errs.push_back({rp + ".container", v::required()});
        }
        validate_metric_target(get(r, "target"), rp + ".target", errs);
      } else if (type == "Pods" || type == "Object" || type == "External") {
        std::string field = type == "Pods" ? "pods" : type == "Object" ? "object" : "external";
        const Json& s = get(m, field.c_str());
        if (!s.is_object()) {
          errs.push_back({p + "." + field,
                          "Required value: must populate information for the given metric source"});
          continue;
        }
        if (str(get(s, "metric"), "name").empty()) {
          errs.push_back({p + "." + field + ".metric.name", v::required()});
        }
        validate_metric_target(get(s, "target"), p + "." + field + ".target", errs);
      } else if (!has(m, "type")) {
        errs.push_back({p + ".type", "Required value: must specify a metric source type"});
      } else {
        errs.push_back({p + ".type", v::unsupported(m["type"], {"ContainerResource", "External",
                                                                "Object", "Pods", "Resource"})});
      }
    }
  }
  const Json& behavior = get(spec, "behavior");
  if (behavior.is_object()) {
    validate_scaling_rules(get(behavior, "scaleUp"), "spec.behavior.scaleUp", errs);
    validate_scaling_rules(get(behavior, "scaleDown"), "spec.behavior.scaleDown", errs);
  }
}

std::vector<TableColumn> hpa_columns() {
  return {
      col("REFERENCE", "string", "reference to the target object"),
      col("TARGETS", "string", "the current and desired metric values"),
      col("MINPODS", "string", "lower limit for the number of pods"),
      col("MAXPODS", "integer", "upper limit for the number of pods"),
      col("REPLICAS", "integer", "current number of replicas of pods managed by this autoscaler"),
      tbl::age_column(),
  };
}

std::string quantity_text(const Json& x) {
  if (x.is_string()) {
    auto q = Quantity::parse(x.get<std::string>());
    return q.is_ok() ? q->to_string() : x.get<std::string>();
  }
  return x.is_null() ? "" : x.dump();
}

std::string hpa_targets(const Json& spec, const Json& status) {
  const Json& metrics = get(spec, "metrics");
  const Json& current = get(status, "currentMetrics");
  if (!metrics.is_array() || metrics.empty()) return "<none>";
  std::vector<std::string> list;
  for (size_t i = 0; i < metrics.size(); ++i) {
    const Json& m = metrics[i];
    const Json cur = current.is_array() && i < current.size() ? current[i] : Json();
    std::string type = str(m, "type");
    std::string field = type == "Resource"            ? "resource"
                        : type == "ContainerResource" ? "containerResource"
                        : type == "Pods"              ? "pods"
                        : type == "Object"            ? "object"
                        : type == "External"          ? "external"
                                                      : "";
    if (field.empty()) {
      list.push_back("<unknown type>");
      continue;
    }
    const Json& src = get(m, field.c_str());
    const Json& target = get(src, "target");
    const Json& cv = get(get(cur, field.c_str()), "current");
    std::string prefix;
    if (type == "Resource") prefix = str(src, "name") + ": ";
    if (type == "ContainerResource")
      prefix = str(src, "name") + " on " + str(src, "container") + ": ";
    std::string cur_text = "<unknown>";
    std::string tgt_text;
    if (has(target, "averageUtilization") || str(target, "type") == "Utilization") {
      if (get(cv, "averageUtilization").is_number_integer()) {
        cur_text = std::to_string(cv["averageUtilization"].get<long long>()) + "%";
      }
      tgt_text = get(target, "averageUtilization").is_number_integer()
                     ? std::to_string(target["averageUtilization"].get<long long>()) + "%"
                     : "<auto>";
    } else if (has(target, "averageValue")) {
      if (has(cv, "averageValue")) cur_text = quantity_text(cv["averageValue"]);
      tgt_text = quantity_text(target["averageValue"]);
      if (type == "Object" || type == "External") tgt_text += " (avg)";
    } else {
      if (has(cv, "value")) cur_text = quantity_text(cv["value"]);
      tgt_text = quantity_text(get(target, "value"));
    }
    list.push_back(prefix + cur_text + "/" + tgt_text);
  }
  std::string out;
  size_t shown = std::min<size_t>(list.size(), 3);
  for (size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + list[i];
  if (list.size() > shown) out += " + " + std::to_string(list.size() - shown) + " more...";
  return out;
}

Json hpa_cells(const Json& obj) {
  const Json& spec = get(obj, "spec");
  const Json& status = get(obj, "status");
  const Json& ref = get(spec, "scaleTargetRef");
  std::string min_pods = get(spec, "minReplicas").is_number_integer()
                             ? std::to_string(spec["minReplicas"].get<long long>())
                             : "<unset>";
  return Json::array({str(ref, "kind") + "/" + str(ref, "name"), hpa_targets(spec, status),
                      min_pods, tbl::num(spec, "maxReplicas"), tbl::num(status, "currentReplicas"),
                      age(obj)});
}

// ---------------------------------------------------------------------- Lease

void lease_validate(const Json& obj, const Json*, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("coordination.k8s.io/v1", "Lease"), false, errs);
  const Json& spec = get(obj, "spec");
  if (spec.is_null()) return;
  if (!spec.is_object()) {
    errs.push_back({"spec", v::invalid(spec, "must be an object")});
    return;
  }
  v::want_string(spec, "holderIdentity", "spec.holderIdentity", errs);
  v::want_string(spec, "acquireTime", "spec.acquireTime", errs);
  v::want_string(spec, "renewTime", "spec.renewTime", errs);
  v::want_string(spec, "strategy", "spec.strategy", errs);
  v::want_string(spec, "preferredHolder", "spec.preferredHolder", errs);
  if (v::want_int(spec, "leaseDurationSeconds", "spec.leaseDurationSeconds", errs) &&
      spec["leaseDurationSeconds"].get<long long>() <= 0) {
    errs.push_back({"spec.leaseDurationSeconds",
                    v::invalid(spec["leaseDurationSeconds"], "must be greater than 0")});
  }
  if (v::want_int(spec, "leaseTransitions", "spec.leaseTransitions", errs) &&
      spec["leaseTransitions"].get<long long>() < 0) {
    errs.push_back({"spec.leaseTransitions",
                    v::invalid(spec["leaseTransitions"], "must be greater than or equal to 0")});
  }
}

std::vector<TableColumn> lease_columns() {
  return {col("HOLDER", "string", "The holder of the lease"), tbl::age_column()};
}

Json lease_cells(const Json& obj) {
  return Json::array({str(get(obj, "spec"), "holderIdentity"), age(obj)});
}

// ------------------------------------------------------------------------ DNS

void dns_validate(const Json& obj, const Json*, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("minik8s.io/v1", "DNS"), false, errs);
  const Json& spec = get(obj, "spec");
  if (!spec.is_object()) {
    errs.push_back({"spec", v::required()});
    return;
  }
  std::string host = str(spec, "host");
  if (host.empty()) {
    errs.push_back({"spec.host", v::required()});
  } else if (auto m = check_dns1123_subdomain(host); !m.empty()) {
    errs.push_back({"spec.host", v::invalid(host, m)});
  } else if (parse_ip(host)) {
    errs.push_back({"spec.host", v::invalid(host, "must be a DNS name, not an IP address")});
  } else if (host == "localhost" || host.ends_with(".localhost")) {
    // RFC 6761 §6.3: localhost names are the machine itself; a DNS object
    // would point them (hosts file, cluster DNS) at the node's ingress.
    errs.push_back({"spec.host", v::invalid(host, "may not be localhost or a name under localhost")});
  }
  // (Names inside the cluster domain and hosts claimed by another DNS object
  // need the server's configuration and store: the DNS strategy's admit,
  // src/apiserver/kinds/dns_strategy.cc.)
  const Json& paths = get(spec, "paths");
  if (!paths.is_array() || paths.empty()) {
    errs.push_back({"spec.paths", paths.is_null() || paths.is_array()
                                      ? "Required value: must have at least one path"
                                      : v::invalid(paths, "must be an array")});
    return;
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < paths.size(); ++i) {
    std::string p = v::idx("spec.paths", i);
    const Json& e = paths[i];
    if (!e.is_object()) {
      errs.push_back({p, v::invalid(e, "must be an object")});
      continue;
    }
    std::string path = str(e, "path");
    if (path.empty()) {
      errs.push_back({p + ".path", v::required()});
    } else if (path.front() != '/') {
      errs.push_back({p + ".path", v::invalid(path, "must be an absolute path (start with '/')")});
    } else if (!is_ingress_path(path)) {
      // The grammar the nginx renderer enforces (one function: address_rules.h).
      errs.push_back({p + ".path", v::invalid(path, "may contain only letters, digits and "
                                                    "'/', '.', '_', '~', '@', ':', '+', ',', "
                                                    "'=', '%', '-'")});
    } else if (!seen.insert(normalize_ingress_path(path)).second) {
      // "/a" and "/a/" are one route to the ingress.
      errs.push_back({p + ".path", v::duplicate(path)});
    }
    std::string svc = str(e, "serviceName");
    if (svc.empty()) {
      errs.push_back({p + ".serviceName", v::required()});
    } else if (auto m = check_dns1123_label(svc); !m.empty()) {
      errs.push_back({p + ".serviceName", v::invalid(svc, m)});
    }
    v::validate_port(e, "servicePort", p + ".servicePort", true, errs);
  }
}

std::vector<TableColumn> dns_columns() {
  return {col("HOST", "string", "The host name served"),
          col("PATHS", "string", "Paths and the services they forward to"), tbl::age_column()};
}

Json dns_cells(const Json& obj) {
  const Json& spec = get(obj, "spec");
  std::string text;
  const Json& paths = get(spec, "paths");
  if (paths.is_array()) {
    for (const Json& e : paths) {
      text += (text.empty() ? "" : ",") + str(e, "path") + "\u2192" + str(e, "serviceName") + ":" +
              std::to_string(tbl::num(e, "servicePort"));
    }
  }
  return Json::array({str(spec, "host"), tbl::or_none(text), age(obj)});
}

void hpa_unknown(const Json& obj, std::vector<std::string>& paths) {
  unknown_fields_for("autoscaling", "HorizontalPodAutoscaler", obj, paths);
}
void lease_unknown(const Json& obj, std::vector<std::string>& paths) {
  unknown_fields_for("coordination.k8s.io", "Lease", obj, paths);
}
void dns_unknown(const Json& obj, std::vector<std::string>& paths) {
  unknown_fields_for("minik8s.io", "DNS", obj, paths);
}

}  // namespace

void add_other_kinds(std::vector<const ResourceType*>& out) {
  static const ResourceType hpa = [] {
    ResourceType t;
    t.group = "autoscaling";
    t.version = "v2";
    t.kind = "HorizontalPodAutoscaler";
    t.plural = "horizontalpodautoscalers";
    t.singular = "horizontalpodautoscaler";
    t.short_names = {"hpa"};
    t.categories = {"all"};
    t.has_status = true;
    t.bump_generation = true;
    t.clear_status_on_create = true;
    t.set_defaults = hpa_defaults;
    t.validate = hpa_validate;
    t.table_columns = hpa_columns;
    t.table_cells = hpa_cells;
    t.unknown_fields = hpa_unknown;
    return t;
  }();
  static const ResourceType lease = [] {
    ResourceType t;
    t.group = "coordination.k8s.io";
    t.version = "v1";
    t.kind = "Lease";
    t.plural = "leases";
    t.singular = "lease";
    t.validate = lease_validate;
    t.table_columns = lease_columns;
    t.table_cells = lease_cells;
    t.unknown_fields = lease_unknown;
    return t;
  }();
  static const ResourceType dns = [] {
    ResourceType t;
    t.group = "minik8s.io";
    t.version = "v1";
    t.kind = "DNS";
    t.plural = "dnses";
    t.singular = "dns";
    t.bump_generation = true;
    t.validate = dns_validate;
    t.table_columns = dns_columns;
    t.table_cells = dns_cells;
    t.unknown_fields = dns_unknown;
    return t;
  }();
  out.push_back(&hpa);
  out.push_back(&lease);
  out.push_back(&dns);
}

}  // namespace minik8s::api
