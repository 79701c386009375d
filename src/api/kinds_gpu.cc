// minik8s.io/v1 GPUJob and SlurmCluster (docs/gpu.md "GPUJob",
// "SlurmCluster"). The table entries hold what is a pure function of one
// object: defaults, field validation (the grammars of docs/gpu.md: every
// string here ends up on an sbatch command line, in a batch script, a
// slurm.conf or a path, so each is checked by a whitelist, and quoted again
// where written), update rules and the Table. Whether the blobs a GPUJob
// names exist, its finalizer and blob removal need the server: the GPUJob
// strategy (src/apiserver/kinds/gpujob_strategy.cc).
#include <arpa/inet.h>

#include <chrono>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kinds.h"
#include "minik8s/api/slurm_rules.h"
#include "minik8s/util/time.h"
#include "validation.h"

namespace minik8s::api {
namespace {

using tbl::age;
using tbl::col;
using v::get;
using v::has;
using v::str;

constexpr size_t kMaxJobNameLength = 53;        // "<name>-submitter" stays a label
constexpr size_t kMaxCommandBytes = 64 * 1024;  // spec.build, spec.run
constexpr size_t kMaxSbatchArgs = 64;
constexpr size_t kMaxImageLength = 512;

const char* const kPhases[] = {"Pending",   "Submitted", "Queued",   "Running",
                               "Completed", "Failed",    "Cancelled"};

Json& member_object(Json& obj, const char* key) {
  if (!obj.contains(key) || obj[key].is_null()) obj[key] = Json::object();
  return obj[key];
}

bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool digit(char c) { return c >= '0' && c <= '9'; }

// A Slurm or SlurmctldHost host name: starts with a letter or digit, then
// [A-Za-z0-9._-], ≤ 64.
std::string check_hostname_token(const std::string& s) {
  if (auto why = slurm_token_error(s); !why.empty()) return why;
  if (!alnum(s[0])) return "must start with a letter or digit";
  return "";
}

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// A shell command string: present as a string, not empty (when required),
// ≤ 64 KiB, no NUL.
void check_command(const Json& spec, const char* key, const std::string& path, bool required,
                   FieldErrors& errs) {
  if (!has(spec, key)) {
    if (required) errs.push_back({path, v::required()});
    return;
  }
  if (!v::want_string(spec, key, path, errs)) return;
  const std::string& s = spec[key].get_ref<const std::string&>();
  if (s.empty()) {
    if (required) errs.push_back({path, v::required()});
    return;
  }
  if (s.size() > kMaxCommandBytes) {
    errs.push_back({path, "Too long: may not be more than 65536 bytes (64 KiB), is " +
                              std::to_string(s.size())});
  } else if (s.find('\0') != std::string::npos) {
    errs.push_back({path, "Invalid value: must not contain a NUL character"});
  }
}

void int_in_range(const Json& obj, const char* key, const std::string& path, long long lo,
                  long long hi, FieldErrors& errs) {
  if (!v::want_int(obj, key, path, errs)) return;
  long long x = obj[key].get<long long>();
  if (x < lo || x > hi) {
    errs.push_back({path, v::invalid(obj[key], "must be between " + std::to_string(lo) + " and " +
                                                   std::to_string(hi) + ", inclusive")});
  }
}

// A string member checked by `check` ("" when valid); required when asked.
template <typename Check>
void string_field(const Json& obj, const char* key, const std::string& path, bool required,
                  Check check, FieldErrors& errs) {
  if (!has(obj, key)) {
    if (required) errs.push_back({path, v::required()});
    return;
  }
  if (!v::want_string(obj, key, path, errs)) return;
  const std::string& s = obj[key].get_ref<const std::string&>();
  if (s.empty() && required) {
    errs.push_back({path, v::required()});
    return;
  }
  if (auto why = check(s); !why.empty()) errs.push_back({path, v::invalid(s, why)});
}

bool is_blob_hash(const std::string& s) {
  static const std::string prefix = "sha256:";
  if (s.size() != prefix.size() + 64 || s.compare(0, prefix.size(), prefix) != 0) return false;
  for (size_t i = prefix.size(); i < s.size(); ++i) {
    char c = s[i];
    if (!(digit(c) || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string check_blob_hash(const std::string& s) {
  return is_blob_hash(s)
             ? ""
             : "must be \"sha256:\" followed by 64 lower-case hex digits (the hash an upload to "
               "the blob store returned)";
}

const Json* want_spec(const Json& obj, FieldErrors& errs) {
  const Json& spec = get(obj, "spec");
  if (spec.is_object()) return &spec;
  errs.push_back({"spec", spec.is_null() ? std::string(v::required())
                                         : v::invalid(spec, "must be an object")});
  return nullptr;
}

// -------------------------------------------------------------------- GPUJob

void gpujob_initial_status(Json& obj) {
  if (obj.is_object()) obj["status"] = Json{{"phase", "Pending"}};
}

void gpujob_defaults(Json& obj) {
  if (!obj.is_object()) return;
  Json& spec = member_object(obj, "spec");
  if (!spec.is_object()) return;
  if (!has(spec, "cancel")) spec["cancel"] = false;
  Json& slurm = member_object(spec, "slurm");
  if (slurm.is_object() && !has(slurm, "cluster")) slurm["cluster"] = "default";
}

void validate_source(const Json& spec, FieldErrors& errs) {
  if (!v::want_object(spec, "source", "spec.source", errs)) return;
  const Json& src = spec["source"];
  string_field(src, "hash", "spec.source.hash", true, check_blob_hash, errs);
  string_field(
      src, "filename", "spec.source.filename", true,
      [](const std::string& s) { return slurm_file_name_error(s, false); }, errs);
}

void validate_slurm(const Json& spec, FieldErrors& errs) {
  if (!has(spec, "slurm")) return;  // defaults fill it
  if (!v::want_object(spec, "slurm", "spec.slurm", errs)) return;
  const Json& s = spec["slurm"];
  const std::string b = "spec.slurm.";
  string_field(s, "cluster", b + "cluster", true, check_dns1123_subdomain, errs);
  string_field(
      s, "partition", b + "partition", false,
      [](const std::string& x) { return slurm_token_error(x); }, errs);
  int_in_range(s, "nodes", b + "nodes", 1, 1024, errs);
  int_in_range(s, "ntasksPerNode", b + "ntasksPerNode", 1, 1024, errs);
  int_in_range(s, "cpusPerTask", b + "cpusPerTask", 1, 1024, errs);
  int_in_range(s, "gpus", b + "gpus", 0, 64, errs);
  string_field(s, "mem", b + "mem", false, slurm_mem_error, errs);
  string_field(s, "time", b + "time", false, slurm_time_error, errs);
  string_field(
      s, "account", b + "account", false, [](const std::string& x) { return slurm_token_error(x); },
      errs);
  string_field(
      s, "qos", b + "qos", false, [](const std::string& x) { return slurm_token_error(x); }, errs);
  auto out_name = [](const std::string& x) { return slurm_file_name_error(x, true); };
  string_field(s, "output", b + "output", false, out_name, errs);
  string_field(s, "error", b + "error", false, out_name, errs);
  if (v::want_array(s, "sbatchArgs", b + "sbatchArgs", errs)) {
    const Json& a = s["sbatchArgs"];
    if (a.size() > kMaxSbatchArgs) {
      errs.push_back({b + "sbatchArgs",
                      "Too many: " + std::to_string(a.size()) + ": must have at most 64 items"});
    }
    for (size_t i = 0; i < a.size() && i < kMaxSbatchArgs; ++i) {
      const std::string p = v::idx(b + "sbatchArgs", i);
      if (!a[i].is_string()) {
        errs.push_back({p, v::invalid(a[i], "must be a string")});
      } else if (auto why = sbatch_arg_error(a[i].get<std::string>()); !why.empty()) {
        errs.push_back({p, v::invalid(a[i], why)});
      }
    }
  }
}

// Status is written by the submitter and the controller; checked for shape
// only (the phase, the result's hash, types).
void validate_gpujob_status(const Json& obj, FieldErrors& errs) {
  const Json& status = get(obj, "status");
  if (status.is_null()) return;
  if (!status.is_object()) {
    errs.push_back({"status", v::invalid(status, "must be an object")});
    return;
  }
  if (v::want_string(status, "phase", "status.phase", errs)) {
    bool ok = false;
    for (const char* p : kPhases) ok = ok || status["phase"] == p;
    if (!ok) {
      errs.push_back({"status.phase",
                      v::unsupported(status["phase"], {"Pending", "Submitted", "Queued", "Running",
                                                       "Completed", "Failed", "Cancelled"})});
    }
  }
  for (const char* k : {"jobId", "submitTime", "startTime", "endTime", "nodeList", "reason",
                        "message", "queryCommand", "workDir", "submitterPod", "buildLog"}) {
    v::want_string(status, k, std::string("status.") + k, errs);
  }
  v::want_int(status, "exitCode", "status.exitCode", errs);
  v::want_int(status, "observedGeneration", "status.observedGeneration", errs);
  v::want_array(status, "conditions", "status.conditions", errs);
  if (v::want_object(status, "result", "status.result", errs)) {
    const Json& r = status["result"];
    string_field(r, "hash", "status.result.hash", true, check_blob_hash, errs);
    int_in_range(r, "size", "status.result.size", 0, (1LL << 62), errs);
    if (v::want_array(r, "files", "status.result.files", errs)) {
      for (size_t i = 0; i < r["files"].size(); ++i) {
        if (!r["files"][i].is_string()) {
          errs.push_back(
              {v::idx("status.result.files", i), v::invalid(r["files"][i], "must be a string")});
        }
      }
    }
  }
}

void gpujob_validate(const Json& obj, const Json* old, FieldErrors& errs) {
  // A label: the submitter pod is "<name>-submitter" and carries the name
  // as the value of minik8s.io/gpujob.
  validate_object_meta(obj, *find_kind("minik8s.io/v1", "GPUJob"), true, errs);
  const std::string name = str(get(obj, "metadata"), "name");
  if (name.size() > kMaxJobNameLength) {
    errs.push_back(
        {"metadata.name", v::invalid(name,
                                     "must be no more than 53 characters (the submitter pod is "
                                     "named <name>-submitter)")});
  }
  const Json* specp = want_spec(obj, errs);
  if (specp) {
    const Json& spec = *specp;
    validate_source(spec, errs);
    check_command(spec, "build", "spec.build", false, errs);
    check_command(spec, "run", "spec.run", true, errs);
    v::want_bool(spec, "cancel", "spec.cancel", errs);
    validate_slurm(spec, errs);
  }
  validate_gpujob_status(obj, errs);
  if (!old || !specp) return;
  // What a job runs is fixed when it is created; it can only be cancelled.
  const Json& old_spec = get(*old, "spec");
  const Json& spec = *specp;
  std::set<std::string> keys;
  for (const Json* s : {&spec, &old_spec}) {
    if (!s->is_object()) continue;
    for (auto it = s->begin(); it != s->end(); ++it) keys.insert(it.key());
  }
  keys.erase("cancel");
  for (const std::string& k : keys) {
    const Json& now = get(spec, k.c_str());
    const Json& was = get(old_spec, k.c_str());
    if (now == was) continue;
    if (k == "slurm" && now.is_object() && was.is_object()) {
      std::set<std::string> sub;
      for (const Json* s : {&now, &was}) {
        for (auto it = s->begin(); it != s->end(); ++it) sub.insert(it.key());
      }
      for (const std::string& sk : sub) {
        if (get(now, sk.c_str()) != get(was, sk.c_str())) {
          errs.push_back({"spec.slurm." + sk, "Invalid value: field is immutable"});
        }
      }
      continue;
    }
    errs.push_back({"spec." + k, "Invalid value: field is immutable"});
  }
  const Json& was = get(old_spec, "cancel");
  const Json& now = get(spec, "cancel");
  if (was.is_boolean() && was.get<bool>() && !(now.is_boolean() && now.get<bool>())) {
    errs.push_back(
        {"spec.cancel", v::invalid(now,
                                   "a cancelled job stays cancelled (spec.cancel may only change "
                                   "from false to true)")});
  }
}

std::string since(const std::string& rfc3339) {
  SysTime t;
  if (!parse_rfc3339(rfc3339, &t)) return "<none>";
  auto d = std::chrono::duration_cast<std::chrono::seconds>(real_clock().now() - t);
  return human_duration(d < std::chrono::seconds(0) ? std::chrono::seconds(0) : d);
}

// Start → end, or → now while running; "<none>" before it started.
std::string job_duration(const Json& status) {
  SysTime start, end;
  if (!parse_rfc3339(str(status, "startTime"), &start)) return "<none>";
  if (!parse_rfc3339(str(status, "endTime"), &end)) {
    if (str(status, "phase") != "Running") return "<none>";
    end = real_clock().now();
  }
  auto d = std::chrono::duration_cast<std::chrono::seconds>(end - start);
  return human_duration(d < std::chrono::seconds(0) ? std::chrono::seconds(0) : d);
}

std::vector<TableColumn> gpujob_columns() {
  return {
      col("PHASE", "string", "Pending, Submitted, Queued, Running, Completed, Failed or Cancelled"),
      col("JOBID", "string", "The Slurm job id"),
      col("NODE", "string", "The nodes Slurm ran the job on (status.nodeList)"),
      col("SUBMITTED", "string", "How long ago Slurm accepted the job"),
      col("DURATION", "string", "Start to end, or to now while running"),
      tbl::age_column(),
      col("PARTITION", "string", "The Slurm partition (spec.slurm.partition)", 1),
      col("GPUS", "integer", "GPUs per node (spec.slurm.gpus)", 1),
      col("REASON", "string", "Slurm's pending reason, or why the job failed", 1),
  };
}

Json gpujob_cells(const Json& obj) {
  const Json& spec = get(obj, "spec");
  const Json& slurm = get(spec, "slurm");
  const Json& status = get(obj, "status");
  std::string phase = str(status, "phase");
  return Json::array({phase.empty() ? "Pending" : phase, tbl::or_none(str(status, "jobId")),
                      tbl::or_none(str(status, "nodeList")), since(str(status, "submitTime")),
                      job_duration(status), age(obj), tbl::or_none(str(slurm, "partition")),
                      tbl::num(slurm, "gpus"), tbl::or_none(str(status, "reason"))});
}

void gpujob_unknown(const Json& obj, std::vector<std::string>& paths) {
  unknown_fields_for("minik8s.io", "GPUJob", obj, paths);
}

// -------------------------------------------------------------- SlurmCluster

void cluster_defaults(Json& obj) {
  if (!obj.is_object()) return;
  Json& spec = member_object(obj, "spec");
  if (!spec.is_object()) return;
  if (!has(spec, "submitterImage")) spec["submitterImage"] = "minik8s.io/slurm-submitter:1";
  if (!has(spec, "pollIntervalSeconds")) spec["pollIntervalSeconds"] = 1;
  // scripts/slurm.sh's default (gpu::kDefaultSlurmWorkDir).
  if (!has(spec, "workDir")) spec["workDir"] = "/var/tmp/minik8s-slurm/work";
  if (!has(spec, "clusterName")) {
    std::string name = str(get(obj, "metadata"), "name");
    if (!name.empty()) spec["clusterName"] = name;
  }
  if (spec.contains("controller") && spec["controller"].is_object() &&
      !has(spec["controller"], "port")) {
    spec["controller"]["port"] = 6817;
  }
  Json& auth = member_object(spec, "auth");
  if (auth.is_object()) {
    if (!has(auth, "type")) auth["type"] = "munge";
    if (auth.contains("secretRef") && auth["secretRef"].is_object() &&
        !has(auth["secretRef"], "key")) {
      auth["secretRef"]["key"] = "munge.key";
    }
  }
}

// A controller host: an IPv4 or IPv6 address or a DNS name.
std::string check_host(const std::string& s) {
  if (is_ip(s)) return "";
  if (check_dns1123_subdomain(s).empty()) return "";
  return "must be an IP address or a DNS name (lower-case letters, digits, '-' and '.')";
}

std::string check_image(const std::string& s) {
  if (s.size() > kMaxImageLength) return "must be no more than 512 characters";
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      return "must not contain spaces or control characters";
  }
  return "";
}

void cluster_validate(const Json& obj, const Json*, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("minik8s.io/v1", "SlurmCluster"), false, errs);
  const Json* specp = want_spec(obj, errs);
  if (!specp) return;
  const Json& spec = *specp;
  if (!has(spec, "controller")) {
    errs.push_back({"spec.controller", v::required()});
  } else if (v::want_object(spec, "controller", "spec.controller", errs)) {
    const Json& c = spec["controller"];
    string_field(c, "host", "spec.controller.host", true, check_host, errs);
    string_field(c, "name", "spec.controller.name", false, check_hostname_token, errs);
    v::validate_port(c, "port", "spec.controller.port", false, errs);
  }
  string_field(
      spec, "clusterName", "spec.clusterName", true,
      [](const std::string& s) {
        std::string why = slurm_token_error(s);
        if (why.empty() && !alnum(s[0])) why = "must start with a letter or digit";
        for (char c : s) {
          if (why.empty() && c >= 'A' && c <= 'Z')
            why = "must be lower case (Slurm lower-cases it)";
        }
        return why;
      },
      errs);
  if (!has(spec, "auth")) {
    errs.push_back({"spec.auth", v::required()});
  } else if (v::want_object(spec, "auth", "spec.auth", errs)) {
    const Json& a = spec["auth"];
    if (v::want_string(a, "type", "spec.auth.type", errs) && a["type"] != "munge") {
      errs.push_back({"spec.auth.type", v::unsupported(a["type"], {"munge"})});
    }
    if (!has(a, "secretRef")) {
      errs.push_back(
          {"spec.auth.secretRef", "Required value: the Secret that holds the munge key"});
    } else if (v::want_object(a, "secretRef", "spec.auth.secretRef", errs)) {
      const Json& r = a["secretRef"];
      string_field(r, "namespace", "spec.auth.secretRef.namespace", true, check_dns1123_label,
                   errs);
      string_field(r, "name", "spec.auth.secretRef.name", true, check_dns1123_subdomain, errs);
      string_field(r, "key", "spec.auth.secretRef.key", true, v::check_config_key, errs);
    }
  }
  string_field(
      spec, "workDir", "spec.workDir", true,
      [](const std::string& x) { return slurm_work_dir_error(x); }, errs);
  if (v::want_object(spec, "nodeSelector", "spec.nodeSelector", errs)) {
    v::validate_labels(spec["nodeSelector"], "spec.nodeSelector", errs);
  }
  string_field(spec, "submitterImage", "spec.submitterImage", true, check_image, errs);
  int_in_range(spec, "pollIntervalSeconds", "spec.pollIntervalSeconds", 1, 60, errs);
}

std::vector<TableColumn> cluster_columns() {
  return {
      col("CONTROLLER", "string", "slurmctld's host:port"),
      col("WORKDIR", "string", "The cluster's shared job directory"),
      tbl::age_column(),
  };
}

Json cluster_cells(const Json& obj) {
  const Json& spec = get(obj, "spec");
  const Json& c = get(spec, "controller");
  std::string host = str(c, "host");
  std::string controller = "<none>";
  if (!host.empty()) {
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    const Json& port = get(c, "port");
    controller =
        host + ":" + (port.is_number_integer() ? std::to_string(port.get<long long>()) : "6817");
  }
  return Json::array({controller, tbl::or_none(str(spec, "workDir")), age(obj)});
}

void cluster_unknown(const Json& obj, std::vector<std::string>& paths) {
  unknown_fields_for("minik8s.io", "SlurmCluster", obj, paths);
}

}  // namespace

void add_gpu_kinds(std::vector<const ResourceType*>& out) {
  auto base = [](const char* kind, const char* plural, const char* singular, bool namespaced) {
    ResourceType t;
    t.group = "minik8s.io";
    t.version = "v1";
    t.kind = kind;
    t.plural = plural;
    t.singular = singular;
    t.namespaced = namespaced;
    t.has_status = true;
    t.bump_generation = true;
    t.clear_status_on_create = true;
    return t;
  };
  static const ResourceType gpujob = [&] {
    ResourceType t = base("GPUJob", "gpujobs", "gpujob", true);
    t.short_names = {"gj"};
    t.set_defaults = gpujob_defaults;
    t.validate = gpujob_validate;
    t.initial_status = gpujob_initial_status;
    t.table_columns = gpujob_columns;
    t.table_cells = gpujob_cells;
    t.unknown_fields = gpujob_unknown;
    return t;
  }();
  static const ResourceType slurm_cluster = [&] {
    ResourceType t = base("SlurmCluster", "slurmclusters", "slurmcluster", false);
    t.set_defaults = cluster_defaults;
    t.validate = cluster_validate;
    t.table_columns = cluster_columns;
    t.table_cells = cluster_cells;
    t.unknown_fields = cluster_unknown;
    return t;
  }();
  out.push_back(&gpujob);
  out.push_back(&slurm_cluster);
}

}  // namespace minik8s::api
