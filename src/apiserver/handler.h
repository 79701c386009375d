// RestHandler: the transport-independent core of the API server. One generic
// implementation of every verb over the kind table, plus discovery, OpenAPI,
// health and metrics endpoints. The HTTP layer (http_server.h) parses bytes
// into HttpRequest and writes HttpResponse / watch streams back.
// Thread safety: handle() and handle_watch() may run concurrently from any
// number of connection threads.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "admission.h"
#include "allocator.h"
#include "metrics.h"
#include "minik8s/api/resource.h"
#include "minik8s/apiserver/apiserver.h"
#include "request.h"
#include "watch_cache.h"

namespace minik8s::apiserver {

using nlohmann::json;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without query
  std::map<std::string, std::string> query;
  std::string body;
  std::string content_type;
  std::string accept;
};

struct HttpResponse {
  int code = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Where a watch stream goes. begin() sends the status line and headers
// (chunked); write() sends one chunk; both return false when the peer is gone.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  virtual bool begin(int code, const std::string& content_type) = 0;
  virtual bool write(std::string_view chunk) = 0;
  virtual bool peer_closed() = 0;
};

class RestHandler {
 public:
  RestHandler(storage::Storage& store, WatchCache& cache, const ApiServerOptions& opts,
              std::unique_ptr<IpAllocator> ips);

  // Rebuilds allocators from stored Services; creates the default namespaces
  // and the kubernetes Service when missing.
  Status init(const std::string& server_host, uint16_t server_port);

  bool is_watch(const HttpRequest& req) const;
  HttpResponse handle(const HttpRequest& req);
  // Streams until the client leaves, timeoutSeconds passes or stopping is set.
  void handle_watch(const HttpRequest& req, StreamWriter& out, const std::atomic<bool>& stopping);

  Metrics& metrics() { return metrics_; }
  const ApiServerOptions& options() const { return opts_; }
  void set_ready(bool r) { ready_ = r; }
  // Extra API groups (metrics.k8s.io): discovery + routing (see apiserver.h).
  void add_api_group(std::shared_ptr<ApiGroupProvider> group);

 private:
  struct Outcome {
    Status status;
    api::FieldErrors causes;
    json object;
    int code = 200;
  };
  using Mutator = std::function<Status(const json& current, json& desired)>;
  enum class UpdateMode { kMain, kStatus, kFinalize, kInternal };

  HttpResponse dispatch(const HttpRequest& req, std::string* verb, std::string* resource);
  // Requests under /apis/<g> of an extra group: its discovery documents, or
  // provider->handle(). nullopt when the path belongs to no extra group.
  std::optional<HttpResponse> dispatch_extra(const HttpRequest& req, std::string* verb, std::string* resource);
  std::vector<std::shared_ptr<ApiGroupProvider>> extra_groups() const;
  HttpResponse handle_resource(const HttpRequest& req, const RequestInfo& ri, std::string* verb);

  HttpResponse do_get(const HttpRequest& req, const RequestInfo& ri);
  HttpResponse do_list(const HttpRequest& req, const RequestInfo& ri);
  HttpResponse do_create(const HttpRequest& req, const RequestInfo& ri);
  HttpResponse do_update(const HttpRequest& req, const RequestInfo& ri);
  HttpResponse do_patch(const HttpRequest& req, const RequestInfo& ri);
  HttpResponse do_delete(const HttpRequest& req, const RequestInfo& ri);
  HttpResponse do_delete_collection(const HttpRequest& req, const RequestInfo& ri);
  HttpResponse do_scale(const HttpRequest& req, const RequestInfo& ri);
  HttpResponse do_binding(const HttpRequest& req, const RequestInfo& ri, const std::string& pod);

  // Creates obj (already parsed) in namespace ns.
  Outcome create_object(const api::ResourceType& t, const std::string& ns, json obj,
                        const std::string& field_validation, bool dry_run,
                        std::vector<std::string>* warnings);
  // Read-modify-write with CAS retries; the mutator sees the current object
  // (wire form) and produces the desired full object.
  Outcome update_object(const api::ResourceType& t, const std::string& ns,
                        const std::string& name, UpdateMode mode, const Mutator& mutate,
                        const std::string& field_validation, bool dry_run,
                        std::vector<std::string>* warnings);
  Outcome delete_object(const api::ResourceType& t, const std::string& ns,
                        const std::string& name, const json& options, bool dry_run);

  // Service allocations. newly: what this call allocated (for rollback).
  struct SvcAlloc {
    std::vector<std::string> ips;
    std::vector<int> ports;
  };
  void allocate_service(json& svc, const json* old, SvcAlloc& newly, api::FieldErrors& errs);
  void rollback(const SvcAlloc& a);
  void release_service_diff(const json& old, const json* now);

  Status check_namespace(const std::string& ns);
  HttpResponse object_response(const HttpRequest& req, const api::ResourceType& t,
                               const json& obj, int code);
  HttpResponse outcome_response(const HttpRequest& req, const api::ResourceType& t,
                                const std::string& name, Outcome& o,
                                const std::vector<std::string>& warnings);
  HttpResponse discovery(const RequestInfo& ri);

  storage::Storage& store_;
  WatchCache& cache_;
  const ApiServerOptions opts_;
  std::unique_ptr<IpAllocator> ips_;
  PortAllocator ports_;
  CrossObjectAdmission admission_;  // Node pod CIDRs, DNS hosts (admission.h)
  Metrics metrics_;
  std::atomic<bool> ready_{false};
  std::string server_address_;
  mutable std::mutex extra_mu_;
  std::vector<std::shared_ptr<ApiGroupProvider>> extra_groups_;  // guarded by extra_mu_
};

// A Kubernetes Status body for an error.
std::string status_body(const Status& st, const std::string& name, const std::string& group,
                        const std::string& kind, const api::FieldErrors& causes = {});
HttpResponse error_response(const Status& st, const std::string& name = {},
                            const api::ResourceType* t = nullptr,
                            const api::FieldErrors& causes = {});

}  // namespace minik8s::apiserver
