// RestHandler: the transport-independent core of the API server. One generic
// implementation of every verb over the kind table, plus discovery, OpenAPI,
// health and metrics endpoints. The HTTP layer (http_server.h) parses bytes
// into HttpRequest and writes HttpResponse / watch streams back.
//
// Its parts, one file each (private headers beside them):
//   handler.cc         routing: paths and methods → verbs, the metrics label,
//                      health, /version, OpenAPI; start-up (init)
//   discovery.cc       /api, /apis, APIResourceLists; extra API groups
//   rest_verbs.cc      get, list, create, update, patch, delete,
//                      deletecollection: HttpRequest → RegistryStore / watch
//                      cache → HttpResponse (Tables included)
//   subresources.cc    scale and binding
//   watch_handler.cc   watch streams from the watch cache
//   code_handler.cc    the code and blob stores' upload and download endpoints
//   registry_store.h   the generic create/update/delete semantics
//   kind_strategy.h    the per-kind hooks; kinds/ the kinds that have them
//   errors.h           Status bodies; request.h parameters, bodies, selectors
// None of these names a kind: kind-specific rules are strategies in kinds/
// (pod_proxy.h, the pods/log|exec proxy, sits beside the handler).
//
// Thread safety: handle() and handle_watch() may run concurrently from any
// number of connection threads.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "access.h"
#include "allocator.h"
#include "errors.h"
#include "http_types.h"
#include "kind_strategy.h"
#include "metrics.h"
#include "minik8s/api/resource.h"
#include "minik8s/apiserver/apiserver.h"
#include "minik8s/apiserver/code_store.h"
#include "registry_store.h"
#include "request.h"
#include "watch_cache.h"

namespace minik8s::apiserver {

using nlohmann::json;

class RestHandler {
 public:
  // sa_tokens: ServiceAccount tokens' signer and verifier (sa_tokens.h).
  RestHandler(storage::Storage& store, WatchCache& cache, const ApiServerOptions& opts,
              std::unique_ptr<IpAllocator> ips,
              std::shared_ptr<const ServiceAccountTokens> sa_tokens);

  // Restores the strategies' state from the stored objects (the Service
  // allocators); creates the default namespaces, the kubernetes Service and
  // its Endpoints when missing (kinds/kinds.h create_bootstrap_objects).
  Status init(const std::string& server_host, uint16_t server_port);

  bool is_watch(const HttpRequest& req) const;
  // The content-addressed stores' endpoints (code_store.h): POST
  // <api_path> (upload) and GET <api_path>/<hash> (download) of the code
  // store (opts.code_dir) and the blob store (opts.blob_dir); served before
  // the generic REST routing, without discovery. A store without a directory
  // answers 404.
  // upload_limit: for a POST to an enabled store's collection, that store's
  // upload limit (above max_body_bytes); 0 for any other request.
  size_t upload_limit(std::string_view method, std::string_view path) const;
  // The largest upload limit of the enabled stores; 0 when none is.
  size_t max_upload_bytes() const;
  // The 413 message for an upload to path (a POST upload_limit() accepts)
  // of n bytes, or of more than the limit when n is unknown (chunked).
  std::string upload_too_large_message(std::string_view path, std::optional<uint64_t> n) const;
  // Authentication and authorization (access.h, docs/security.md "Request
  // path"): sets req.user; an error response (401 Unauthorized, 403
  // Forbidden) when the request may not go on. Every entry point calls it
  // first: handle(), handle_watch() and the pods/log|exec proxy.
  std::optional<HttpResponse> admit(HttpRequest& req) const;
  // Kubernetes' 403 for attributes a.
  static HttpResponse forbidden(const auth::Attributes& a, const std::string& reason);
  HttpResponse handle(HttpRequest req);
  // A request admit() has let through already, or an in-process one
  // (ApiServer::local_request, the pods/log|exec proxy's own lookups).
  HttpResponse handle_admitted(const HttpRequest& req);
  // Streams until the client leaves, timeoutSeconds passes or stopping is set.
  void handle_watch(HttpRequest req, StreamWriter& out, const std::atomic<bool>& stopping);

  Metrics& metrics() { return metrics_; }
  const ApiServerOptions& options() const { return opts_; }
  void set_ready(bool r) { ready_ = r; }
  // Extra API groups (metrics.k8s.io): discovery + routing (see apiserver.h).
  void add_api_group(std::shared_ptr<ApiGroupProvider> group);

