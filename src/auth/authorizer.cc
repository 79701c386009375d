#include "minik8s/auth/authorizer.h"

namespace minik8s::auth {

std::string forbidden_message(const Attributes& a, const std::string& reason) {
  std::string m = "User \"" + a.user.name + "\" cannot " + a.verb;
  if (!a.resource_request) {
    m += " path \"" + a.path + "\"";
  } else {
    m += " resource \"" + a.resource + (a.subresource.empty() ? "" : "/" + a.subresource) +
         "\" in API group \"" + a.api_group + "\"";
    m += a.ns.empty() ? " at the cluster scope" : " in the namespace \"" + a.ns + "\"";
  }
  if (!reason.empty()) m += ": " + reason;
  return m;
}

}  // namespace minik8s::auth
