// rbac.authorization.k8s.io/v1 (Role, ClusterRole, RoleBinding,
// ClusterRoleBinding) and authorization.k8s.io/v1 (SelfSubjectAccessReview,
// SubjectAccessReview, SelfSubjectRulesReview): names, defaults, validation
// and Table columns as Kubernetes serves them (docs/auth.md
// "Authorization"). The reviews are answered, not stored (the API server's
// strategy answers them).
#include <nlohmann/json.hpp>

#include "kinds.h"
#include "validation.h"

namespace minik8s::api {
namespace {

using tbl::age;
using tbl::col;
using v::get;
using v::has;
using v::str;

constexpr const char* kRbacGroup = "rbac.authorization.k8s.io";

// Kubernetes' ValidateRBACName (path.IsValidPathSegmentName): RBAC names
// may hold ':' ("system:node"), so they are path segments, not DNS names.
std::string check_path_segment(const std::string& s) {
  if (s == "." || s == "..") return "may not be '" + s + "'";
  if (s.find('/') != std::string::npos) return "may not contain '/'";
  if (s.find('%') != std::string::npos) return "may not contain '%'";
  return "";
}

void validate_rbac_meta(const Json& obj, const ResourceType& t, FieldErrors& errs) {
  if (!obj.is_object() || !get(obj, "metadata").is_object()) {
    validate_object_meta(obj, t, false, errs);
    return;
  }
  // The generic check with a stand-in name, then the name as RBAC reads it.
  Json probe = obj;
  std::string name = str(probe["metadata"], "name");
  std::string gen = str(probe["metadata"], "generateName");
  if (!name.empty()) probe["metadata"]["name"] = "x";
  if (!gen.empty()) probe["metadata"]["generateName"] = "x-";
  validate_object_meta(probe, t, false, errs);
  if (!name.empty()) {
    if (auto m = check_path_segment(name); !m.empty()) {
      errs.push_back({"metadata.name", v::invalid(name, m)});
    }
  }
}

bool string_array(const Json& obj, const char* key, const std::string& path, FieldErrors& errs) {
  if (!v::want_array(obj, key, path, errs)) return false;
  const Json& a = obj[key];
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_string()) errs.push_back({v::idx(path, i), v::invalid(a[i], "must be a string")});
  }
  return true;
}

// Kubernetes' ValidatePolicyRule.
void validate_rule(const Json& r, const std::string& p, bool allow_non_resource,
                   FieldErrors& errs) {
  if (!r.is_object()) {
    errs.push_back({p, v::invalid(r, "must be an object")});
    return;
  }
  for (const char* k : {"verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"}) {
    string_array(r, k, p + "." + k, errs);
  }
  auto size = [&](const char* k) {
    const Json& a = get(r, k);
    return a.is_array() ? a.size() : 0;
  };
  if (size("verbs") == 0) {
    errs.push_back({p + ".verbs", "Required value: verbs must contain at least one value"});
  }
  if (size("nonResourceURLs") > 0) {
    if (!allow_non_resource) {
      errs.push_back(
          {p + ".nonResourceURLs",
           v::invalid(r["nonResourceURLs"], "namespaced rules cannot apply to non-resource URLs")});
    }
    if (size("apiGroups") > 0 || size("resources") > 0) {
      errs.push_back({p + ".nonResourceURLs",
                      v::invalid(r["nonResourceURLs"],
                                 "rules cannot apply to both regular resources and non-resource "
                                 "URLs")});
    }
    return;
  }
  if (size("apiGroups") == 0) {
    errs.push_back(
        {p + ".apiGroups", "Required value: resource rules must supply at least one api group"});
  }
  if (size("resources") == 0) {
    errs.push_back(
        {p + ".resources", "Required value: resource rules must supply at least one resource"});
  }
}

void validate_rules(const Json& obj, bool cluster, FieldErrors& errs) {
  if (!v::want_array(obj, "rules", "rules", errs)) return;
  const Json& rules = obj["rules"];
  for (size_t i = 0; i < rules.size(); ++i) {
    validate_rule(rules[i], v::idx("rules", i), cluster, errs);
  }
}

void role_validate(const Json& obj, const Json*, FieldErrors& errs) {
  validate_rbac_meta(obj, *find_kind("rbac.authorization.k8s.io/v1", "Role"), errs);
  if (obj.is_object()) validate_rules(obj, false, errs);
}

