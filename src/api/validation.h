// Internal: helpers shared by the per-kind validators and defaulters
// (kinds_*.cc). Messages follow Kubernetes' field.Error strings:
// "Required value", "Invalid value: \"x\": why", "Unsupported value: ...",
// "Duplicate value: ...", "Forbidden: ...". All functions are pure and never
// throw on any JSON input.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/api/resource.h"

namespace minik8s::api::v {

// "Invalid value: <value>: why"; strings are quoted, other JSON as text.
std::string invalid(const Json& value, const std::string& why);
std::string unsupported(const Json& value, std::initializer_list<const char*> supported);
std::string duplicate(const Json& value);
inline const char* required() { return "Required value"; }
inline std::string forbidden(const std::string& why) { return "Forbidden: " + why; }

// "a.b" / "a[3]" path building.
inline std::string at(const std::string& base, const std::string& key) {
  return base.empty() ? key : base + "." + key;
}
inline std::string idx(const std::string& base, size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

// Safe accessors: a member of an object, or a shared null Json.
const Json& get(const Json& obj, const char* key);
std::string str(const Json& obj, const char* key);  // "" unless a string
bool has(const Json& obj, const char* key);         // present and not null

// Checks that the value, when present, has the JSON type; errors otherwise.
// Returns true when present with the right type.
bool want_string(const Json& obj, const char* key, const std::string& path, FieldErrors& errs);
bool want_int(const Json& obj, const char* key, const std::string& path, FieldErrors& errs);
bool want_bool(const Json& obj, const char* key, const std::string& path, FieldErrors& errs);
bool want_object(const Json& obj, const char* key, const std::string& path, FieldErrors& errs);
bool want_array(const Json& obj, const char* key, const std::string& path, FieldErrors& errs);

// Whole-value checks.
std::string check_dns1035_label(const std::string& s);
std::string check_c_identifier_env(const std::string& s);  // env var names
std::string check_config_key(const std::string& s);        // [-._a-zA-Z0-9]+
std::string check_iana_svc_name(const std::string& s);     // named ports
std::string check_qualified_name(const std::string& s);    // annotation keys
bool is_ipv4(const std::string& s);
bool is_cidr(const std::string& s);  // IPv4 or IPv6 CIDR (IPv6 loosely)
// Int or "N%" (IntOrString used by maxSurge/maxUnavailable); false otherwise.
bool int_or_percent(const Json& v, int* value, bool* percent);

void validate_labels(const Json& labels, const std::string& path, FieldErrors& errs);
void validate_annotations(const Json& annotations, const std::string& path, FieldErrors& errs);
void validate_label_selector(const Json& selector, const std::string& path, FieldErrors& errs);
// A port number field (1..65535); required when `required`.
void validate_port(const Json& obj, const char* key, const std::string& path, bool required,
                   FieldErrors& errs);

// PodSpec checks; path is "spec" for pods, "spec.template.spec" for templates.
void validate_pod_spec(const Json& spec, const std::string& path, FieldErrors& errs);
// A container's resources (limits/requests: standard names, quantities ≥ 0,
// requests ≤ limits); path is the resources field's ("spec.resources").
void validate_container_resources(const Json& res, const std::string& path, FieldErrors& errs);
// Pod spec defaults (restartPolicy, dnsPolicy, containers...).
void default_pod_spec(Json& spec);
// Pod template (metadata + spec) defaults/validation for workload kinds.
void default_pod_template(Json& tmpl);

}  // namespace minik8s::api::v
