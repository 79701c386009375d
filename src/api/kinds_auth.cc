// v1 ServiceAccount and the answered (never stored) authentication.k8s.io/v1
// kinds: TokenReview and SelfSubjectReview (docs/auth.md "Authentication").
// Their server half is src/apiserver/kinds/auth_strategy.cc.
#include <nlohmann/json.hpp>

#include "kinds.h"
#include "validation.h"

namespace minik8s::api {
namespace {

using tbl::age;
using tbl::col;
using v::get;
using v::has;

// ------------------------------------------------------------ ServiceAccount

void object_refs(const Json& obj, const char* key, FieldErrors& errs) {
  if (!v::want_array(obj, key, key, errs)) return;
  const Json& a = obj[key];
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_object()) {
      errs.push_back({v::idx(key, i), v::invalid(a[i], "must be an object")});
      continue;
    }
    v::want_string(a[i], "name", v::idx(key, i) + ".name", errs);
  }
}

void serviceaccount_validate(const Json& obj, const Json*, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("v1", "ServiceAccount"), false, errs);
  object_refs(obj, "secrets", errs);
  object_refs(obj, "imagePullSecrets", errs);
  v::want_bool(obj, "automountServiceAccountToken", "automountServiceAccountToken", errs);
}

std::vector<TableColumn> serviceaccount_columns() {
  return {col("SECRETS", "string", "Number of secrets"), tbl::age_column()};
}

Json serviceaccount_cells(const Json& obj) {
  size_t n = get(obj, "secrets").is_array() ? obj["secrets"].size() : 0;
  return Json::array({n, age(obj)});
}

// ------------------------------------------------------- answered kinds

// TokenReview: spec.token (required, a string), spec.audiences (strings).
void tokenreview_validate(const Json& obj, const Json*, FieldErrors& errs) {
  const Json& spec = get(obj, "spec");
  if (!spec.is_object() || !has(spec, "token")) {
    errs.push_back({"spec.token", v::required()});
    return;
  }
  v::want_string(spec, "token", "spec.token", errs);
  if (v::want_array(spec, "audiences", "spec.audiences", errs)) {
    for (size_t i = 0; i < spec["audiences"].size(); ++i) {
      if (!spec["audiences"][i].is_string()) {
        errs.push_back(
            {v::idx("spec.audiences", i), v::invalid(spec["audiences"][i], "must be a string")});
      }
    }
  }
}

void selfsubjectreview_validate(const Json&, const Json*, FieldErrors&) {}

ResourceType make(const char* group, const char* kind, const char* plural, const char* singular,
                  bool namespaced, std::vector<std::string> short_names) {
  ResourceType t;
  t.group = group;
  t.version = "v1";
  t.kind = kind;
  t.plural = plural;
  t.singular = singular;
  t.namespaced = namespaced;
  t.short_names = std::move(short_names);
  return t;
}

}  // namespace

void add_auth_kinds(std::vector<const ResourceType*>& out) {
  static const ResourceType sa = [] {
    ResourceType t = make("", "ServiceAccount", "serviceaccounts", "serviceaccount", true, {"sa"});
    t.validate = serviceaccount_validate;
    t.table_columns = serviceaccount_columns;
    t.table_cells = serviceaccount_cells;
    return t;
  }();
  static const ResourceType tokenreview = [] {
    ResourceType t =
        make("authentication.k8s.io", "TokenReview", "tokenreviews", "tokenreview", false, {});
    t.validate = tokenreview_validate;
    return t;
  }();
  static const ResourceType selfsubjectreview = [] {
    ResourceType t = make("authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews",
                          "selfsubjectreview", false, {});
    t.validate = selfsubjectreview_validate;
    return t;
  }();
  for (const ResourceType* t : {&sa, &tokenreview, &selfsubjectreview}) out.push_back(t);
}

}  // namespace minik8s::api