void cluster_role_validate(const Json& obj, const Json*, FieldErrors& errs) {
  validate_rbac_meta(obj, *find_kind("rbac.authorization.k8s.io/v1", "ClusterRole"), errs);
  if (!obj.is_object()) return;
  validate_rules(obj, true, errs);
  // aggregationRule: accepted (its selectors checked), not acted on.
  if (v::want_object(obj, "aggregationRule", "aggregationRule", errs) &&
      v::want_array(obj["aggregationRule"], "clusterRoleSelectors",
                    "aggregationRule.clusterRoleSelectors", errs)) {
    const Json& sels = obj["aggregationRule"]["clusterRoleSelectors"];
    for (size_t i = 0; i < sels.size(); ++i) {
      v::validate_label_selector(sels[i], v::idx("aggregationRule.clusterRoleSelectors", i), errs);
    }
  }
}

// Kubernetes' SetDefaults_Subject and SetDefaults_RoleRef.
void binding_defaults(Json& obj) {
  if (!obj.is_object()) return;
  if (obj.contains("roleRef") && obj["roleRef"].is_object() && !has(obj["roleRef"], "apiGroup")) {
    obj["roleRef"]["apiGroup"] = kRbacGroup;
  }
  if (!obj.contains("subjects") || !obj["subjects"].is_array()) return;
  for (Json& s : obj["subjects"]) {
    if (!s.is_object() || has(s, "apiGroup")) continue;
    std::string kind = str(s, "kind");
    if (kind == "ServiceAccount") {
      s["apiGroup"] = "";
    } else if (kind == "User" || kind == "Group") {
      s["apiGroup"] = kRbacGroup;
    }
  }
}

void validate_subject(const Json& s, const std::string& p, bool cluster, FieldErrors& errs) {
  if (!s.is_object()) {
    errs.push_back({p, v::invalid(s, "must be an object")});
    return;
  }
  for (const char* k : {"kind", "name", "namespace", "apiGroup"}) {
    v::want_string(s, k, p + "." + k, errs);
  }
  std::string name = str(s, "name");
  if (name.empty()) errs.push_back({p + ".name", v::required()});
  std::string kind = str(s, "kind");
  std::string group = str(s, "apiGroup");
  if (kind == "ServiceAccount") {
    if (!name.empty()) {
      if (auto m = check_dns1123_subdomain(name); !m.empty()) {
        errs.push_back({p + ".name", v::invalid(s["name"], m)});
      }
    }
    if (!group.empty()) errs.push_back({p + ".apiGroup", v::unsupported(s["apiGroup"], {""})});
    if (cluster && str(s, "namespace").empty()) {
      errs.push_back({p + ".namespace", v::required()});
    }
  } else if (kind == "User" || kind == "Group") {
    if (group != kRbacGroup) {
      errs.push_back({p + ".apiGroup", v::unsupported(get(s, "apiGroup"), {kRbacGroup})});
    }
  } else {
    errs.push_back(
        {p + ".kind", v::unsupported(get(s, "kind"), {"Group", "ServiceAccount", "User"})});
  }
}

void validate_binding(const Json& obj, const Json* old, bool cluster, FieldErrors& errs) {
  validate_rbac_meta(
      obj,
      *find_kind("rbac.authorization.k8s.io/v1", cluster ? "ClusterRoleBinding" : "RoleBinding"),
      errs);
  if (!obj.is_object()) return;
  const Json& ref = get(obj, "roleRef");
  if (!ref.is_object()) {
    errs.push_back(
        {"roleRef", ref.is_null() ? v::required() : v::invalid(ref, "must be an object")});
  } else {
    for (const char* k : {"apiGroup", "kind", "name"}) {
      v::want_string(ref, k, std::string("roleRef.") + k, errs);
    }
    if (str(ref, "apiGroup") != kRbacGroup) {
      errs.push_back({"roleRef.apiGroup", v::unsupported(get(ref, "apiGroup"), {kRbacGroup})});
    }
    std::string kind = str(ref, "kind");
    if (cluster && kind != "ClusterRole") {
      errs.push_back({"roleRef.kind", v::unsupported(get(ref, "kind"), {"ClusterRole"})});
    } else if (!cluster && kind != "Role" && kind != "ClusterRole") {
      errs.push_back({"roleRef.kind", v::unsupported(get(ref, "kind"), {"ClusterRole", "Role"})});
    }
    std::string name = str(ref, "name");
    if (name.empty()) {
      errs.push_back({"roleRef.name", v::required()});
    } else if (auto m = check_path_segment(name); !m.empty()) {
      errs.push_back({"roleRef.name", v::invalid(ref["name"], m)});
    }
  }
  if (old && old->is_object() && get(*old, "roleRef") != ref) {
    errs.push_back({"roleRef", v::invalid(ref, "cannot change roleRef")});
  }
  if (v::want_array(obj, "subjects", "subjects", errs)) {
    const Json& subs = obj["subjects"];
    for (size_t i = 0; i < subs.size(); ++i) {
      validate_subject(subs[i], v::idx("subjects", i), cluster, errs);
    }
  }
}

