// Shared validation and defaulting (see validation.h and resource.h).
#include "validation.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "minik8s/api/quantity.h"
#include "minik8s/api/selector.h"

namespace minik8s::api {

namespace {

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool digit(char c) { return c >= '0' && c <= '9'; }

bool is_label(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  if (!lower_alnum(s.front()) || !lower_alnum(s.back())) return false;
  for (char c : s) {
    if (!lower_alnum(c) && c != '-') return false;
  }
  return true;
}

const char* kLabelMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const char* kSubdomainMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

}  // namespace

std::string check_dns1123_label(const std::string& s) {
  if (s.size() > 63) return "must be no more than 63 characters";
  return is_label(s) ? "" : kLabelMsg;
}

std::string check_dns1123_subdomain(const std::string& s) {
  if (s.size() > 253) return "must be no more than 253 characters";
  if (s.empty()) return kSubdomainMsg;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string part = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!is_label(part)) return kSubdomainMsg;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return "";
}

void validate_object_meta(const Json& obj, const ResourceType& type, bool name_is_label,
                          FieldErrors& errs) {
  if (!obj.is_object()) {
    errs.push_back({"", "Invalid value: must be an object"});
    return;
  }
  const Json& meta = v::get(obj, "metadata");
  if (!meta.is_object()) {
    errs.push_back({"metadata", v::required()});
    return;
  }
  v::want_string(meta, "name", "metadata.name", errs);
  v::want_string(meta, "generateName", "metadata.generateName", errs);
  std::string name = v::str(meta, "name");
  std::string gen = v::str(meta, "generateName");
  if (name.empty()) {
    if (gen.empty())
      errs.push_back({"metadata.name", "Required value: name or generateName is required"});
  } else {
    std::string m = name_is_label ? check_dns1123_label(name) : check_dns1123_subdomain(name);
    if (!m.empty()) errs.push_back({"metadata.name", v::invalid(name, m)});
  }
  if (!gen.empty()) {
    // generateName gets a random suffix; check the prefix loosely (trailing '-' allowed).
    std::string probe = gen;
    while (!probe.empty() && probe.back() == '-') probe.pop_back();
    std::string m = probe.empty() ? ""
                                  : (name_is_label ? check_dns1123_label(probe + "a")
                                                   : check_dns1123_subdomain(probe + "a"));
    if (!m.empty()) errs.push_back({"metadata.generateName", v::invalid(gen, m)});
  }
  v::want_string(meta, "namespace", "metadata.namespace", errs);
  std::string ns = v::str(meta, "namespace");
  if (type.namespaced) {
    if (ns.empty()) {
      errs.push_back({"metadata.namespace", v::required()});
    } else if (auto m = check_dns1123_label(ns); !m.empty()) {
      errs.push_back({"metadata.namespace", v::invalid(ns, m)});
    }
  } else if (!ns.empty()) {
    errs.push_back({"metadata.namespace", v::forbidden("not allowed on this type")});
  }
  if (v::want_object(meta, "labels", "metadata.labels", errs)) {
    v::validate_labels(meta["labels"], "metadata.labels", errs);
  }
  if (v::want_object(meta, "annotations", "metadata.annotations", errs)) {
    v::validate_annotations(meta["annotations"], "metadata.annotations", errs);
  }
  v::want_array(meta, "finalizers", "metadata.finalizers", errs);
  v::want_array(meta, "ownerReferences", "metadata.ownerReferences", errs);
  if (meta.contains("ownerReferences") && meta["ownerReferences"].is_array()) {
    const Json& refs = meta["ownerReferences"];
    int controllers = 0;
    for (size_t i = 0; i < refs.size(); ++i) {
      std::string p = v::idx("metadata.ownerReferences", i);
      const Json& r = refs[i];
      if (!r.is_object()) {
        errs.push_back({p, v::invalid(r, "must be an object")});
        continue;
      }
      for (const char* k : {"apiVersion", "kind", "name", "uid"}) {
        if (v::str(r, k).empty()) errs.push_back({v::at(p, k), v::required()});
      }
      if (v::get(r, "controller").is_boolean() && r["controller"].get<bool>()) ++controllers;
    }
    if (controllers > 1) {
      errs.push_back({"metadata.ownerReferences",
                      "Invalid value: \"\": Only one reference can have Controller set to true"});
    }
  }
}

