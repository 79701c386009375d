// serverless.minik8s.io/v1 Workflow, WorkflowRun and Trigger
// (docs/workflows.md). The table entries hold what is a pure function of one
// object (defaults, field validation, the Table); what needs other objects
// or mk_workflow (the state machine, schedules, the Workflow a run names)
// is in the strategies: src/apiserver/kinds/{workflow,trigger}_strategy.cc.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "kinds.h"
#include "minik8s/api/address_rules.h"
#include "minik8s/api/selector.h"
#include "minik8s/util/time.h"
#include "validation.h"

namespace minik8s::api {
namespace {

using tbl::age;
using tbl::col;
using v::get;
using v::has;
using v::str;

constexpr size_t kMaxInputBytes = 1024 * 1024;  // spec.input, serialized
constexpr size_t kMaxPathBytes = 1024;           // fileChange.path
constexpr size_t kMaxPatternBytes = 255;         // fileChange.pattern
constexpr size_t kMaxScheduleBytes = 256;

const char* const kFileEvents[] = {"created", "modified", "deleted"};
const char* const kObjectEvents[] = {"added", "modified", "deleted"};

Json& member_object(Json& obj, const char* key) {
  if (!obj.contains(key) || obj[key].is_null()) obj[key] = Json::object();
  return obj[key];
}

// The serialized size of a JSON value (invalid UTF-8 never throws).
size_t json_size(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace).size(); }

// "spec: Required value" / "spec: Invalid value: ...: must be an object".
// Returns the spec object or null after appending the error.
const Json* want_spec(const Json& obj, FieldErrors& errs) {
  const Json& spec = get(obj, "spec");
  if (spec.is_object()) return &spec;
  errs.push_back({"spec", spec.is_null() ? std::string(v::required()) : v::invalid(spec, "must be an object")});
  return nullptr;
}

// A required string member; returns it or "" after appending the error.
std::string required_string(const Json& obj, const char* key, const std::string& path, FieldErrors& errs) {
  if (!has(obj, key)) {
    errs.push_back({path, v::required()});
    return "";
  }
  if (!v::want_string(obj, key, path, errs)) return "";
  std::string s = obj[key].get<std::string>();
  if (s.empty()) errs.push_back({path, v::required()});
  return s;
}

// An object name another object refers to (a Function or Workflow in the
// same namespace): a DNS-1123 label, as their own names.
void check_ref_name(const Json& obj, const char* key, const std::string& path, FieldErrors& errs) {
  std::string name = required_string(obj, key, path, errs);
  if (name.empty()) return;
  if (auto why = check_dns1123_label(name); !why.empty()) errs.push_back({path, v::invalid(name, why)});
}

void int_in_range(const Json& obj, const char* key, const std::string& path, long long lo, long long hi,
                  FieldErrors& errs) {
  if (!v::want_int(obj, key, path, errs)) return;
  long long x = obj[key].get<long long>();
  if (x < lo || x > hi) {
    errs.push_back({path, v::invalid(obj[key], "must be between " + std::to_string(lo) + " and " +
                                                   std::to_string(hi) + ", inclusive")});
  }
}

void check_input_size(const Json& parent, const char* key, const std::string& path, FieldErrors& errs) {
  if (!parent.is_object() || !parent.contains(key)) return;
  size_t n = json_size(parent[key]);
  if (n > kMaxInputBytes) {
    errs.push_back({path, "Too long: may not be more than 1048576 bytes (1 MiB) serialized, is " +
                              std::to_string(n)});
  }
}

// An array of distinct values from `allowed`, not empty (defaults fill an
// absent one).
template <size_t N>
void check_enum_set(const Json& obj, const char* key, const std::string& path, const char* const (&allowed)[N],
                    FieldErrors& errs) {
  if (!v::want_array(obj, key, path, errs)) return;
  const Json& a = obj[key];
  if (a.empty()) {
    errs.push_back({path, "Required value: at least one of the events"});
    return;
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < a.size(); ++i) {
    const std::string p = v::idx(path, i);
    bool ok = false;
    if (a[i].is_string()) {
      for (const char* s : allowed) ok = ok || a[i].get<std::string>() == s;
    }
    if (!ok) {
      std::string m = "Unsupported value: " + (a[i].is_string() ? "\"" + a[i].get<std::string>() + "\"" : a[i].dump()) +
                      ": supported values: ";
      for (size_t j = 0; j < N; ++j) m += (j ? ", \"" : "\"") + std::string(allowed[j]) + "\"";
      errs.push_back({p, m});
    } else if (!seen.insert(a[i].get<std::string>()).second) {
      errs.push_back({p, v::duplicate(a[i])});
    }
  }
}

Json all_of(const char* const (&values)[3]) { return Json::array({values[0], values[1], values[2]}); }

// ------------------------------------------------------------------ Workflow

void workflow_defaults(Json& obj) {
  if (!obj.is_object()) return;
  Json& spec = member_object(obj, "spec");
  if (!spec.is_object()) return;
  if (!has(spec, "maxSteps")) spec["maxSteps"] = 1000;
  if (!has(spec, "timeoutSeconds")) spec["timeoutSeconds"] = 600;
}

// The shape only (ranges as src/workflow/machine.cc); the state machine
// itself (targets, reachability, rules, JSONPaths) is checked by
// workflow::validate_machine in the Workflow strategy.
void workflow_validate(const Json& obj, const Json*, FieldErrors& errs) {
  // A label: runs carry it as the value of serverless.minik8s.io/workflow.
  validate_object_meta(obj, *find_kind("serverless.minik8s.io/v1", "Workflow"), true, errs);
  const Json* spec = want_spec(obj, errs);
  if (!spec) return;
  required_string(*spec, "startAt", "spec.startAt", errs);
  if (!has(*spec, "states")) {
    errs.push_back({"spec.states", v::required()});
  } else if (v::want_object(*spec, "states", "spec.states", errs) && (*spec)["states"].empty()) {
    errs.push_back({"spec.states", "Required value: at least one state"});
  }
  int_in_range(*spec, "maxSteps", "spec.maxSteps", 1, 1000000, errs);
  int_in_range(*spec, "timeoutSeconds", "spec.timeoutSeconds", 1, 604800, errs);
}

std::vector<TableColumn> workflow_columns() {
  return {
      col("STATES", "integer", "The number of top-level states"),
      col("START", "string", "The first state (spec.startAt)"),
      tbl::age_column(),
  };
}

Json workflow_cells(const Json& obj) {
  const Json& spec = get(obj, "spec");
  const Json& states = get(spec, "states");
  long long n = states.is_object() ? static_cast<long long>(states.size()) : 0;
  return Json::array({n, tbl::or_none(str(spec, "startAt")), age(obj)});
}

void workflow_unknown(const Json& obj, std::vector<std::string>& paths) {
  unknown_fields_for("serverless.minik8s.io", "Workflow", obj, paths);
}

// --------------------------------------------------------------- WorkflowRun

void run_defaults(Json& obj) {
  if (!obj.is_object()) return;
  Json& spec = member_object(obj, "spec");
  if (!spec.is_object()) return;
  if (!has(spec, "input")) spec["input"] = Json::object();
  if (!has(spec, "cancel")) spec["cancel"] = false;
}

void run_validate(const Json& obj, const Json* old, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("serverless.minik8s.io/v1", "WorkflowRun"), false, errs);
  const Json* spec = want_spec(obj, errs);
  if (!spec) return;
  check_ref_name(*spec, "workflow", "spec.workflow", errs);
  check_input_size(*spec, "input", "spec.input", errs);
  v::want_bool(*spec, "cancel", "spec.cancel", errs);
  if (!old) return;
  // What a run executes is fixed when it is created; it can only be stopped.
  const Json& old_spec = get(*old, "spec");
  if (get(*spec, "workflow") != get(old_spec, "workflow")) {
    errs.push_back({"spec.workflow", v::invalid(get(*spec, "workflow"), "field is immutable")});
  }
  if (get(*spec, "input") != get(old_spec, "input")) {
    errs.push_back({"spec.input", "Invalid value: the input of a run: field is immutable"});
  }
  const Json& was = get(old_spec, "cancel");
  const Json& now = get(*spec, "cancel");
  if (was.is_boolean() && was.get<bool>() && !(now.is_boolean() && now.get<bool>())) {
    errs.push_back({"spec.cancel", v::invalid(now, "a cancelled run stays cancelled (spec.cancel may only change "
                                                   "from false to true)")});
  }
}