void role_binding_validate(const Json& obj, const Json* old, FieldErrors& errs) {
  validate_binding(obj, old, false, errs);
}
void cluster_role_binding_validate(const Json& obj, const Json* old, FieldErrors& errs) {
  validate_binding(obj, old, true, errs);
}

std::vector<TableColumn> role_columns() {
  return {col("Created At", "date", "Time when this Role was created")};
}

Json role_cells(const Json& obj) {
  return Json::array({str(get(obj, "metadata"), "creationTimestamp")});
}

std::vector<TableColumn> binding_columns() {
  return {col("Role", "string", "RoleRef is the Role being granted"), tbl::age_column(),
          col("Users", "string", "Users in the binding", 1),
          col("Groups", "string", "Groups in the binding", 1),
          col("ServiceAccounts", "string", "ServiceAccounts in the binding", 1)};
}

// Kubernetes' printRoleBinding with rbac.SubjectsStrings.
Json binding_cells(const Json& obj) {
  const Json& ref = get(obj, "roleRef");
  std::string users, groups, sas;
  auto add = [](std::string& to, const std::string& s) { to += (to.empty() ? "" : ", ") + s; };
  const Json& subs = get(obj, "subjects");
  if (subs.is_array()) {
    for (const Json& s : subs) {
      std::string kind = str(s, "kind");
      std::string name = str(s, "name");
      if (kind == "User") {
        add(users, name);
      } else if (kind == "Group") {
        add(groups, name);
      } else if (kind == "ServiceAccount") {
        std::string ns = str(s, "namespace");
        add(sas, ns.empty() ? name : ns + "/" + name);
      }
    }
  }
  return Json::array({str(ref, "kind") + "/" + str(ref, "name"), age(obj), users, groups, sas});
}

// ---- authorization.k8s.io/v1 reviews

void validate_review_attrs(const Json& spec, FieldErrors& errs) {
  bool res = v::want_object(spec, "resourceAttributes", "spec.resourceAttributes", errs);
  bool non = v::want_object(spec, "nonResourceAttributes", "spec.nonResourceAttributes", errs);
  if (res && non) {
    errs.push_back({"spec.nonResourceAttributes",
                    "Invalid value: \"\": cannot be specified in combination with "
                    "resourceAttributes"});
  } else if (!res && !non) {
    errs.push_back({"spec.resourceAttributes",
                    "Invalid value: \"null\": exactly one of nonResourceAttributes or "
                    "resourceAttributes must be specified"});
  }
  if (res) {
    for (const char* k :
         {"namespace", "verb", "group", "version", "resource", "subresource", "name"}) {
      v::want_string(spec["resourceAttributes"], k, std::string("spec.resourceAttributes.") + k,
                     errs);
    }
  }
  if (non) {
    for (const char* k : {"path", "verb"}) {
      v::want_string(spec["nonResourceAttributes"], k,
                     std::string("spec.nonResourceAttributes.") + k, errs);
    }
  }
}

void ssar_validate(const Json& obj, const Json*, FieldErrors& errs) {
  if (!obj.is_object() || !get(obj, "spec").is_object()) {
    errs.push_back({"spec", v::required()});
    return;
  }
  validate_review_attrs(obj["spec"], errs);
}

void sar_validate(const Json& obj, const Json*, FieldErrors& errs) {
  ssar_validate(obj, nullptr, errs);
  if (!obj.is_object() || !get(obj, "spec").is_object()) return;
  const Json& spec = obj["spec"];
  v::want_string(spec, "user", "spec.user", errs);
  if (str(spec, "user").empty() && !(get(spec, "groups").is_array() && !spec["groups"].empty())) {
    errs.push_back({"spec.user",
                    "Invalid value: \"\": at least one of user or group must be "
                    "specified"});
  }
  string_array(spec, "groups", "spec.groups", errs);
}