namespace v {

std::string invalid(const Json& value, const std::string& why) {
  std::string text = value.is_string() ? "\"" + value.get<std::string>() + "\"" : value.dump();
  return "Invalid value: " + text + ": " + why;
}

std::string unsupported(const Json& value, std::initializer_list<const char*> supported) {
  std::string text = value.is_string() ? "\"" + value.get<std::string>() + "\"" : value.dump();
  std::string m = "Unsupported value: " + text + ": supported values: ";
  bool first = true;
  for (const char* s : supported) {
    if (!first) m += ", ";
    first = false;
    m += "\"" + std::string(s) + "\"";
  }
  return m;
}

std::string duplicate(const Json& value) {
  return "Duplicate value: " +
         (value.is_string() ? "\"" + value.get<std::string>() + "\"" : value.dump());
}

const Json& get(const Json& obj, const char* key) { return field(obj, key); }

std::string str(const Json& obj, const char* key) { return sfield(obj, key); }

bool has(const Json& obj, const char* key) { return !get(obj, key).is_null(); }

namespace {
bool want(const Json& obj, const char* key, const std::string& path, FieldErrors& errs,
          bool (Json::*pred)() const noexcept, const char* what) {
  const Json& x = get(obj, key);
  if (x.is_null()) return false;
  if (!(x.*pred)()) {
    errs.push_back({path, invalid(x, std::string("must be ") + what)});
    return false;
  }
  return true;
}
}  // namespace

bool want_string(const Json& o, const char* k, const std::string& p, FieldErrors& e) {
  return want(o, k, p, e, &Json::is_string, "a string");
}
bool want_int(const Json& o, const char* k, const std::string& p, FieldErrors& e) {
  return want(o, k, p, e, &Json::is_number_integer, "an integer");
}
bool want_bool(const Json& o, const char* k, const std::string& p, FieldErrors& e) {
  return want(o, k, p, e, &Json::is_boolean, "a boolean");
}
bool want_object(const Json& o, const char* k, const std::string& p, FieldErrors& e) {
  return want(o, k, p, e, &Json::is_object, "an object");
}
bool want_array(const Json& o, const char* k, const std::string& p, FieldErrors& e) {
  return want(o, k, p, e, &Json::is_array, "an array");
}

std::string check_dns1035_label(const std::string& s) {
  if (s.size() > 63) return "must be no more than 63 characters";
  if (s.empty() || !is_label(s) || !(s.front() >= 'a' && s.front() <= 'z')) {
    return "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start "
           "with an alphabetic character, and end with an alphanumeric character (e.g. "
           "'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
  }
  return "";
}

std::string check_c_identifier_env(const std::string& s) {
  bool ok = !s.empty() && !digit(s.front());
  for (char c : s) {
    if (!alpha(c) && !digit(c) && c != '_' && c != '-' && c != '.') ok = false;
  }
  if (ok) return "";
  return "a valid environment variable name must consist of alphabetic characters, digits, "
         "'_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or "
         "'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is "
         "'[-._a-zA-Z][-._a-zA-Z0-9]*')";
}

// Kubernetes IsConfigMapKey: the key becomes a file name in a configMap or
// secret volume, so "." and ".." (and the "..data" names of the atomic
// writer) are refused.
std::string check_config_key(const std::string& s) {
  if (s.size() > 253) return "must be no more than 253 characters";
  bool ok = !s.empty();
  for (char c : s) {
    if (!alpha(c) && !digit(c) && c != '_' && c != '-' && c != '.') ok = false;
  }
  if (!ok) {
    return "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
           "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
           "'[-._a-zA-Z0-9]+')";
  }
  if (s == ".") return "must not be '.'";
  if (s == "..") return "must not be '..'";
  if (s.rfind("..", 0) == 0) return "must not start with '..'";
  return "";
}

std::string check_iana_svc_name(const std::string& s) {
  if (s.empty() || s.size() > 15) return "must be no more than 15 characters";
  bool has_letter = false;
  for (char c : s) {
    if (!lower_alnum(c) && c != '-') {
      return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
    }
    if (c >= 'a' && c <= 'z') has_letter = true;
  }
  if (s.find("--") != std::string::npos) return "must not contain consecutive hyphens";
  if (!has_letter) return "must contain at least one letter (a-z)";
  if (s.front() == '-' || s.back() == '-') return "must not begin or end with a hyphen";
  return "";
}

std::string check_qualified_name(const std::string& s) { return check_label_key(s); }

bool is_ipv4(const std::string& s) {
  int parts = 0;
  size_t i = 0;
  while (true) {
    size_t start = i;
    int val = 0;
    while (i < s.size() && digit(s[i])) {
      val = val * 10 + (s[i] - '0');
      if (val > 255 || i - start >= 3) return false;
      ++i;
    }
    if (i == start) return false;
    if (i - start > 1 && s[start] == '0') return false;
    ++parts;
    if (i == s.size()) break;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
  return parts == 4;
}

bool is_cidr(const std::string& s) {
  size_t slash = s.find('/');
  if (slash == std::string::npos || slash + 1 >= s.size()) return false;
  std::string ip = s.substr(0, slash), bits = s.substr(slash + 1);
  if (bits.size() > 3 || !std::all_of(bits.begin(), bits.end(), digit)) return false;
  int n = std::stoi(bits);
  if (is_ipv4(ip)) return n <= 32;
  if (ip.find(':') == std::string::npos) return false;
  for (char c : ip) {
    if (!digit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') && c != ':') {
      return false;
    }
  }
  return n <= 128;
}

bool int_or_percent(const Json& x, int* value, bool* percent) {
  if (x.is_number_integer()) {
    long long n = x.get<long long>();
    if (n < INT32_MIN || n > INT32_MAX) return false;
    *value = static_cast<int>(n);
    *percent = false;
    return true;
  }
  if (!x.is_string()) return false;
  std::string s = x.get<std::string>();
  if (s.size() < 2 || s.back() != '%' || s.size() > 11) return false;
  std::string num = s.substr(0, s.size() - 1);
  if (!std::all_of(num.begin(), num.end(), digit)) return false;
  *value = std::stoi(num);
  *percent = true;
  return true;
}

void validate_labels(const Json& labels, const std::string& path, FieldErrors& errs) {
  if (!labels.is_object()) return;
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    if (auto m = check_label_key(it.key()); !m.empty()) {
      errs.push_back({path, invalid(it.key(), m)});
    }
    if (!it.value().is_string()) {
      errs.push_back({path, invalid(it.value(), "label values must be strings")});
    } else if (auto m = check_label_value(it.value().get<std::string>()); !m.empty()) {
      errs.push_back({path, invalid(it.value(), m)});
    }
  }
}

void validate_annotations(const Json& annotations, const std::string& path, FieldErrors& errs) {
  if (!annotations.is_object()) return;
  size_t total = 0;
  for (auto it = annotations.begin(); it != annotations.end(); ++it) {
    if (auto m = check_label_key(it.key()); !m.empty()) {
      errs.push_back({path, invalid(it.key(), m)});
    }
    total += it.key().size();
    if (!it.value().is_string()) {
      errs.push_back({path, invalid(it.value(), "annotation values must be strings")});
    } else {
      total += it.value().get_ref<const std::string&>().size();
    }
  }
  if (total > 256 * 1024) {
    errs.push_back({path, "Too long: must have at most 262144 bytes"});
  }
}

void validate_label_selector(const Json& sel, const std::string& path, FieldErrors& errs) {
  if (sel.is_null()) return;
  if (!sel.is_object()) {
    errs.push_back({path, invalid(sel, "must be an object")});
    return;
  }
  if (want_object(sel, "matchLabels", at(path, "matchLabels"), errs)) {
    validate_labels(sel["matchLabels"], at(path, "matchLabels"), errs);
  }
  if (want_array(sel, "matchExpressions", at(path, "matchExpressions"), errs)) {
    const Json& exprs = sel["matchExpressions"];
    for (size_t i = 0; i < exprs.size(); ++i) {
      std::string p = idx(at(path, "matchExpressions"), i);
      const Json& e = exprs[i];
      std::string op = str(e, "operator");
      std::string key = str(e, "key");
      if (auto m = check_label_key(key); !m.empty())
        errs.push_back({at(p, "key"), invalid(key, m)});
      const Json& vals = get(e, "values");
      size_t n = vals.is_array() ? vals.size() : 0;
      if (op == "In" || op == "NotIn") {
        if (n == 0) {
          errs.push_back({at(p, "values"),
                          "Required value: must be specified when `operator` is 'In' or 'NotIn'"});
        }
      } else if (op == "Exists" || op == "DoesNotExist") {
        if (n > 0) {
          errs.push_back({at(p, "values"),
                          "Forbidden: may not be specified when `operator` is 'Exists' or "
                          "'DoesNotExist'"});
        }
      } else {
        errs.push_back(
            {at(p, "operator"), invalid(get(e, "operator"), "not a valid selector operator")});
      }
    }
  }
}

void validate_port(const Json& obj, const char* key, const std::string& path, bool required,
                   FieldErrors& errs) {
  const Json& x = get(obj, key);
  if (x.is_null() || (x.is_number_integer() && x.get<long long>() == 0)) {
    if (required) errs.push_back({path, v::required()});
    return;
  }
  if (!x.is_number_integer() || x.get<long long>() < 1 || x.get<long long>() > 65535) {
    errs.push_back({path, invalid(x, "must be between 1 and 65535, inclusive")});
  }
}

// ---------------------------------------------------------------- Pod specs

namespace {

bool is_standard_container_resource(const std::string& r) {
  return r == "cpu" || r == "memory" || r == "ephemeral-storage" || r.rfind("hugepages-", 0) == 0 ||
         r.find('/') != std::string::npos;
}

void validate_resources(const Json& res, const std::string& path, FieldErrors& errs) {
  if (res.is_null()) return;
  if (!res.is_object()) {
    errs.push_back({path, invalid(res, "must be an object")});
    return;
  }
  std::map<std::string, int64_t> limits;
  for (const char* which : {"limits", "requests"}) {
    std::string p = at(path, which);
    if (!want_object(res, which, p, errs)) continue;
    for (auto it = res[which].begin(); it != res[which].end(); ++it) {
      std::string kp = p + "[" + it.key() + "]";
      if (!is_standard_container_resource(it.key())) {
        errs.push_back({kp, invalid(it.key(), "must be a standard resource for containers")});
        continue;
      }
      std::string text = it.value().is_string()   ? it.value().get<std::string>()
                         : it.value().is_number() ? it.value().dump()
                                                  : "";
      auto q = Quantity::parse(text);
      if (!q.is_ok()) {
        errs.push_back({kp, invalid(it.value(),
                                    "quantities must match the regular expression "
                                    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")});
        continue;
      }
      if (q->milli_value() < 0) {
        errs.push_back({kp, invalid(it.value(), "must be greater than or equal to 0")});
        continue;
      }
      // Extended resources (nvidia.com/gpu, …) come in whole units and are
      // never overcommitted: requests == limits (defaulting copies a lone
      // limit into requests; a lone request is an error), as in Kubernetes.
      const bool extended = is_extended_resource_name(it.key());
      if (extended && q->milli_value() % 1000 != 0) {
        errs.push_back({kp, invalid(it.value(), "must be an integer")});
        continue;
      }
      if (std::string(which) == "limits") {
        limits[it.key()] = q->milli_value();
        continue;
      }
      auto l = limits.find(it.key());
      if (extended && l == limits.end()) {
        if (!has(get(res, "limits"), it.key().c_str())) {
          errs.push_back({at(path, "limits"), "Required value: Limit must be set for non overcommitable resources"});
        }
      } else if (extended && q->milli_value() != l->second) {
        errs.push_back({kp, invalid(it.value(), "must be equal to " + it.key() + " limit of " +
                                                    Quantity::from_milli(l->second).to_string())});
      } else if (l != limits.end() && q->milli_value() > l->second) {
        errs.push_back(
            {kp, invalid(it.value(), "must be less than or equal to " + it.key() + " limit of " +
                                         Quantity::from_milli(l->second).to_string())});
      }
    }
  }
}

// ------------------------------------------------------------- Volume paths
// As Kubernetes pkg/apis/core/validation: a path inside a volume
// (subPath, items[].path) never leaves it, a hostPath never walks back up,
// and file modes carry no setuid/setgid/sticky bits.

bool has_backstep(const std::string& p) {
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    if (p.compare(start, end - start, "..") == 0) return true;
    start = end + 1;
  }
  return false;
}

// validatePathNoBacksteps.
void validate_no_backsteps(const std::string& value, const std::string& path, FieldErrors& errs) {
  if (has_backstep(value)) errs.push_back({path, invalid(value, "must not contain '..'")});
}

// validateLocalDescendingPath: relative, no ".." element.
void validate_descending_path(const std::string& value, const std::string& path,
                              FieldErrors& errs) {
  if (!value.empty() && value.front() == '/') {
    errs.push_back({path, invalid(value, "must be a relative path")});
  }
  validate_no_backsteps(value, path, errs);
}

// validateLocalNonReservedPath: also not "..something" (the atomic writer's
// "..data" and "..<timestamp>" entries live there).
void validate_non_reserved_path(const std::string& value, const std::string& path,
                                FieldErrors& errs) {
  validate_descending_path(value, path, errs);
  if (value.rfind("..", 0) == 0 && value.rfind("../", 0) != 0) {
    errs.push_back({path, invalid(value, "must not start with '..'")});
  }
}

// defaultMode / items[].mode: 0..0777 (fileModeErrorMsg).
void validate_file_mode(const Json& obj, const char* key, const std::string& path,
                        FieldErrors& errs) {
  if (!want_int(obj, key, path, errs)) return;
  long long m = obj[key].get<long long>();
  if (m < 0 || m > 0777) {
    errs.push_back(
        {path, invalid(obj[key], "must be a number between 0 and 0777 (octal), both inclusive")});
  }
}

// A required string member; returns its value ("" when absent or wrong type).
std::string required_string(const Json& obj, const char* key, const std::string& path,
                            FieldErrors& errs) {
  if (has(obj, key) && !want_string(obj, key, path, errs)) return "";
  std::string value = str(obj, key);
  if (value.empty()) errs.push_back({path, required()});
  return value;
}

// validateKeyToPath (configMap/secret items). all_paths, when given, collects
// the paths of a projected volume to refuse duplicates across sources.
void validate_key_to_paths(const Json& src, const std::string& sp, FieldErrors& errs,
                           std::set<std::string>* all_paths = nullptr) {
  if (!want_array(src, "items", at(sp, "items"), errs)) return;
  const Json& items = src["items"];
  for (size_t i = 0; i < items.size(); ++i) {
    std::string ip = idx(at(sp, "items"), i);
    required_string(items[i], "key", at(ip, "key"), errs);
    std::string p = required_string(items[i], "path", at(ip, "path"), errs);
    validate_non_reserved_path(p, at(ip, "path"), errs);
    validate_file_mode(items[i], "mode", at(ip, "mode"), errs);
    if (all_paths && !p.empty() && !all_paths->insert(p).second) {
      errs.push_back({at(ip, "path"), invalid(p, "conflicting duplicate paths")});
    }
  }
}

// validateDownwardAPIVolumeFile for each item.
void validate_downward_files(const Json& src, const std::string& sp, FieldErrors& errs,
                             std::set<std::string>* all_paths = nullptr) {
  if (!want_array(src, "items", at(sp, "items"), errs)) return;
  const Json& items = src["items"];
  for (size_t i = 0; i < items.size(); ++i) {
    std::string ip = idx(at(sp, "items"), i);
    std::string p = required_string(items[i], "path", at(ip, "path"), errs);
    validate_non_reserved_path(p, at(ip, "path"), errs);
    validate_file_mode(items[i], "mode", at(ip, "mode"), errs);
    if (all_paths && !p.empty() && !all_paths->insert(p).second) {
      errs.push_back({at(ip, "path"), invalid(p, "conflicting duplicate paths")});
    }
  }
}

void validate_projected(const Json& src, const std::string& sp, FieldErrors& errs) {
  validate_file_mode(src, "defaultMode", at(sp, "defaultMode"), errs);
  if (!want_array(src, "sources", at(sp, "sources"), errs)) return;
  const Json& sources = src["sources"];
  std::set<std::string> all_paths;
  for (size_t i = 0; i < sources.size(); ++i) {
    std::string pp = idx(at(sp, "sources"), i);
    const Json& s = sources[i];
    int kinds = 0;
    for (const char* k : {"secret", "configMap"}) {
      if (!has(s, k)) continue;
      ++kinds;
      required_string(s[k], "name", at(at(pp, k), "name"), errs);
      validate_key_to_paths(s[k], at(pp, k), errs, &all_paths);
    }
    if (has(s, "downwardAPI")) {
      ++kinds;
      validate_downward_files(s["downwardAPI"], at(pp, "downwardAPI"), errs, &all_paths);
    }
    if (has(s, "serviceAccountToken")) {
      ++kinds;
      std::string tp = at(at(pp, "serviceAccountToken"), "path");
      std::string p = required_string(s["serviceAccountToken"], "path", tp, errs);
      validate_non_reserved_path(p, tp, errs);
      if (!p.empty() && !all_paths.insert(p).second) {
        errs.push_back({tp, invalid(p, "conflicting duplicate paths")});
      }
    }
    if (kinds > 1) {
      errs.push_back({pp, forbidden("may not specify more than 1 volume type per source")});
    }
  }
}

// hostPath: Kubernetes refuses ".." (validatePathNoBacksteps); minik8s runs
// Linux nodes only, so the path must also be absolute (the kubelet refused a
// relative one at mount time before).
void validate_host_path(const Json& src, const std::string& sp, FieldErrors& errs) {
  std::string p = required_string(src, "path", at(sp, "path"), errs);
  if (p.empty()) return;
  if (p.front() != '/') errs.push_back({at(sp, "path"), invalid(p, "must be an absolute path")});
  validate_no_backsteps(p, at(sp, "path"), errs);
  if (has(src, "type")) {
    std::string t = str(src, "type");
    static const std::set<std::string> kTypes = {
        "",       "DirectoryOrCreate", "Directory",  "FileOrCreate", "File",
        "Socket", "CharDevice",        "BlockDevice"};
    if (!kTypes.count(t) || !src["type"].is_string()) {
      errs.push_back(
          {at(sp, "type"),
           unsupported(src["type"], {"", "BlockDevice", "CharDevice", "Directory",
                                     "DirectoryOrCreate", "File", "FileOrCreate", "Socket"})});
    }
  }
}

void validate_container(const Json& c, const std::string& p, const std::set<std::string>& volumes,
                        std::set<std::string>& names, bool init, FieldErrors& errs) {
  if (!c.is_object()) {
    errs.push_back({p, invalid(c, "must be an object")});
    return;
  }
  want_string(c, "name", at(p, "name"), errs);
  std::string name = str(c, "name");
  if (name.empty()) {
    errs.push_back({at(p, "name"), required()});
  } else if (auto m = check_dns1123_label(name); !m.empty()) {
    errs.push_back({at(p, "name"), invalid(name, m)});
  } else if (!names.insert(name).second) {
    errs.push_back({at(p, "name"), duplicate(name)});
  }
  want_string(c, "image", at(p, "image"), errs);
  std::string image = str(c, "image");
  if (image.empty() || image.find_first_not_of(" \t") == std::string::npos) {
    errs.push_back({at(p, "image"), required()});
  }
  want_array(c, "command", at(p, "command"), errs);
  want_array(c, "args", at(p, "args"), errs);
  if (has(c, "imagePullPolicy")) {
    std::string ipp = str(c, "imagePullPolicy");
    if (ipp != "Always" && ipp != "IfNotPresent" && ipp != "Never") {
      errs.push_back({at(p, "imagePullPolicy"),
                      unsupported(c["imagePullPolicy"], {"Always", "IfNotPresent", "Never"})});
    }
  }
  if (has(c, "terminationMessagePolicy")) {
    std::string t = str(c, "terminationMessagePolicy");
    if (t != "File" && t != "FallbackToLogsOnError") {
      errs.push_back(
          {at(p, "terminationMessagePolicy"),
           unsupported(c["terminationMessagePolicy"], {"File", "FallbackToLogsOnError"})});
    }
  }
  if (init && has(c, "restartPolicy") && str(c, "restartPolicy") != "Always") {
    errs.push_back({at(p, "restartPolicy"), unsupported(c["restartPolicy"], {"Always"})});
  }
  if (want_array(c, "ports", at(p, "ports"), errs)) {
    std::set<std::string> port_names;
    const Json& ports = c["ports"];
    for (size_t i = 0; i < ports.size(); ++i) {
      std::string pp = idx(at(p, "ports"), i);
      const Json& port = ports[i];
      if (!port.is_object()) {
        errs.push_back({pp, invalid(port, "must be an object")});
        continue;
      }
      validate_port(port, "containerPort", at(pp, "containerPort"), true, errs);
      validate_port(port, "hostPort", at(pp, "hostPort"), false, errs);
      if (has(port, "name")) {
        std::string pn = str(port, "name");
        if (auto m = check_iana_svc_name(pn); !m.empty()) {
          errs.push_back({at(pp, "name"), invalid(port["name"], m)});
        } else if (!port_names.insert(pn).second) {
          errs.push_back({at(pp, "name"), duplicate(pn)});
        }
      }
      if (has(port, "protocol")) {
        std::string proto = str(port, "protocol");
        if (proto != "TCP" && proto != "UDP" && proto != "SCTP") {
          errs.push_back(
              {at(pp, "protocol"), unsupported(port["protocol"], {"SCTP", "TCP", "UDP"})});
        }
      }
    }
  }
  if (want_array(c, "env", at(p, "env"), errs)) {
    const Json& env = c["env"];
    for (size_t i = 0; i < env.size(); ++i) {
      std::string ep = idx(at(p, "env"), i);
      std::string en = str(env[i], "name");
      if (en.empty()) {
        errs.push_back({at(ep, "name"), required()});
      } else if (auto m = check_c_identifier_env(en); !m.empty()) {
        errs.push_back({at(ep, "name"), invalid(en, m)});
      }
      if (has(env[i], "value") && has(env[i], "valueFrom")) {
        errs.push_back({at(ep, "valueFrom"),
                        "Invalid value: \"\": may not be specified when `value` is not empty"});
      }
    }
  }
  validate_resources(get(c, "resources"), at(p, "resources"), errs);
  if (want_array(c, "volumeMounts", at(p, "volumeMounts"), errs)) {
    const Json& mounts = c["volumeMounts"];
    std::set<std::string> paths;
    for (size_t i = 0; i < mounts.size(); ++i) {
      std::string mp = idx(at(p, "volumeMounts"), i);
      std::string vn = str(mounts[i], "name");
      if (vn.empty()) {
        errs.push_back({at(mp, "name"), required()});
      } else if (!volumes.count(vn)) {
        errs.push_back({at(mp, "name"), "Not found: \"" + vn + "\""});
      }
      std::string path = str(mounts[i], "mountPath");
      if (path.empty()) {
        errs.push_back({at(mp, "mountPath"), required()});
      } else if (!paths.insert(path).second) {
        errs.push_back({at(mp, "mountPath"), invalid(path, "must be unique")});
      } else {
        // Linux containers only: absolute (as Kubernetes before Windows
        // support) and without "..", whatever the runtime would make of it.
        if (path.front() != '/') {
          errs.push_back({at(mp, "mountPath"), invalid(path, "must be an absolute path")});
        }
        validate_no_backsteps(path, at(mp, "mountPath"), errs);
      }
      // validateVolumeMounts: subPath and subPathExpr stay inside the volume.
      std::string sub = str(mounts[i], "subPath");
      validate_descending_path(sub, at(mp, "subPath"), errs);
      if (has(mounts[i], "subPathExpr")) {
        std::string expr = str(mounts[i], "subPathExpr");
        if (!sub.empty() && !expr.empty()) {
          errs.push_back({at(mp, "subPathExpr"),
                          invalid(expr, "subPathExpr and subPath are mutually exclusive")});
        }
        validate_descending_path(expr, at(mp, "subPathExpr"), errs);
      }
    }
  }
}

}  // namespace

void validate_pod_spec(const Json& spec, const std::string& path, FieldErrors& errs) {
  if (!spec.is_object()) {
    errs.push_back(
        {path, spec.is_null() ? std::string(required()) : invalid(spec, "must be an object")});
    return;
  }
  // Volumes first: mounts refer to them.
  std::set<std::string> volumes;
  if (want_array(spec, "volumes", at(path, "volumes"), errs)) {
    const Json& vols = spec["volumes"];
    static const char* kSources[] = {
        "emptyDir", "hostPath",  "configMap",   "secret", "persistentVolumeClaim",
        "nfs",      "projected", "downwardAPI", "csi",    "ephemeral"};
    for (size_t i = 0; i < vols.size(); ++i) {
      std::string vp = idx(at(path, "volumes"), i);
      const Json& vol = vols[i];
      std::string vn = str(vol, "name");
      if (vn.empty()) {
        errs.push_back({at(vp, "name"), required()});
      } else if (auto m = check_dns1123_label(vn); !m.empty()) {
        errs.push_back({at(vp, "name"), invalid(vn, m)});
      } else if (!volumes.insert(vn).second) {
        errs.push_back({at(vp, "name"), duplicate(vn)});
      }
      int sources = 0;
      for (const char* s : kSources) {
        if (!has(vol, s)) continue;
        if (++sources > 1) {
          errs.push_back({at(vp, s), forbidden("may not specify more than 1 volume type")});
          continue;
        }
        const Json& src = vol[s];
        std::string sp = at(vp, s);
        std::string kind = s;
        if (kind == "hostPath") {
          validate_host_path(src, sp, errs);
        } else if (kind == "configMap" || kind == "secret") {
          if (str(src, kind == "secret" ? "secretName" : "name").empty()) {
            errs.push_back({at(sp, kind == "secret" ? "secretName" : "name"), required()});
          }
          validate_file_mode(src, "defaultMode", at(sp, "defaultMode"), errs);
          validate_key_to_paths(src, sp, errs);
        } else if (kind == "downwardAPI") {
          validate_file_mode(src, "defaultMode", at(sp, "defaultMode"), errs);
          validate_downward_files(src, sp, errs);
        } else if (kind == "projected") {
          validate_projected(src, sp, errs);
        } else if (kind == "persistentVolumeClaim" && str(src, "claimName").empty()) {
          errs.push_back({at(sp, "claimName"), required()});
        }
      }
      if (sources == 0) errs.push_back({vp, "Required value: must specify a volume type"});
    }
  }
  std::set<std::string> names;
  if (want_array(spec, "initContainers", at(path, "initContainers"), errs)) {
    const Json& cs = spec["initContainers"];
    for (size_t i = 0; i < cs.size(); ++i) {
      validate_container(cs[i], idx(at(path, "initContainers"), i), volumes, names, true, errs);
    }
  }
  const Json& cs = get(spec, "containers");
  if (!cs.is_array() || cs.empty()) {
    errs.push_back({at(path, "containers"), required()});
  } else {
    for (size_t i = 0; i < cs.size(); ++i) {
      validate_container(cs[i], idx(at(path, "containers"), i), volumes, names, false, errs);
    }
  }
  if (has(spec, "restartPolicy")) {
    std::string rp = str(spec, "restartPolicy");
    if (rp != "Always" && rp != "OnFailure" && rp != "Never") {
      errs.push_back({at(path, "restartPolicy"),
                      unsupported(spec["restartPolicy"], {"Always", "OnFailure", "Never"})});
    }
  }
  if (has(spec, "dnsPolicy")) {
    std::string dp = str(spec, "dnsPolicy");
    if (dp != "ClusterFirstWithHostNet" && dp != "ClusterFirst" && dp != "Default" &&
        dp != "None") {
      errs.push_back({at(path, "dnsPolicy"),
                      unsupported(spec["dnsPolicy"],
                                  {"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"})});
    }
  }
  for (const char* k : {"terminationGracePeriodSeconds", "activeDeadlineSeconds"}) {
    if (want_int(spec, k, at(path, k), errs) && spec[k].get<long long>() < 0 &&
        std::string(k) == "activeDeadlineSeconds") {
      errs.push_back(
          {at(path, k), invalid(spec[k], "must be between 1 and 2147483647, inclusive")});
    }
  }
  want_string(spec, "nodeName", at(path, "nodeName"), errs);
  want_string(spec, "schedulerName", at(path, "schedulerName"), errs);
  if (want_object(spec, "nodeSelector", at(path, "nodeSelector"), errs)) {
    validate_labels(spec["nodeSelector"], at(path, "nodeSelector"), errs);
  }
  if (want_array(spec, "tolerations", at(path, "tolerations"), errs)) {
    const Json& ts = spec["tolerations"];
    for (size_t i = 0; i < ts.size(); ++i) {
      std::string tp = idx(at(path, "tolerations"), i);
      const Json& t = ts[i];
      std::string op = str(t, "operator");
      if (has(t, "key")) {
        if (auto m = check_label_key(str(t, "key")); !m.empty()) {
          errs.push_back({at(tp, "key"), invalid(t["key"], m)});
        }
      } else if (op != "Exists") {
        errs.push_back(
            {at(tp, "operator"), invalid(op,
                                         "operator must be Exists when `key` is empty, which means "
                                         "\"match all values and all keys\"")});
      }
      if (has(t, "operator") && op != "Equal" && op != "Exists") {
        errs.push_back({at(tp, "operator"), unsupported(t["operator"], {"Equal", "Exists"})});
      }
      if (op == "Exists" && !str(t, "value").empty()) {
        errs.push_back({at(tp, "operator"),
                        invalid(t["value"], "value must be empty when `operator` is 'Exists'")});
      }
      if (has(t, "effect")) {
        std::string e = str(t, "effect");
        if (e != "NoSchedule" && e != "PreferNoSchedule" && e != "NoExecute") {
          errs.push_back(
              {at(tp, "effect"),
               unsupported(t["effect"], {"NoSchedule", "PreferNoSchedule", "NoExecute"})});
        }
      }
    }
  }
}

void default_pod_spec(Json& spec) {
  if (!spec.is_object()) return;
  if (!has(spec, "restartPolicy")) spec["restartPolicy"] = "Always";
  if (!has(spec, "dnsPolicy")) spec["dnsPolicy"] = "ClusterFirst";
  if (!has(spec, "terminationGracePeriodSeconds")) spec["terminationGracePeriodSeconds"] = 30;
  if (!has(spec, "schedulerName")) spec["schedulerName"] = "default-scheduler";
  if (!has(spec, "securityContext")) spec["securityContext"] = Json::object();
  for (const char* list : {"initContainers", "containers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (Json& c : spec[list]) {
      if (!c.is_object()) continue;
      if (!has(c, "imagePullPolicy")) {
        std::string image = str(c, "image");
        // The tag follows the last ':' after the last '/'; a digest pins the image.
        size_t slash = image.rfind('/');
        size_t colon = image.rfind(':');
        std::string tag;
        if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
          tag = image.substr(colon + 1);
        }
        bool digest = image.find('@') != std::string::npos;
        c["imagePullPolicy"] =
            (!digest && (tag.empty() || tag == "latest")) ? "Always" : "IfNotPresent";
      }
      if (!has(c, "terminationMessagePath")) c["terminationMessagePath"] = "/dev/termination-log";
      if (!has(c, "terminationMessagePolicy")) c["terminationMessagePolicy"] = "File";
      if (c.contains("ports") && c["ports"].is_array()) {
        for (Json& p : c["ports"]) {
          if (p.is_object() && !has(p, "protocol")) p["protocol"] = "TCP";
        }
      }
      // Probe and fieldRef defaults, as Kubernetes applies them (kubectl describe shows them).
      for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
        if (!c.contains(probe) || !c[probe].is_object()) continue;
        Json& pr = c[probe];
        if (!has(pr, "timeoutSeconds")) pr["timeoutSeconds"] = 1;
        if (!has(pr, "periodSeconds")) pr["periodSeconds"] = 10;
        if (!has(pr, "successThreshold")) pr["successThreshold"] = 1;
        if (!has(pr, "failureThreshold")) pr["failureThreshold"] = 3;
        if (pr.contains("httpGet") && pr["httpGet"].is_object() && !has(pr["httpGet"], "scheme")) {
          pr["httpGet"]["scheme"] = "HTTP";
        }
      }
      if (c.contains("env") && c["env"].is_array()) {
        for (Json& e : c["env"]) {
          if (!e.is_object() || !e.contains("valueFrom") || !e["valueFrom"].is_object()) continue;
          Json& vf = e["valueFrom"];
          if (vf.contains("fieldRef") && vf["fieldRef"].is_object() && !has(vf["fieldRef"], "apiVersion")) {
            vf["fieldRef"]["apiVersion"] = "v1";
          }
        }
      }
      if (!has(c, "resources") || !c["resources"].is_object()) c["resources"] = Json::object();
      Json& res = c["resources"];
      if (res.contains("limits") && res["limits"].is_object()) {
        for (auto it = res["limits"].begin(); it != res["limits"].end(); ++it) {
          if (!res.contains("requests") || !res["requests"].is_object()) {
            res["requests"] = Json::object();
          }
          if (!res["requests"].contains(it.key())) res["requests"][it.key()] = it.value();
        }
      }
    }
  }
}

void default_pod_template(Json& tmpl) {
  if (!tmpl.is_object()) return;
  if (tmpl.contains("spec")) default_pod_spec(tmpl["spec"]);
}

void validate_container_resources(const Json& res, const std::string& path, FieldErrors& errs) {
  validate_resources(res, path, errs);
}

}  // namespace v
}  // namespace minik8s::api
