// ServiceAccount's token subresource, TokenReview and SelfSubjectReview
// (kinds.h; docs/auth.md "Authentication").
#include "../object_util.h"
#include "../request.h"
#include "../sa_tokens.h"
#include "kinds.h"

namespace minik8s::apiserver {

using nlohmann::json;

namespace {

constexpr int64_t kDefaultExpirationSeconds = 3600;
constexpr int64_t kMinExpirationSeconds = 600;
constexpr int64_t kMaxExpirationSeconds = int64_t{1} << 32;

Status invalid_token_request(const std::string& name, const std::string& field,
                             const std::string& why) {
  return Status(Code::kInvalid, "TokenRequest.authentication.k8s.io \"" + name +
                                    "\" is invalid: " + field + ": " + why);
}

json user_json(const auth::UserInfo& u) {
  json out = {{"username", u.name}, {"groups", u.groups}};
  if (!u.uid.empty()) out["uid"] = u.uid;
  if (!u.extra.empty()) out["extra"] = u.extra;
  return out;
}

bool intersects(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (const auto& x : a) {
    for (const auto& y : b) {
      if (x == y) return true;
    }
  }
  return false;
}

}  // namespace

Result<json> ServiceAccountStrategy::answer_subresource_create(std::string_view sub,
                                                               const json& cur, const json& body,
                                                               const auth::UserInfo&) {
  if (sub != "token") return not_found("the server could not find the requested resource");
  const std::string ns = meta_str(cur, "namespace"), name = meta_str(cur, "name");
  if (!body.is_object()) return bad_request("the request body is not an object");
  std::string kind = api::sfield(body, "kind");
  if (!kind.empty() && kind != "TokenRequest") {
    return bad_request("the body of serviceaccounts/token must be a TokenRequest, not " + kind);
  }
  const json& spec = api::field(body, "spec");
  if (!spec.is_null() && !spec.is_object()) {
    return invalid_token_request(name, "spec", "Invalid value: must be an object");
  }
  int64_t ttl = kDefaultExpirationSeconds;
  const json& exp = api::field(spec, "expirationSeconds");
  if (!exp.is_null()) {
    if (!exp.is_number_integer()) {
      return invalid_token_request(name, "spec.expirationSeconds",
                                   "Invalid value: " + exp.dump() + ": must be an integer");
    }
    ttl = exp.get<int64_t>();
    if (ttl < kMinExpirationSeconds) {
      return invalid_token_request(name, "spec.expirationSeconds",
                                   "Invalid value: " + std::to_string(ttl) +
                                       ": may not specify a duration less than 10 minutes");
    }
    if (ttl > kMaxExpirationSeconds) {
      return invalid_token_request(name, "spec.expirationSeconds",
                                   "Invalid value: " + std::to_string(ttl) +
                                       ": may not specify a duration larger than 2^32 seconds");
    }
  }
  ServiceAccountClaims c;
  c.ns = ns;
  c.name = name;
  c.uid = meta_str(cur, "uid");
  const json& auds = api::field(spec, "audiences");
  if (!auds.is_null()) {
    if (!auds.is_array()) {
      return invalid_token_request(name, "spec.audiences", "Invalid value: must be a list");
    }
    for (size_t i = 0; i < auds.size(); ++i) {
      if (!auds[i].is_string() || auds[i].get<std::string>().empty()) {
        return invalid_token_request(name, "spec.audiences[" + std::to_string(i) + "]",
                                     "Invalid value: must be a non-empty string");
      }
      c.audiences.push_back(auds[i].get<std::string>());
    }
  }
  if (c.audiences.empty()) c.audiences = tokens_.api_audiences();
  json ref = api::field(spec, "boundObjectRef");
  if (!ref.is_null()) {
    if (!ref.is_object()) {
      return invalid_token_request(name, "spec.boundObjectRef", "Invalid value: must be an object");
    }
    std::string ref_kind = api::sfield(ref, "kind"), ref_av = api::sfield(ref, "apiVersion");
    if (ref_kind != "Pod" || (!ref_av.empty() && ref_av != "v1")) {
      return invalid_token_request(
          name, "spec.boundObjectRef.kind",
          "Unsupported value: \"" + ref_kind + "\": supported values: \"Pod\"");
    }
    std::string pod_name = api::sfield(ref, "name");
    if (pod_name.empty()) {
      return invalid_token_request(name, "spec.boundObjectRef.name", "Required value");
    }
    const api::ResourceType* pods = api::find_kind("v1", "Pod");
    if (!pods) return internal_error("no Pod kind");
    auto kv = store_.get(object_key(*pods, ns, pod_name));
    if (!kv) {
      if (kv.status().code() == Code::kNotFound) {
        return not_found("pods \"" + pod_name + "\" not found");
      }
      return kv.status();
    }
    json pod = to_wire(*kv);
    std::string uid = meta_str(pod, "uid");
    std::string want_uid = api::sfield(ref, "uid");
    if (!want_uid.empty() && want_uid != uid) {
      return conflict("the UID in the bound object reference (" + want_uid +
                      ") does not match the UID in record. The object might have been deleted "
                      "and then recreated");
    }
    if (api::sfield(api::field(pod, "spec"), "serviceAccountName") != name) {
      return bad_request("cannot bind token for serviceaccount \"" + name +
                         "\" to pod running with different serviceaccount name.");
    }
    c.pod_name = pod_name;
    c.pod_uid = uid;
    ref["apiVersion"] = "v1";
    ref["uid"] = uid;
  }
  auto token = tokens_.issue(c, ttl);
  if (!token) return token.status();
  json out_spec = {{"audiences", c.audiences}, {"expirationSeconds", ttl}};
  out_spec["boundObjectRef"] = ref.is_null() ? json(nullptr) : ref;
  return json{
      {"kind", "TokenRequest"},
      {"apiVersion", "authentication.k8s.io/v1"},
      {"metadata",
       {{"name", name}, {"namespace", ns}, {"creationTimestamp", rfc3339_of(tokens_.now())}}},
      {"spec", out_spec},
      {"status", {{"token", *token}, {"expirationTimestamp", rfc3339_of(tokens_.now() + ttl)}}}};
}

void ServiceAccountStrategy::discovery_subresources(const api::ResourceType&,
                                                    json& resources) const {
  resources.push_back({{"name", "serviceaccounts/token"},
                       {"singularName", ""},
                       {"namespaced", true},
                       {"group", "authentication.k8s.io"},
                       {"version", "v1"},
                       {"kind", "TokenRequest"},
                       {"verbs", {"create"}}});
}

Result<json> TokenReviewStrategy::answer_create(const json& obj, const auth::UserInfo&) {
  const json& spec = api::field(obj, "spec");
  std::string token = api::sfield(spec, "token");
  std::vector<std::string> wanted;
  for (const auto& a : api::field(spec, "audiences")) {
    if (a.is_string()) wanted.push_back(a.get<std::string>());
  }
  json status = {{"authenticated", false}, {"user", json::object()}};
  std::optional<auth::UserInfo> user;
  std::vector<std::string> audiences;
  std::string error;
  bool decided = false;
  if (tokens_ && cache_ && !token.empty()) {
    ServiceAccountAuthenticator sa(*tokens_, *cache_);
    auto r = sa.authenticate_token(token, wanted.empty() ? tokens_->api_audiences() : wanted);
    if (!r) {
      error = r.status().message();
      decided = true;
    } else if (r->has_value()) {
      user = **r;
      auto claims = tokens_->verify(token, wanted.empty() ? tokens_->api_audiences() : wanted);
      if (claims && claims->has_value()) {
        for (const auto& a : wanted.empty() ? tokens_->api_audiences() : wanted) {
          if (intersects({a}, (*claims)->audiences)) audiences.push_back(a);
        }
      }
      decided = true;
    }
  }
  if (!decided && chain_ && !token.empty()) {
    auth::Credentials c;
    c.bearer_token = token;
    auto r = chain_->authenticate(c);
    std::vector<std::string> api = tokens_ ? tokens_->api_audiences() : std::vector<std::string>{};
    if (!r) {
      error = r.status().message();
    } else if (!r->has_value()) {
      error = "the token is not recognised";
    } else if (!wanted.empty() && !intersects(wanted, api)) {
      error = "the token's audience is not accepted";
    } else {
      user = **r;
      audiences = api;
    }
  }
  if (user) {
    if (!user->in_group(auth::kGroupAuthenticated))
      user->groups.push_back(auth::kGroupAuthenticated);
    status = {{"authenticated", true}, {"user", user_json(*user)}, {"audiences", audiences}};
  } else {
    status["error"] = error.empty() ? "the token is not recognised" : error;
  }
  json out = obj;
  out["apiVersion"] = "authentication.k8s.io/v1";
  out["kind"] = "TokenReview";
  if (!out.contains("metadata") || !out["metadata"].is_object()) out["metadata"] = json::object();
  out["metadata"]["creationTimestamp"] = nullptr;
  out["status"] = status;
  return out;
}

Result<json> SelfSubjectReviewStrategy::answer_create(const json&, const auth::UserInfo& user) {
  return json{{"apiVersion", "authentication.k8s.io/v1"},
              {"kind", "SelfSubjectReview"},
              {"metadata", {{"creationTimestamp", nullptr}}},
              {"status", {{"userInfo", user_json(user)}}}};
}

}  // namespace minik8s::apiserver