void ssrr_validate(const Json& obj, const Json*, FieldErrors& errs) {
  if (!obj.is_object()) return;
  if (v::want_object(obj, "spec", "spec", errs)) {
    v::want_string(obj["spec"], "namespace", "spec.namespace", errs);
  }
}

void rbac_unknown(const std::string& kind, const Json& obj, std::vector<std::string>& paths) {
  unknown_fields_for(kRbacGroup, kind, obj, paths);
}
void role_unknown(const Json& o, std::vector<std::string>& p) { rbac_unknown("Role", o, p); }
void cluster_role_unknown(const Json& o, std::vector<std::string>& p) {
  rbac_unknown("ClusterRole", o, p);
}
void role_binding_unknown(const Json& o, std::vector<std::string>& p) {
  rbac_unknown("RoleBinding", o, p);
}
void cluster_role_binding_unknown(const Json& o, std::vector<std::string>& p) {
  rbac_unknown("ClusterRoleBinding", o, p);
}

ResourceType rbac_kind(const char* kind, const char* plural, const char* singular,
                       bool namespaced) {
  ResourceType t;
  t.group = kRbacGroup;
  t.version = "v1";
  t.kind = kind;
  t.plural = plural;
  t.singular = singular;
  t.namespaced = namespaced;
  return t;
}

ResourceType review_kind(const char* kind, const char* plural, const char* singular,
                         bool namespaced) {
  ResourceType t;
  t.group = "authorization.k8s.io";
  t.version = "v1";
  t.kind = kind;
  t.plural = plural;
  t.singular = singular;
  t.namespaced = namespaced;
  return t;
}

}  // namespace

void add_rbac_kinds(std::vector<const ResourceType*>& out) {
  static const ResourceType cluster_role_binding = [] {
    ResourceType t =
        rbac_kind("ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", false);
    t.set_defaults = binding_defaults;
    t.validate = cluster_role_binding_validate;
    t.table_columns = binding_columns;
    t.table_cells = binding_cells;
    t.unknown_fields = cluster_role_binding_unknown;
    return t;
  }();
  static const ResourceType cluster_role = [] {
    ResourceType t = rbac_kind("ClusterRole", "clusterroles", "clusterrole", false);
    t.validate = cluster_role_validate;
    t.table_columns = role_columns;
    t.table_cells = role_cells;
    t.unknown_fields = cluster_role_unknown;
    return t;
  }();
  static const ResourceType role_binding = [] {
    ResourceType t = rbac_kind("RoleBinding", "rolebindings", "rolebinding", true);
    t.set_defaults = binding_defaults;
    t.validate = role_binding_validate;
    t.table_columns = binding_columns;
    t.table_cells = binding_cells;
    t.unknown_fields = role_binding_unknown;
    return t;
  }();
  static const ResourceType role = [] {
    ResourceType t = rbac_kind("Role", "roles", "role", true);
    t.validate = role_validate;
    t.table_columns = role_columns;
    t.table_cells = role_cells;
    t.unknown_fields = role_unknown;
    return t;
  }();
  out.push_back(&cluster_role_binding);
  out.push_back(&cluster_role);
  out.push_back(&role_binding);
  out.push_back(&role);
}

void add_authorization_kinds(std::vector<const ResourceType*>& out) {
  static const ResourceType ssar = [] {
    ResourceType t = review_kind("SelfSubjectAccessReview", "selfsubjectaccessreviews",
                                 "selfsubjectaccessreview", false);
    t.validate = ssar_validate;
    return t;
  }();
  static const ResourceType sar = [] {
    ResourceType t =
        review_kind("SubjectAccessReview", "subjectaccessreviews", "subjectaccessreview", false);
    t.validate = sar_validate;
    return t;
  }();
  static const ResourceType ssrr = [] {
    ResourceType t = review_kind("SelfSubjectRulesReview", "selfsubjectrulesreviews",
                                 "selfsubjectrulesreview", false);
    t.validate = ssrr_validate;
    return t;
  }();
  out.push_back(&ssar);
  out.push_back(&sar);
  out.push_back(&ssrr);
}

}  // namespace minik8s::api