// "1.2s" under a minute, else "3m4s" / "1h0m5s" (Go's Duration.String, whole seconds).
std::string run_duration(const Json& status) {
  SysTime start, end;
  if (!parse_rfc3339(str(status, "startTime"), &start)) return "";
  if (!parse_rfc3339(str(status, "completionTime"), &end)) end = real_clock().now();
  double secs = std::chrono::duration<double>(end - start).count();
  if (secs < 0) secs = 0;
  char buf[48];
  if (secs < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", secs);
    std::string s = buf;
    if (s.size() > 3 && s.compare(s.size() - 3, 3, ".0s") == 0) s.erase(s.size() - 3, 2);
    return s;
  }
  long long t = static_cast<long long>(std::floor(secs));
  long long h = t / 3600, m = (t % 3600) / 60, sec = t % 60;
  if (h > 0) {
    std::snprintf(buf, sizeof buf, "%lldh%lldm%llds", h, m, sec);
  } else {
    std::snprintf(buf, sizeof buf, "%lldm%llds", m, sec);
  }
  return buf;
}

std::vector<TableColumn> run_columns() {
  return {
      col("WORKFLOW", "string", "The Workflow the run executes"),
      col("PHASE", "string", "Pending, Running, Succeeded, Failed or Cancelled"),
      col("STEPS", "integer", "The number of step records"),
      col("DURATION", "string", "Completion (or now, while running) minus start"),
      tbl::age_column(),
  };
}

