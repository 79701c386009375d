// serverless.minik8s.io/v1 Function (docs/serverless.md "The object").
//
// The table entry holds what is a pure function of one object: defaults,
// validation and the Table. Whether spec.code.hash names an upload the
// server holds, and deleting unused uploads, need the code store: the
// Function strategy (src/apiserver/kinds/function_strategy.cc).
#include <cstddef>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "kinds.h"
#include "validation.h"

namespace minik8s::api {
namespace {

using tbl::age;
using tbl::col;
using v::get;
using v::has;
using v::str;

constexpr size_t kMaxInlineCodeBytes = 256 * 1024;
constexpr size_t kMaxFilenameLength = 100;
constexpr size_t kMaxHandlerLength = 253;

// ------------------------------------------------------------------ defaults

Json& member_object(Json& obj, const char* key) {
  if (!obj.contains(key) || obj[key].is_null()) obj[key] = Json::object();
  return obj[key];
}

void function_defaults(Json& obj) {
  if (!obj.is_object()) return;
  Json& spec = member_object(obj, "spec");
  if (!spec.is_object()) return;
  if (!has(spec, "runtime")) spec["runtime"] = "python3";
  if (!has(spec, "handler")) spec["handler"] = "main.handler";
  if (!has(spec, "timeoutSeconds")) spec["timeoutSeconds"] = 60;
  if (spec.contains("code") && spec["code"].is_object()) {
    Json& code = spec["code"];
    if (has(code, "inline") && !has(code, "filename")) code["filename"] = "main.py";
  }
  Json& scale = member_object(spec, "scale");
  if (scale.is_object()) {
    if (!has(scale, "minScale")) scale["minScale"] = 0;
    if (!has(scale, "maxScale")) scale["maxScale"] = 10;
    if (!has(scale, "targetConcurrency")) scale["targetConcurrency"] = 1;
    if (!has(scale, "scaleToZeroAfterSeconds")) scale["scaleToZeroAfterSeconds"] = 30;
  }
}

// ---------------------------------------------------------------- validation

bool ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }

// "pkg.mod.func": at least two Python identifiers joined by dots.
bool is_handler(const std::string& s) {
  if (s.empty() || s.size() > kMaxHandlerLength) return false;
  size_t parts = 0, start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string part = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty() || !ident_start(part.front())) return false;
    for (char c : part) {
      if (!ident_char(c)) return false;
    }
    ++parts;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts >= 2;
}

