// The authorizer (access.h). Placeholder until RBAC lands.
#include "access.h"

#include "request.h"

namespace minik8s::apiserver {

std::unique_ptr<auth::Authorizer> make_authorizer(const ApiServerOptions&, WatchCache&) {
  return nullptr;
}

auth::Attributes request_attributes(const HttpRequest& req) {
  auth::Attributes a;
  a.user = req.user;
  a.resource_request = false;
  a.path = req.path;
  for (char c : req.method)
    a.verb += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return a;
}

}  // namespace minik8s::apiserver
