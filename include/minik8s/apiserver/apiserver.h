// ApiServer: the Kubernetes-compatible HTTP API over a storage::Storage.
//
// One generic REST handler serves every kind in the api kind table
// (minik8s/api/resource.h): create/get/list/update/patch/delete/watch, the
// status/scale/binding subresources, Tables, discovery, OpenAPI, /metrics and
// the health endpoints. Lists, gets and watches are answered from an in-memory
// watch cache fed by one storage watch on "/registry/". Storage keys are
// documented in docs/api.md.
//
// Thread safety: every method may be called from any thread. The server owns
// its listener and connection threads; stop() (or destruction) closes the
// listener, ends every watch stream and joins all threads.
// Ownership: the Storage is borrowed and must outlive the ApiServer.
// Errors: start() fails with kUnavailable when the address cannot be bound and
// kInternal when the store cannot be read; request errors travel to clients as
// Kubernetes Status objects, never as exceptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "minik8s/storage/storage.h"
#include "minik8s/util/status.h"

namespace minik8s::apiserver {

struct ApiServerOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 6443;  // 0 = pick a free port
  std::string service_cidr = "10.96.0.0/12";
  int node_port_min = 30000, node_port_max = 32767;
  size_t watch_cache_capacity = 10000;  // events kept in the ring
  size_t max_body_bytes = 3 * 1024 * 1024;
  // Namespaces created at start-up when missing.
  bool create_default_namespaces = true;
};

// The answer to an in-process request (see ApiServer::local_request).
struct LocalResponse {
  int code = 0;
  std::string content_type;
  std::string body;
};

class ApiServer {  // serves until stop() or destruction; thread-safe
 public:
  static Result<std::unique_ptr<ApiServer>> start(storage::Storage& store,
                                                  const ApiServerOptions& opts);
  virtual ~ApiServer() = default;

  virtual uint16_t port() const = 0;
  virtual std::string url() const = 0;  // "http://127.0.0.1:PORT"
  virtual void stop() = 0;

  // Runs one non-watch request through the same handler as HTTP, without a
  // socket (in-process controllers use it). target is the path with query
  // ("/api/v1/namespaces/x/pods?labelSelector=a%3Db"); headers are optional
  // ("Content-Type", "Accept").
  virtual LocalResponse local_request(const std::string& method, const std::string& target,
                                      const std::string& body = {},
                                      const std::map<std::string, std::string>& headers = {}) = 0;
};

}  // namespace minik8s::apiserver