// A sha256 content address: "sha256:" and 64 lower-case hex digits.
bool is_code_hash(const std::string& s) {
  static const std::string prefix = "sha256:";
  if (s.size() != prefix.size() + 64 || s.compare(0, prefix.size(), prefix) != 0) return false;
  for (size_t i = prefix.size(); i < s.size(); ++i) {
    char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// "" when valid, else why.
std::string check_filename(const std::string& s) {
  if (s.size() > kMaxFilenameLength) return "must be no more than 100 characters";
  for (char c : s) {
    if (!ident_char(c) && c != '.' && c != '-') {
      return "must be a plain file name of letters, digits, '_', '.' and '-' (no '/')";
    }
  }
  if (!s.ends_with(".py") && !s.ends_with(".zip")) {
    return "must end in .py (one module) or .zip (a package)";
  }
  if (s == ".py" || s == ".zip") return "must have a name before the extension";
  return "";
}

// An integer field in [lo, hi] when present (defaults fill the absent ones;
// required ones are reported by the caller). Returns the value or `dflt`.
long long int_in_range(const Json& obj, const char* key, const std::string& path, long long lo,
                       long long hi, long long dflt, FieldErrors& errs) {
  if (!v::want_int(obj, key, path, errs)) return dflt;
  long long x = obj[key].get<long long>();
  if (x < lo || x > hi) {
    errs.push_back({path, v::invalid(obj[key], "must be between " + std::to_string(lo) + " and " +
                                                   std::to_string(hi) + ", inclusive")});
    return dflt;
  }
  return x;
}

void validate_code(const Json& code, FieldErrors& errs) {
  if (code.is_null()) {
    errs.push_back({"spec.code", "Required value: one of spec.code.hash or spec.code.inline"});
    return;
  }
  if (!code.is_object()) {
    errs.push_back({"spec.code", v::invalid(code, "must be an object")});
    return;
  }
  bool hash_ok = v::want_string(code, "hash", "spec.code.hash", errs);
  bool inline_ok = v::want_string(code, "inline", "spec.code.inline", errs);
  bool has_hash = has(code, "hash"), has_inline = has(code, "inline");
  if (has_hash && has_inline) {
    errs.push_back({"spec.code", v::forbidden("may not specify more than one of hash and inline")});
  } else if (!has_hash && !has_inline) {
    errs.push_back({"spec.code", "Required value: one of spec.code.hash or spec.code.inline"});
  }
  if (hash_ok) {
    std::string h = code["hash"].get<std::string>();
    if (!is_code_hash(h)) {
      errs.push_back(
          {"spec.code.hash", v::invalid(h,
                                        "must be \"sha256:\" followed by 64 lower-case hex digits "
                                        "(the hash an upload to the code store returned)")});
    }
  }
  if (inline_ok) {
    size_t n = code["inline"].get_ref<const std::string&>().size();
    if (n == 0) {
      errs.push_back({"spec.code.inline", "Required value: must not be empty"});
    } else if (n > kMaxInlineCodeBytes) {
      errs.push_back(
          {"spec.code.inline", "Too long: may not be more than 262144 bytes (256 KiB), is " +
                                   std::to_string(n) + "; upload larger code to the code store"});
    }
  }
  if (v::want_string(code, "filename", "spec.code.filename", errs)) {
    std::string f = code["filename"].get<std::string>();
    if (f.empty()) {
      errs.push_back({"spec.code.filename", v::required()});
    } else if (auto why = check_filename(f); !why.empty()) {
      errs.push_back({"spec.code.filename", v::invalid(f, why)});
    } else if (has_inline && !f.ends_with(".py")) {
      errs.push_back({"spec.code.filename", v::invalid(f, "inline code must be a .py file")});
    }
  } else if (!has(code, "filename") && has_hash) {
    errs.push_back(
        {"spec.code.filename", "Required value: the uploaded file's name (NAME.py or NAME.zip)"});
  }
}

void validate_env(const Json& spec, FieldErrors& errs) {
  if (!v::want_array(spec, "env", "spec.env", errs)) return;
  std::set<std::string> seen;
  const Json& env = spec["env"];
  for (size_t i = 0; i < env.size(); ++i) {
    std::string p = v::idx("spec.env", i);
    const Json& e = env[i];
    if (!e.is_object()) {
      errs.push_back({p, v::invalid(e, "must be an object")});
      continue;
    }
    if (v::want_string(e, "name", p + ".name", errs)) {
      std::string name = e["name"].get<std::string>();
      if (name.empty()) {
        errs.push_back({p + ".name", v::required()});
      } else if (auto why = v::check_c_identifier_env(name); !why.empty()) {
        errs.push_back({p + ".name", v::invalid(name, why)});
      } else if (!seen.insert(name).second) {
        errs.push_back({p + ".name", v::duplicate(name)});
      }
    } else if (!has(e, "name")) {
      errs.push_back({p + ".name", v::required()});
    }
    v::want_string(e, "value", p + ".value", errs);
  }
}

void validate_scale(const Json& spec, FieldErrors& errs) {
  if (!v::want_object(spec, "scale", "spec.scale", errs)) return;
  const Json& s = spec["scale"];
  long long mn = int_in_range(s, "minScale", "spec.scale.minScale", 0, 100, -1, errs);
  long long mx = int_in_range(s, "maxScale", "spec.scale.maxScale", 1, 100, -1, errs);
  if (mn >= 0 && mx >= 0 && mn > mx) {
    errs.push_back(
        {"spec.scale.minScale",
         v::invalid(s["minScale"], "must be less than or equal to spec.scale.maxScale (" +
                                       std::to_string(mx) + ")")});
  }
  int_in_range(s, "targetConcurrency", "spec.scale.targetConcurrency", 1, 1000, 0, errs);
  int_in_range(s, "scaleToZeroAfterSeconds", "spec.scale.scaleToZeroAfterSeconds", 6, 3600, 0,
               errs);
}

void function_validate(const Json& obj, const Json*, FieldErrors& errs) {
  // The name is a DNS-1123 label: it is the value of the instances'
  // serverless.minik8s.io/function label and a path segment of the URL.
  validate_object_meta(obj, *find_kind("serverless.minik8s.io/v1", "Function"), true, errs);
  const Json& spec = get(obj, "spec");
  if (!spec.is_object()) {
    errs.push_back({"spec", spec.is_null() ? std::string(v::required())
                                           : v::invalid(spec, "must be an object")});
    return;
  }
  if (v::want_string(spec, "runtime", "spec.runtime", errs)) {
    if (str(spec, "runtime") != "python3" && str(spec, "runtime") != "python3-ml") {
      errs.push_back({"spec.runtime", v::unsupported(spec["runtime"], {"python3", "python3-ml"})});
    }
  } else if (!has(spec, "runtime")) {
    errs.push_back({"spec.runtime", v::required()});
  }
  if (v::want_string(spec, "handler", "spec.handler", errs)) {
    std::string h = str(spec, "handler");
    if (!is_handler(h)) {
      errs.push_back(
          {"spec.handler", v::invalid(h,
                                      "must be module.function (Python identifiers, a dotted "
                                      "module allowed, e.g. main.handler)")});
    }
  } else if (!has(spec, "handler")) {
    errs.push_back({"spec.handler", v::required()});
  }
  validate_code(get(spec, "code"), errs);
  validate_env(spec, errs);
  v::validate_container_resources(get(spec, "resources"), "spec.resources", errs);
  int_in_range(spec, "timeoutSeconds", "spec.timeoutSeconds", 1, 900, 0, errs);
  validate_scale(spec, errs);
}

// --------------------------------------------------------------------- table

std::vector<TableColumn> function_columns() {
  return {
      col("READY", "string", "Ready instances of the current revision / desired instances"),
      col("URL", "string", "The gateway URL that invokes the function"),
      tbl::age_column(),
      col("REVISION", "string", "The current revision", 1),
      col("HANDLER", "string", "The Python function called: module.function", 1),
  };
}

Json function_cells(const Json& obj) {
  const Json& spec = get(obj, "spec");
  const Json& status = get(obj, "status");
  std::string ready = std::to_string(tbl::num(status, "readyInstances")) + "/" +
                      std::to_string(tbl::num(status, "desiredInstances"));
  std::string revision = str(status, "revision");
  if (revision.empty() && get(status, "revision").is_number_integer()) {
    revision = std::to_string(status["revision"].get<long long>());
  }
  return Json::array({ready, tbl::or_none(str(status, "url")), age(obj), tbl::or_none(revision),
                      tbl::or_none(str(spec, "handler"))});
}

void function_unknown(const Json& obj, std::vector<std::string>& paths) {
  unknown_fields_for("serverless.minik8s.io", "Function", obj, paths);
}

}  // namespace

void add_serverless_kinds(std::vector<const ResourceType*>& out) {
  static const ResourceType function = [] {
    ResourceType t;
    t.group = "serverless.minik8s.io";
    t.version = "v1";
    t.kind = "Function";
    t.plural = "functions";
    t.singular = "function";
    t.short_names = {"fn"};
    t.has_status = true;
    t.bump_generation = true;
    t.clear_status_on_create = true;
    t.set_defaults = function_defaults;
    t.validate = function_validate;
    t.table_columns = function_columns;
    t.table_cells = function_cells;
    t.unknown_fields = function_unknown;
    return t;
  }();
  out.push_back(&function);
}

}  // namespace minik8s::api