Json run_cells(const Json& obj) {
  const Json& spec = get(obj, "spec");
  const Json& status = get(obj, "status");
  std::string phase = str(status, "phase");
  const Json& steps = get(status, "steps");
  long long n = steps.is_array() ? static_cast<long long>(steps.size()) : 0;
  return Json::array({tbl::or_none(str(spec, "workflow")), phase.empty() ? "Pending" : phase, n,
                      tbl::or_none(run_duration(status)), age(obj)});
}

void run_unknown(const Json& obj, std::vector<std::string>& paths) {
  unknown_fields_for("serverless.minik8s.io", "WorkflowRun", obj, paths);
}

// ------------------------------------------------------------------- Trigger

void trigger_defaults(Json& obj) {
  if (!obj.is_object()) return;
  Json& spec = member_object(obj, "spec");
  if (!spec.is_object()) return;
  if (!has(spec, "suspend")) spec["suspend"] = false;
  if (!has(spec, "concurrencyPolicy")) spec["concurrencyPolicy"] = "Allow";
  if (spec.contains("fileChange") && spec["fileChange"].is_object()) {
    Json& fc = spec["fileChange"];
    if (!has(fc, "events")) fc["events"] = all_of(kFileEvents);
    if (!has(fc, "pattern")) fc["pattern"] = "*";
    if (!has(fc, "includeContent")) fc["includeContent"] = false;
  }
  if (spec.contains("objectChange") && spec["objectChange"].is_object()) {
    Json& oc = spec["objectChange"];
    if (!has(oc, "on")) oc["on"] = all_of(kObjectEvents);
    // A cluster-scoped kind (Node, Namespace) has no namespace to default.
    const ResourceType* t = find_kind(str(oc, "apiVersion"), str(oc, "kind"));
    const std::string ns = str(get(obj, "metadata"), "namespace");
    if (!has(oc, "namespace") && (t == nullptr || t->namespaced) && !ns.empty()) oc["namespace"] = ns;
  }
}


// A glob on a file name: `*`, `?` and file-name characters, no '/'.
std::string check_pattern(const std::string& p) {
  if (p.empty()) return "must not be empty";
  if (p.size() > kMaxPatternBytes) return "must be no more than 255 bytes";
  for (char c : p) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    for (char x : std::string("._-+@=,~%*?")) ok = ok || c == x;
    if (!ok) return "may contain only letters, digits, the glob characters '*' and '?' and any of ._-+@=,~%";
  }
  return "";
}

void validate_file_change(const Json& fc, FieldErrors& errs) {
  const std::string base = "spec.fileChange";
  std::string node = required_string(fc, "node", base + ".node", errs);
  if (!node.empty()) {
    if (auto why = check_dns1123_subdomain(node); !why.empty()) errs.push_back({base + ".node", v::invalid(node, why)});
  }
  std::string path = required_string(fc, "path", base + ".path", errs);
  if (!path.empty()) {
    if (auto why = watch_path_error(path); !why.empty()) {
      errs.push_back({base + ".path", path.size() > kMaxPathBytes ? "Too long: " + why : v::invalid(path, why)});
    }
  }
  check_enum_set(fc, "events", base + ".events", kFileEvents, errs);
  if (v::want_string(fc, "pattern", base + ".pattern", errs)) {
    std::string p = fc["pattern"].get<std::string>();
    if (auto why = check_pattern(p); !why.empty()) {
      errs.push_back({base + ".pattern", p.size() > kMaxPatternBytes ? "Too long: " + why : v::invalid(p, why)});
    }
  }
  v::want_bool(fc, "includeContent", base + ".includeContent", errs);
}

