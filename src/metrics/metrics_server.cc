// MetricsServer: scraper thread + metrics.k8s.io/v1beta1 provider (see metrics.h).
#include "minik8s/metrics/metrics.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "metrics_store.h"
#include "minik8s/api/selector.h"
#include "minik8s/client/informer.h"
#include "minik8s/util/url.h"

namespace minik8s::metrics {

using api::Json;
namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using Steady = std::chrono::steady_clock;

namespace {

constexpr int kExpiryResolutions = 3;
constexpr const char* kGroup = "metrics.k8s.io";
constexpr const char* kVersion = "v1beta1";

// GET http(s)://host:port/path with one deadline for connect + write + read
// (tls: HTTPS through auth::dial_tls_tunnel; null: plain HTTP).
Result<std::string> http_get(const std::string& host, const std::string& port, const std::string& path,
                             std::chrono::milliseconds timeout, const auth::TlsClientConfig* tls) {
  try {
    asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    beast::error_code ec;
    const auto deadline = Steady::now() + timeout;
    if (tls) {
      auto fd = auth::dial_tls_tunnel(host, port, *tls, timeout);
      if (!fd) return fd.status();
      stream.socket().assign(asio::ip::tcp::v4(), *fd, ec);
      if (ec) {
        ::close(*fd);
        return Status(Code::kUnavailable, "connect " + host + ":" + port + ": " + ec.message());
      }
      stream.expires_at(deadline);
    } else {
      asio::ip::tcp::resolver resolver(ioc);
      stream.expires_at(deadline);
      auto endpoints = resolver.resolve(host, port, ec);
      if (ec) return Status(Code::kUnavailable, "resolve " + host + ": " + ec.message());
      stream.async_connect(endpoints, [&](beast::error_code e, const asio::ip::tcp::endpoint&) { ec = e; });
      ioc.run();
      if (ec) return Status(Code::kUnavailable, "connect " + host + ":" + port + ": " + ec.message());
      ioc.restart();
    }
    http::request<http::empty_body> req{http::verb::get, path, 11};
    req.set(http::field::host, host + ":" + port);
    req.set(http::field::accept, "application/json");
    req.set(http::field::connection, "close");
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::async_write(stream, req, [&](beast::error_code e, size_t) {
      ec = e;
      if (!e) http::async_read(stream, buffer, res, [&](beast::error_code e2, size_t) { ec = e2; });
    });
    ioc.run();
    if (ec) return Status(Code::kUnavailable, "GET " + host + ":" + port + path + ": " + ec.message());
    if (res.result_int() != 200) {
      return Status(Code::kUnavailable,
                    "GET " + host + ":" + port + path + ": HTTP " + std::to_string(res.result_int()));
    }
    return std::move(res.body());
  } catch (const std::exception& e) {
    return Status(Code::kUnavailable, "GET " + host + ":" + port + path + ": " + e.what());
  }
}

struct Target {
  std::string node, host, port;
};

// Where a Ready node's kubelet listens; nullopt-like (empty host) when not Ready or unreachable.
Target kubelet_target(const Json& node) {
  Target t;
  t.node = api::sfield(api::field(node, "metadata"), "name");
  const Json& status = api::field(node, "status");
  bool ready = false;
  const Json& conds = api::field(status, "conditions");
  if (conds.is_array()) {
    for (const Json& c : conds) {
      if (api::sfield(c, "type") == "Ready") ready = api::sfield(c, "status") == "True";
    }
  }
  if (!ready) return t;
  std::string internal, hostname;
  const Json& addrs = api::field(status, "addresses");
  if (addrs.is_array()) {
    for (const Json& a : addrs) {
      std::string type = api::sfield(a, "type"), addr = api::sfield(a, "address");
      if (type == "InternalIP" && internal.empty()) internal = addr;
      if (type == "Hostname" && hostname.empty()) hostname = addr;
    }
  }
  t.host = !internal.empty() ? internal : hostname;
  const Json& port = api::field(api::field(api::field(status, "daemonEndpoints"), "kubeletEndpoint"), "Port");
  int64_t p = port.is_number_integer() ? port.get<int64_t>() : 0;
  t.port = std::to_string(p > 0 && p < 65536 ? p : 10250);
  return t;
}

std::map<std::string, std::string> parse_query(const std::string& query) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  while (i < query.size()) {
    size_t j = query.find('&', i);
    if (j == std::string::npos) j = query.size();
    std::string part = query.substr(i, j - i);
    size_t eq = part.find('=');
    if (!part.empty()) {
      if (eq == std::string::npos) out[url_decode(part)] = "";
      else out[url_decode(part.substr(0, eq))] = url_decode(part.substr(eq + 1));
    }
    i = j + 1;
  }
  return out;
}

apiserver::LocalResponse status_response(int code, const std::string& reason, const std::string& message,
                                         const std::string& name = {}, const std::string& kind = {}) {
  Json st = {{"kind", "Status"},   {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Failure"},
             {"message", message}, {"reason", reason},   {"code", code}};
  if (!name.empty()) st["details"] = {{"name", name}, {"group", kGroup}, {"kind", kind}};
  return {code, "application/json", st.dump(-1, ' ', false, Json::error_handler_t::replace)};
}

}  // namespace

// State shared by the scraper and the provider; the provider may outlive the
// MetricsServer (the API server keeps it), so it holds this by shared_ptr.
struct Shared {
  explicit Shared(std::chrono::milliseconds r) : resolution(r) {}
  const std::chrono::milliseconds resolution;
  // Informer caches (safe to read from any thread); set before the provider is used.
  std::unique_ptr<client::Informer> nodes, pods;

