#include "minik8s/apiserver/apiserver.h"

#include <spdlog/spdlog.h>

#include "handler.h"
#include "http_server.h"
#include "minik8s/auth/authenticators.h"
#include "minik8s/auth/tls.h"
#include "sa_tokens.h"
#include "watch_cache.h"

namespace minik8s::apiserver {

namespace {

class ServingApiServer final : public ApiServer {
 public:
  ServingApiServer(storage::Storage& store, const ApiServerOptions& opts,
                   std::unique_ptr<IpAllocator> ips,
                   std::shared_ptr<const ServiceAccountTokens> sa_tokens,
                   std::shared_ptr<ConnectionLayer> tls)
      : opts_(opts),
        cache_(store, opts.watch_cache_capacity, opts.watch_cache_bytes),
        handler_(store, cache_, opts, std::move(ips), std::move(sa_tokens)),
        http_(handler_, opts.max_body_bytes, opts.conn_limits, nullptr, tls),
        tls_(tls != nullptr) {
    if (needs_advertise_listener(opts)) {
      advertise_http_ = std::make_unique<HttpServer>(handler_, opts.max_body_bytes,
                                                     opts.conn_limits, nullptr, tls);
    }
  }
  ~ServingApiServer() override { stop(); }

  // A second listener on the advertise address, when the bind address is a
  // single other address (apiserver.h ApiServerOptions::advertise_address).
  static bool needs_advertise_listener(const ApiServerOptions& o) {
    const std::string& a = o.advertise_address;
    return !a.empty() && a != o.bind_address && o.bind_address != "0.0.0.0" &&
           o.bind_address != "::" && !o.bind_address.empty();
  }

  Status start() {
    Status st = http_.listen(opts_.bind_address, opts_.port);
    if (!st.is_ok()) return st;
    if (advertise_http_) {
      st = advertise_http_->listen(opts_.advertise_address, http_.port());
      if (!st.is_ok()) {
        return Status(st.code(), "the advertise address " + opts_.advertise_address + ":" +
                                     std::to_string(http_.port()) + ": " + st.message());
      }
    }
    st = cache_.start();
    if (!st.is_ok()) return Status(Code::kInternal, "watch cache: " + st.message());
    st = handler_.init(opts_.bind_address == "0.0.0.0" ? "127.0.0.1" : opts_.bind_address,
                       http_.port());
    if (!st.is_ok()) return st;
    handler_.set_ready(true);
    http_.start();
    if (advertise_http_) advertise_http_->start();
    return Status::ok();
  }

  uint16_t port() const override { return http_.port(); }
  std::string url() const override {
    std::string host = opts_.bind_address == "0.0.0.0" ? "127.0.0.1" : opts_.bind_address;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    return std::string(tls_ ? "https://" : "http://") + host + ":" + std::to_string(http_.port());
  }
  void stop() override {
    std::lock_guard lock(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    handler_.set_ready(false);
    cache_.stop();  // closes watchers so streams end promptly
    http_.stop();
    if (advertise_http_) advertise_http_->stop();
  }

  void add_api_group(std::shared_ptr<ApiGroupProvider> group) override {
    handler_.add_api_group(std::move(group));
  }

  void add_metrics_source(std::function<std::string()> source) override {
    handler_.metrics().add_source(std::move(source));
  }

  LocalResponse local_request(const std::string& method, const std::string& target,
                              const std::string& body,
                              const std::map<std::string, std::string>& headers) override {
    HttpRequest req;
    req.method = method;
    auto q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = parse_query(target.substr(q + 1));
    req.body = body;
    for (const auto& [k, v] : headers) {
      if (k == "Content-Type" || k == "content-type") req.content_type = v;
      if (k == "Accept" || k == "accept") req.accept = v;
    }
    if (req.content_type.empty() && method == "PATCH") {
      req.content_type = "application/merge-patch+json";
    }
    if (handler_.is_watch(req)) {
      return {400, "application/json",
              status_body(bad_request("watch is not available in-process"), "", "", "")};
    }
    req.user = auth::UserInfo{auth::kUserApiserver, "", {auth::kGroupMasters, auth::kGroupAuthenticated}, {}};
    HttpResponse r = handler_.handle_admitted(req);
    return {r.code, r.content_type, std::move(r.body)};
  }

 private:
  const ApiServerOptions opts_;
  WatchCache cache_;
  RestHandler handler_;
  HttpServer http_;
  std::unique_ptr<HttpServer> advertise_http_;  // null: the bind address covers it
  const bool tls_;
  std::mutex stop_mu_;
  bool stopped_ = false;  // guarded by stop_mu_
};

}  // namespace

Result<std::unique_ptr<ApiServer>> ApiServer::start(storage::Storage& store,
                                                    const ApiServerOptions& opts) {
  auto ips = IpAllocator::create(opts.service_cidr);
  if (!ips) return ips.status();
  if (opts.node_port_min <= 0 || opts.node_port_max < opts.node_port_min ||
      opts.node_port_max > 65535) {
    return bad_request("invalid node port range");
  }
  if (opts.auth.enabled && !opts.auth.token_file.empty()) {
    auto f = auth::StaticTokenAuthenticator::from_file(opts.auth.token_file);
    if (!f) return Status(Code::kInvalid, f.status().message());
  }
  auto sa_tokens = ServiceAccountTokens::load(opts.auth);
  if (!sa_tokens) return sa_tokens.status();
  std::shared_ptr<ConnectionLayer> tls;
  if (!opts.tls.cert_file.empty()) {
    auto layer = auth::make_tls_server_layer(
        {opts.tls.cert_file, opts.tls.key_file, opts.tls.client_ca_file});
    if (!layer) return layer.status();
    tls = std::move(*layer);
  }
  auto s = std::make_unique<ServingApiServer>(store, opts, std::move(ips.value()),
                                              std::move(*sa_tokens), std::move(tls));
  Status st = s->start();
  if (!st.is_ok()) return st;
  return std::unique_ptr<ApiServer>(std::move(s));
}

}  // namespace minik8s::apiserver