void validate_object_change(const Json& oc, const Json& spec, FieldErrors& errs) {
  const std::string base = "spec.objectChange";
  std::string api_version = required_string(oc, "apiVersion", base + ".apiVersion", errs);
  std::string kind = required_string(oc, "kind", base + ".kind", errs);
  const ResourceType* t = nullptr;
  if (!api_version.empty() && !kind.empty()) {
    t = find_kind(api_version, kind);
    if (t == nullptr) {
      errs.push_back({base + ".kind", v::invalid(kind, "the server serves no kind " + kind + " in " + api_version)});
    } else if (t->kind == "Event" || t->kind == "Trigger" ||
               (t->kind == "WorkflowRun" && has(get(spec, "target"), "workflow"))) {
      // Each firing writes a Trigger status and an Event, and a workflow
      // target creates a WorkflowRun: watching those would fire forever.
      errs.push_back({base + ".kind", v::forbidden("a trigger may not watch " + t->kind +
                                                  (t->kind == "WorkflowRun" ? "s when its target is a workflow"
                                                                            : "s (its own firings change them)"))});
    }
  }
  if (v::want_string(oc, "namespace", base + ".namespace", errs)) {
    std::string ns = oc["namespace"].get<std::string>();
    if (t != nullptr && !t->namespaced && !ns.empty()) {
      errs.push_back({base + ".namespace", v::forbidden(t->kind + " is not namespaced")});
    } else if (t == nullptr || t->namespaced) {
      if (ns.empty()) {
        errs.push_back({base + ".namespace", v::required()});
      } else if (auto why = check_dns1123_label(ns); !why.empty()) {
        errs.push_back({base + ".namespace", v::invalid(ns, why)});
      }
    }
  }
  if (v::want_string(oc, "labelSelector", base + ".labelSelector", errs)) {
    std::string sel = oc["labelSelector"].get<std::string>();
    if (auto parsed = LabelSelector::parse(sel); !parsed) {
      errs.push_back({base + ".labelSelector", v::invalid(sel, parsed.status().message())});
    }
  }
  check_enum_set(oc, "on", base + ".on", kObjectEvents, errs);
}

// Pure checks; spec.schedule's syntax is the Trigger strategy's
// (workflow::Schedule::parse lives in mk_workflow).
void trigger_validate(const Json& obj, const Json*, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("serverless.minik8s.io/v1", "Trigger"), false, errs);
  const Json* specp = want_spec(obj, errs);
  if (!specp) return;
  const Json& spec = *specp;

  if (!has(spec, "target")) {
    errs.push_back({"spec.target", "Required value: one of spec.target.function and spec.target.workflow"});
  } else if (v::want_object(spec, "target", "spec.target", errs)) {
    const Json& target = spec["target"];
    bool fn = has(target, "function"), wf = has(target, "workflow");
    if (fn && wf) {
      errs.push_back({"spec.target", v::forbidden("may not specify more than one of function and workflow")});
    } else if (!fn && !wf) {
      errs.push_back({"spec.target", "Required value: one of spec.target.function and spec.target.workflow"});
    }
    if (fn) check_ref_name(target, "function", "spec.target.function", errs);
    if (wf) check_ref_name(target, "workflow", "spec.target.workflow", errs);
  }
  if (has(spec, "input")) {
    if (!spec["input"].is_object()) {
      errs.push_back({"spec.input", "Invalid value: must be an object (the event is merged over it)"});
    } else {
      check_input_size(spec, "input", "spec.input", errs);
    }
  }
  v::want_bool(spec, "suspend", "spec.suspend", errs);
  if (v::want_string(spec, "concurrencyPolicy", "spec.concurrencyPolicy", errs)) {
    std::string p = str(spec, "concurrencyPolicy");
    if (p != "Allow" && p != "Forbid") {
      errs.push_back({"spec.concurrencyPolicy", v::unsupported(spec["concurrencyPolicy"], {"Allow", "Forbid"})});
    }
  }

  // Exactly one source.
  std::vector<std::string> sources;
  for (const char* k : {"schedule", "fileChange", "objectChange"}) {
    if (has(spec, k)) sources.push_back(k);
  }
  if (sources.empty()) {
    errs.push_back({"spec", "Required value: exactly one of spec.schedule, spec.fileChange and spec.objectChange"});
  }
  for (size_t i = 1; i < sources.size(); ++i) {
    errs.push_back({"spec." + sources[i],
                    v::forbidden("may not be specified with spec." + sources[0] +
                                 " (exactly one of schedule, fileChange and objectChange)")});
  }
  if (v::want_string(spec, "schedule", "spec.schedule", errs)) {
    const std::string& s = spec["schedule"].get_ref<const std::string&>();
    if (s.size() > kMaxScheduleBytes) errs.push_back({"spec.schedule", "Too long: may not be more than 256 bytes"});
  }
  if (v::want_object(spec, "fileChange", "spec.fileChange", errs)) validate_file_change(spec["fileChange"], errs);
  if (v::want_object(spec, "objectChange", "spec.objectChange", errs)) {
    validate_object_change(spec["objectChange"], spec, errs);
  }
}

