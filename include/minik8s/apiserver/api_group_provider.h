// ApiGroupProvider: an API group served by the API server outside the kind
// table and the store (the metrics.k8s.io/v1beta1 resource metrics API), and
// LocalResponse, the answer of a request served in-process.
//
// Kept apart from apiserver.h so that a provider (the metrics server) knows
// this interface only, not the API server or its storage.
//
// Once added (ApiServer::add_api_group), the group is listed in discovery
// (/apis, /apis/<group>, /apis/<group>/<version>, aggregated discovery) and
// every request under /apis/<group>/<version>/ is handed to handle().
// Thread safety: implementations must be thread-safe; handle() is called from
// the API server's connection threads concurrently.
// Errors: handle() answers them as Kubernetes Status bodies with the HTTP
// code in LocalResponse::code; it does not throw.
#pragma once

#include <string>
#include <vector>

namespace minik8s::apiserver {

// The answer to an in-process request (see ApiServer::local_request).
struct LocalResponse {
  int code = 0;
  std::string content_type;
  std::string body;
};

// One resource of an extra group, as discovery lists it.
struct ExtraResource {
  std::string name;  // plural, e.g. "pods"
  std::string kind;  // e.g. "PodMetrics"
  bool namespaced = false;
  std::vector<std::string> verbs{"get", "list"};
};

class ApiGroupProvider {
 public:
  virtual ~ApiGroupProvider() = default;
  virtual std::string group() const = 0;
  virtual std::string version() const = 0;
  virtual std::vector<ExtraResource> resources() const = 0;
  // method "GET", ...; rest: the path after /apis/<group>/<version>, e.g.
  // "/nodes", "/namespaces/default/pods/web-1"; query: the raw query string
  // (no '?'); accept: the request's Accept header (for Tables).
  virtual LocalResponse handle(const std::string& method, const std::string& rest,
                               const std::string& query, const std::string& accept) = 0;
};

}  // namespace minik8s::apiserver
