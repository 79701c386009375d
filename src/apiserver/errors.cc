#include "errors.h"

#include <nlohmann/json.hpp>

namespace minik8s::apiserver {

using nlohmann::json;

namespace {

std::string cause_reason(const std::string& msg) {
  if (msg.rfind("Required value", 0) == 0) return "FieldValueRequired";
  if (msg.rfind("Unsupported value", 0) == 0) return "FieldValueNotSupported";
  if (msg.rfind("Forbidden", 0) == 0) return "FieldValueForbidden";
  if (msg.rfind("Duplicate value", 0) == 0) return "FieldValueDuplicate";
  if (msg.rfind("Too long", 0) == 0) return "FieldValueTooLong";
  return "FieldValueInvalid";
}

}  // namespace

std::string status_body(const Status& st, const std::string& name, const std::string& group,
                        const std::string& kind, const api::FieldErrors& causes) {
  json details = json::object();
  if (!name.empty()) details["name"] = name;
  if (!group.empty()) details["group"] = group;
  if (!kind.empty()) details["kind"] = kind;
  if (!causes.empty()) {
    json cs = json::array();
    for (const auto& c : causes) {
      cs.push_back(
          {{"reason", cause_reason(c.message)}, {"message", c.message}, {"field", c.field}});
    }
    details["causes"] = cs;
  }
  json j = {{"kind", "Status"},      {"apiVersion", "v1"},      {"metadata", json::object()},
            {"status", "Failure"},   {"message", st.message()}, {"reason", st.reason()},
            {"code", st.http_code()}};
  if (!details.empty()) j["details"] = details;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

HttpResponse error_response(const Status& st, const std::string& name, const api::ResourceType* t,
                            const api::FieldErrors& causes) {
  HttpResponse r;
  r.code = st.http_code();
  r.body = status_body(st, name, t ? t->group : "", t ? t->plural : "", causes);
  return r;
}

HttpResponse not_served_response() {
  return error_response(not_found("the server could not find the requested resource"));
}

HttpResponse method_not_allowed_response() {
  return error_response(Status(Code::kMethodNotAllowed,
                               "the server does not allow this method on the requested resource"));
}

std::string invalid_message(const api::ResourceType& t, const std::string& name,
                            const api::FieldErrors& errs) {
  std::string m = t.kind + " \"" + name + "\" is invalid: ";
  if (errs.size() == 1) return m + errs[0].field + ": " + errs[0].message;
  m += "[";
  for (size_t i = 0; i < errs.size(); ++i) {
    if (i) m += ", ";
    m += errs[i].field + ": " + errs[i].message;
  }
  return m + "]";
}

std::string not_found_msg(const api::ResourceType& t, const std::string& name) {
  return t.qualified_plural() + " \"" + name + "\" not found";
}

std::string conflict_msg(const api::ResourceType& t, const std::string& name) {
  return "Operation cannot be fulfilled on " + t.qualified_plural() + " \"" + name +
         "\": the object has been modified; please apply your changes to the latest version "
         "and try again";
}

}  // namespace minik8s::apiserver