std::string trigger_type(const Json& spec) {
  for (const char* k : {"schedule", "fileChange", "objectChange"}) {
    if (has(spec, k)) return k;
  }
  return "";
}

std::string trigger_target(const Json& spec) {
  const Json& target = get(spec, "target");
  if (!str(target, "function").empty()) return "function/" + str(target, "function");
  if (!str(target, "workflow").empty()) return "workflow/" + str(target, "workflow");
  return "";
}

std::vector<TableColumn> trigger_columns() {
  return {
      col("TYPE", "string", "schedule, fileChange or objectChange"),
      col("TARGET", "string", "function/NAME or workflow/NAME"),
      col("LAST FIRED", "string", "How long ago the trigger last fired"),
      col("FIRINGS", "integer", "How many times the trigger fired"),
  };
}

Json trigger_cells(const Json& obj) {
  const Json& spec = get(obj, "spec");
  const Json& status = get(obj, "status");
  std::string last = "<none>";
  SysTime t;
  if (parse_rfc3339(str(status, "lastFired"), &t)) {
    auto d = std::chrono::duration_cast<std::chrono::seconds>(real_clock().now() - t);
    last = human_duration(d);
  }
  return Json::array({tbl::or_none(trigger_type(spec)), tbl::or_none(trigger_target(spec)), last,
                      tbl::num(status, "firings")});
}

void trigger_unknown(const Json& obj, std::vector<std::string>& paths) {
  unknown_fields_for("serverless.minik8s.io", "Trigger", obj, paths);
}

}  // namespace

void add_workflow_kinds(std::vector<const ResourceType*>& out) {
  auto base = [](const char* kind, const char* plural, const char* singular) {
    ResourceType t;
    t.group = "serverless.minik8s.io";
    t.version = "v1";
    t.kind = kind;
    t.plural = plural;
    t.singular = singular;
    t.has_status = true;
    t.bump_generation = true;
    t.clear_status_on_create = true;
    return t;
  };
  static const ResourceType workflow = [&] {
    ResourceType t = base("Workflow", "workflows", "workflow");
    t.short_names = {"wf"};
    t.set_defaults = workflow_defaults;
    t.validate = workflow_validate;
    t.table_columns = workflow_columns;
    t.table_cells = workflow_cells;
    t.unknown_fields = workflow_unknown;
    return t;
  }();
  static const ResourceType run = [&] {
    ResourceType t = base("WorkflowRun", "workflowruns", "workflowrun");
    t.short_names = {"wfr"};
    t.set_defaults = run_defaults;
    t.validate = run_validate;
    t.table_columns = run_columns;
    t.table_cells = run_cells;
    t.unknown_fields = run_unknown;
    return t;
  }();
  static const ResourceType trigger = [&] {
    ResourceType t = base("Trigger", "triggers", "trigger");
    t.set_defaults = trigger_defaults;
    t.validate = trigger_validate;
    t.table_columns = trigger_columns;
    t.table_cells = trigger_cells;
    t.unknown_fields = trigger_unknown;
    return t;
  }();
  out.push_back(&workflow);
  out.push_back(&run);
  out.push_back(&trigger);
}

}  // namespace minik8s::api
