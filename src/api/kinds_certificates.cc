// certificates.k8s.io/v1 CertificateSigningRequest (docs/auth.md
// "CertificateSigningRequest"): names, defaults, validation and the Table
// kubectl prints. What needs the server (the requester on create, the
// request's signature, the approval subresource) is its strategy's,
// src/apiserver/kinds/csr_strategy.cc.
#include <nlohmann/json.hpp>

#include "kinds.h"
#include "minik8s/util/base64.h"
#include "minik8s/util/time.h"
#include "validation.h"

namespace minik8s::api {
namespace {

using tbl::age;
using tbl::col;
using v::get;
using v::has;
using v::str;

constexpr int64_t kMinExpirationSeconds = 600;

// Kubernetes' KeyUsage values (certificates/v1 types.go).
constexpr const char* kUsages[] = {"signing",
                                   "digital signature",
                                   "content commitment",
                                   "key encipherment",
                                   "key agreement",
                                   "data encipherment",
                                   "cert sign",
                                   "crl sign",
                                   "encipher only",
                                   "decipher only",
                                   "any",
                                   "server auth",
                                   "client auth",
                                   "code signing",
                                   "email protection",
                                   "s/mime",
                                   "ipsec end system",
                                   "ipsec tunnel",
                                   "ipsec user",
                                   "timestamping",
                                   "ocsp signing",
                                   "microsoft sgc",
                                   "netscape sgc"};

bool known_usage(const std::string& u) {
  for (const char* k : kUsages) {
    if (u == k) return true;
  }
  return false;
}

void string_list(const Json& obj, const char* key, const std::string& path, FieldErrors& errs) {
  if (!v::want_array(obj, key, path, errs)) return;
  for (size_t i = 0; i < obj[key].size(); ++i) {
    if (!obj[key][i].is_string()) {
      errs.push_back({v::idx(path, i), v::invalid(obj[key][i], "must be a string")});
    }
  }
}

void validate_spec(const Json& spec, FieldErrors& errs) {
  if (!has(spec, "request")) {
    errs.push_back({"spec.request", v::required()});
  } else if (v::want_string(spec, "request", "spec.request", errs)) {
    // The PEM itself (parse, signature) is checked by the server's strategy.
    auto der = base64_decode(spec["request"].get<std::string>());
    if (!der) {
      errs.push_back({"spec.request", "Invalid value: \"<request>\": must be base64 (of a PEM)"});
    } else if (der->find("-----BEGIN CERTIFICATE REQUEST-----") == std::string::npos) {
      errs.push_back({"spec.request",
                      "Invalid value: \"<request>\": PEM block type must be CERTIFICATE REQUEST"});
    }
  }
  if (!has(spec, "signerName")) {
    errs.push_back({"spec.signerName", v::required()});
  } else if (v::want_string(spec, "signerName", "spec.signerName", errs)) {
    std::string s = spec["signerName"].get<std::string>();
    size_t slash = s.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == s.size()) {
      errs.push_back(
          {"spec.signerName", v::invalid(s,
                                         "must be a fully qualified domain and path of the form "
                                         "'example.com/signer-name'")});
    }
  }
  if (!has(spec, "usages")) {
    errs.push_back({"spec.usages", v::required()});
  } else if (v::want_array(spec, "usages", "spec.usages", errs)) {
    const Json& us = spec["usages"];
    for (size_t i = 0; i < us.size(); ++i) {
      if (!us[i].is_string()) {
        errs.push_back({v::idx("spec.usages", i), v::invalid(us[i], "must be a string")});
      } else if (!known_usage(us[i].get<std::string>())) {
        errs.push_back({v::idx("spec.usages", i),
                        "Unsupported value: " + us[i].dump() + ": not a known key usage"});
      } else {
        for (size_t j = 0; j < i; ++j) {
          if (us[j] == us[i]) errs.push_back({v::idx("spec.usages", i), v::duplicate(us[i])});
        }
      }
    }
  }
  if (v::want_int(spec, "expirationSeconds", "spec.expirationSeconds", errs)) {
    int64_t e = spec["expirationSeconds"].get<int64_t>();
    if (e < kMinExpirationSeconds) {
      errs.push_back({"spec.expirationSeconds",
                      v::invalid(e,
                                 "may not specify a duration less than 600 seconds (10 "
                                 "minutes)")});
    }
  }
  v::want_string(spec, "username", "spec.username", errs);
  v::want_string(spec, "uid", "spec.uid", errs);
  string_list(spec, "groups", "spec.groups", errs);
  if (v::want_object(spec, "extra", "spec.extra", errs)) {
    for (auto it = spec["extra"].begin(); it != spec["extra"].end(); ++it) {
      if (!it->is_array()) {
        errs.push_back({"spec.extra." + it.key(), v::invalid(*it, "must be a list of strings")});
      }
    }
  }
}

bool has_condition(const Json& obj, const char* type) {
  const Json& cs = get(get(obj, "status"), "conditions");
  if (!cs.is_array()) return false;
  for (const auto& c : cs) {
    if (c.is_object() && str(c, "type") == type && str(c, "status") != "False") return true;
  }
  return false;
}

void validate_status(const Json& obj, const Json* old, FieldErrors& errs) {
  const Json& st = get(obj, "status");
  if (!has(obj, "status")) return;
  if (!st.is_object()) {
    errs.push_back({"status", v::invalid(st, "must be an object")});
    return;
  }
  if (v::want_array(st, "conditions", "status.conditions", errs)) {
    const Json& cs = st["conditions"];
    for (size_t i = 0; i < cs.size(); ++i) {
      std::string p = v::idx("status.conditions", i);
      if (!cs[i].is_object()) {
        errs.push_back({p, v::invalid(cs[i], "must be an object")});
        continue;
      }
      if (!has(cs[i], "type")) {
        errs.push_back({p + ".type", v::required()});
      } else if (v::want_string(cs[i], "type", p + ".type", errs)) {
        for (size_t j = 0; j < i; ++j) {
          if (cs[j].is_object() && get(cs[j], "type") == cs[i]["type"]) {
            errs.push_back({p + ".type", v::duplicate(cs[i]["type"])});
          }
        }
      }
      if (v::want_string(cs[i], "status", p + ".status", errs)) {
        std::string s = cs[i]["status"].get<std::string>();
        if (s != "True" && s != "False" && s != "Unknown") {
          errs.push_back({p + ".status", v::unsupported(s, {"False", "True", "Unknown"})});
        }
      }
      v::want_string(cs[i], "reason", p + ".reason", errs);
      v::want_string(cs[i], "message", p + ".message", errs);
    }
  }
  if (has_condition(obj, "Approved") && has_condition(obj, "Denied")) {
    errs.push_back({"status.conditions",
                    "Invalid value: \"Approved\": Approved and Denied conditions are mutually "
                    "exclusive"});
  }
  if (v::want_string(st, "certificate", "status.certificate", errs)) {
    auto pem = base64_decode(st["certificate"].get<std::string>());
    if (!pem) {
      errs.push_back(
          {"status.certificate", "Invalid value: \"<certificate data>\": must be base64"});
    } else if (!pem->empty() && pem->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      errs.push_back({"status.certificate",
                      "Invalid value: \"<certificate data>\": must contain at least one "
                      "CERTIFICATE PEM block"});
    }
  }
  if (!old) return;
  // Kubernetes' update rules: an approval or denial stays, the certificate
  // once issued does not change.
  for (const char* type : {"Approved", "Denied"}) {
    if (has_condition(*old, type) && !has_condition(obj, type)) {
      errs.push_back(
          {"status.conditions",
           std::string("Forbidden: updates may not remove a condition of type \"") + type + "\""});
    }
  }
  std::string was = str(get(*old, "status"), "certificate");
  if (!was.empty() && str(st, "certificate") != was) {
    errs.push_back({"status.certificate",
                    "Invalid value: \"<certificate data>\": field is "
                    "immutable once set"});
  }
}

void csr_validate(const Json& obj, const Json* old, FieldErrors& errs) {
  validate_object_meta(obj, *find_kind("certificates.k8s.io/v1", "CertificateSigningRequest"),
                       false, errs);
  if (!obj.is_object()) return;
  if (!has(obj, "spec")) {
    errs.push_back({"spec", v::required()});
  } else if (!obj["spec"].is_object()) {
    errs.push_back({"spec", v::invalid(obj["spec"], "must be an object")});
  } else {
    validate_spec(obj["spec"], errs);
  }
  if (old && get(*old, "spec") != get(obj, "spec")) {
    errs.push_back({"spec", "Invalid value: \"<spec>\": field is immutable"});
  }
  validate_status(obj, old, errs);
}

// A condition's status defaults to True (Kubernetes' defaulter).
void csr_defaults(Json& obj) {
  if (!obj.is_object()) return;
  auto st = obj.find("status");
  if (st == obj.end() || !st->is_object()) return;
  auto cs = st->find("conditions");
  if (cs == st->end() || !cs->is_array()) return;
  for (auto& c : *cs) {
    if (c.is_object() && (!c.contains("status") || c["status"].is_null())) c["status"] = "True";
  }
}

std::vector<TableColumn> csr_columns() {
  return {tbl::age_column(), col("SignerName", "string", "The requested signer"),
          col("Requestor", "string", "Who made the request"),
          col("RequestedDuration", "string", "spec.expirationSeconds"),
          col("Condition", "string", "Approved, Denied, Failed, Issued or Pending")};
}

Json csr_cells(const Json& obj) {
  const Json& spec = get(obj, "spec");
  std::string duration = "<none>";
  if (get(spec, "expirationSeconds").is_number_integer()) {
    duration = human_duration(std::chrono::seconds(spec["expirationSeconds"].get<int64_t>()));
  }
  std::string cond;
  const Json& cs = get(get(obj, "status"), "conditions");
  if (cs.is_array()) {
    for (const auto& c : cs) {
      if (!c.is_object() || str(c, "status") == "False") continue;
      std::string t = str(c, "type");
      if (t.empty()) continue;
      cond += (cond.empty() ? "" : ",") + t;
    }
  }
  if (!str(get(obj, "status"), "certificate").empty()) cond += cond.empty() ? "Issued" : ",Issued";
  if (cond.empty()) cond = "Pending";
  return Json::array({age(obj), tbl::or_none(str(spec, "signerName")),
                      tbl::or_none(str(spec, "username")), duration, cond});
}

void csr_unknown(const Json& obj, std::vector<std::string>& paths) {
  unknown_fields_for("certificates.k8s.io", "CertificateSigningRequest", obj, paths);
}

}  // namespace

void add_certificates_kinds(std::vector<const ResourceType*>& out) {
  static const ResourceType csr = [] {
    ResourceType t;
    t.group = "certificates.k8s.io";
    t.version = "v1";
    t.kind = "CertificateSigningRequest";
    t.plural = "certificatesigningrequests";
    t.singular = "certificatesigningrequest";
    t.namespaced = false;
    t.short_names = {"csr"};
    t.has_status = true;
    t.clear_status_on_create = true;
    t.set_defaults = csr_defaults;
    t.validate = csr_validate;
    t.table_columns = csr_columns;
    t.table_cells = csr_cells;
    t.unknown_fields = csr_unknown;
    return t;
  }();
  out.push_back(&csr);
}

}  // namespace minik8s::api
