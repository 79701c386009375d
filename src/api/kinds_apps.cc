// apps/v1 kinds: Deployment and ReplicaSet (both with status and scale).
#include <nlohmann/json.hpp>

#include "kinds.h"
#include "minik8s/api/selector.h"
#include "validation.h"

namespace minik8s::api {
namespace {

using tbl::age;
using tbl::col;
using v::get;
using v::has;
using v::str;

void default_replicas(Json& spec) {
  if (!has(spec, "replicas")) spec["replicas"] = 1;
}

void replicaset_defaults(Json& obj) {
  if (!obj.is_object()) return;
  if (!obj.contains("spec") || !obj["spec"].is_object()) obj["spec"] = Json::object();
  Json& spec = obj["spec"];
  default_replicas(spec);
  if (spec.contains("template")) v::default_pod_template(spec["template"]);
}

void deployment_defaults(Json& obj) {
  if (!obj.is_object()) return;
  if (!obj.contains("spec") || !obj["spec"].is_object()) obj["spec"] = Json::object();
  Json& spec = obj["spec"];
  default_replicas(spec);
  if (!spec.contains("strategy") || !spec["strategy"].is_object()) {
    spec["strategy"] = Json::object();
  }
  Json& st = spec["strategy"];
  if (!has(st, "type")) st["type"] = "RollingUpdate";
  if (str(st, "type") == "RollingUpdate") {
    if (!st.contains("rollingUpdate") || !st["rollingUpdate"].is_object()) {
      st["rollingUpdate"] = Json::object();
    }
    Json& ru = st["rollingUpdate"];
    if (!has(ru, "maxSurge")) ru["maxSurge"] = "25%";
    if (!has(ru, "maxUnavailable")) ru["maxUnavailable"] = "25%";
  }
  if (!has(spec, "revisionHistoryLimit")) spec["revisionHistoryLimit"] = 10;
  if (!has(spec, "progressDeadlineSeconds")) spec["progressDeadlineSeconds"] = 600;
  if (spec.contains("template")) v::default_pod_template(spec["template"]);
}

// Shared by Deployment and ReplicaSet.
// spec.<k>: an int32 ≥ 0 when present (Kubernetes' type for these fields; a
// larger value would wrap in the controllers).
void want_int32(const Json& spec, const char* k, FieldErrors& errs) {
  std::string p = std::string("spec.") + k;
  if (!v::want_int(spec, k, p, errs)) return;
  long long n = spec[k].get<long long>();
  if (n < 0) errs.push_back({p, v::invalid(spec[k], "must be greater than or equal to 0")});
  if (n > 2147483647LL) errs.push_back({p, v::invalid(spec[k], "must be less than or equal to 2147483647")});
}

void validate_workload(const Json& obj, const Json* old, const char* kind, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("apps/v1", kind), false, errs);
  const Json& spec = get(obj, "spec");
  if (!spec.is_object()) {
    errs.push_back({"spec", v::required()});
    return;
  }
  for (const char* k : {"replicas", "minReadySeconds"}) want_int32(spec, k, errs);
  const Json& sel = get(spec, "selector");
  bool selector_ok = false;
  if (sel.is_null()) {
    errs.push_back({"spec.selector", v::required()});
  } else {
    size_t before = errs.size();
    v::validate_label_selector(sel, "spec.selector", errs);
    bool empty = !sel.is_object() ||
                 ((!get(sel, "matchLabels").is_object() || sel["matchLabels"].empty()) &&
                  (!get(sel, "matchExpressions").is_array() || sel["matchExpressions"].empty()));
    if (empty && errs.size() == before) {
      errs.push_back(
          {"spec.selector", "Invalid value: {}: empty selector is invalid for deployment"});
    }
    selector_ok = errs.size() == before && !empty;
  }
  const Json& tmpl = get(spec, "template");
  if (!tmpl.is_object()) {
    errs.push_back({"spec.template", v::required()});
  } else {
    const Json& labels = get(get(tmpl, "metadata"), "labels");
    if (v::want_object(get(tmpl, "metadata"), "labels", "spec.template.metadata.labels", errs)) {
      v::validate_labels(labels, "spec.template.metadata.labels", errs);
    }
    if (selector_ok) {
      auto s = LabelSelector::from_json(sel);
      if (s.is_ok() && !s->matches_json(labels)) {
        errs.push_back({"spec.template.metadata.labels",
                        v::invalid(labels.is_object() ? labels : Json::object(),
                                   "`selector` does not match template `labels`")});
      }
    }
    v::validate_pod_spec(get(tmpl, "spec"), "spec.template.spec", errs);
    const Json& ps = get(tmpl, "spec");
    if (has(ps, "restartPolicy") && str(ps, "restartPolicy") != "Always") {
      errs.push_back(
          {"spec.template.spec.restartPolicy", v::unsupported(ps["restartPolicy"], {"Always"})});
    }
    if (has(ps, "activeDeadlineSeconds")) {
      errs.push_back({"spec.template.spec.activeDeadlineSeconds",
                      v::forbidden("activeDeadlineSeconds in ReplicaSet is not Supported")});
    }
  }
  if (old && old->is_object()) {
    const Json& old_sel = get(get(*old, "spec"), "selector");
    if (!old_sel.is_null() && old_sel != sel) {
      errs.push_back({"spec.selector", v::invalid(sel, "field is immutable")});
    }
  }
}

void replicaset_validate(const Json& obj, const Json* old, FieldErrors& errs) {
  validate_workload(obj, old, "ReplicaSet", errs);
}

void deployment_validate(const Json& obj, const Json* old, FieldErrors& errs) {
  validate_workload(obj, old, "Deployment", errs);
  const Json& spec = get(obj, "spec");
  for (const char* k : {"revisionHistoryLimit", "progressDeadlineSeconds"}) want_int32(spec, k, errs);
  if (has(spec, "progressDeadlineSeconds") && spec["progressDeadlineSeconds"].is_number_integer() &&
      get(spec, "minReadySeconds").is_number_integer() &&
      spec["progressDeadlineSeconds"].get<long long>() <=
          spec["minReadySeconds"].get<long long>()) {
    errs.push_back(
        {"spec.progressDeadlineSeconds",
         v::invalid(spec["progressDeadlineSeconds"], "must be greater than minReadySeconds")});
  }
  const Json& st = get(spec, "strategy");
  if (st.is_null()) return;
  std::string type = str(st, "type");
  if (has(st, "type") && type != "RollingUpdate" && type != "Recreate") {
    errs.push_back(
        {"spec.strategy.type", v::unsupported(st["type"], {"Recreate", "RollingUpdate"})});
  }
  const Json& ru = get(st, "rollingUpdate");
  if (type == "Recreate" && !ru.is_null()) {
    errs.push_back({"spec.strategy.rollingUpdate",
                    v::forbidden("may not be specified when strategy `type` is 'Recreate'")});
    return;
  }
  if (!ru.is_object()) return;
  int vals[2] = {0, 0};
  bool ok[2] = {true, true};
  const char* keys[2] = {"maxUnavailable", "maxSurge"};
  for (int i = 0; i < 2; ++i) {
    const Json& x = get(ru, keys[i]);
    std::string p = std::string("spec.strategy.rollingUpdate.") + keys[i];
    if (x.is_null()) {
      vals[i] = 1;  // defaulted later to 25%: treat as non-zero
      continue;
    }
    bool percent = false;
    if (!v::int_or_percent(x, &vals[i], &percent)) {
      ok[i] = false;
      errs.push_back({p, v::invalid(x,
                                    "a valid percent string must be a numeric string followed "
                                    "by an ending '%' (e.g. '1%',  or '93%', regex used for "
                                    "validation is '[0-9]+%')")});
      continue;
    }
    if (vals[i] < 0) {
      ok[i] = false;
      errs.push_back({p, v::invalid(x, "must be greater than or equal to 0")});
    } else if (percent && vals[i] > 100 && i == 0) {
      ok[i] = false;
      errs.push_back({p, v::invalid(x, "must not be greater than 100%")});
    }
  }
  if (ok[0] && ok[1] && vals[0] == 0 && vals[1] == 0) {
    errs.push_back({"spec.strategy.rollingUpdate.maxUnavailable",
                    v::invalid(get(ru, "maxUnavailable"), "may not be 0 when `maxSurge` is 0")});
  }
}

std::vector<TableColumn> deployment_columns() {
  return {
      col("READY", "string", "Number of the pod with ready state"),
      col("UP-TO-DATE", "integer",
          "Total number of non-terminated pods targeted by this deployment that have the desired "
          "template spec."),
      col("AVAILABLE", "integer",
          "Total number of available pods (ready for at least minReadySeconds) targeted by this "
          "deployment."),
      tbl::age_column(),
      col("CONTAINERS", "string", "Names of each container in the template.", 1),
      col("IMAGES", "string", "Images referenced by each container in the template.", 1),
      col("SELECTOR", "string",
          "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be "
          "the ones affected by this deployment.",
          1),
  };
}

Json deployment_cells(const Json& obj) {
  const Json& spec = get(obj, "spec");
  const Json& status = get(obj, "status");
  const Json& ps = get(get(spec, "template"), "spec");
  return Json::array({std::to_string(tbl::num(status, "readyReplicas")) + "/" +
                          std::to_string(tbl::num(spec, "replicas")),
                      tbl::num(status, "updatedReplicas"), tbl::num(status, "availableReplicas"),
                      age(obj), tbl::container_names(ps), tbl::container_images(ps),
                      tbl::selector_string(get(spec, "selector"))});
}

std::vector<TableColumn> replicaset_columns() {
  return {
      col("DESIRED", "integer", "Number of desired pods."),
      col("CURRENT", "integer", "Number of actual replicas."),
      col("READY", "integer", "The number of ready replicas for this replica set."),
      tbl::age_column(),
      col("CONTAINERS", "string", "Names of each container in the template.", 1),
      col("IMAGES", "string", "Images referenced by each container in the template.", 1),
      col("SELECTOR", "string", "Label query over pods that should match the replica count.", 1),
  };
}

Json replicaset_cells(const Json& obj) {
  const Json& spec = get(obj, "spec");
  const Json& status = get(obj, "status");
  const Json& ps = get(get(spec, "template"), "spec");
  return Json::array({tbl::num(spec, "replicas"), tbl::num(status, "replicas"),
                      tbl::num(status, "readyReplicas"), age(obj), tbl::container_names(ps),
                      tbl::container_images(ps), tbl::selector_string(get(spec, "selector"))});
}

void deployment_unknown(const Json& obj, std::vector<std::string>& paths) {
  unknown_fields_for("apps", "Deployment", obj, paths);
}
void replicaset_unknown(const Json& obj, std::vector<std::string>& paths) {
  unknown_fields_for("apps", "ReplicaSet", obj, paths);
}

ResourceType workload(const char* kind, const char* plural, const char* singular,
                      const char* short_name) {
  ResourceType t;
  t.group = "apps";
  t.version = "v1";
  t.kind = kind;
  t.plural = plural;
  t.singular = singular;
  t.namespaced = true;
  t.short_names = {short_name};
  t.categories = {"all"};
  t.has_status = true;
  t.has_scale = true;
  t.bump_generation = true;
  t.clear_status_on_create = true;
  return t;
}

}  // namespace

void add_apps_kinds(std::vector<const ResourceType*>& out) {
  static const ResourceType deploy = [] {
    ResourceType t = workload("Deployment", "deployments", "deployment", "deploy");
    t.set_defaults = deployment_defaults;
    t.validate = deployment_validate;
    t.table_columns = deployment_columns;
    t.table_cells = deployment_cells;
    t.unknown_fields = deployment_unknown;
    return t;
  }();
  static const ResourceType rs = [] {
    ResourceType t = workload("ReplicaSet", "replicasets", "replicaset", "rs");
    t.set_defaults = replicaset_defaults;
    t.validate = replicaset_validate;
    t.table_columns = replicaset_columns;
    t.table_cells = replicaset_cells;
    t.unknown_fields = replicaset_unknown;
    return t;
  }();
  out.push_back(&deploy);
  out.push_back(&rs);
}

}  // namespace minik8s::api