 private:
  // The Impersonate-* headers (admit): 403 when the user may not.
  std::optional<HttpResponse> impersonate(HttpRequest& req) const;
  using Outcome = RegistryStore::Outcome;
  using UpdateMode = RegistryStore::UpdateMode;

  // handler.cc: routing.
  HttpResponse dispatch(const HttpRequest& req, std::string* verb, std::string* resource);
  HttpResponse handle_resource(const HttpRequest& req, const RequestInfo& ri, std::string* verb);

  // code_handler.cc. store_spec_for: the spec of the store whose endpoints
  // path is under (enabled or not), null for other paths; store_for: that
  // store when enabled.
  static const StoreSpec* store_spec_for(std::string_view path);
  const CodeStore* store_for(const StoreSpec& spec) const;
  HttpResponse handle_store(const StoreSpec& spec, const HttpRequest& req, std::string* verb);

  // discovery.cc.
  HttpResponse discovery(const RequestInfo& ri);
  // Requests under /apis/<g> of an extra group: its discovery documents, or
  // provider->handle(). nullopt when the path belongs to no extra group.
  std::optional<HttpResponse> dispatch_extra(const HttpRequest& req, std::string* verb,
                                             std::string* resource);
  std::vector<std::shared_ptr<ApiGroupProvider>> extra_groups() const;

  // rest_verbs.cc.
  HttpResponse do_get(const HttpRequest& req, const RequestInfo& ri);
  HttpResponse do_list(const HttpRequest& req, const RequestInfo& ri);
  HttpResponse do_create(const HttpRequest& req, const RequestInfo& ri);
  // A create of a kind whose strategy answers_create(); nullopt for others.
  std::optional<HttpResponse> answer_create(const HttpRequest& req, const api::ResourceType& t,
                                            json body);
  // A POST to a strategy's subresource (not "binding"): answered, not stored.
  HttpResponse do_subresource_create(const HttpRequest& req, const RequestInfo& ri);
  HttpResponse do_update(const HttpRequest& req, const RequestInfo& ri);
  HttpResponse do_patch(const HttpRequest& req, const RequestInfo& ri);
  HttpResponse do_delete(const HttpRequest& req, const RequestInfo& ri);
  HttpResponse do_delete_collection(const HttpRequest& req, const RequestInfo& ri);
  HttpResponse object_response(const HttpRequest& req, const api::ResourceType& t, const json& obj,
                               int code);
  HttpResponse outcome_response(const HttpRequest& req, const api::ResourceType& t,
                                const std::string& name, Outcome& o,
                                const std::vector<std::string>& warnings);

  // subresources.cc. do_binding: t is the kind that serves "binding"; pod
  // the name from the URL ("" for POST .../bindings, which names it in the body).
  HttpResponse do_scale(const HttpRequest& req, const RequestInfo& ri);
  HttpResponse do_binding(const HttpRequest& req, const api::ResourceType* t, const std::string& ns,
                          const std::string& pod);

  storage::Storage& store_;
  WatchCache& cache_;
  const ApiServerOptions opts_;
  const std::string kubernetes_service_ip_;    // the service CIDR's first address
  const std::shared_ptr<const ServiceAccountTokens> sa_tokens_;
  // The whole chain, also with auth off: what TokenReview answers with.
  const std::unique_ptr<auth::Authenticator> review_authn_;
  const std::unique_ptr<KindRegistry> kinds_;  // strategies (kinds/kinds.h)
  const std::unique_ptr<CodeStore> code_;      // null without opts.code_dir
  const std::unique_ptr<CodeStore> blob_;      // null without opts.blob_dir
  RegistryStore objects_;
  // Null: that step is off (opts.auth.enabled false, or no authorizer mode).
  // authn_ is review_authn_ when on.
  auth::Authenticator* const authn_;
  std::unique_ptr<ServerAuthorizer> authz_;
  Metrics metrics_;
  std::atomic<bool> ready_{false};
  std::string server_address_;  // written once by init(), before serving
  mutable std::mutex extra_mu_;
  std::vector<std::shared_ptr<ApiGroupProvider>> extra_groups_;  // guarded by extra_mu_
};

}  // namespace minik8s::apiserver
