// The table of API kinds the server serves. Adding a kind is one entry in
// src/api/kinds_*.cc (names, scope, subresources, hooks) read by the REST handler, discovery,
// OpenAPI and Tables; plus a src/apiserver/kinds/ strategy when it needs the server.
//
// Hooks are plain functions over JSON objects; all are optional (null means
// "nothing to do"). They must not throw on any input: the server calls them
// on untrusted bodies (after they parsed as JSON objects).
// The table is immutable after start-up and safe to read from any thread.
#pragma once

#include <string>
#include <vector>

#include "minik8s/api/json.h"

namespace minik8s::api {

struct FieldError {
  std::string field;    // JSON path as Kubernetes prints it: "spec.containers[0].image"
  std::string message;  // "Required value", "Invalid value: \"x\": must be ..."
};
using FieldErrors = std::vector<FieldError>;

struct TableColumn {
  std::string name;         // "NAME", "READY", ...
  std::string type;         // "string" | "integer" | "number" | "boolean" | "date"
  std::string format;       // "name" for the NAME column, else ""
  std::string description;
  int priority = 0;         // ≥1: shown only with -o wide
};

struct ResourceType {
  std::string group;     // "" for core
  std::string version;   // "v1"
  std::string kind;      // "Pod"
  std::string plural;    // "pods" (also the storage path segment)
  std::string singular;  // "pod"
  bool namespaced = true;
  std::vector<std::string> short_names;  // {"po"}
  std::vector<std::string> categories;   // {"all"}
  bool has_status = false;  // serves <plural>/status; main-resource writes keep old status
  bool has_scale = false;   // serves <plural>/scale (spec.replicas, status.replicas, selector)
  bool bump_generation = false;  // metadata.generation += 1 when anything but metadata/status changes
  bool clear_status_on_create = false;  // status replaced by initial_status on create
  // Field selector paths accepted besides metadata.name / metadata.namespace.
  std::vector<std::string> field_selectors;

  // Fills defaults in place (before validation), as Kubernetes' defaulters do.
  void (*set_defaults)(Json& obj) = nullptr;
  // Appends an error per invalid field. old is the stored object on update, else null.
  // Every served kind's validator also runs validate_object_meta (with the
  // kind's own name rule: DNS-1123 label for Namespace/Service, else subdomain),
  // so callers need not. Update rules (immutable fields, pod spec changes) are
  // checked only when old is given; Pod updates may set spec.nodeName once.
  void (*validate)(const Json& obj, const Json* old, FieldErrors& errs) = nullptr;
  // Status to store on create when clear_status_on_create (null hook → {}).
  // May read spec (Pod: phase Pending + qosClass); runs before set_defaults.
  void (*initial_status)(Json& obj) = nullptr;
  // Table columns (after NAME, which the server adds) and one row's cells.
  std::vector<TableColumn> (*table_columns)() = nullptr;
  Json (*table_cells)(const Json& obj) = nullptr;  // returns a JSON array, one per column
  // Unknown-field check for fieldValidation=Strict: appends the JSON paths of
  // fields the kind does not know ("spec.containers[0].imagee").
  void (*unknown_fields)(const Json& obj, std::vector<std::string>& paths) = nullptr;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  std::string list_kind() const { return kind + "List"; }
  // "pods" for core, "deployments.apps" otherwise (kubectl's resource.group).
  std::string qualified_plural() const { return group.empty() ? plural : plural + "." + group; }
};

// Every kind served, in discovery order.
const std::vector<const ResourceType*>& all_resources();
// Lookup by group/version/plural (the URL segments); null when unknown.
const ResourceType* find_resource(const std::string& group, const std::string& version,
                                  const std::string& plural);
// Lookup by apiVersion ("apps/v1", "v1") and kind ("Deployment"); null when unknown.
const ResourceType* find_kind(const std::string& api_version, const std::string& kind);
// Lookup by any name a user types: plural, singular, short name, kind
// (case-insensitive), optionally qualified "deployments.apps"; null when unknown.
const ResourceType* find_by_user_name(const std::string& name);

// Checks shared by every kind's validator.
// DNS-1123 subdomain (≤253, lower-case alphanumerics, '-' and '.'): "" when valid, else message.
std::string check_dns1123_subdomain(const std::string& s);
// DNS-1123 label (≤63, lower-case alphanumerics and '-').
std::string check_dns1123_label(const std::string& s);
// metadata: name (per name_is_label: label vs subdomain rules), generateName,
// namespace presence per scope, labels, annotations (total ≤ 256 KiB).
void validate_object_meta(const Json& obj, const ResourceType& type, bool name_is_label,
                          FieldErrors& errs);

// A Node's roles from its labels (node-role.kubernetes.io/<role>, and
// kubernetes.io/role), sorted and comma-separated; "" when none.
std::string node_roles(const Json& labels);

}  // namespace minik8s::api