  std::mutex mu;
  // Guarded by mu:
  MetricsStore store;
  bool serving = false;  // between start() and stop()

  Json labels_of(const client::Informer* inf, const std::string& key, const std::string& uid, bool* found) const {
    *found = false;
    if (!inf) return nullptr;
    client::ObjectPtr obj = inf->indexer().get(key);
    if (!obj) return nullptr;
    const Json& md = api::field(*obj, "metadata");
    if (!uid.empty() && !api::sfield(md, "uid").empty() && api::sfield(md, "uid") != uid) return nullptr;
    *found = true;
    return api::field(md, "labels");
  }
};

class MetricsProvider final : public apiserver::ApiGroupProvider {
 public:
  explicit MetricsProvider(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  std::string group() const override { return kGroup; }
  std::string version() const override { return kVersion; }
  std::vector<apiserver::ExtraResource> resources() const override {
    return {{"nodes", "NodeMetrics", false, {"get", "list"}}, {"pods", "PodMetrics", true, {"get", "list"}}};
  }

  apiserver::LocalResponse handle(const std::string& method, const std::string& rest, const std::string& query,
                                  const std::string& /*accept*/) override {
    std::vector<std::string> seg;
    for (size_t i = 0; i < rest.size();) {
      size_t j = rest.find('/', i);
      if (j == std::string::npos) j = rest.size();
      if (j > i) seg.push_back(url_decode(rest.substr(i, j - i)));
      i = j + 1;
    }
    std::string ns;
    if (seg.size() >= 3 && seg[0] == "namespaces") {
      ns = seg[1];
      seg.erase(seg.begin(), seg.begin() + 2);
      if (seg[0] != "pods") return not_found_path();
    }
    if (seg.empty() || seg.size() > 2 || (seg[0] != "nodes" && seg[0] != "pods")) return not_found_path();
    if (method != "GET") {
      return status_response(405, "MethodNotAllowed",
                             "the server does not allow this method on the requested resource");
    }
    bool nodes = seg[0] == "nodes";
    std::string name = seg.size() == 2 ? seg[1] : "";
    auto q = parse_query(query);
    api::LabelSelector labels;
    api::FieldSelector fields;
    if (auto it = q.find("labelSelector"); it != q.end() && !it->second.empty()) {
      auto s = api::LabelSelector::parse(it->second);
      if (!s.is_ok()) return status_response(400, "BadRequest", s.status().message());
      labels = std::move(s.value());
    }
    if (auto it = q.find("fieldSelector"); it != q.end() && !it->second.empty()) {
      auto s = api::FieldSelector::parse(it->second);
      if (!s.is_ok()) return status_response(400, "BadRequest", s.status().message());
      fields = std::move(s.value());
    }

    Json items = Json::array();
    {
      std::lock_guard lock(shared_->mu);
      if (!shared_->serving) {
        return status_response(503, "ServiceUnavailable", "the metrics server is not running");
      }
      bool found = false;
      if (nodes) {
        for (const auto& [node, s] : shared_->store.nodes()) {
          if (!name.empty() && node != name) continue;
          Json l = shared_->labels_of(shared_->nodes.get(), node, "", &found);
          if (!found) continue;  // a node no longer in the API
          if (!labels.matches_json(l)) continue;
          Json obj = node_metrics_json(s, l, shared_->resolution);
          if (!fields.matches(obj)) continue;
          items.push_back(std::move(obj));
        }
      } else {
        for (const auto& [key, s] : shared_->store.pods()) {
          if (!ns.empty() && s.ns != ns) continue;
          if (!name.empty() && s.name != name) continue;
          Json l = shared_->labels_of(shared_->pods.get(), key, s.uid, &found);
          if (!found) continue;  // a pod deleted (or replaced) since the scrape
          if (!labels.matches_json(l)) continue;
          Json obj = pod_metrics_json(s, l, shared_->resolution);
          if (!fields.matches(obj)) continue;
          items.push_back(std::move(obj));
        }
      }
    }
    if (!name.empty()) {
      if (items.empty()) {
        std::string res = nodes ? "nodemetrics" : "podmetrics";
        return status_response(404, "NotFound", res + "." + kGroup + " \"" + name + "\" not found", name,
                               nodes ? "nodes" : "pods");
      }
      return {200, "application/json", items[0].dump(-1, ' ', false, Json::error_handler_t::replace)};
    }
    Json list = {{"kind", nodes ? "NodeMetricsList" : "PodMetricsList"},
                 {"apiVersion", std::string(kGroup) + "/" + kVersion},
                 {"metadata", Json::object()},
                 {"items", std::move(items)}};
    return {200, "application/json", list.dump(-1, ' ', false, Json::error_handler_t::replace)};
  }

 private:
  static apiserver::LocalResponse not_found_path() {
    return status_response(404, "NotFound", "the server could not find the requested resource");
  }
  std::shared_ptr<Shared> shared_;
};

struct MetricsServer::Impl {
  Impl(client::Client& c, MetricsOptions o)
      : client(c), options(o), shared(std::make_shared<Shared>(o.resolution)) {}
  client::Client& client;
  const MetricsOptions options;
  std::shared_ptr<Shared> shared;
  std::shared_ptr<MetricsProvider> provider;

