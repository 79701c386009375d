// ApiServerFixture's out-of-line parts: the suite defaults and the raw HTTP
// helpers (Beast, blocking, one connection per call), compiled once here
// instead of in every suite.
#include "test/fakes/local_api.h"

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

namespace minik8s::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;
using namespace std::chrono_literals;

void ApiServerFixture::SetUp() {
  apiserver::ApiServerOptions opts;
  opts.max_body_bytes = 64 * 1024;
  opts.node_port_min = 30000;
  opts.node_port_max = 30100;
  opts.watch_cache_capacity = 50;
  configure(opts);
  options_ = opts;
  ASSERT_NO_FATAL_FAILURE(local_.start(opts, "apiserver"));
  client_ = &local_.client();
}

void ApiServerFixture::TearDown() {
  client_ = nullptr;
  local_.stop();
}

Resp ApiServerFixture::req(const std::string& method, const std::string& target, const std::string& body,
                           const std::string& ct, const std::string& accept) {
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), local_.port()));
  http::request<http::string_body> r{http::string_to_verb(method), target, 11};
  r.set(http::field::host, "localhost");
  if (!body.empty()) r.set(http::field::content_type, ct);
  if (!accept.empty()) r.set(http::field::accept, accept);
  if (!bearer.empty()) r.set(http::field::authorization, "Bearer " + bearer);
  r.body() = body;
  r.prepare_payload();
  http::write(s, r);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> p;
  p.body_limit(256 * 1024 * 1024);
  beast::error_code ec;
  http::read(s, buf, p, ec);
  Resp out;
  if (ec) return out;
  out.code = static_cast<int>(p.get().result_int());
  out.body = p.get().body();
  out.content_type = std::string(p.get()[http::field::content_type]);
  return out;
}

json ApiServerFixture::pod(const std::string& name, const std::string& app) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", name}, {"labels", {{"app", app}}}}},
          {"spec", {{"containers", {{{"name", "c"}, {"image", "nginx:1.25"}}}}}}};
}

std::vector<json> ApiServerFixture::watch(const std::string& target, size_t n, std::chrono::milliseconds limit,
                                          const std::function<void()>& after_start) {
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), local_.port()));
  http::request<http::empty_body> r{http::verb::get, target, 11};
  r.set(http::field::host, "localhost");
  http::write(s, r);
  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> p;
  http::read_header(s, buf, p);
  std::vector<json> events;
  std::string pending;
  std::atomic<bool> done{false};
  std::thread killer([&] {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
    beast::error_code ec;
    s.shutdown(tcp::socket::shutdown_both, ec);
  });
  if (after_start) after_start();
  char chunk[8192];
  while (events.size() < n) {
    p.get().body().data = chunk;
    p.get().body().size = sizeof chunk;
    beast::error_code ec;
    http::read_some(s, buf, p, ec);  // returns with what arrived: read() would wait for the end
    pending.append(chunk, sizeof chunk - p.get().body().size);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      events.push_back(json::parse(pending.substr(0, nl), nullptr, false));
      pending.erase(0, nl + 1);
    }
    if (ec && ec != http::error::need_buffer) break;
    if (p.is_done()) break;
  }
  done = true;
  killer.join();
  return events;
}

}  // namespace minik8s::testing