  std::thread scraper;
  std::mutex run_mu;
  std::condition_variable run_cv;
  bool stopping = false;  // guarded by run_mu
  bool started = false;   // owner thread only

  void scrape_once() {
    std::vector<Target> targets;
    for (const auto& n : shared->nodes->indexer().list()) {
      Target t = kubelet_target(*n);
      if (!t.host.empty() && !t.node.empty()) targets.push_back(std::move(t));
    }
    std::vector<Result<Summary>> results(targets.size(), Status(Code::kUnavailable, "not scraped"));
    std::vector<std::thread> workers;
    workers.reserve(targets.size());
    for (size_t i = 0; i < targets.size(); ++i) {
      workers.emplace_back([this, &targets, &results, i] {
        const Target& t = targets[i];
        auto body = http_get(t.host, t.port, "/stats/summary", options.resolution,
                             options.kubelet_https ? &options.kubelet_tls : nullptr);
        if (!body.is_ok()) {
          results[i] = body.status();
          return;
        }
        results[i] = parse_summary(body.value(), t.node, real_clock().now());
      });
    }
    for (auto& w : workers) w.join();
    auto now = Steady::now();
    std::lock_guard lock(shared->mu);
    for (size_t i = 0; i < targets.size(); ++i) {
      if (results[i].is_ok()) {
        shared->store.update(results[i].value(), now);
      } else {
        spdlog::debug("metrics: scraping node {} failed: {}", targets[i].node, results[i].status().message());
      }
    }
    shared->store.expire(now - kExpiryResolutions * options.resolution);
  }

  void run() {
    auto next = Steady::now();
    while (true) {
      {
        std::unique_lock lock(run_mu);
        if (run_cv.wait_until(lock, next, [&] { return stopping; })) return;
      }
      next += options.resolution;
      scrape_once();
      // After a long scrape, do not try to catch up with missed ticks.
      if (next < Steady::now()) next = Steady::now() + options.resolution;
    }
  }
};

MetricsServer::MetricsServer(client::Client& client, MetricsOptions options)
    : impl_(std::make_unique<Impl>(client, options)) {
  impl_->provider = std::make_shared<MetricsProvider>(impl_->shared);
}

MetricsServer::~MetricsServer() { stop(); }

Status MetricsServer::start() {
  Impl& m = *impl_;
  if (m.started) return Status::ok();
  if (m.options.resolution < std::chrono::seconds(1) || m.options.resolution > std::chrono::seconds(60)) {
    return Status(Code::kBadRequest, "the metric resolution must be between 1s and 60s");
  }
  const api::ResourceType* node_t = api::find_kind("v1", "Node");
  const api::ResourceType* pod_t = api::find_kind("v1", "Pod");
  if (!node_t || !pod_t) return Status(Code::kInternal, "the kind table has no Node or Pod");
  {
    std::lock_guard lock(m.shared->mu);
    m.shared->nodes = std::make_unique<client::Informer>(m.client, *node_t);
    m.shared->pods = std::make_unique<client::Informer>(m.client, *pod_t);
    m.shared->nodes->start();
    m.shared->pods->start();
    m.shared->serving = true;
  }
  {
    std::lock_guard lock(m.run_mu);
    m.stopping = false;
  }
  m.scraper = std::thread([&m] { m.run(); });
  m.started = true;
  return Status::ok();
}

void MetricsServer::stop() {
  Impl& m = *impl_;
  if (!m.started) return;
  {
    std::lock_guard lock(m.run_mu);
    m.stopping = true;
  }
  m.run_cv.notify_all();
  if (m.scraper.joinable()) m.scraper.join();
  {
    std::lock_guard lock(m.shared->mu);
    m.shared->serving = false;
  }
  m.shared->nodes->stop();
  m.shared->pods->stop();
  m.started = false;
}

std::shared_ptr<apiserver::ApiGroupProvider> MetricsServer::api_group() { return impl_->provider; }

}  // namespace minik8s::metrics
